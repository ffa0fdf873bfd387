/*
 * Completions: a worker thread that was handed a request, or took one off a
 * queue unseen, often does not answer it. It signals the daemon's answering
 * thread through a wake-up inside the process (an eventfd, a pipe, a socket
 * pair), and that thread writes the reply. The calls the worker kept (its
 * episode) travel with the wake-up's segment, and are sent as a command's
 * when the answering thread's reply goes to that command's socket.
 */
#ifndef BPF_DAEMONS_COMPLETIONS_H
#define BPF_DAEMONS_COMPLETIONS_H

#include "lib/common.h"
#include "daemons/episodes.h"

#define COMPLETION_MAX 1024
#define PENDING_COMPLETIONS 4 /* the completions a thread holds until it answers them */

struct completion {
	struct task_tag guess; /* the tag the worker was handed, when `guessed` */
	u32 guessed;	       /* it was woken with a hand-off (a tag, or none) since its last completion */
	struct episode_thread
		worker; /* its calls' records name it: another process's, for a completion a reply carried */
	u64 signalled;	/* when the worker's write that made it started */
	struct episode episode;
};
/* Completions no one answers (a thread that died, a queue that overflowed) age out. */
BPF_TABLE("lru_hash", u64, struct completion, completions, COMPLETION_MAX);
BPF_PERCPU_ARRAY(completion_heap, struct completion, 1);

/*
 * The completions a thread read and has not answered yet, oldest first, and
 * the ones its replies answered, sent when the batch is settled.
 */
struct pending_completions {
	u64 ids[PENDING_COMPLETIONS];
	u32 count;
	u32 made;				/* completions this thread made: the low half of their ids */
	u32 batch;				/* how many its last wake-up read brought */
	u32 replies;				/* its replies since */
	u64 answered[PENDING_COMPLETIONS];	/* in the order of the replies that answered them */
	u32 answered_tags[PENDING_COMPLETIONS]; /* the command each reply reached */
	u32 answered_count;
	u32 answered_sure; /* a bit per answer: its worker was handed that command */
	u32 out_of_order;  /* a reply answered no completion, or not the oldest one */
	u32 read_since;	   /* it read a request since its last answer: its replies are that request's */
	u32 by_wakeup;	   /* the batch came with a wake-up, not in a reply's bytes (answer_completion) */
	u32 overtaken;	   /* a reply may have answered another job than its completion's (answer_completion) */
	u64 last_reply;	   /* when it last wrote to a socket */
	u64 after;	   /* in order, the job its next reply answers was put on the done-list after this */
};

/*
 * The worker's kept calls, taken out of its episode as a completion, with
 * the tag it was handed as the guess of whose they are. Returns its id, 0
 * when none could be made.
 */
static __always_inline u64 make_completion(struct pending_completions *own, struct episode *episode,
					   const struct task_tag *guess, u32 guessed)
{
	u32 zero = 0;
	struct completion *made = completion_heap.lookup(&zero);
	if (!made)
		return 0;
	made->guess = *guess;
	made->guessed = guessed;
	made->worker = current_episode_thread();
	made->signalled = bpf_ktime_get_ns();
	bpf_probe_read_kernel(&made->episode, sizeof(made->episode), episode);
	own->made += 1;
	u64 id = (bpf_get_current_pid_tgid() << 32) | own->made;
	episode->count = 0;
	if (completions.update(&id, made) != 0) {
		count_lost(LOST_COMPLETIONS_FULL);
		return 0;
	}
	return id;
}

/*
 * The batch is over: the completions its replies answered are sent as
 * their commands'.
 *
 * Completions that rode in a reply's bytes (a service's answers to a
 * broker) come in the order the reader relays them: certain when the
 * replies paired with them one to one, in order, each to the command its
 * worker was handed.
 *
 * Completions brought by wake-ups are answered first in, first out, by
 * the reply each pairs with, whoever its worker guessed it served
 * (answer_completion): certain when the replies paired with them one to
 * one, and the times prove the loop answered their jobs in that order.
 */
static __always_inline void settle_answers(struct pending_completions *pending)
{
	u32 count = pending->answered_count;
	int fifo = pending->by_wakeup;
	int ordered = !pending->out_of_order && pending->replies == pending->batch && (!fifo || !pending->overtaken);
	pending->answered_count = 0;
	pending->out_of_order = 0;
	/* A loop the verifier walks, as replay_episode's: unrolled, the replays would be most of the program. */
#pragma clang loop unroll(disable)
	for (int i = 0; i < PENDING_COMPLETIONS; i++) {
		if (i >= count)
			break;
		u64 id = pending->answered[i];
		struct completion *made = completions.lookup(&id);
		if (!made)
			continue;
		u32 tag = pending->answered_tags[i];
		int sure = (pending->answered_sure >> i) & 1;
		u32 attribution = ATTRIBUTION_DAEMON | (made->guess.attribution & ATTRIBUTION_AMBIGUOUS);
		if (!ordered || !sure)
			attribution |= ATTRIBUTION_AMBIGUOUS;
		struct task_tag owner = { .tag = tag, .attribution = attribution };
		if (sure && made->guess.also_tag)
			owner.also_tag = made->guess.tag == tag ? made->guess.also_tag : made->guess.tag;
		replay_episode(&made->episode, owner, &made->worker);
		completions.delete(&id);
	}
	pending->answered_sure = 0;
}

/*
 * A wake-up read starts a new batch: it settles the last one's answer, and
 * its completions that no reply answered are stale (their jobs were
 * answered without them, or never).
 */
static __always_inline void start_batch(struct pending_completions *pending)
{
	settle_answers(pending);
	pending->overtaken = 0;
	pending->after = pending->last_reply;
#pragma unroll
	for (int i = 0; i < PENDING_COMPLETIONS; i++)
		if (i < pending->count)
			completions.delete(&pending->ids[i]);
	pending->count = 0;
	pending->batch = 0;
	pending->replies = 0;
	pending->read_since = 0;
}

/*
 * A completion read off a wake-up, held until the reply that answers it. A
 * thread that holds as many as it can leaves the new one to age out: its
 * calls stay counted unattributed.
 */
static __always_inline void hold_completion(struct pending_completions *pending, u64 id)
{
	u32 slot = pending->count;
	if (!id || slot >= PENDING_COMPLETIONS)
		return;
	pending->ids[slot & (PENDING_COMPLETIONS - 1)] = id;
	pending->count = slot + 1;
	pending->batch += 1;
}

/* The command a reply reaches (0: none), for tail__answer_completion. */
BPF_PERCPU_ARRAY(answer_heap, u32, 1);

static __always_inline int guessed_for(const struct completion *made, u32 tag)
{
	return made->guessed && (made->guess.tag == tag || (tag && made->guess.also_tag == tag));
}

/*
 * A reply by a thread that holds completions, or answered some in this
 * batch, answers one of them. It is held until the batch is settled.
 * - Wake-ups' completions: the oldest, first in, first out. A reply after
 *   a request the thread read since is not the done-list's: out of order.
 * - Completions carried in a reply's bytes: the oldest whose worker was
 *   handed the command the reply goes to (`reaches`, 0 for none), else the
 *   oldest whose worker's request is unknown. One handed another watched
 *   command waits for that command's reply.
 * A reply that answers none, or not the oldest, puts the batch out of
 * order.
 */
static __always_inline void answer_completion(struct pending_completions *pending, u32 reaches)
{
	int chosen = -1, unknown = -1;
	pending->replies += 1;
#pragma unroll
	for (int i = 0; i < PENDING_COMPLETIONS; i++) {
		struct completion *made = i < pending->count ? completions.lookup(&pending->ids[i]) : NULL;
		if (made && chosen < 0 && guessed_for(made, reaches))
			chosen = i;
		if (made && unknown < 0 && !made->guessed)
			unknown = i;
	}
	if (pending->by_wakeup) {
		chosen = pending->count ? 0 : -1;
		if (pending->read_since)
			pending->out_of_order = 1;
	}
	int pick = chosen >= 0 ? chosen : unknown;
	if (pick != 0 || chosen != 0)
		pending->out_of_order = 1;
	if (pick < 0)
		return;
	u64 id = pending->ids[pick & (PENDING_COMPLETIONS - 1)];
	struct completion *picked = pending->by_wakeup ? completions.lookup(&id) : NULL;
	if (picked) {
		/* Its reply, not its worker's guess, says whose it is. */
		picked->guess.attribution &= ~ATTRIBUTION_AMBIGUOUS;
		picked->guess.also_tag = 0;
		/*
		 * A worker puts its job on the loop's done-list between its last
		 * call and its write, and the loop takes the list before it
		 * replies. So this job was not answered before the batch began
		 * (`after` starts at the loop's last reply), nor put before the
		 * last job answered, if the worker's last call returned after
		 * that: then the reply is this job's. Otherwise the loop may have
		 * taken the two jobs in the other order, or this job with an
		 * earlier batch, its wake-up coming late.
		 */
		if (picked->episode.last_call <= pending->after)
			pending->overtaken = 1;
		pending->after = picked->signalled;
	}
#pragma unroll
	for (int i = 0; i < PENDING_COMPLETIONS - 1; i++)
		if (i >= pick)
			pending->ids[i] = pending->ids[i + 1];
	pending->count -= 1;
	u32 slot = pending->answered_count;
	if (!reaches || slot >= PENDING_COMPLETIONS) {
		completions.delete(&id);
		return;
	}
	pending->answered[slot & (PENDING_COMPLETIONS - 1)] = id;
	pending->answered_tags[slot & (PENDING_COMPLETIONS - 1)] = reaches;
	if (chosen >= 0)
		pending->answered_sure |= 1 << slot;
	pending->answered_count = slot + 1;
}

#endif
