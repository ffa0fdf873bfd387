/*
 * Kernel half of ebpf-monitor. Compiled at start-up by BCC, with these macros
 * prepended by Swift (Sources/Kernel/ProgramText.swift):
 *   OFF_<struct>__<field>  kernel struct offsets, resolved from BTF
 *   FORK_PROBE_KPROBE      1: kretprobe on copy_process; 0: task:task_newtask
 *   RINGBUF_PAGES, WATCH_MAX, WAKEUP_EVERY
 *
 * Only tasks in `watched` emit events. Children join it here, in the fork
 * probe, before they first run, so no child syscall can be missed.
 */
#include <linux/sched.h>
#include "events.h"

BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
BPF_HASH(watched, u32, u32, WATCH_MAX);               /* tid -> 1 */
BPF_PERCPU_ARRAY(lost_counts, u64, LOST_REASON_MAX);  /* index: enum event_kind or enum lost_reason */
BPF_PERCPU_ARRAY(wakeup_counts, u64, 1);
BPF_PERCPU_ARRAY(exec_heap, struct exec_event, 1);

static __always_inline u64 read_kernel_u64(const void *base, u64 offset)
{
	u64 value = 0;
	bpf_probe_read_kernel(&value, sizeof(value), (const char *)base + offset);
	return value;
}

static __always_inline u32 read_kernel_u32(const void *base, u64 offset)
{
	u32 value = 0;
	bpf_probe_read_kernel(&value, sizeof(value), (const char *)base + offset);
	return value;
}

static __always_inline u32 parent_tgid(const void *task)
{
	const void *parent = (const void *)read_kernel_u64(task, OFF_task_struct__real_parent);
	return parent ? read_kernel_u32(parent, OFF_task_struct__tgid) : 0;
}

static __always_inline void count_lost(u32 reason)
{
	u64 *count = lost_counts.lookup(&reason);
	if (count)
		*count += 1;
}

/* Batch wakeups: the reader polls on a timer, and is woken early every WAKEUP_EVERY records per CPU. */
static __always_inline u64 wakeup_flag(void)
{
	u32 zero = 0;
	u64 *count = wakeup_counts.lookup(&zero);
	if (count && ++*count % WAKEUP_EVERY == 0)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_header(struct event_header *header, u16 kind, u16 size)
{
	u64 id = bpf_get_current_pid_tgid();
	header->kind = kind;
	header->size = size;
	header->cpu = bpf_get_smp_processor_id();
	header->ktime = bpf_ktime_get_ns();
	header->pid = id >> 32;
	header->tid = (u32)id;
	bpf_get_current_comm(header->comm, sizeof(header->comm));
}

static __always_inline int is_watched(u32 tid)
{
	return watched.lookup(&tid) != NULL;
}

static __always_inline void emit_fork(u32 child_pid, u32 child_tid, u32 parent_pid, u64 clone_flags, u32 flags)
{
	u32 one = 1;
	if (watched.update(&child_tid, &one) != 0) {
		flags |= EVENT_FLAG_UNFOLLOWED;
		count_lost(LOST_WATCH_MAP_FULL);
	}
	struct fork_event *event = events.ringbuf_reserve(sizeof(*event));
	if (!event) {
		count_lost(EVENT_FORK);
		return;
	}
	fill_header(&event->header, EVENT_FORK, sizeof(*event));
	event->child_pid = child_pid;
	event->child_tid = child_tid;
	event->parent_pid = parent_pid;
	event->flags = flags;
	event->clone_flags = clone_flags;
	events.ringbuf_submit(event, wakeup_flag());
}

#if FORK_PROBE_KPROBE
/* Where the kernel has kprobes: the new task is copy_process's return value. */
int kretprobe__copy_process(struct pt_regs *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!is_watched((u32)id))
		return 0;
	const void *child = (const void *)PT_REGS_RC(ctx);
	if (!child || (unsigned long)child >= (unsigned long)-4095)
		return 0;
	u32 child_tid = read_kernel_u32(child, OFF_task_struct__pid);
	u32 child_pid = read_kernel_u32(child, OFF_task_struct__tgid);
	u32 flags = child_pid == (u32)(id >> 32) ? EVENT_FLAG_THREAD : 0;
	u32 parent_pid = flags ? child_pid : parent_tgid(child);
	emit_fork(child_pid, child_tid, parent_pid, 0, flags);
	return 0;
}
#else
/* Runs in the parent inside copy_process, before the child can run. */
TRACEPOINT_PROBE(task, task_newtask)
{
	u64 id = bpf_get_current_pid_tgid();
	if (!is_watched((u32)id))
		return 0;
	u64 clone_flags = args->clone_flags;
	u32 pid = id >> 32;
	u32 child_tid = args->pid;
	if (clone_flags & CLONE_THREAD) {
		emit_fork(pid, child_tid, pid, clone_flags, EVENT_FLAG_THREAD);
		return 0;
	}
	u32 parent_pid = pid;
	if (clone_flags & CLONE_PARENT)
		parent_pid = parent_tgid((const void *)bpf_get_current_task());
	emit_fork(child_tid, child_tid, parent_pid, clone_flags, 0);
	return 0;
}
#endif

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u32 old_tid = args->old_pid;
	if (!is_watched(old_tid) && !is_watched(tid))
		return 0;
	if (old_tid != tid) {
		/* A thread exec'd and took over the leader's tid. */
		u32 one = 1;
		watched.delete(&old_tid);
		watched.update(&tid, &one);
	}

	u32 zero = 0;
	struct exec_event *event = exec_heap.lookup(&zero);
	if (!event)
		return 0;
	event->old_tid = old_tid;
	event->flags = 0;

	unsigned short filename_offset = args->data_loc_filename & 0xFFFF;
	long n = bpf_probe_read_kernel_str(event->filename, sizeof(event->filename), (const char *)args + filename_offset);
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
	fill_header(&event->header, EVENT_EXEC, size);
	if (size > sizeof(*event))
		return 0;
	if (events.ringbuf_output(event, size, wakeup_flag()) != 0)
		count_lost(EVENT_EXEC);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	if (!is_watched(tid))
		return 0;
	watched.delete(&tid);

	struct exit_event *event = events.ringbuf_reserve(sizeof(*event));
	if (!event) {
		count_lost(EVENT_EXIT);
		return 0;
	}
	const void *task = (const void *)bpf_get_current_task();
	fill_header(&event->header, EVENT_EXIT, sizeof(*event));
	event->exit_code = read_kernel_u32(task, OFF_task_struct__exit_code);
	event->flags = args->group_dead ? EVENT_FLAG_GROUP_DEAD : 0;
	event->parent_pid = parent_tgid(task);
	event->_pad0 = 0;
	events.ringbuf_submit(event, wakeup_flag());
	return 0;
}
