/*
 * Reads by tasks outside the tree: a reader takes the tags of the requests
 * it reads off a channel, and the first tagged read makes its process a
 * daemon (a peer record).
 */
#ifndef BPF_DAEMONS_READING_H
#define BPF_DAEMONS_READING_H

#include "lib/common.h"
#include "lib/tasks.h"
#include "daemons/channels.h"
#include "daemons/datagrams.h"
#include "daemons/go.h"
#include "daemons/grpc.h"
#include "daemons/threads.h"

/* A wake-up whose writers are unknown: the thread works for no one it knows of. */
static __always_inline void read_unknown_wakeup(void *ctx, struct daemon_thread *self)
{
	open_batch(&self->completions);
	self->completions.by_wakeup = 1;
	__builtin_memset(&self->tag, 0, sizeof(self->tag));
	self->serving_none = 1;
	self->queued = 0;
}

/*
 * A read of a wake-up inside the daemon: an eventfd, or a pipe or socket
 * pair whose writer is a thread of the reader's process. It is no request,
 * so it never costs the thread its tag:
 * - what the thread wrote itself (a loop that wakes itself when queued work
 *   is done) is its own requests coming back, taken in order as requests
 *   read together are;
 * - another thread's tag is a hand-off, as a futex wake-up is;
 * - the completions the segments carry wait for the replies that answer them.
 * A Go thread's read (`go`, runs_go) is the netpoller's wake-up: goroutines
 * follow their own hand-offs, so it takes neither tags nor completions.
 */
static __always_inline void read_wakeup(void *ctx, struct channel *channel, struct daemon_thread *self, u64 file,
					struct taken_segments *reading, int continuing, int go)
{
	channel->local = 1;
	/* An eventfd's read takes its count, a self-pipe's reader drains it: all of it. A datagram: one. */
	u32 count = held_segments(channel);
	if (channel->messages && count > 1)
		count = 1;
	u32 tid = (u32)bpf_get_current_pid_tgid();
	int others = 0;
	reading->own = 0;
	__builtin_memset(&reading->handed, 0, sizeof(reading->handed));
	if (!go && continuing) {
		self->completions.reads += 1;
		self->completions.read_since = 0;
	} else if (!go) {
		open_batch(&self->completions);
		self->completions.by_wakeup = 1;
	}
#pragma nounroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++) {
		if (i >= count || go)
			break;
		struct channel_segment *segment = &channel->segments[(channel->first + i) & (CHANNEL_SEGMENTS - 1)];
		if (segment->writer_tid == tid) {
			struct task_tag *mine = &reading->tags[reading->own & (CHANNEL_SEGMENTS - 1)];
			mine->tag = segment->tag;
			mine->also_tag = segment->also_tag;
			mine->attribution = segment->attribution & ~ATTRIBUTION_DAEMON; /* its own, not handed to it */
			reading->own += 1;
		} else {
			others = 1;
			hold_completion(&self->completions, segment->completion);
			if (segment->tag && !reading->handed.tag) {
				reading->handed.tag = segment->tag;
				reading->handed.also_tag = segment->also_tag;
				reading->handed.attribution =
					(segment->attribution & ATTRIBUTION_AMBIGUOUS) | ATTRIBUTION_WOKEN;
			}
		}
	}
	if (continuing)
		pay_owed(&self->completions);
	channel->first += count;
	channel->started = 0;
	channel_emptied(channel, 0);
	channel->epoch = work_epoch(); /* in step now */
	u32 own = reading->own;
	if (channel->unsynced && !go) {
		/* Wake-ups from before the channel was made came too, for work unknown: for no one. */
		channel->unsynced = 0;
		read_unknown_wakeup(ctx, self);
	} else if (own) {
		set_thread_tag(self, &reading->tags[0]);
		self->serving_none = !reading->tags[0].tag;
		struct request_queue *next = &self->queue;
		next->file = file;
		next->answer = 0;
		next->answering = 0;
		next->count = own - 1;
#pragma nounroll
		for (int i = 1; i < CHANNEL_SEGMENTS && i <= REQUEST_QUEUE; i++)
			next->next[i - 1] = reading->tags[i];
		self->queued = own > 1;
	} else if (!go && others) {
		/*
		 * Other threads' finished work to answer: the thread works for them
		 * now, not its last request, even when that work was for no one.
		 */
		self->tag = reading->handed;
		self->serving_none = 0;
		self->handed = 1;
		self->source = 0;
	}
}

/* The wake-up a read took, handed to tail__read_wakeup. */
struct wakeup_read {
	struct channel_key key;
	u64 file;
};
BPF_PERCPU_ARRAY(wakeup_heap, struct wakeup_read, 1);
BPF_PROG_ARRAY(tail_calls, TAIL_CALL_MAX);

BPF_PERCPU_ARRAY(settle_heap, u32, 1); /* the tail call tail__settle_answer goes on to, plus 1; 0: none */

/*
 * Hands on to tail__replay for the replay queue_replay set, and then to
 * program `then` - 1 (0: none). Returns only when the tail call could not
 * be made: the calls are then lost, and counted.
 */
static __always_inline void replay_then(void *ctx, u32 then)
{
	u32 zero = 0;
	struct replay *replay = replay_heap.lookup(&zero);
	if (!replay)
		return;
	replay->then = then;
	tail_calls.call(ctx, TAIL_REPLAY);
	replay->then = 0;
	count_lost(LOST_COMPLETIONS_FULL);
}

/*
 * The batch is over: the completions its replies answered, first in,
 * first out (answer_completion), are sent as the commands' their replies
 * reached. Certain when the replies paired with them one to one and in
 * order: as many replies as completions, none after a request read since,
 * and for wake-ups, times that prove the loop answered their jobs in that
 * order. Otherwise ambiguous. Each replay is tail__replay's, which comes
 * back to tail__settle_answer for the next (`settled` counts them).
 */
static __always_inline void settle_answers(void *ctx, struct pending_completions *pending)
{
	/* (Nothing else runs for this thread until the batch is settled: the test holds throughout.) */
	u32 attribution = ATTRIBUTION_DAEMON;
	if (pending->out_of_order || pending->replies != pending->batch || pending->overtaken)
		attribution |= ATTRIBUTION_AMBIGUOUS;
#pragma nounroll
	for (int i = 0; i < PENDING_COMPLETIONS; i++) {
		u32 at = pending->settled;
		/*
		 * Kept apart from the loop's own bound: clang would fold the two
		 * into one `!=` test that older verifiers walk past the array.
		 */
		barrier_var(at);
		if (at >= pending->answered_count || at >= PENDING_COMPLETIONS)
			break;
		pending->settled = at + 1;
		u32 slot = at;
		barrier_var(slot); /* (else clang drops the mask below, and the verifier loses the bound) */
		slot &= PENDING_COMPLETIONS - 1;
		u64 id = pending->answered[slot];
		struct task_tag owner = { .tag = pending->answered_tags[slot], .attribution = attribution };
		if (!(id & COMPLETION_EMPTY) && completions.lookup(&id) && queue_replay(id, owner)) {
			replay_then(ctx, TAIL_SETTLE_ANSWER + 1);
			completions.delete(&id);
		} else {
			forget_completion(id);
		}
	}
	pending->answered_count = 0;
	pending->settled = 0;
	pending->out_of_order = 0;
}

/*
 * A thread that starts a new batch settles the answers of the last one
 * first, in tail__settle_answer, which then runs program `next` again: the
 * verifier walks the replays once, not inside every program that starts a
 * batch. Returns only when the tail call could not be made.
 */
static __always_inline void settle_then(void *ctx, u32 next)
{
	u32 zero = 0;
	u32 *then = settle_heap.lookup(&zero);
	if (!then)
		return;
	*then = next + 1;
	tail_calls.call(ctx, TAIL_SETTLE_ANSWER);
	*then = 0;
}

/*
 * read_wakeup, as a program of its own that the syscall exit hook hands on
 * to: the verifier then walks it once, not once for every way to reach it.
 */
#if PART(2)
int tail__read_wakeup(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	struct wakeup_read *read = wakeup_heap.lookup(&zero);
	struct taken_segments *reading = reading_heap.lookup(&zero);
	struct daemon_thread *self = this_thread(0);
	struct channel *channel = read ? channels.lookup(&read->key) : NULL;
	if (channel && channel_is_stale(channel))
		channel = NULL;
	int go = self && runs_go(self, bpf_get_current_pid_tgid() >> 32);
	int continuing = self && channel && !channel->unsynced && continues_batch(&self->completions);
	if (self && !go && self->completions.answered_count && !continuing)
		settle_then(ctx, TAIL_READ_WAKEUP); /* (a wake-up read starts a batch) */
	if (reading && self && channel)
		read_wakeup(ctx, channel, self, read->file, reading, continuing, go);
	/* An eventfd written before its process was a daemon, or by the kernel: */
	else if (read && self && !go)
		read_unknown_wakeup(ctx, self);
	return 0;
}
#endif

/*
 * A thread's batch is over: its answers are settled. At a close (a loop
 * closes a client it answered), or before a new batch (settle_then). A
 * program of its own, as tail__read_wakeup is.
 */
#if PART(2)
int tail__settle_answer(struct bpf_raw_tracepoint_args *ctx)
{
	struct daemon_thread *self = this_thread(0);
	if (self)
		settle_answers(ctx, &self->completions);
	u32 zero = 0;
	u32 *then = settle_heap.lookup(&zero);
	if (then && *then) {
		u32 next = *then - 1;
		*then = 0;
		tail_calls.call(ctx, next);
	}
	return 0;
}
#endif

/*
 * The replay queue_replay set: the episode's calls sent as its owner's,
 * in the name of the thread that made them; then on to the program the
 * replay names (replay_then).
 */
#if PART(2)
int tail__replay(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	struct replay *replay = replay_heap.lookup(&zero);
	if (!replay)
		return 0;
	u64 id = replay->completion;
	struct completion *made = id ? completions.lookup(&id) : NULL;
	struct daemon_thread *self = id ? NULL : this_thread(0);
	if (made) {
		replay_episode(ctx, &made->episode, replay->owner, &made->worker);
		completions.delete(&id);
	} else if (self) {
		struct episode_thread me = current_episode_thread();
		replay_episode(ctx, &self->episode, replay->owner, &me);
	}
	u32 then = replay->then;
	replay->then = 0;
	if (then)
		tail_calls.call(ctx, then - 1);
	return 0;
}
#endif

/*
 * A daemon thread read requests off a connection (read_channel): they are
 * queued as hand-offs. A program of its own, as tail__read_wakeup is.
 */
#if PART(2)
int tail__queue_handoffs(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	struct taken_segments *reading = reading_heap.lookup(&zero);
	if (!reading || !reading->handing)
		return 0;
	reading->handing = 0;
	queue_read_handoffs(bpf_get_current_pid_tgid() >> 32, reading->tags, reading->handing_count,
			    reading->handing_continues);
	return 0;
}
#endif

/*
 * A daemon thread read segments off a connection (read_channel): the
 * completions they carry (pass_completion) wait for its replies, in a batch
 * of their own. So do segments without any, read while it holds others: its
 * next replies relay them, not the completions it holds. A program of its
 * own, as tail__read_wakeup is; it goes on to tail__queue_handoffs.
 */
#if PART(2)
int tail__hold_completions(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	struct taken_segments *reading = reading_heap.lookup(&zero);
	if (!reading)
		return 0;
	u32 count = reading->holding;
	struct daemon_thread *self = this_thread(0);
	int carried = 0;
#pragma nounroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++)
		if (i < count && reading->completions[i])
			carried = 1;
	int batch = self && (carried || self->completions.count);
	if (batch && self->completions.answered_count)
		settle_then(ctx, TAIL_HOLD_COMPLETIONS);
	reading->holding = 0;
	if (batch) {
		open_batch(&self->completions);
		self->completions.by_wakeup = 0;
		/* Each segment is an answer its reader relays in turn: one without a completion holds its place. */
#pragma nounroll
		for (int i = 0; i < CHANNEL_SEGMENTS; i++)
			if (i < count)
				hold_completion(&self->completions, reading->completions[i]);
	}
	if (reading->handing)
		tail_calls.call(ctx, TAIL_QUEUE_HANDOFFS);
	return 0;
}
#endif

/* A reply by a thread that holds completions answers one (see daemon_reply). */
#if PART(2)
int tail__answer_completion(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	u32 *reaches = answer_heap.lookup(&zero);
	struct daemon_thread *self = this_thread(0);
	if (reaches && self)
		answer_completion(&self->completions, *reaches);
	return 0;
}
#endif

/*
 * A daemon thread (not a goroutine's) read a request for no one: off a
 * connection that holds no channel, bytes of unknown order, or a datagram
 * with no command's note. What take_read and the hand-off queued for it
 * (tail__queue_handoffs) make of such a read, in one go.
 */
static __always_inline void read_for_none(struct daemon_thread *self, u32 pid)
{
	self->queued = 0;
	self->requests += 1;
	self->serving_none = 1;
	__builtin_memset(&self->tag, 0, sizeof(self->tag));
	queue_read_handoffs(pid, NULL, 0, 0);
}

/* read_channel's outcomes when it returns: the call goes on (tail__daemon_call), or is done with (read_for_none). */
#define READ_GOES_ON 0
#define READ_FOR_NONE 1

/*
 * A read of `bytes` by a task outside the tree takes the tags of the
 * segments it read off the channel, and hands them on to tail__daemon_taken
 * (in reading_heap), which acts on them: two programs, so that the ways
 * through the one never multiply the other's for the verifier. `self` is
 * the reader's state, NULL outside daemons (see daemon_thread). `messages`:
 * how many datagrams the read took (recvmmsg takes several), 1 for others.
 * `spec` and `args`: the call's, where a UDP read finds its sender. Returns
 * only when there is nothing to act on, or the hand-on failed: READ_FOR_NONE
 * when the read was a request for no one, and is done with.
 */
static __always_inline int read_channel(void *ctx, s64 fd, u32 pid, struct daemon_thread *self, u32 bytes, u32 messages,
					const struct syscall_spec *spec, const u64 *args)
{
	int daemon = self != NULL;
	struct channel_end found = {};
	enum channel_kind kind = channel_of(fd, CHANNEL_READER, NULL, &found);
	if (kind == CHANNEL_NONE)
		return READ_GOES_ON;
	struct channel_key key = found.key;
	u64 inode = found.inode, end = found.end, file = found.file, sock = found.sock;
	struct channel *channel = channels.lookup(&key);
	if (channel && key.b == CHANNEL_KEY_UNIX)
		end = writer_end((const void *)end);
	if (channel && channel->writer_end != end && end != ANY_END) {
		drop_channel(channel, &key);
		channel = NULL;
	}
	if (channel && channel_is_stale(channel))
		channel = NULL; /* out of step after a quiet spell: none until a write makes it again */
	barrier_var(channel);
	if (!channel && !daemon)
		return READ_GOES_ON; /* nothing for a watched command, read by a task that works for none */
	u32 zero = 0;
	struct taken_segments *reading = reading_heap.lookup(&zero);
	if (!reading)
		return READ_GOES_ON;
	if (daemon && (kind == CHANNEL_EVENTFD || (channel && channel->writer_pid == pid))) {
		struct wakeup_read *read = wakeup_heap.lookup(&zero);
		if (read) {
			read->key = key;
			read->file = file;
			tail_calls.call(ctx, TAIL_READ_WAKEUP);
		}
		return READ_GOES_ON;
	}
	if (!self)
		self = this_thread(0); /* a Go program's thread has one before its process is a daemon */
	if (self) {
		self->episode.count = 0; /* a new request: what came before was for someone else */
		self->completions.read_since = 1;
	}
	u64 g = self ? self->g : 0;
	struct go_key goroutine = { .pid = pid, .g = g };
	int count = 0;
	int continues = 0;
	int shared = 0;
	reading->by_reply = 0;
	if (channel) {
		if (g)
			grpc_read(&goroutine, &key);
		continues = channel->started;
		u32 left = 0;
		shared = shared_channel(&key);
		if (shared) {
			/* (UDP copies most datagrams out without the tracepoint: the reader is told the sender.) */
			u32 sender = 0;
			if (key.b & CHANNEL_KEY_UDP && messages == 1 && channel->messages) {
				struct destination from = read_source(spec, args);
				sender = udp_read_sender(&key, &from);
			}
			count = sender ? take_sender_datagram(channel, &key, sock, sender, reading) : DATAGRAM_COUNTED;
			if (count == DATAGRAM_COUNTED)
				count = key.b & CHANNEL_KEY_UDP
						? take_datagrams(channel, &key, sock, messages, reading)
						: take_noted_datagrams(channel, reading, messages, g != 0);
			/* (Its segments and the socket's messages part ways: it holds work until the socket is empty.) */
			if (channel->holds_work && !held_segments(channel) && !queued_messages(&key, sock))
				channel_emptied(channel, 0);
		} else {
			if (channel->messages && channel->unsynced && took_first_message(channel, sock))
				channel->unsynced = 0;
			if (channel->messages && channel->unsynced) {
				count = -1; /* an older message, for no one */
			} else {
				if (channel->messages &&
				    held_segments(channel)) /* one read, one message, whatever its length */
					bytes = channel->segments[channel->first & (CHANNEL_SEGMENTS - 1)].bytes;
				count = take_segments(channel, bytes, reading, &left);
				if (left || channel->unsynced)
					count = -1;
				if (count > 0 && daemon && !g)
					reading->holding = count;
			}
			if (channel->unsynced && queued_buffers(sock) == 0) {
				/* The read emptied the socket: what was written so far has all been read. */
				channel->unsynced = 0;
				channel->first = channel->end;
				channel->started = 0;
				channel_emptied(channel, 0);
			}
		}
		if (daemon) {
			channel->daemon_reads = 1;
			count_fresh(channel, 0);
		}
		channel->epoch = work_epoch(); /* in step now */
	}
	/* Nothing for a command: bytes of unknown order, or no channel, or a datagram for no one. */
	int none = count == 0 || count == -1 ||
		   (shared && count == 1 && !reading->tags[0].tag && !reading->tags[0].also_tag && !reading->by_reply);
	if (none && daemon && self && !g && !self->scheduling && !continues && (count <= 0 || !self->queued)) {
		read_for_none(self, pid);
		return READ_FOR_NONE;
	}
	reading->count = count;
	reading->continues = continues;
	reading->found = channel != NULL;
	reading->fd = fd;
	reading->file = file;
	reading->inode = inode;
	reading->key = key;
	tail_calls.call(ctx, TAIL_DAEMON_TAKEN);
	return READ_GOES_ON;
}

/*
 * What a read took (read_channel, in `reading`): the thread takes the tag of
 * the first request it read, and queues the others (next_request); a
 * goroutine takes them all as one, since Go hands requests to other
 * goroutines rather than answering in order. Reading bytes for no watched
 * command means working for someone else, so a daemon thread loses its tag.
 * The first tagged read makes the reader's process a daemon.
 */
static __always_inline void take_read(void *ctx, u32 pid, struct taken_segments *reading)
{
	struct daemon_thread *self = daemon_thread(pid);
	int daemon = self != NULL;
	if (!self)
		self = this_thread(0);
	struct channel *channel = reading->found ? channels.lookup(&reading->key) : NULL;
	u64 g = self ? self->g : 0;
	struct go_key goroutine = { .pid = pid, .g = g };
	struct task_tag *taken = reading->tags;
	int count = reading->count, continues = reading->continues, by_reply = reading->by_reply;
	s64 fd = reading->fd;
	u64 file = reading->file, inode = reading->inode;
	reading->by_reply = 0;
	if (self && self->scheduling)
		return; /* Go's scheduler between goroutines reads the netpoller's wake-up pipe: no one's request */
	/* The first command among the requests read: a reader outside the tree becomes its daemon. */
	struct task_tag first = {};
#pragma nounroll
	for (int i = CHANNEL_SEGMENTS - 1; i >= 0; i--)
		if (i < count && taken[i].tag)
			first = taken[i];
	if (!g && (daemon || first.tag)) {
		/* (Queued in tail__queue_handoffs: this program has no room for the loop.) */
		reading->handing = 1;
		reading->handing_count = count;
		reading->handing_continues = continues;
	}
	struct request_queue *queue = daemon && !g && self && self->queued ? &self->queue : NULL;
	if (queue && queue->file == file && count > 0) {
		/* Read ahead while it still works on a request from the same connection. */
		queue_requests(queue, taken, count, continues ? 1 : 0, 1);
		return;
	}
	if (queue)
		self->queued = 0;
	reader_tag(&first, g != 0, daemon);
	/* With bytes of unknown order (count < 0): for none. Datagrams answered one by one: none yet. */
	struct task_tag tag = {};
	if (count > 0 && !by_reply)
		tag = taken[0];
	if (g) {
#pragma nounroll
		for (int i = 1; i < CHANNEL_SEGMENTS; i++)
			if (i < count)
				mix_tags(&tag, &taken[i]);
	} else if (count > 1 && !by_reply && (daemon || first.tag)) {
		if (!self)
			self = this_thread(1);
		if (self) {
			struct request_queue *next = &self->queue;
			next->file = file;
			next->answer = 0;
			next->answering = 0;
			next->count = 0;
			queue_requests(next, taken, count, 1, daemon);
			self->queued = 1;
		}
	}
	reader_tag(&tag, g != 0, daemon);
	if (self && daemon && !g)
		self->requests += 1;
	if (self && daemon && !g && !tag.tag)
		self->serving_none = !by_reply;
	else if (self && tag.tag)
		self->serving_none = 0;
	if (!tag.tag && (daemon || first.tag)) {
		if (self)
			__builtin_memset(&self->tag, 0, sizeof(self->tag));
		if (g) {
			struct task_tag other = {}; /* known to work for someone else */
			go_tags.update(&goroutine, &other);
		}
	}
	if (!channel || (!tag.tag && (daemon || !first.tag)))
		return;
	int turned = 0;
	if (tag.tag) {
		if (g)
			go_tags.update(&goroutine, &tag);
		if (!self)
			self = this_thread(1);
		/* A peer record on the first read, and whenever a thread turns to another command. */
		turned = !self || self->tag.tag != tag.tag;
		if (self) {
			self->tag = tag;
			self->source = file;
			self->source_fd = fd;
			self->source_closed = 0;
		}
	} else {
		tag = first; /* a command's request waits behind others' */
	}
	if (daemon && !turned)
		return;
	u32 one = 1, made = 0;
	if (!daemon) {
		mark_maybe(pid, MAYBE_DAEMON);
		/* Only the one read that makes the entry says the daemon is new: threads may race to it. */
		made = daemons.insert(&pid, &one) == 0;
		channel->daemon_reads = 1;
		count_fresh(channel, 0);
	}
	struct peer_event *event = reserve_record(sizeof(*event), EVENT_PEER);
	if (!event)
		return;
	event->writer_pid = channel->writer_pid;
	event->writer_tid = channel->writer_tid;
	event->writer_inode = channel->writer_inode;
	event->reader_inode = inode;
	event->reader_fd = fd;
	event->flags = made ? EVENT_FLAG_NEW_DAEMON : 0;
	fill_header(&event->header, EVENT_PEER, sizeof(*event), tag);
	submit_record(ctx, event, sizeof(*event), EVENT_PEER);
}

#endif
