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
	struct episode episode;
};
/* Completions no one answers (a thread that died, a queue that overflowed) age out. */
BPF_TABLE("lru_hash", u64, struct completion, completions, COMPLETION_MAX);
BPF_PERCPU_ARRAY(completion_heap, struct completion, 1);

/* The completions a thread read and has not answered yet, oldest first. */
struct pending_completions {
	u64 ids[PENDING_COMPLETIONS];
	u32 count;
	u32 made;	   /* completions this thread made: the low half of their ids */
	u32 batch;	   /* how many its last wake-up read brought */
	u32 replies;	   /* its replies since */
	u64 answered;	   /* the completion its last reply to a command answered: sent when settled */
	u32 answered_tag;  /* that command */
	u32 answered_sure; /* its worker was handed that command */
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
 * The completion the last reply answered, sent as its command's. Certain
 * only when the reply was alone in its batch (`alone`: the batch ended with
 * no other reply), the wake-up brought that one completion, and its worker
 * was handed that command: a loop that takes every finished job off a shared
 * list may answer jobs whose wake-up is still to come, in another order.
 * Otherwise ambiguous.
 */
static __always_inline void settle_answer(struct pending_completions *pending, int alone)
{
	u64 id = pending->answered;
	if (!id)
		return;
	pending->answered = 0;
	struct completion *made = completions.lookup(&id);
	if (!made)
		return;
	u32 tag = pending->answered_tag;
	u32 attribution = ATTRIBUTION_DAEMON | (made->guess.attribution & ATTRIBUTION_AMBIGUOUS);
	if (!alone || !pending->answered_sure || pending->batch != 1 || pending->replies != 1)
		attribution |= ATTRIBUTION_AMBIGUOUS;
	struct task_tag owner = { .tag = tag, .attribution = attribution };
	if (pending->answered_sure && made->guess.also_tag)
		owner.also_tag = made->guess.tag == tag ? made->guess.also_tag : made->guess.tag;
	replay_episode(&made->episode, owner, &made->worker);
	completions.delete(&id);
}

/*
 * A wake-up read starts a new batch: it settles the last one's answer, and
 * its completions that no reply answered are stale (their jobs were
 * answered without them, or never).
 */
static __always_inline void start_batch(struct pending_completions *pending)
{
	settle_answer(pending, 1);
#pragma unroll
	for (int i = 0; i < PENDING_COMPLETIONS; i++)
		if (i < pending->count)
			completions.delete(&pending->ids[i]);
	pending->count = 0;
	pending->batch = 0;
	pending->replies = 0;
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
 * A reply by a thread that holds completions answers one of them: the
 * oldest whose worker was handed the command the reply goes to (`reaches`,
 * 0 for none), else the oldest whose worker's request is unknown. A reply to
 * a command holds its completion until the batch shows whether the reply
 * was alone in it (settle_answer). A completion handed another watched
 * command waits for that command's reply.
 */
static __always_inline void answer_completion(struct pending_completions *pending, u32 reaches)
{
	int chosen = -1, unknown = -1;
	pending->replies += 1;
	settle_answer(pending, 0);
#pragma unroll
	for (int i = 0; i < PENDING_COMPLETIONS; i++) {
		struct completion *made = i < pending->count ? completions.lookup(&pending->ids[i]) : NULL;
		if (made && chosen < 0 && guessed_for(made, reaches))
			chosen = i;
		if (made && unknown < 0 && !made->guessed)
			unknown = i;
	}
	int pick = chosen >= 0 ? chosen : unknown;
	if (pick < 0)
		return;
	u64 id = pending->ids[pick & (PENDING_COMPLETIONS - 1)];
#pragma unroll
	for (int i = 0; i < PENDING_COMPLETIONS - 1; i++)
		if (i >= pick)
			pending->ids[i] = pending->ids[i + 1];
	pending->count -= 1;
	if (!reaches) {
		completions.delete(&id);
		return;
	}
	pending->answered = id;
	pending->answered_tag = reaches;
	pending->answered_sure = chosen >= 0;
}

#endif
