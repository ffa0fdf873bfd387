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

/* What tail__daemon_write hands on to tail__daemon_reply. */
struct reply_write {
	struct task_tag writer;
	s64 fd;
	u32 reaches;
	u32 _pad;
};
BPF_PERCPU_ARRAY(reply_heap, struct reply_write, 1);

/* A daemon thread's write (sys_enter): a program of its own, as the reads' are (reading.h). */
int tail__daemon_write(struct bpf_raw_tracepoint_args *ctx)
{
	struct syscall_spec *spec = spec_for(ctx->args[1]);
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct daemon_thread *self = spec ? daemon_thread(pid) : NULL;
	const struct pt_regs *regs = self ? user_regs(ctx) : NULL;
	if (!regs)
		return 0;
	if (self->claiming)
		claim_handoff(self, pid);
	u64 args[6];
	syscall_args(regs, args);
	daemon_write(self, args[0]);
	u32 reaches = 0;
	struct task_tag *tag = thread_tag(self);
	struct task_tag writer = {};
	if (tag) {
		writer = *tag;
		writer.attribution |= ATTRIBUTION_DAEMON;
		if (self->g)
			writer.attribution &= ~ATTRIBUTION_WOKEN; /* a goroutine's hand-off is a sure one */
	}
	u32 length = write_length(spec, args);
	enum channel_kind kind =
		spec->io_length == IO_LENGTH_COUNT ? grpc_write(pid, self, args, length, &reaches) : CHANNEL_NONE;
	int local = 0;
	if (kind != CHANNEL_NONE) {
		writer.tag = 0; /* by stream: no one write's tag */
	} else {
		struct channel_write write = { .owner = writer, .bytes = length };
		describe_write(spec, args, &write);
		int wakes = !self->g && wakeup_kind(args[0]);
		if (wakes) {
			/* Maybe a worker signalling the thread that answers: its kept calls go with it. */
			write.completion = make_completion(&self->completions, &self->episode);
			write.make = 1; /* so that its reader knows the writer (read_wakeup) */
			self->handed = 0;
			self->claiming = !self->requests;
		}
		kind = tag_channel(args[0], &write, &reaches, &self->flight);
		local = wakes || write.local;
		if (wakes && writer.tag && (writer.attribution & ATTRIBUTION_WOKEN))
			forget_handoff(self);
	}
	u32 zero = 0;
	struct reply_write *reply = kind == CHANNEL_SOCKET && !local ? reply_heap.lookup(&zero) : NULL;
	if (reply) {
		reply->writer = writer;
		reply->fd = args[0];
		reply->reaches = reaches;
		tail_calls.call(ctx, TAIL_DAEMON_REPLY);
	}
	return 0;
}

/*
 * A daemon thread's write to a socket out of its process (tail__daemon_write
 * hands it on): whether it ends the thread's work for a command, or answers
 * one. A program of its own, so that each of the two fits the verifier's
 * budget on older kernels too.
 */
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
	if (daemon_reply(ctx, self, &writer, reply->fd, reply->reaches))
		tail_calls.call(ctx, TAIL_ANSWER_COMPLETION);
	return 0;
}

/*
 * The syscall hooks are raw tracepoints: they get the saved user registers
 * and the number (or return value) as they are, where the raw_syscalls
 * tracepoints would first copy every call's arguments into a trace record.
 */
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
		if (may_be_daemon(id >> 32))
			tail_calls.call(ctx, TAIL_DAEMON_WRITE);
		return 0;
	}
	const struct pt_regs *regs = user_regs(ctx);
	if (!regs)
		return 0;
	u64 args[6];
	syscall_args(regs, args);
	u32 reaches = 0;
	int daemon_side = watch->attribution & ATTRIBUTION_DAEMON;
	struct write_in_flight flight = {};
	struct channel_write write = {
		.owner = owner_of(watch->tag, watch->attribution),
		.bytes = write_length(spec, args),
		.sockets_only = !daemon_side,
	};
	describe_write(spec, args, &write);
	if (tag_channel(args[0], &write, &reaches, &flight) == CHANNEL_SOCKET && !daemon_side)
		remember_command_end(args[0], watch->tag);
	if (!flight.bytes)
		return 0; /* not to a channel: nothing to settle at exit */
	struct write_in_flight *pending = pending_write(1);
	if (pending)
		*pending = flight;
	else
		count_lost(LOST_PENDING_FULL);
	return 0;
}

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
	}
}

/*
 * The sock:sk_data_ready tracepoint came in Linux 6.6. Before it, a kprobe
 * on sock_def_readable, the callback unix and UDP sockets wake their readers
 * with, sees the same moment; with neither, datagrams are followed to no one.
 */
#if DATA_READY_PROBE == DATA_READY_TRACEPOINT
TRACEPOINT_PROBE(sock, sk_data_ready)
{
	data_ready(args->family, args->skaddr);
	return 0;
}
#elif DATA_READY_PROBE == DATA_READY_KPROBE
int kprobe__sock_def_readable(struct pt_regs *ctx)
{
	const void *sock = (const void *)PT_REGS_PARM1(ctx);
	u16 family = 0;
	bpf_probe_read_kernel(&family, sizeof(family), (const char *)sock + OFF_sock_common__skc_family);
	data_ready(family, sock);
	return 0;
}
#endif

/* A datagram copied out of a socket by its reader (see note_datagram). */
TRACEPOINT_PROBE(skb, skb_copy_datagram_iovec)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if ((may_be_daemon(pid) && daemons.lookup(&pid)) || fresh_channels_exist())
		copied_datagram((u64)args->skbaddr);
	return 0;
}

/* A call by a task outside the tree: a read may tag it; a tagged daemon thread's call is recorded. */
static __always_inline void daemon_syscall(void *ctx, const struct syscall_spec *spec, const struct pt_regs *regs,
					   long nr, s64 ret)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct daemon_thread *self = daemon_thread(pid);
	if (self && self->claiming)
		claim_handoff(self, pid);
	if (self && spec->action == SYSCALL_IO_WRITE) /* (only watched tasks and daemons put writes in flight) */
		settle_write(&self->flight, write_result(spec, &self->flight, ret));
	else if (self)
		next_request(self); /* (a write's answer ends at the first call that is not one) */
	struct syscall_call call = {};
	call.nr = nr;
	if (spec->action == SYSCALL_IO_READ && ret > 0 && (self || fresh_channels_exist())) {
		syscall_args(regs, call.args);
		int peek = spec->io_flags_arg && (spec_arg(call.args, spec->io_flags_arg) & MSG_PEEK);
		if (!peek)
			read_channel(ctx, (s64)(int)call.args[0], pid, self,
				     capped_bytes(io_bytes(spec, call.args, ret)),
				     spec->io_length == IO_LENGTH_MMSGHDR ? ret : 1, spec, call.args);
		forget_copied_datagrams();
		if (!self)
			self = daemon_thread(pid); /* the read may have made it one */
	}
	if (!self)
		return;
	if (nr == NR_CLOSE && ret == 0 && self->source && !self->g)
		closed_source(self, (s64)(int)PT_REGS_PARM1_SYSCALL(regs));
	if (nr == NR_CLOSE && self->completions.answered_count)
		tail_calls.call(ctx, TAIL_SETTLE_ANSWER); /* (its record is not sent: the fd table heals at reuse) */
	struct task_tag *tag = thread_tag(self);
	/*
	 * A thread woken through a futex may take a queued request other than the
	 * one its waker read: its calls wait for its reply, which names whose it was.
	 * (Goroutines are handed work through channels, a surer sign.)
	 */
	int handed = tag && (tag->attribution & ATTRIBUTION_WOKEN) && !self->g;
	if (handed)
		tag = NULL;
	if (!tag) {
		if (spec->action != SYSCALL_RECORD)
			return;
		count_unattributed();
		if (self && spec->path_args[0] && ret >= 0 && (handed || !self->serving_none)) {
			syscall_args(regs, call.args);
			log_call(&self->episode, spec, &call, ret);
		}
		return;
	}
	syscall_args(regs, call.args);
	struct task_tag owner = *tag;
	owner.attribution |= ATTRIBUTION_DAEMON;
	emit_syscall(ctx, spec, &call, ret, owner, CALLER_DAEMON_THREAD);
}

/*
 * daemon_syscall, as a program of its own that sys_exit hands on to: the
 * verifier walks it apart from the watched tasks' path. Then the reads'
 * own programs: the completions and requests a daemon thread read.
 */
int tail__daemon_syscall(struct bpf_raw_tracepoint_args *ctx)
{
	const struct pt_regs *regs = user_regs(ctx);
	long nr = regs ? exit_syscall_nr(ctx, regs) : -1;
	struct syscall_spec *spec = spec_for(nr);
	if (!spec || !regs)
		return 0;
	s64 ret = ctx->args[1];
	daemon_syscall(ctx, spec, regs, nr, ret);
	u32 zero = 0;
	/* (Only a daemon's thread holds completions: other tasks' reads pass by at the pid-slot check.) */
	int held = spec->action == SYSCALL_IO_READ && ret > 0 && may_be_daemon(bpf_get_current_pid_tgid() >> 32);
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

RAW_TRACEPOINT_PROBE(sys_exit)
{
	/* Typed registers cost no copy: they are had at once. A copy waits for a syscall that needs it. */
	const struct pt_regs *regs = TASK_STORAGE ? user_regs(ctx) : NULL;
	long nr = exit_syscall_nr(ctx, regs);
	struct syscall_spec *spec = spec_for(nr);
	if (!spec) {
		int woken = nr == NR_FUTEX && ctx->args[1] == 0 && may_be_daemon(bpf_get_current_pid_tgid() >> 32);
		struct daemon_thread *self = woken ? this_thread(0) : NULL;
		if (self && !regs)
			regs = user_regs(ctx);
		if (self && regs && futex_waited(regs))
			take_handoff(self, 1); /* a daemon thread woken: what its waker handed it (sched_waking) */
		return 0;
	}
	s64 ret = ctx->args[1];
	u64 id = bpf_get_current_pid_tgid();
	struct task_watch *watch = watch_of((u32)id);
	if (!watch) {
		/* Daemons' threads, and while a command's bytes wait for their first daemon, any reader. */
		if (may_be_daemon(id >> 32) || (spec->action == SYSCALL_IO_READ && ret > 0 && fresh_channels_exist()))
			tail_calls.call(ctx, TAIL_DAEMON_SYSCALL);
		return 0;
	}
	if (!regs)
		regs = user_regs(ctx);
	if (!regs)
		return 0;
	if (spec->action == SYSCALL_IO_WRITE) {
		struct write_in_flight *pending = pending_write(0);
		if (pending)
			settle_write(pending, write_result(spec, pending, ret));
	}
	struct syscall_call call = { .nr = nr, .generation = watch->generation };
	syscall_args(regs, call.args);
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
