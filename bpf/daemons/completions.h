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
#define PENDING_COMPLETIONS 8 /* the completions a thread holds until it answers them (a power of 2) */

struct completion {
	struct episode_thread
		worker; /* its calls' records name it: another process's, for a completion a reply carried */
	u64 signalled;	/* when the worker's write that made it started */
	struct episode episode;
};
/* Completions no one answers (a thread that died, a queue that overflowed) age out. */
BPF_TABLE("lru_hash", u64, struct completion, completions, COMPLETION_MAX);
BPF_PERCPU_ARRAY(completion_heap, struct completion, 1);

/*
 * A completion whose worker kept no calls (a loop waking itself, a job
 * with no file work) is only its times, for answer_completion: a wake-up
 * then copies a few bytes, not a whole episode. Its id says so.
 */
struct completion_times {
	u64 signalled;
	u64 last_call;
};
BPF_TABLE("lru_hash", u64, struct completion_times, completion_times, COMPLETION_MAX);
#define COMPLETION_EMPTY (1ULL << 31)

static __always_inline void forget_completion(u64 id)
{
	if (id & COMPLETION_EMPTY)
		completion_times.delete(&id);
	else
		completions.delete(&id);
}

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
	u32 out_of_order; /* a reply answered no completion it could wait for, or came after a request read since */
	u32 read_since;	  /* it read a request since its last answer: its replies are that request's */
	u32 by_wakeup;	  /* the batch came with a wake-up, not in a reply's bytes: times must prove its order */
	u32 overtaken;	  /* a reply may have answered another job than its completion's (pair_completion) */
	u64 last_loose;	  /* when it last wrote to a socket holding no completion (pair_completion) */
	u64 after;	  /* in order, the job its next reply answers was put on the done-list after this */
	u32 settled;	  /* the answers settle_answers has sent of the batch it settles */
	u32 reads;	  /* the wake-up reads the batch spans (continues_batch) */
	u32 owed;	  /* its replies that came before their completions (answer_completion) */
	u32 owed_first;	  /* the oldest of them, in the ring below */
	u32 owed_tags[PENDING_COMPLETIONS]; /* the command each reached */
	u64 owed_at[PENDING_COMPLETIONS];   /* when each was written */
};

/*
 * The worker's kept calls, taken out of its episode as a completion.
 * Returns its id, 0 when none could be made.
 */
static __always_inline u64 make_completion(struct pending_completions *own, struct episode *episode)
{
	own->made += 1;
	u64 id = (bpf_get_current_pid_tgid() << 32) | (own->made & (COMPLETION_EMPTY - 1));
	u64 now = bpf_ktime_get_ns();
	if (!episode->count) {
		struct completion_times times = { .signalled = now, .last_call = episode->last_call };
		id |= COMPLETION_EMPTY;
		if (completion_times.update(&id, &times) != 0) {
			count_lost(LOST_COMPLETIONS_FULL);
			return 0;
		}
		return id;
	}
	u32 zero = 0;
	struct completion *made = completion_heap.lookup(&zero);
	if (!made)
		return 0;
	made->worker = current_episode_thread();
	made->signalled = now;
	bpf_probe_read_kernel(&made->episode, sizeof(made->episode), episode);
	episode->count = 0;
	if (completions.update(&id, made) != 0) {
		count_lost(LOST_COMPLETIONS_FULL);
		return 0;
	}
	return id;
}

/*
 * A new batch, once the last one's answers are settled (settle_answers, a
 * program of its own: see settle_then): the completions that no reply
 * answered are stale (their jobs were answered without them, or never).
 */
static __always_inline void open_batch(struct pending_completions *pending)
{
	pending->out_of_order = 0;
	pending->overtaken = 0;
	pending->after = pending->last_loose;
#pragma nounroll
	for (int i = 0; i < PENDING_COMPLETIONS; i++)
		if (i < pending->count)
			forget_completion(pending->ids[i]);
	pending->count = 0;
	pending->batch = 0;
	pending->replies = 0;
	pending->read_since = 0;
	pending->reads = 1;
	pending->owed = 0;
	pending->owed_first = 0;
}

/*
 * A loop may take a job off its done-list before it reads the job's
 * wake-up: the worker put the job on the list, and the loop took the list
 * before the worker's write. The loop's reply to it then comes before the
 * completion, which a later wake-up read brings. A batch whose replies wait
 * for their completions goes on through that read (up to BATCH_READS
 * reads), and the completions it brings pay the replies first, in order.
 * The batch is still certain only when it pairs one to one, in order of
 * times: its lists then held exactly the jobs whose wake-ups it read.
 */
#define BATCH_READS 4
static __always_inline int continues_batch(const struct pending_completions *pending)
{
	return pending->by_wakeup && pending->owed && !pending->out_of_order && pending->reads < BATCH_READS;
}

/*
 * A completion read, held until the reply that answers it: 0 holds the
 * place of an answer that carried none. A thread that holds as many as it
 * can leaves the new one to age out: its calls stay counted unattributed,
 * and the batch can pair no more in order.
 */
static __always_inline void hold_completion(struct pending_completions *pending, u64 id)
{
	u32 slot = pending->count;
	if (slot >= PENDING_COMPLETIONS) {
		pending->out_of_order = 1; /* (its reply will answer another completion, or none) */
		return;
	}
	pending->ids[slot & (PENDING_COMPLETIONS - 1)] = id;
	pending->count = slot + 1;
	pending->batch += 1;
}

/*
 * The oldest completion held, answered by a reply that reached `reaches`
 * (the command it went to, 0 for none), written at `replied` (0: now, after
 * the completion was read). The pairing is held until the batch is settled.
 */
static __always_inline void pair_completion(struct pending_completions *pending, u32 reaches, u64 replied)
{
	u64 id = pending->ids[0];
	struct completion_times times = {};
	int picked = 0;
	if (pending->by_wakeup && (id & COMPLETION_EMPTY)) {
		struct completion_times *found = completion_times.lookup(&id);
		if (found) {
			times = *found;
			picked = 1;
		}
	} else if (pending->by_wakeup) {
		struct completion *found = completions.lookup(&id);
		if (found) {
			times.signalled = found->signalled;
			times.last_call = found->episode.last_call;
			picked = 1;
		}
	}
	/*
	 * A worker puts its job on the loop's done-list between its last call
	 * and its write, and the loop reads the wake-ups, then takes the list,
	 * then replies. So every job whose wake-up a batch read is on the list
	 * it took, and a batch answered another job only with a reply beyond
	 * its completions, made holding none (`last_loose`). This job was not
	 * answered before the batch began (`after` starts at that reply), nor
	 * put before the last job answered, if the worker's last call returned
	 * after that: then the reply is this job's. Otherwise the loop may have
	 * taken the two jobs in the other order, or this job with an earlier
	 * batch, its wake-up coming late. A reply written before the completion
	 * was read answered a job already on the list: not this one, if the
	 * worker's last call returned after the reply.
	 */
	if (picked && (times.last_call <= pending->after || (replied && times.last_call >= replied)))
		pending->overtaken = 1;
	if (picked)
		pending->after = times.signalled;
	else if (pending->by_wakeup)
		pending->overtaken = 1; /* (aged out, or none could be made: its time is unknown) */
#pragma nounroll
	for (int i = 0; i < PENDING_COMPLETIONS - 1; i++)
		pending->ids[i] = pending->ids[i + 1];
	pending->count -= 1;
	u32 slot = pending->answered_count;
	if (!reaches || slot >= PENDING_COMPLETIONS) {
		forget_completion(id);
		return;
	}
	pending->answered[slot & (PENDING_COMPLETIONS - 1)] = id;
	pending->answered_tags[slot & (PENDING_COMPLETIONS - 1)] = reaches;
	pending->answered_count = slot + 1;
}

/* The command a reply reaches (0: none), for tail__answer_completion. */
BPF_PERCPU_ARRAY(answer_heap, u32, 1);

/*
 * A reply by a thread that holds completions, or answered some in this
 * batch, answers the oldest, first in, first out, whoever its worker
 * guessed it served: a loop answers its done-list in order, a relay the
 * answers it read in order (`reaches`: the command the reply goes to, 0
 * for none). In a batch a wake-up read began, a reply beyond the
 * completions held answers a job whose wake-up is still to come: it waits
 * for that completion (pay_owed). Otherwise a reply that answers none, or
 * comes after a request the thread read since, puts the batch out of order.
 */
static __always_inline void answer_completion(struct pending_completions *pending, u32 reaches)
{
	pending->replies += 1;
	u32 owed = pending->owed;
	if (!pending->count && pending->by_wakeup && !pending->read_since && owed < PENDING_COMPLETIONS) {
		u32 slot = (pending->owed_first + owed) & (PENDING_COMPLETIONS - 1);
		pending->owed_tags[slot] = reaches;
		pending->owed_at[slot] = bpf_ktime_get_ns();
		pending->owed = owed + 1;
		return;
	}
	if (pending->read_since || !pending->count) {
		pending->out_of_order = 1;
		if (!pending->count)
			return;
	}
	pair_completion(pending, reaches, 0);
}

/* The completions a wake-up read brought to a batch that continues pay the replies that came first, oldest first. */
static __always_inline void pay_owed(struct pending_completions *pending)
{
#pragma nounroll
	for (int i = 0; i < PENDING_COMPLETIONS; i++) {
		if (!pending->owed || !pending->count)
			break;
		u32 slot = pending->owed_first & (PENDING_COMPLETIONS - 1);
		pair_completion(pending, pending->owed_tags[slot], pending->owed_at[slot]);
		pending->owed_first = slot + 1;
		pending->owed -= 1;
	}
}

#endif
