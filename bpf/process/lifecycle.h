/*
 * Process lifecycle: forks (a watched task's children are watched from
 * before they first run), execs and exits. A tagged daemon thread's new
 * thread keeps working for its command, and its new process is watched
 * whole, in daemon scope.
 */
#ifndef BPF_PROCESS_LIFECYCLE_H
#define BPF_PROCESS_LIFECYCLE_H

#include "lib/common.h"
#include "lib/tasks.h"
#include "syscalls/io.h"
#include "daemons/threads.h"
#include "daemons/datagrams.h"
#include "daemons/go.h"

BPF_PERCPU_ARRAY(exec_heap, struct exec_event, 1);

/* A task a fork made, as its fork record tells it. */
struct new_task {
	u32 pid; /* tgid of the child */
	u32 tid;
	u32 parent_pid; /* the child's parent process */
	u32 flags;	/* enum event_flags */
	u64 clone_flags;
};

/*
 * The child's watch entry, from a watched parent. A thread shares the fd
 * table, so it shares the generation; a new process starts at 0. A child
 * of the --pid root starts a command, with a new tag (command_tag).
 */
static __always_inline struct task_watch child_watch(const struct task_watch *parent, u32 parent_pid, u32 child_pid,
						     u32 flags)
{
	struct task_watch child = *parent;
	if (!(flags & EVENT_FLAG_THREAD)) {
		child.generation = IO_GENERATION_FIRST;
		if (parent_pid == config_value(CONFIG_SHELL_ROOT)) {
			child.tag = command_tag(child_pid);
			retired_tags.delete(&child.tag); /* a tag made again after its generation wrapped */
		}
	}
	return child;
}

/* Watches the new task (with `watch`) and sends its fork record, made for header_tag. */
static __always_inline void emit_fork(void *ctx, struct new_task task, struct task_watch *watch, u32 header_tag)
{
	mark_maybe(task.tid, MAYBE_WATCHED);
	if (watched.update(&task.tid, watch) != 0) {
		task.flags |= EVENT_FLAG_UNFOLLOWED;
		count_lost(LOST_WATCH_MAP_FULL);
	}
	struct fork_event *event = reserve_record(sizeof(*event), EVENT_FORK);
	if (!event)
		return;
	fill_header(&event->header, EVENT_FORK, sizeof(*event), owner_of(header_tag, watch->attribution));
	event->child_pid = task.pid;
	event->child_tid = task.tid;
	event->parent_pid = task.parent_pid;
	event->flags = task.flags;
	event->clone_flags = task.clone_flags;
	event->child_tag = watch->tag;
	event->_pad = 0;
	submit_record(ctx, event, sizeof(*event), EVENT_FORK);
}

#if FORK_PROBE_KPROBE
#include <linux/err.h>

/* Where the kernel has kprobes: the new task is copy_process's return value. */
#if PART(1)
int kretprobe__copy_process(struct pt_regs *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct task_watch *parent = watch_of(tid);
	if (!parent)
		return 0;
	const void *child = (const void *)PT_REGS_RC(ctx);
	if (!child || IS_ERR_VALUE((unsigned long)child))
		return 0;
	u32 child_tid = read_kernel_u32(child, OFF_task_struct__pid);
	u32 child_pid = read_kernel_u32(child, OFF_task_struct__tgid);
	u32 flags = child_pid == (u32)(id >> 32) ? EVENT_FLAG_THREAD : 0;
	u32 parent_pid = flags ? child_pid : parent_tgid(child);
	struct task_watch watch = child_watch(parent, id >> 32, child_pid, flags);
	struct new_task task = { .pid = child_pid, .tid = child_tid, .parent_pid = parent_pid, .flags = flags };
	emit_fork(ctx, task, &watch, parent->tag);
	return 0;
}
#endif
#else
/* Runs in the parent inside copy_process, before the child can run. */
#if PART(1)
TRACEPOINT_PROBE(task, task_newtask)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u64 clone_flags = args->clone_flags;
	u32 pid = id >> 32;
	u32 child_tid = args->pid;
	struct task_watch watch = {};
	u32 header_tag = 0;
	struct task_watch *parent = watch_of(tid);
	if (parent) {
		header_tag = parent->tag;
		watch = child_watch(parent, pid, child_tid, clone_flags & CLONE_THREAD ? EVENT_FLAG_THREAD : 0);
	} else {
		/*
		 * A tagged daemon thread: a new thread keeps working for the
		 * command; a new process is the command's.
		 */
		struct daemon_thread *self = may_be_daemon(pid) ? this_thread(0) : NULL;
		if (self)
			next_request(self);
		struct task_tag *tag = thread_tag(self);
		if (!tag)
			return 0;
		if (clone_flags & CLONE_THREAD) {
			struct handoff handed = { .tag = *tag, .kind = HANDOFF_THREAD };
			handoffs.update(&child_tid, &handed);
			return 0;
		}
		header_tag = tag->tag;
		watch.tag = tag->tag;
		watch.attribution = ATTRIBUTION_DAEMON | (tag->attribution & ATTRIBUTION_AMBIGUOUS);
	}
	if (clone_flags & CLONE_THREAD) {
		struct new_task task = { .pid = pid,
					 .tid = child_tid,
					 .parent_pid = pid,
					 .flags = EVENT_FLAG_THREAD,
					 .clone_flags = clone_flags };
		emit_fork(args, task, &watch, header_tag);
		return 0;
	}
	u32 parent_pid = pid;
	if (clone_flags & CLONE_PARENT)
		parent_pid = parent_tgid((const void *)bpf_get_current_task());
	struct new_task task = {
		.pid = child_tid, .tid = child_tid, .parent_pid = parent_pid, .clone_flags = clone_flags
	};
	emit_fork(args, task, &watch, header_tag);
	return 0;
}
#endif
#endif

#if PART(1)
TRACEPOINT_PROBE(sched, sched_process_exec)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u32 old_tid = args->old_pid;
	if (!is_watched(old_tid) && !is_watched(tid))
		return 0;
	if (!is_watched(old_tid))
		old_tid = tid;
	/* exec closed the close-on-exec fds: their totals stay in the old generation. */
	struct task_watch *watch = watched.lookup(&old_tid);
	if (!watch)
		return 0;
	struct task_watch next = *watch;
	next.generation = io_generation_after(next.generation);
	if (old_tid != tid) /* a thread exec'd and took over the leader's tid */
		watched.delete(&old_tid);
	mark_maybe(tid, MAYBE_WATCHED);
	watched.update(&tid, &next);

	u32 zero = 0;
	struct exec_event *event = exec_heap.lookup(&zero);
	if (!event)
		return 0;
	event->old_tid = old_tid;
	event->flags = 0;
	event->io_entries = io_entries(bpf_get_current_pid_tgid() >> 32);

	unsigned short filename_offset = data_loc_offset(args->data_loc_filename);
	long n = bpf_probe_read_kernel_str(event->filename, sizeof(event->filename),
					   (const char *)args + filename_offset);
	if (n < 0)
		n = 1;
	if (n >= (long)sizeof(event->filename))
		event->flags |= EVENT_FLAG_FILENAME_TRUNCATED;
	event->filename_len = n - 1;

	const void *task = (const void *)bpf_get_current_task();
	const void *mm = (const void *)read_kernel_u64(task, OFF_task_struct__mm);
	u64 arg_start = mm ? read_kernel_u64(mm, OFF_mm_struct__arg_start) : 0;
	u64 arg_end = mm ? read_kernel_u64(mm, OFF_mm_struct__arg_end) : 0;
	u64 len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > EXEC_ARGV_CAP - 1) {
		len = EXEC_ARGV_CAP - 1;
		event->flags |= EVENT_FLAG_ARGV_TRUNCATED;
	}
	len &= EXEC_ARGV_CAP - 1;
	if (len > 0 && bpf_probe_read_user(event->argv, len, (const void *)arg_start) != 0)
		len = 0;
	event->argv_len = len;

	u32 size = offsetof(struct exec_event, argv) + len;
	fill_header(&event->header, EVENT_EXEC, size, owner_of(next.tag, next.attribution));
	if (size > sizeof(*event))
		return 0;
	output_record(args, event, size, EVENT_EXEC);
	return 0;
}
#endif

/*
 * Whether the exiting task is its process's last: the tracepoint says so
 * where it has the field (EXIT_HAS_GROUP_DEAD), and elsewhere the process's
 * count of live threads, which do_exit has already taken this one off, is 0.
 */
#if EXIT_HAS_GROUP_DEAD
#define GROUP_DEAD(args) ((args)->group_dead)
#else
#define GROUP_DEAD(args) (group_dead_now())
static __always_inline int group_dead_now(void)
{
	const void *task = (const void *)bpf_get_current_task();
	const void *signal = (const void *)read_kernel_u64(task, OFF_task_struct__signal);
	return signal && read_kernel_u32(signal, OFF_signal_struct__live) == 0;
}
#endif

#if !TASK_STORAGE
/* A thread's entries in the per-thread hashes go with it. (Lookups first: they take no lock.) */
static __always_inline void forget_thread_state(u32 tid, u32 pid)
{
	if (may_be_daemon(pid) && daemon_threads.lookup(&tid))
		daemon_threads.delete(&tid);
	if (datagrams_read.lookup(&tid))
		datagrams_read.delete(&tid);
	if (pending_writes.lookup(&tid))
		pending_writes.delete(&tid);
}
#endif

#if PART(1)
TRACEPOINT_PROBE(sched, sched_process_exit)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
#if !TASK_STORAGE
	forget_thread_state(tid, id >> 32);
#endif
	struct task_watch *watch = watch_of(tid);
	if (!watch) {
		u32 pid = id >> 32;
		if (may_be_daemon(pid) && handoffs.lookup(&tid))
			handoffs.delete(&tid); /* (a lookup first: it takes no lock) */
		if (may_be_daemon(pid) && GROUP_DEAD(args) && handoff_queues.lookup(&pid))
			handoff_queues.delete(&pid);
		/* A daemon's pid handed out again is another process's: no daemon until it reads a command's bytes. */
		if (may_be_daemon(pid) && GROUP_DEAD(args) && daemons.lookup(&pid))
			daemons.delete(&pid);
		if (go_processes.lookup(&pid) && GROUP_DEAD(args))
			go_processes.delete(&pid);
		return 0;
	}
	u32 tag = watch->tag, attribution = watch->attribution;
	watched.delete(&tid);

	struct exit_event *event = reserve_record(sizeof(*event), EVENT_EXIT);
	if (!event)
		return 0;
	const void *task = (const void *)bpf_get_current_task();
	fill_header(&event->header, EVENT_EXIT, sizeof(*event), owner_of(tag, attribution));
	event->exit_code = read_kernel_u32(task, OFF_task_struct__exit_code);
	int group_dead = GROUP_DEAD(args);
	event->flags = group_dead ? EVENT_FLAG_GROUP_DEAD : 0;
	event->parent_pid = parent_tgid(task);
	event->io_entries = 0;
	if (group_dead) {
		u32 pid = bpf_get_current_pid_tgid() >> 32;
		event->io_entries = io_entries(pid);
		io_counts.delete(&pid);
	}
	submit_record(args, event, sizeof(*event), EVENT_EXIT);
	return 0;
}
#endif

#endif
