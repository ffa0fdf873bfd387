/*
 * The kernel half of ebpf-monitor, compiled at start-up by BCC from the
 * files of bpf/ embedded in the binary (Sources/Kernel/ProgramText.swift
 * prepends the macros listed in lib/common.h).
 *
 *   events.h             the records sent to user space: the ABI shared with Swift
 *   lib/                 the base: kernel reads, registers, record headers; who is traced; open files
 *   syscalls/            what to do for each syscall; I/O totals per fd; the syscall record
 *   process/             forks, execs and exits
 *   daemons/             attribution of daemons' work to the commands it is done for:
 *     endpoints.h        the channel behind an fd
 *     channels.h         writes queue tagged segments on channels, reads take them off
 *     datagrams.h        datagram channels many write to: whole messages, checked at each read
 *     episodes.h         an untagged or handed-off thread's calls, kept until its reply
 *     threads.h          a daemon thread's state, requests read together, hand-offs
 *     go.h, grpc.h       goroutines of Go daemons, gRPC streams batched on one connection
 *     futex.h            futex hand-offs between a daemon's threads
 *     reading.h          a read by a task outside the tree: tags taken, daemons found
 *
 * This file holds the syscall hooks, which tie them together. Reads and
 * writes are summed per (process, fd) in io_totals and reported once, with
 * the close (see struct io_key); only a write does work at entry (it tags its
 * channel before the reader can wake, see pending_writes).
 */
#include "lib/common.h"
#include "lib/tasks.h"
#include "syscalls/io.h"
#include "syscalls/record.h"
#include "syscalls/specs.h"
#include "process/lifecycle.h"
#include "daemons/channels.h"
#include "daemons/completions.h"
#include "daemons/datagrams.h"
#include "daemons/episodes.h"
#include "daemons/futex.h"
#include "daemons/go.h"
#include "daemons/grpc.h"
#include "daemons/reading.h"
#include "daemons/threads.h"

/*
 * A daemon thread's write (sys_enter), in programs of their own, as the
 * reads' are (reading.h): tail__daemon_write finds the fd's channel, settles
 * the thread's state and hands on to tail__grpc_write for a gRPC writer
 * goroutine's frames, or to tail__daemon_wakeup or tail__daemon_tag for a
 * write tagged whole. Each finds the write again from the saved registers,
 * and the channel in described_heap.
 */
struct daemon_writing {
	const struct syscall_spec *spec;
	struct daemon_thread *self;
	u64 args[6];
	u32 pid;
	u32 length;
};

static __always_inline int daemon_writing(struct bpf_raw_tracepoint_args *ctx, struct daemon_writing *write)
{
	write->spec = spec_for(ctx->args[1]);
	write->pid = bpf_get_current_pid_tgid() >> 32;
	write->self = write->spec ? daemon_thread(write->pid) : NULL;
	const struct pt_regs *regs = write->self ? user_regs(ctx) : NULL;
	if (!regs)
		return 0;
	syscall_args(regs, write->args);
	write->length = write_length(write->spec, write->args);
	return 1;
}

/* The tag the thread's write carries to other daemons' threads. */
static __always_inline struct task_tag daemon_writer(struct daemon_thread *self)
{
	struct task_tag *tag = thread_tag(self);
	struct task_tag writer = {};
	if (tag) {
		writer = *tag;
		writer.attribution |= ATTRIBUTION_DAEMON;
		if (self->g)
			writer.attribution &= ~ATTRIBUTION_WOKEN; /* a goroutine's hand-off is a sure one */
	}
	return writer;
}

/*
 * A write to a socket (`kind`, `key`: where it goes) that holds no channel
 * and is no command's, by a thread with no tag and no kept calls: a reply
 * for no one. All there is to do is the reply's bookkeeping (daemon_reply),
 * without the programs that would find nothing to tag (tail__daemon_tag,
 * tail__write_channel). Returns whether it was one.
 */
static __always_inline int reply_for_none(void *ctx, struct daemon_thread *self, const struct daemon_writing *write,
					  enum channel_kind kind, const struct channel_key *key)
{
	if (kind != CHANNEL_SOCKET || self->g || self->tag.tag || self->episode.count)
		return 0;
	struct channel *channel = channels.lookup(key);
	if ((channel && !channel_is_stale(channel)) || command_ends.lookup(key))
		return 0;
	struct task_tag none = {};
	if (daemon_reply(ctx, self, &none, write->args[0], 0) & REPLY_ANSWERS)
		tail_calls.call(ctx, TAIL_ANSWER_COMPLETION);
	return 1;
}

/*
 * A datagram sent to a named destination (sendto, sendmsg), by a thread
 * with nothing a write could turn it from (no requests read ahead): a reply
 * for no one when its destination is (reply_for_none). Its channel is found
 * once, from the destination. Returns whether it was one.
 */
static __always_inline int sent_for_none(void *ctx, struct daemon_thread *self, const struct daemon_writing *write)
{
	if (!names_destination(write->spec) || write->spec->io_length == IO_LENGTH_MMSGHDR || self->queued ||
	    self->tag.tag || self->episode.count)
		return 0;
	struct destination to = write_destination(write->spec, write->args);
	if (!to.sockaddr)
		return 0;
	struct channel_end found = {};
	enum channel_kind kind = channel_of(write->args[0], CHANNEL_WRITER, &to, &found);
	return reply_for_none(ctx, self, write, kind, &found.key);
}

/* What tail__daemon_write hands on to tail__daemon_reply. */
struct reply_write {
	struct task_tag writer;
	s64 fd;
	u32 reaches;
	u32 _pad;
};
BPF_PERCPU_ARRAY(reply_heap, struct reply_write, 1);

/* A write to a socket out of the process may end the thread's work for a command, or answer one. */
static __always_inline void hand_reply(struct bpf_raw_tracepoint_args *ctx, const struct task_tag *writer, s64 fd,
				       u32 reaches)
{
	u32 zero = 0;
	struct reply_write *reply = reply_heap.lookup(&zero);
	if (reply) {
		reply->writer = *writer;
		reply->fd = fd;
		reply->reaches = reaches;
		tail_calls.call(ctx, TAIL_DAEMON_REPLY);
	}
}

/*
 * A write as it is described, by sys_enter for a watched task or by
 * tail__daemon_tag and tail__daemon_wakeup for a daemon thread, and handed
 * on to tail__write_channel, which queues it on its channel: the verifier
 * walks the two apart, and the ways through the one never multiply the
 * other's.
 */
struct described_write {
	struct channel_write write;
	s64 fd;
	u32 daemon;	 /* a daemon thread's write; otherwise a watched task's */
	u32 wakes;	 /* a daemon thread's, to a pipe or an eventfd */
	u32 tag;	 /* a watched task's command */
	u32 daemon_side; /* a watched task a daemon made for the command: its sockets are no command ends */
	struct written_channel
		channel; /* a daemon thread's (`daemon`): the fd's channel, found by tail__daemon_write */
};
BPF_PERCPU_ARRAY(described_heap, struct described_write, 1);

#if PART(2)
int tail__daemon_write(struct bpf_raw_tracepoint_args *ctx)
{
	struct daemon_writing write;
	if (!daemon_writing(ctx, &write))
		return 0;
	u32 zero = 0;
	struct described_write *described = described_heap.lookup(&zero);
	if (!described)
		return 0;
	struct daemon_thread *self = write.self;
	if (self->claiming)
		claim_handoff(self, write.pid);
	if (sent_for_none(ctx, self, &write))
		return 0;
	struct written_channel *written = &described->channel;
	__builtin_memset(&written->end, 0, sizeof(written->end));
	written->kind = channel_of(write.args[0], CHANNEL_WRITER, NULL, &written->end);
	daemon_write(self, written);
	if (written->kind == CHANNEL_NONE && !names_destination(write.spec))
		return 0; /* a file, a device, a bad fd: the programs after would find no channel to tag */
	if (!names_destination(write.spec) && reply_for_none(ctx, self, &write, written->kind, &written->end.key))
		return 0;
	int wakeup = written->kind == CHANNEL_PIPE || written->kind == CHANNEL_EVENTFD;
	if (write.spec->io_length == IO_LENGTH_COUNT && self->g && write.length)
		tail_calls.call(ctx, TAIL_GRPC_WRITE);
	else if (!self->g && wakeup)
		tail_calls.call(ctx, TAIL_DAEMON_WAKEUP);
	tail_calls.call(ctx, TAIL_DAEMON_TAG);
	return 0;
}
#endif

/* A gRPC writer goroutine's write: queued by stream (grpc_write); any other write is tagged whole. */
#if PART(2)
int tail__grpc_write(struct bpf_raw_tracepoint_args *ctx)
{
	struct daemon_writing write;
	if (!daemon_writing(ctx, &write))
		return 0;
	u32 reaches = 0;
	enum channel_kind kind = grpc_write(write.pid, write.self, write.args, write.length, &reaches);
	if (kind == CHANNEL_NONE) {
		tail_calls.call(ctx, TAIL_DAEMON_TAG);
		return 0;
	}
	struct task_tag writer = daemon_writer(write.self);
	writer.tag = 0; /* by stream: no one write's tag */
	if (kind == CHANNEL_SOCKET)
		hand_reply(ctx, &writer, write.args[0], reaches);
	return 0;
}
#endif

/*
 * A daemon thread's write tagged whole. `wakes`: to a pipe or an eventfd,
 * maybe a worker signalling the thread that answers, whose
 * kept calls go with it; otherwise a request passed on or a reply. A
 * program for each kind.
 */
static __always_inline void describe_daemon_write(struct bpf_raw_tracepoint_args *ctx, int wakes)
{
	u32 zero = 0;
	struct described_write *described = described_heap.lookup(&zero);
	struct daemon_writing write;
	if (!described || !daemon_writing(ctx, &write))
		return;
	struct daemon_thread *self = write.self;
	struct channel_write tagged = { .owner = daemon_writer(self), .bytes = write.length };
	describe_write(write.spec, write.args, &tagged);
	if (wakes) {
		tagged.completion = make_completion(&self->completions, &self->episode);
		tagged.make = 1; /* so that its reader knows the writer (read_wakeup) */
		self->handed = 0;
		self->claiming = !self->requests;
	} else if (self->episode.count && !self->g) {
		/*
		 * Its kept calls may ride on a reply to another daemon (pass_completion):
		 * on a stream that daemon sent it requests on, the reply makes the channel.
		 * (Not on others: a channel no one reads is never deleted.)
		 */
		struct channel_end back = {};
		tagged.make = channel_of(write.args[0], CHANNEL_READER, NULL, &back) == CHANNEL_SOCKET &&
			      back.key.b != CHANNEL_KEY_UNIX_NAME && !(back.key.b & CHANNEL_KEY_UDP) &&
			      channels.lookup(&back.key) != NULL;
	}
	described->write = tagged;
	described->fd = write.args[0];
	described->daemon = 1;
	described->wakes = wakes;
	tail_calls.call(ctx, TAIL_WRITE_CHANNEL);
}

#if PART(1)
int tail__daemon_tag(struct bpf_raw_tracepoint_args *ctx)
{
	describe_daemon_write(ctx, 0);
	return 0;
}
#endif

#if PART(2)
int tail__daemon_wakeup(struct bpf_raw_tracepoint_args *ctx)
{
	describe_daemon_write(ctx, 1);
	return 0;
}
#endif

/*
 * The write described, queued on its channel. A daemon thread's may end its
 * work for a command or answer one (tail__daemon_reply); a watched task's
 * is kept until its exit, which settles what it sent.
 */
#if PART(1)
int tail__write_channel(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0, reaches = 0;
	struct described_write *described = described_heap.lookup(&zero);
	if (!described)
		return 0;
	struct channel_write *write = &described->write;
	struct daemon_thread *self = NULL;
	struct write_in_flight own = {};
	struct write_in_flight *flight = &own;
	if (described->daemon) {
		self = daemon_thread(bpf_get_current_pid_tgid() >> 32);
		if (!self)
			return 0;
		flight = &self->flight;
	}
	enum channel_kind kind =
		tag_channel(described->fd, write, &reaches, flight, described->daemon ? &described->channel : NULL);
	if (self) {
		if (described->wakes && write->owner.tag && (write->owner.attribution & ATTRIBUTION_WOKEN))
			forget_handoff(self);
		if (kind == CHANNEL_SOCKET && !described->wakes && !write->local) {
			struct task_tag writer = write->owner;
			hand_reply(ctx, &writer, described->fd, reaches);
		}
		return 0;
	}
	if (kind == CHANNEL_SOCKET && !described->daemon_side)
		remember_command_end(described->fd, described->tag);
	if (!own.bytes)
		return 0; /* not to a channel: nothing to settle at exit */
	struct write_in_flight *pending = pending_write(1);
	if (pending)
		*pending = own;
	else
		count_lost(LOST_PENDING_FULL);
	return 0;
}
#endif

/*
 * A daemon thread's write to a socket out of its process (tail__daemon_write
 * hands it on): whether it ends the thread's work for a command, or answers
 * one. A program of its own, so that each of the two fits the verifier's
 * budget on older kernels too.
 */
#if PART(2)
int tail__daemon_reply(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	struct reply_write *reply = reply_heap.lookup(&zero);
	struct daemon_thread *self = reply ? daemon_thread(bpf_get_current_pid_tgid() >> 32) : NULL;
	if (!self)
		return 0;
	struct task_tag writer = reply->writer;
	if (left_source(self, &writer, reply->reaches))
		__builtin_memset(&writer, 0, sizeof(writer));
	int outcome = daemon_reply(ctx, self, &writer, reply->fd, reply->reaches);
	if (outcome & REPLY_REPLAYS) {
		replay_then(ctx, outcome & REPLY_ANSWERS ? TAIL_ANSWER_COMPLETION + 1 : 0);
		self->episode.count = 0; /* (the replay could not be made: counted lost) */
	}
	if (outcome & REPLY_ANSWERS)
		tail_calls.call(ctx, TAIL_ANSWER_COMPLETION);
	return 0;
}
#endif

/*
 * A daemon thread's call that is followed: a thread that slept through a
 * quiet spell starts afresh, and a tagged thread's call keeps its
 * command's work going (quiet.h). A tag a wake-up handed is a guess: it
 * keeps work going once the thread keeps calls for its reply, or in Go
 * (a thread cache's acceptor handed a tag through a lock keeps it while
 * it accepts other clients' connections).
 */
static __always_inline void follow_thread(struct daemon_thread *self)
{
	if (self->slept) {
		wake_thread(self);
		forget_copied_datagrams();
	}
	if (self->tag.tag && (!(self->tag.attribution & ATTRIBUTION_WOKEN) || self->g || self->episode.count))
		work_goes_on();
}

/*
 * The syscall hooks are raw tracepoints: they get the saved user registers
 * and the number (or return value) as they are, where the raw_syscalls
 * tracepoints would first copy every call's arguments into a trace record.
 */
#if PART(1)
RAW_TRACEPOINT_PROBE(sys_enter)
{
	long nr = ctx->args[1];
	struct syscall_spec *spec = spec_for(nr);
	if (!spec || spec->action != SYSCALL_IO_WRITE)
		return 0;
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct task_watch *watch = watch_of(tid);
	if (!watch) {
		/* A daemon thread's write tags the channel before the reader can wake (the tail looks it up). */
		if (!may_be_daemon(id >> 32))
			return 0;
		struct daemon_thread *self = this_thread(0);
		if (self && sleeps(self))
			return 0;
		if (self)
			follow_thread(self);
		tail_calls.call(ctx, TAIL_DAEMON_WRITE);
		return 0;
	}
	const struct pt_regs *regs = user_regs(ctx);
	u32 zero = 0;
	struct described_write *described = regs ? described_heap.lookup(&zero) : NULL;
	if (!described)
		return 0;
	u64 args[6];
	syscall_args(regs, args);
	int daemon_side = watch->attribution & ATTRIBUTION_DAEMON;
	struct channel_write write = {
		.owner = owner_of(watch->tag, watch->attribution),
		.bytes = write_length(spec, args),
		.sockets_only = !daemon_side,
	};
	describe_write(spec, args, &write);
	described->write = write;
	described->fd = args[0];
	described->daemon = 0;
	described->tag = watch->tag;
	described->daemon_side = daemon_side;
	tail_calls.call(ctx, TAIL_WRITE_CHANNEL);
	return 0;
}
#endif

/*
 * A socket was given data to read: a datagram the current task sends is in
 * its reader's socket now (see message_queued). Only tasks with a write in
 * flight get past the first lookup.
 */
static __always_inline void data_ready(u16 family, const void *sock)
{
	if (family != AF_UNIX && family != AF_INET && family != AF_INET6)
		return;
	u64 id = bpf_get_current_pid_tgid();
	struct daemon_thread *self = may_be_daemon(id >> 32) ? this_thread(0) : NULL;
	if (self) {
		struct task_tag *tag = thread_tag(self);
		struct task_tag owner = {};
		if (tag) {
			owner = *tag;
			owner.attribution |= ATTRIBUTION_DAEMON;
		}
		note_datagram(&self->flight, sock, owner);
		message_queued(&self->flight);
		name_udp_sender(&self->flight);
		return;
	}
	struct task_watch *watch = watch_of((u32)id);
	if (watch) {
		struct write_in_flight *flight = pending_write(0);
		note_datagram(flight, sock, owner_of(watch->tag, watch->attribution));
		message_queued(flight);
		name_udp_sender(flight);
		if (!(watch->attribution & ATTRIBUTION_DAEMON))
			remember_udp_command(flight, watch->tag);
	}
}

/*
 * The sock:sk_data_ready tracepoint came in Linux 6.6. Before it, a kprobe
 * on sock_def_readable, the callback unix and UDP sockets wake their readers
 * with, sees the same moment; with neither, datagrams are followed to no one.
 */
#if DATA_READY_PROBE == DATA_READY_TRACEPOINT
#if PART(1)
TRACEPOINT_PROBE(sock, sk_data_ready)
{
	data_ready(args->family, args->skaddr);
	return 0;
}
#endif
#elif DATA_READY_PROBE == DATA_READY_KPROBE
#if PART(1)
int kprobe__sock_def_readable(struct pt_regs *ctx)
{
	const void *sock = (const void *)PT_REGS_PARM1(ctx);
	u16 family = 0;
	bpf_probe_read_kernel(&family, sizeof(family), (const char *)sock + OFF_sock_common__skc_family);
	data_ready(family, sock);
	return 0;
}
#endif
#endif

/* A datagram copied out of a socket by its reader (see note_datagram). */
#if PART(1)
TRACEPOINT_PROBE(skb, skb_copy_datagram_iovec)
{
	struct daemon_thread *self = daemon_thread(bpf_get_current_pid_tgid() >> 32);
	if (self && sleeps(self))
		return 0;
	if (self)
		follow_thread(self);
	if (self || fresh_channels_exist())
		copied_datagram((u64)args->skbaddr);
	return 0;
}
#endif

/*
 * The end of a call by a task outside the tree, in three programs that
 * sys_exit hands on to, one after the other, so that the verifier walks each
 * apart: tail__daemon_syscall settles the thread's state, tail__daemon_read
 * takes the tags a read brings, and tail__daemon_call records a tagged
 * daemon thread's call. Each finds the call again from the saved registers.
 */
struct ended_call {
	const struct pt_regs *regs;
	const struct syscall_spec *spec;
	long nr;
	s64 ret;
};

static __always_inline int ended_call(struct bpf_raw_tracepoint_args *ctx, struct ended_call *call)
{
	call->regs = user_regs(ctx);
	call->nr = call->regs ? exit_syscall_nr(ctx, call->regs) : -1;
	call->spec = spec_for(call->nr);
	call->ret = ctx->args[1];
	return call->regs && call->spec;
}

/* A read that may take a channel's tags: by a daemon's thread, or by anyone while a command's bytes wait. */
static __always_inline int reads_channel(const struct ended_call *call, const struct daemon_thread *self)
{
	return call->spec->action == SYSCALL_IO_READ && call->ret > 0 && (self || fresh_channels_exist());
}

/*
 * The tag a daemon thread's calls are recorded for; NULL when they are kept
 * for its reply or dropped. A thread woken through a futex may take a queued
 * request other than the one its waker read (`handed`): its calls wait for
 * its reply, which names whose it was. (Goroutines are handed work through
 * channels, a surer sign.)
 */
static __always_inline struct task_tag *recording_tag(struct daemon_thread *self, int *handed)
{
	struct task_tag *tag = thread_tag(self);
	*handed = tag && (tag->attribution & ATTRIBUTION_WOKEN) && !self->g;
	return *handed ? NULL : tag;
}

/*
 * A call by a thread without a tag: a worker's job goes on the loop's
 * done-list after its last traced call (pair_completion).
 */
static __always_inline void kept_call(struct daemon_thread *self)
{
	if (self->episode.count)
		self->episode.last_call = bpf_ktime_get_ns();
}

/* Whether a thread without a tag keeps its calls for its reply: one handed work, or one not serving no one. */
static __always_inline int keeps_calls(const struct daemon_thread *self, int handed)
{
	return handed || !self->serving_none;
}

/*
 * A call, not a read, by a thread without a tag that daemon_call would only
 * count: not a close that settles the thread's state, and no call it keeps
 * (keeps_calls).
 */
static __always_inline int only_counted(const struct ended_call *call, const struct daemon_thread *self, s64 closed)
{
	if (self->tag.tag)
		return 0;
	if (call->nr == NR_CLOSE &&
	    (self->completions.answered_count || (self->source && !self->g && closed == self->source_fd)))
		return 0; /* (see daemon_call) */
	return !call->spec->path_args[0] || call->ret < 0 || !keeps_calls(self, 0);
}

/*
 * A call by a thread without a tag that daemon_call would only count,
 * counted (only_counted). `closed`: the fd a close closed.
 */
static __always_inline int counted_call(const struct ended_call *call, struct daemon_thread *self, s64 closed)
{
	if (!only_counted(call, self, closed))
		return 0;
	kept_call(self);
	if (call->spec->action == SYSCALL_RECORD)
		count_unattributed();
	return 1;
}

/*
 * The end of a call by a daemon's thread, with no tag and nothing under way
 * (no claim to make, no write in flight, no answer to turn from, no read to
 * take tags off a channel), that would only be counted: counted in sys_exit,
 * without tail__daemon_syscall. Returns whether it was.
 */
static __always_inline int idle_daemon_call(struct bpf_raw_tracepoint_args *ctx, struct daemon_thread *self, long nr,
					    const struct syscall_spec *spec, s64 ret)
{
	if (!self->in_daemon || self->tag.tag || self->claiming || (self->queued && self->queue.answering) ||
	    (spec->action == SYSCALL_IO_WRITE && self->flight.bytes) || (spec->action == SYSCALL_IO_READ && ret > 0))
		return 0;
	if (is_io(spec)) {
		kept_call(self);
		return 1;
	}
	s64 closed = -1;
	if (nr == NR_CLOSE) {
		const struct pt_regs *regs = user_regs(ctx);
		if (!regs)
			return 0;
		closed = (s64)(int)PT_REGS_PARM1_SYSCALL(regs);
	}
	struct ended_call call = { .spec = spec, .nr = nr, .ret = ret };
	return counted_call(&call, self, closed);
}

#if PART(2)
int tail__daemon_syscall(struct bpf_raw_tracepoint_args *ctx)
{
	struct ended_call call;
	if (!ended_call(ctx, &call))
		return 0;
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct daemon_thread *self = daemon_thread(pid);
	if (self && self->claiming)
		claim_handoff(self, pid);
	if (self && call.spec->action == SYSCALL_IO_WRITE) /* (only watched tasks and daemons put writes in flight) */
		settle_write(&self->flight, write_result(call.spec, &self->flight, call.ret));
	else if (self)
		next_request(self); /* (a write's answer ends at the first call that is not one) */
	int handed = 0;
	if (reads_channel(&call, self))
		tail_calls.call(ctx, TAIL_DAEMON_READ);
	else if (self && is_io(call.spec) && !recording_tag(self, &handed))
		kept_call(self); /* all that tail__daemon_call would do with it */
	else if (self &&
		 !counted_call(&call, self, call.nr == NR_CLOSE ? (s64)(int)PT_REGS_PARM1_SYSCALL(call.regs) : -1))
		tail_calls.call(ctx, TAIL_DAEMON_CALL);
	return 0;
}
#endif

/* A read: the tags it takes off the channel, and the daemon it may make (read_channel). */
#if PART(2)
int tail__daemon_read(struct bpf_raw_tracepoint_args *ctx)
{
	struct ended_call call;
	if (!ended_call(ctx, &call))
		return 0;
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct daemon_thread *self = daemon_thread(pid);
	u64 args[6];
	syscall_args(call.regs, args);
	const struct syscall_spec *spec = call.spec;
	int peek = spec->io_flags_arg && (spec_arg(args, spec->io_flags_arg) & MSG_PEEK);
	int done =
		!peek && read_channel(ctx, (s64)(int)args[0], pid, self, capped_bytes(io_bytes(spec, args, call.ret)),
				      spec->io_length == IO_LENGTH_MMSGHDR ? call.ret : 1, spec, args) == READ_FOR_NONE;
	forget_copied_datagrams();
	if (done && self) {
		kept_call(self); /* all that tail__daemon_call would do with a read for no one */
		return 0;
	}
	tail_calls.call(ctx, TAIL_DAEMON_CALL);
	return 0;
}
#endif

/* What tail__daemon_read took off a channel, acted on (take_read); then on to tail__daemon_call. */
#if PART(1)
int tail__daemon_taken(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	struct taken_segments *reading = reading_heap.lookup(&zero);
	if (reading)
		take_read(ctx, bpf_get_current_pid_tgid() >> 32, reading);
	forget_copied_datagrams();
	tail_calls.call(ctx, TAIL_DAEMON_CALL);
	return 0;
}
#endif

/* A daemon thread's call, recorded when the thread carries a tag, kept in its episode when it was handed one. */
static __always_inline void daemon_call(void *ctx, const struct ended_call *ended, struct daemon_thread *self)
{
	const struct syscall_spec *spec = ended->spec;
	long nr = ended->nr;
	s64 ret = ended->ret;
	if (nr == NR_CLOSE && ret == 0 && self->source && !self->g)
		closed_source(self, (s64)(int)PT_REGS_PARM1_SYSCALL(ended->regs));
	if (nr == NR_CLOSE && self->completions.answered_count)
		tail_calls.call(ctx, TAIL_SETTLE_ANSWER); /* (its record is not sent: the fd table heals at reuse) */
	int handed = 0;
	struct task_tag *tag = recording_tag(self, &handed);
	struct syscall_call call = { .nr = nr };
	if (!tag) {
		kept_call(self);
		if (spec->action != SYSCALL_RECORD)
			return;
		count_unattributed();
		if (spec->path_args[0] && ret >= 0 && keeps_calls(self, handed)) {
			syscall_args(ended->regs, call.args);
			log_call(&self->episode, spec, &call, ret);
		}
		return;
	}
	syscall_args(ended->regs, call.args);
	struct task_tag owner = *tag;
	owner.attribution |= ATTRIBUTION_DAEMON;
	emit_syscall(ctx, spec, &call, ret, owner, CALLER_DAEMON_THREAD);
}

/* Then the reads' own programs: the completions and requests a daemon thread read. */
#if PART(1)
int tail__daemon_call(struct bpf_raw_tracepoint_args *ctx)
{
	struct ended_call call;
	if (!ended_call(ctx, &call))
		return 0;
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct daemon_thread *self = daemon_thread(pid);
	if (self)
		daemon_call(ctx, &call, self);
	u32 zero = 0;
	/* (Only a daemon's thread holds completions: other tasks' reads pass by at the pid-slot check.) */
	int held = call.spec->action == SYSCALL_IO_READ && call.ret > 0 && may_be_daemon(pid);
	struct taken_segments *reading = held ? reading_heap.lookup(&zero) : NULL;
	if (reading && reading->holding)
		tail_calls.call(ctx, TAIL_HOLD_COMPLETIONS);
	if (reading && reading->handing)
		tail_calls.call(ctx, TAIL_QUEUE_HANDOFFS);
	if (reading) {
		reading->holding = 0;
		reading->handing = 0;
	}
	return 0;
}
#endif

#if PART(1)
RAW_TRACEPOINT_PROBE(sys_exit)
{
	long nr = exit_syscall_nr(ctx, NULL);
	struct syscall_spec *spec = spec_for(nr);
	if (!spec) {
		int futex = nr == NR_FUTEX && may_be_daemon(bpf_get_current_pid_tgid() >> 32);
		struct daemon_thread *self = futex ? this_thread(0) : NULL;
		const struct pt_regs *regs = self ? user_regs(ctx) : NULL;
		if (!regs || !futex_waited(regs) || sleeps(self))
			return 0;
		/*
		 * A wait is no call after a worker put its job on the loop's list:
		 * one blocked on the list's lock puts its job after the holder's.
		 */
		kept_call(self);
		if (ctx->args[1] == 0)
			take_handoff(self, 1); /* a daemon thread woken: what its waker handed it (sched_waking) */
		return 0;
	}
	s64 ret = ctx->args[1];
	u64 id = bpf_get_current_pid_tgid();
	struct task_watch *watch = watch_of((u32)id);
	if (!watch) {
		/* Daemons' threads, and while a command's bytes wait for their first daemon, any reader. */
		int daemon = may_be_daemon(id >> 32);
		struct daemon_thread *self = daemon ? this_thread(0) : NULL;
		if (self && sleeps(self)) {
			if (spec->action == SYSCALL_RECORD)
				count_unattributed();
			return 0;
		}
		if (self)
			follow_thread(self);
		if (self && idle_daemon_call(ctx, self, nr, spec, ret))
			return 0;
		if (daemon || (spec->action == SYSCALL_IO_READ && ret > 0 && fresh_channels_exist()))
			tail_calls.call(ctx, TAIL_DAEMON_SYSCALL);
		return 0;
	}
	struct syscall_call call = { .nr = nr, .generation = watch->generation };
	if (!read_syscall_args(ctx, call.args))
		return 0;
	if (spec->action == SYSCALL_IO_WRITE) {
		struct write_in_flight *pending = pending_write(0);
		if (pending)
			settle_write(pending, write_result(spec, pending, ret));
	}
	if (is_io(spec))
		ret = io_bytes(spec, call.args, ret); /* sendmmsg, recvmmsg: bytes, not messages */
	if (is_io(spec) && add_io(&call, spec->action, ret))
		return 0;
	if (spec->fd_metadata && add_fd_metadata(&call, spec, ret))
		return 0;
	if (spec->fd_command_arg && !fcntl_changes_descriptors(spec_arg(call.args, spec->fd_command_arg), ret))
		return 0;
	emit_syscall(ctx, spec, &call, ret, owner_of(watch->tag, watch->attribution), CALLER_WATCHED);
	return 0;
}
#endif
