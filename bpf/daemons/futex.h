/*
 * Hand-offs inside a daemon through futexes: a thread that wakes another
 * passes on its tag, taken as the woken thread's wait returns.
 */
#ifndef BPF_DAEMONS_FUTEX_H
#define BPF_DAEMONS_FUTEX_H

#include "lib/common.h"
#include "lib/tasks.h"
#include "daemons/threads.h"

/* futex(2) operations (uapi/linux/futex.h) */
#define FUTEX_WAIT 0
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_COMMAND_BITS 127 /* the operation without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */

/* A futex call that sleeps until woken: FUTEX_WAIT, FUTEX_WAIT_BITSET or FUTEX_WAIT_REQUEUE_PI. */
static __always_inline int futex_waited(const struct pt_regs *regs)
{
	u64 op = PT_REGS_PARM2_SYSCALL(regs) & FUTEX_COMMAND_BITS;
	return op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET || op == FUTEX_WAIT_REQUEUE_PI;
}

/*
 * Hand-offs inside a daemon: a thread that wakes another through a futex
 * (a queue's condition variable, a semaphore) passes on its tag, or its lack
 * of one, unless the woken thread read its own request (ATTRIBUTION_WOKEN).
 * A tagged waker leaves its tag in `handoffs`; a wait that returns woken
 * with none there was woken for no watched command (take_handoff). A waker
 * with no tag that did not read a request itself (a worker done with its
 * job, releasing a lock) hands nothing: the woken thread keeps what it has.
 * Wake-ups from interrupts or the scheduler carry nothing. sched_waking runs
 * in the waker's context; sched_wakeup of a thread woken onto an idle CPU
 * runs in that CPU's, where the waker is unknown.
 */
#if PART(1)
RAW_TRACEPOINT_PROBE(sched_waking)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct daemon_thread *waker = may_be_daemon(pid) ? this_thread(0) : NULL;
	if (!waker || !in_daemon(waker, pid))
		return 0; /* (a thread with no state has read nothing and been handed nothing: it hands nothing) */
	struct task_tag *tag = thread_tag(waker);
	if (!tag && (waker->serving_none || sleeps(waker)))
		return 0; /* it read a request for no watched command: the woken thread works for no one (take_handoff) */
	const void *wakee = (const void *)ctx->args[0];
	if (read_kernel_u32(wakee, OFF_task_struct__tgid) != pid)
		return 0;
	const void *task = (const void *)bpf_get_current_task();
	u64 regs_offset = user_regs_offset(task);
	const char *stack = (const char *)read_kernel_u64(task, OFF_task_struct__stack);
	u64 nr = 0;
	if (regs_offset)
		bpf_probe_read_kernel(&nr, sizeof(nr), stack + regs_offset + offsetof(struct pt_regs, orig_ax));
	if (nr != NR_FUTEX)
		return 0;
	/*
	 * Only a thread waiting in a futex is handed work: it takes it as the wait
	 * returns (sys_exit). Its syscall number is in its saved registers, at the
	 * same place on its stack as the waker's on the waker's.
	 */
	const void *wakee_stack = (const void *)read_kernel_u64(wakee, OFF_task_struct__stack);
	u64 wakee_nr = 0;
	bpf_probe_read_kernel(&wakee_nr, sizeof(wakee_nr),
			      (const char *)wakee_stack + regs_offset + offsetof(struct pt_regs, orig_ax));
	if (wakee_nr != NR_FUTEX)
		return 0;
	u32 wakee_tid = read_kernel_u32(wakee, OFF_task_struct__pid);
	/* Only work a thread read itself is handed on: off a command's connection, or another daemon's. */
	struct handoff handed = { .kind = HANDOFF_KEEP };
	if (tag && (!(tag->attribution & ATTRIBUTION_WOKEN) || waker->source)) {
		handed.kind = HANDOFF_WAKE;
		handed.tag = *tag;
		handed.tag.attribution |= ATTRIBUTION_WOKEN;
	}
	handoffs.update(&wakee_tid, &handed);
	return 0;
}
#endif

#endif
