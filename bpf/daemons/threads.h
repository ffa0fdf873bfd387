/*
 * Daemon threads: each thread of a daemon keeps its own state (its tag, its
 * write in flight, requests it read ahead, calls it keeps for a reply) in
 * task storage. What another thread hands it waits in `handoffs`.
 */
#ifndef BPF_DAEMONS_THREADS_H
#define BPF_DAEMONS_THREADS_H

#include "lib/common.h"
#include "lib/files.h"
#include "lib/tasks.h"
#include "daemons/channels.h"
#include "daemons/completions.h"
#include "daemons/episodes.h"

BPF_PERCPU_ARRAY(unattributed_counts, u64, 1); /* daemon calls done for no watched command */

/*
 * Requests a daemon thread read in one go from one connection, after the one
 * it works on (see next_request).
 */
#define REQUEST_QUEUE 8
struct request_queue {
	u64 file;   /* the connection they came on */
	u64 answer; /* the socket or pipe the current one's answer goes to */
	u32 count;
	u32 answering; /* the thread has written the answer to the one it works on */
	struct task_tag next[REQUEST_QUEUE];
};

/*
 * A daemon thread's own state, in task storage: one lookup where a hash by
 * tid cost one per fact, and freed with the thread. Only the thread writes
 * it. What another thread hands it (a futex wake-up, a new thread's tag)
 * waits in `handoffs` until the thread takes it (take_handoff).
 */
struct daemon_thread {
	struct task_tag tag; /* tag.tag 0: it works for no watched command */
	u64 g;		     /* the goroutine it runs, in a Go daemon; 0: none seen */
	struct write_in_flight flight;
	u32 serving_none;  /* it read its current request itself, for no watched command: its calls need not be kept */
	u32 queued;	   /* `queue` holds requests it read ahead */
	u32 in_daemon;	   /* its process is a daemon (for good: none stops being one) */
	u32 scheduling;	   /* a Go thread between goroutines, running the scheduler (g0): it works for no one */
	u32 handed;	   /* its tag (or none) came with a wake-up since its last completion: a guess of its work */
	s32 source_fd;	   /* the fd of `source` */
	u64 source;	   /* the socket or pipe it took its tag from: a reply there answers it */
	u32 source_closed; /* it closed that fd: a wake-up may end its work for the command (take_handoff) */
	u32 claiming;	   /* a worker to start new work: it takes the oldest hand-off as it does (claim_handoff) */
	u32 requests;	   /* requests it read itself, off a connection: a thread that reads them claims none */
	u32 slept;	   /* some of its calls went unseen in a quiet spell (sleeps): its state may be stale */
	struct request_queue queue;
	struct pending_completions completions; /* workers' completions it read, and the ones it made */
	struct episode episode;			/* episode.count 0: no calls kept since its last request */
};
TASK_STATE(daemon_threads, struct daemon_thread);
#if !TASK_STORAGE
BPF_ARRAY(blank_daemon_threads, struct daemon_thread, 1); /* never written: a new thread's zeros */
#endif

/* The current thread's state; made if `make`, NULL when there is none, or no room. */
static __always_inline struct daemon_thread *daemon_thread_state(int make)
{
#if TASK_STORAGE
	if (make)
		return daemon_threads.task_storage_get(bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return daemon_threads.task_storage_get(bpf_get_current_task_btf(), 0, 0);
#else
	u32 tid = (u32)bpf_get_current_pid_tgid(), zero = 0;
	struct daemon_thread *blank = make ? blank_daemon_threads.lookup(&zero) : NULL;
	if (blank)
		return daemon_threads.lookup_or_try_init(&tid, blank);
	return daemon_threads.lookup(&tid);
#endif
}

enum handoff_kind {
	HANDOFF_WAKE = 1,   /* a futex wake-up: the waker's tag, unless the wakee read its own request */
	HANDOFF_THREAD = 2, /* a new thread: its creator's tag */
	HANDOFF_KEEP = 3,   /* a wake-up by a thread only handed its work: the wakee keeps what it has */
};
struct handoff {
	struct task_tag tag;
	u32 kind;
	u32 _pad;
};
BPF_HASH(handoffs, u32, struct handoff, WATCH_MAX); /* tid -> what was handed to it */

/*
 * A process's hand-offs in the order they were made. A pool's workers take
 * jobs off a shared queue oldest first, and not always the job their
 * wake-up was for: a worker back from its last job takes the next before
 * the woken thread runs, or two woken threads take each other's. They start
 * work in about the order they took the jobs, so a worker starting work
 * takes the oldest hand-off as its guess (claim_handoff), whichever thread
 * was woken for it. A guess is only a guess: the reply decides (see
 * completions.h). Every request a daemon thread reads is queued as it
 * reads it (queue_read_handoffs), whether it wakes a worker or not: a job
 * queued while every worker is busy wakes no one, yet some worker takes
 * it. One never claimed (a thread that answers its own requests) ages out.
 */
#define HANDOFF_QUEUE 8
#define HANDOFF_MAX_AGE_NS (50ULL * 1000 * 1000)
struct queued_handoff {
	struct task_tag tag; /* the request's: 0 for one for no watched command */
	u64 time;
};
struct handoff_queue {
	u64 head; /* the oldest not claimed */
	u64 tail;
	u64 epoch; /* the quiet spells' epoch of its hand-offs: an older queue went out of step */
	struct queued_handoff slots[HANDOFF_QUEUE];
};
BPF_TABLE("lru_hash", u32, struct handoff_queue, handoff_queues, DAEMON_MAX); /* pid -> its hand-offs */
BPF_ARRAY(empty_handoff_queue, struct handoff_queue, 1); /* never written: a new queue's first value */

/*
 * What was handed to the current thread, taken into its state: when it is
 * made, and when a futex wait returns woken (`woken`), by a tagged waker or
 * by one with no tag to hand on.
 */
static __always_inline void take_handoff(struct daemon_thread *self, int woken)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct handoff *found = handoffs.lookup(&tid);
	if (!found && !woken)
		return;
	struct handoff handed = { .kind = HANDOFF_WAKE };
	if (found) {
		handed = *found;
		handoffs.delete(&tid);
	}
	if (handed.kind == HANDOFF_KEEP && self->source_closed) {
		/* Done with its last connection: nothing to keep (a server's thread cache handing it the next). */
		handed.kind = HANDOFF_WAKE;
		__builtin_memset(&handed.tag, 0, sizeof(handed.tag));
	}
	if (handed.kind == HANDOFF_THREAD) {
		self->tag = handed.tag;
	} else if (handed.kind == HANDOFF_WAKE &&
		   (!self->tag.tag || (self->tag.attribution & ATTRIBUTION_WOKEN) || self->source_closed)) {
		/*
		 * (A thread that read its own request: the unlock that woke it is no
		 * hand-off, unless it closed the connection the request came on.)
		 */
		self->source_closed = 0;
		self->tag = handed.tag;
		self->serving_none = 0; /* handed work: its reply decides whose */
		self->handed = 1;
		self->source = 0;
		self->claiming = !self->g && !self->requests;
	}
}

/* A queue of an older epoch missed the pushes and claims of a quiet spell: it starts again empty. */
static __always_inline void renew_handoff_queue(struct handoff_queue *queue)
{
	u64 epoch = work_epoch();
	if (queue->epoch == epoch)
		return;
	queue->epoch = epoch;
	queue->head = queue->tail;
}

/* The process's hand-off queue, made if new. */
static __always_inline struct handoff_queue *handoff_queue_of(u32 pid)
{
	struct handoff_queue *queue = handoff_queues.lookup(&pid);
	if (queue) {
		renew_handoff_queue(queue);
		return queue;
	}
	u32 zero = 0;
	struct handoff_queue *empty = empty_handoff_queue.lookup(&zero);
	if (!empty)
		return NULL;
	handoff_queues.update(&pid, empty);
	return handoff_queues.lookup(&pid);
}

static __always_inline void push_handoff(struct handoff_queue *queue, const struct task_tag *tag, u64 now)
{
	/* (Two CPUs may race here: the worst is a wrong guess, which the reply catches.) */
	u64 tail = queue->tail;
	if (tail - queue->head >= HANDOFF_QUEUE)
		queue->head = tail - HANDOFF_QUEUE + 1; /* the oldest goes */
	struct queued_handoff *slot = &queue->slots[tail & (HANDOFF_QUEUE - 1)];
	slot->tag = *tag;
	slot->time = now;
	queue->tail = tail + 1;
}

/*
 * The requests a daemon thread read (`count` segments, the first continuing
 * one read before when `continues`; none of them known: for no watched
 * command), queued in order for the workers to claim.
 */
static __always_inline void queue_read_handoffs(u32 pid, const struct task_tag *taken, int count, int continues)
{
	struct handoff_queue *queue = handoff_queue_of(pid);
	if (!queue)
		return;
	u64 now = bpf_ktime_get_ns();
	if (count <= 0) {
		struct task_tag none = {};
		push_handoff(queue, &none, now);
		return;
	}
	u64 tail = queue->tail;
	u32 first = continues ? 1 : 0;
#pragma nounroll
	for (u32 i = 0; i < CHANNEL_SEGMENTS; i++) {
		if (i < first || i >= count)
			continue;
		struct queued_handoff *slot = &queue->slots[tail & (HANDOFF_QUEUE - 1)];
		slot->tag.tag = taken[i].tag;
		slot->tag.also_tag = taken[i].also_tag;
		slot->tag.attribution = (taken[i].attribution & ATTRIBUTION_AMBIGUOUS) | ATTRIBUTION_WOKEN;
		slot->time = now;
		tail += 1;
	}
	queue->tail = tail;
	if (tail - queue->head > HANDOFF_QUEUE)
		queue->head = tail - HANDOFF_QUEUE; /* the oldest go */
}

/*
 * A worker starts work (its first traced call since it was woken, or since
 * its last completion): its guess is the oldest hand-off not yet claimed
 * and not aged out. With none left, it keeps what its own wake-up handed it.
 */
static __always_inline void claim_handoff(struct daemon_thread *self, u32 pid)
{
	self->claiming = 0;
	struct handoff_queue *queue = handoff_queues.lookup(&pid);
	if (!queue)
		return;
	renew_handoff_queue(queue);
	u64 now = bpf_ktime_get_ns();
#pragma clang loop unroll(disable)
	for (int i = 0; i < HANDOFF_QUEUE; i++) {
		u64 head = queue->head;
		if (head >= queue->tail)
			return;
		struct queued_handoff *slot = &queue->slots[head & (HANDOFF_QUEUE - 1)];
		queue->head = head + 1;
		if (now - slot->time > HANDOFF_MAX_AGE_NS)
			continue;
		self->tag = slot->tag;
		self->handed = 1;
		self->serving_none = 0;
		self->source = 0;
		return;
	}
}

/* The current thread's state, made if `make` (a daemon's thread): made, it takes what was handed to it. */
static __always_inline struct daemon_thread *this_thread(int make)
{
	struct daemon_thread *self = daemon_thread_state(0);
	if (self || !make)
		return self;
	self = daemon_thread_state(1);
	if (self)
		take_handoff(self, 0);
	else
		count_lost(LOST_THREAD_STATE);
	return self;
}

/*
 * Whether the thread's call goes unseen: its process is a daemon, it holds
 * nothing for a command, and no command's work is under way (quiet.h). Its
 * state then falls out of step, which `slept` says.
 */
static __always_inline int sleeps(struct daemon_thread *self)
{
	if (!self->in_daemon || self->tag.tag || self->g || self->scheduling || self->episode.count || self->queued ||
	    self->flight.bytes || self->completions.count || self->completions.owed || self->completions.answered_count)
		return 0;
	if (!quiet_spell())
		return 0;
	if (!self->slept)
		self->slept = 1;
	return 1;
}

/*
 * A thread that slept through a quiet spell starts afresh, as one first
 * seen does: what it serves is unknown, so its calls are kept for its
 * reply. It keeps what it is (a thread that reads its own requests, or a
 * worker that claims hand-offs) and its completions' numbering.
 */
static __always_inline void wake_thread(struct daemon_thread *self)
{
	self->slept = 0;
	self->serving_none = 0;
	self->handed = 0;
	self->source_fd = 0;
	self->source = 0;
	self->source_closed = 0;
	self->claiming = !self->requests;
	self->queue.count = 0;
	self->queue.answering = 0;
	self->episode.last_call = 0;
	u32 made = self->completions.made;
	__builtin_memset(&self->completions, 0, sizeof(self->completions));
	self->completions.made = made;
}

/* Whether the thread's process is a daemon: the `daemons` lookup, once. */
static __always_inline int in_daemon(struct daemon_thread *self, u32 pid)
{
	if (!self->in_daemon && daemons.lookup(&pid))
		self->in_daemon = 1;
	return self->in_daemon;
}

/* The current thread's state if its process is a daemon, made if new; NULL otherwise. */
static __always_inline struct daemon_thread *daemon_thread(u32 pid)
{
	if (!may_be_daemon(pid))
		return NULL;
	struct daemon_thread *self = this_thread(0);
	if (self)
		return in_daemon(self, pid) ? self : NULL;
	return daemons.lookup(&pid) ? this_thread(1) : NULL;
}

/* The thread's tag, or NULL for none. A tag of an ended command goes (see Tracer.forget). */
static __always_inline struct task_tag *thread_tag(struct daemon_thread *self)
{
	if (!self || !self->tag.tag)
		return NULL;
	if (retired_tags.lookup(&self->tag.tag) || (self->tag.also_tag && retired_tags.lookup(&self->tag.also_tag))) {
		__builtin_memset(&self->tag, 0, sizeof(self->tag));
		return NULL;
	}
	return &self->tag;
}

/*
 * A thread that was handed work by a wake-up is done with it when it writes
 * to a socket: the reply, or the request passed on. Its next work may come
 * off a queue without a wake-up, and must not inherit the tag.
 */
static __always_inline void forget_handoff(struct daemon_thread *self)
{
	/*
	 * Not in Go: a goroutine that writes for others (grpc's writer) gets its
	 * next tag from the goroutine that wakes it, and often writes a request
	 * over several writes.
	 */
	if (!self->g)
		__builtin_memset(&self->tag, 0, sizeof(self->tag));
}

/*
 * A handed worker's reply to another daemon (a service answering a broker):
 * its kept calls go with the reply's bytes as a completion, on the segment
 * the write just queued. The daemon that reads them holds it until its own
 * reply to a command answers it.
 */
static __always_inline void pass_completion(struct daemon_thread *self)
{
	struct channel *channel = self->flight.bytes ? channels.lookup(&self->flight.key) : NULL;
	if (!channel || !held_segments(channel))
		return;
	u64 id = make_completion(&self->completions, &self->episode);
	channel->segments[(channel->end - 1) & (CHANNEL_SEGMENTS - 1)].completion = id;
	self->handed = 0;
}

/*
 * A daemon thread's write to a socket: an answer, to a command's socket
 * (`reaches`) or to someone else's. A thread handed its work, or with none,
 * sends the calls it kept as the command's, passes them on with a reply to
 * another daemon (pass_completion), or drops them. So does one handed a
 * request by another daemon over a connection, when it answers on that same
 * connection. Returns REPLY_ANSWERS when the reply also answers one of the
 * completions the thread holds: the caller hands on to
 * tail__answer_completion, which picks it (answer_completion), with whom
 * the reply reaches in answer_heap. REPLY_REPLAYS: the caller hands on to
 * tail__replay first, to send the kept calls (replay_heap).
 */
#define REPLY_ANSWERS 1
#define REPLY_REPLAYS 2
static __always_inline int daemon_reply(void *ctx, struct daemon_thread *self, const struct task_tag *writer, s64 fd,
					u32 reaches)
{
	int handed = writer->attribution & ATTRIBUTION_WOKEN;
	if (!reaches && writer->tag && handed && self->source && (u64)fd_file(fd) == self->source)
		reaches = writer->tag;
	u32 zero = 0;
	struct pending_completions *pending = &self->completions;
	if (!pending->count)
		pending->last_loose = bpf_ktime_get_ns();
	int answers = pending->count ||
		      (!pending->read_since && (pending->answered_count || (pending->by_wakeup && pending->batch)));
	u32 *answer = answers ? answer_heap.lookup(&zero) : NULL;
	if (answer)
		*answer = reaches;
	int outcome = answer ? REPLY_ANSWERS : 0;
	if (writer->tag && !handed)
		return outcome;
	if (reaches && self->episode.count && queue_replay(0, owner_of(reaches, ATTRIBUTION_DAEMON)))
		outcome |= REPLY_REPLAYS; /* (tail__replay empties the episode) */
	else if (!reaches && self->episode.count && !self->g)
		pass_completion(self);
	if (!(outcome & REPLY_REPLAYS))
		self->episode.count = 0;
	if (writer->tag)
		forget_handoff(self);
	self->claiming = !self->g && !self->requests; /* its next job may come off a queue unseen */
	return outcome;
}

/*
 * A thread that closes the connection its tag came from may be done with
 * that command: a thread kept for the next connection (a server's thread
 * cache) must not greet its next client with the last one's tag. It may
 * also have kept the connection open elsewhere (a dup for a child to
 * inherit), so the tag stays until the next wake-up hands it something else.
 */
static __always_inline void closed_source(struct daemon_thread *self, s64 fd)
{
	if (fd == self->source_fd)
		self->source_closed = 1;
}

/*
 * A thread that closed its command's connection and now writes to a socket
 * that is not that command's serves another client: a cached thread greets
 * its next one (MySQL's protocol speaks first) often before any wake-up is
 * seen, since a condition variable signalled before its wait sleeps wakes
 * no one. The write's segment, queued with the old tag, is for no one, so
 * that the greeting makes the new client no daemon; and the tag goes.
 * Returns whether it did.
 */
static __always_inline int left_source(struct daemon_thread *self, const struct task_tag *writer, u32 reaches)
{
	if (!self->source_closed || !writer->tag || reaches == writer->tag)
		return 0;
	struct channel *channel = self->flight.bytes ? channels.lookup(&self->flight.key) : NULL;
	u32 held = channel ? held_segments(channel) : 0;
	if (channel && held) {
		struct channel_segment *last = &channel->segments[(channel->end - 1) & (CHANNEL_SEGMENTS - 1)];
		last->tag = 0;
		last->also_tag = 0;
		last->attribution = 0;
		if (held == 1)
			count_fresh(channel, 0); /* (its only bytes that could make a daemon) */
	}
	__builtin_memset(&self->tag, 0, sizeof(self->tag));
	self->source_closed = 0;
	self->source = 0;
	return 1;
}

static __always_inline void count_unattributed(void)
{
	u32 zero = 0;
	u64 *count = unattributed_counts.lookup(&zero);
	if (count)
		*count += 1;
}

/* A thread's tag: 0 is none. */
static __always_inline void set_thread_tag(struct daemon_thread *self, const struct task_tag *tag)
{
	if (tag->tag)
		self->tag = *tag;
	else
		__builtin_memset(&self->tag, 0, sizeof(self->tag));
}

/*
 * Requests read together from one connection are answered in order (HTTP/1.1,
 * Redis and PostgreSQL pipelines, replies a proxy relays): a thread works on
 * the first, and its answer is its next run of writes to one socket or pipe.
 * It turns to the next request at its first call after that run. Called
 * before every call that does work.
 */
static __always_inline void next_request(struct daemon_thread *self)
{
	struct request_queue *queue = &self->queue;
	if (!self->queued || !queue->answering)
		return;
	if (!queue->count) {
		self->queued = 0;
		return;
	}
	struct task_tag tag = queue->next[0];
#pragma nounroll
	for (int i = 0; i < REQUEST_QUEUE - 1; i++)
		queue->next[i] = queue->next[i + 1];
	queue->count -= 1;
	queue->answering = 0;
	set_thread_tag(self, &tag);
}

/*
 * A write by a daemon thread, before its channel is tagged: it may begin the
 * next request's answer. A wake-up of the daemon's own threads is no answer.
 */
static __always_inline void daemon_write(struct daemon_thread *self, const struct written_channel *written)
{
	if (!self->queued)
		return;
	int channel = written->kind == CHANNEL_SOCKET || written->kind == CHANNEL_PIPE;
	if (channel) {
		struct channel *known = channels.lookup(&written->end.key);
		channel = !known || !known->local;
	}
	const void *file = (const void *)written->end.file;
	struct request_queue *queue = &self->queue;
	if (!channel || (queue->answering && queue->answer != (u64)file))
		next_request(self);
	if (channel && self->queued) {
		queue->answering = 1;
		queue->answer = (u64)file;
	}
}

/* Queues the requests taken[from..count) behind those the queue holds, as their reader takes them. */
static __always_inline void queue_requests(struct request_queue *queue, struct task_tag *taken, int count, int from,
					   int daemon)
{
#pragma nounroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++) {
		u32 slot = queue->count;
		if (i >= from && i < count && slot < REQUEST_QUEUE) {
			reader_tag(&taken[i], 0, daemon);
			barrier_var(slot);
			slot &= REQUEST_QUEUE - 1;
			queue->next[slot] = taken[i];
			queue->count += 1;
		}
	}
}

#endif
