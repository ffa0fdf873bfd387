/*
 * Go daemons run requests on goroutines, which move between threads: the
 * goroutines' tags (go_tags), through uprobes on the Go runtime. The uprobes
 * are attached per Go binary (Tracer.followGoroutines).
 */
#ifndef BPF_DAEMONS_GO_H
#define BPF_DAEMONS_GO_H

#include "lib/common.h"
#include "lib/tasks.h"
#include "daemons/threads.h"

/* Go's register ABI on amd64: integer arguments in AX, BX, CX, DI, ...; the running g in R14. */
#define GO_ARG1(ctx) ((ctx)->ax)
#define GO_ARG2(ctx) ((ctx)->bx)
#define GO_ARG3(ctx) ((ctx)->cx)
#define GO_ARG4(ctx) ((ctx)->di)
#define GO_G(ctx) ((ctx)->r14)

BPF_HASH(go_tags, struct go_key, struct task_tag, GO_MAX);	/* goroutines of Go daemons */
BPF_TABLE("lru_hash", struct go_key, u32, go_lock_wakes, 1024); /* from the release to the wake-up: microseconds */
BPF_TABLE("lru_hash", u32, u32, go_processes, DAEMON_MAX);	/* pid -> 1: its Go runtime was seen */

/*
 * Whether the thread runs Go code, in a goroutine or in the scheduler. A
 * thread of a Go program that was not seen running a goroutine yet (one
 * idle since before the uprobes) is in the scheduler: it may read the
 * netpoller's wake-up eventfd before it runs any goroutine, and that read is
 * no loop taking its workers' completions.
 */
static __always_inline int runs_go(struct daemon_thread *self, u32 pid)
{
	if (self->g || self->scheduling)
		return 1;
	if (!go_processes.lookup(&pid))
		return 0;
	self->scheduling = 1;
	return 1;
}

/*
 * A hand-off to goroutine `to` of work whose tag is `tag`: only work a
 * goroutine read itself is handed on, and never over work `to` read itself.
 * The tag goes as a woken one (*handed); false when nothing was handed.
 */
static __always_inline int hand_to_goroutine(const struct go_key *to, const struct task_tag *tag,
					     struct task_tag *handed)
{
	if (!tag || (tag->attribution & ATTRIBUTION_WOKEN))
		return 0;
	struct task_tag *own = go_tags.lookup(to);
	if (own && !(own->attribution & ATTRIBUTION_WOKEN))
		return 0;
	*handed = *tag;
	handed->attribution |= ATTRIBUTION_WOKEN;
	go_tags.update(to, handed);
	return 1;
}

/*
 * Go daemons run requests on goroutines, which move between threads. A
 * uprobe on runtime.casgstatus (Go's register ABI: gp in AX, old status in
 * BX, new in CX; the running g in R14) sees three things:
 *   - which goroutine runs on a thread: the one going to or from running
 *     (entersyscall, too), so a read can tag the goroutine that made it;
 *   - a goroutine starting to run on a thread: the thread takes its tag;
 *   - a goroutine made runnable by another: created (newproc1, from dead),
 *     it takes its creator's tag; woken (a channel send; from waiting),
 *     it takes the tag the waker read, unless it read a request itself
 *     (see ATTRIBUTION_WOKEN) or waited for a lock (go_lock_wakes).
 *     Wake-ups by a goroutine with no tag or a woken one, or by the
 *     scheduler with no goroutine (the network poller), pass nothing.
 * A thread between goroutines runs the scheduler (g0) for no one.
 */
#define G_RUNNABLE 1
#define G_RUNNING 2
#define G_SYSCALL 3
#define G_WAITING 4
#define G_DEAD 6
#define G_STATUS_MASK 0xfff /* the status without the _Gscan bit (0x1000) */
#define GO_G_M 48	    /* offsetof(g, m) since Go 1.5; offsetof(m, g0) is 0 */
#define GO_M_CURG 192	    /* offsetof(m, curg), Go 1.17 to 1.24 on amd64 */

#if PART(1)
int uprobe__go_casgstatus(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	u64 gp = GO_ARG1(ctx);
	u32 from = (u32)GO_ARG2(ctx) & G_STATUS_MASK, to = (u32)GO_ARG3(ctx) & G_STATUS_MASK;
	if (from == G_RUNNING || to == G_RUNNING || from == G_SYSCALL) {
		struct daemon_thread *self = this_thread(1);
		if (!self)
			return 0;
		if (!self->g && !self->scheduling) {
			u32 one = 1; /* (once a thread: from here on one of the two is set) */
			go_processes.update(&pid, &one);
		}
		if (to != G_RUNNING && to != G_SYSCALL) {
			/*
			 * gp leaves the thread (it parks, yields or ends, or its syscall
			 * lost the thread's P), which runs the scheduler (g0) until the
			 * next goroutine starts. What g0 reads, the netpoller's wake-up
			 * pipe, is no goroutine's request.
			 */
			self->g = 0;
			self->scheduling = 1;
			__builtin_memset(&self->tag, 0, sizeof(self->tag));
			return 0;
		}
		/* Entering a syscall (entersyscall), or starting on the thread: gp is the one on it. */
		self->g = gp;
		self->scheduling = 0;
		if (from == G_RUNNING || !in_daemon(self, pid))
			return 0;
		struct go_key key = { .pid = pid, .g = gp };
		struct task_tag *tag = go_tags.lookup(&key);
		if (tag && tag->tag)
			self->tag = *tag;
		else
			__builtin_memset(&self->tag, 0, sizeof(self->tag));
		return 0;
	}
	if (to != G_RUNNABLE || (from != G_DEAD && from != G_WAITING) || !daemons.lookup(&pid))
		return 0;
	struct go_key key = { .pid = pid, .g = gp };
	if (from == G_WAITING && go_lock_wakes.lookup(&key)) {
		go_lock_wakes.delete(&key);
		return 0; /* woken to take a lock it waited for: its own work goes on */
	}
	/* newproc1 and ready run on the system stack (g0): the goroutine behind them is m.curg. */
	u64 maker = GO_G(ctx);
	u64 m = 0, g0 = 0;
	bpf_probe_read_user(&m, sizeof(m), (const void *)(maker + GO_G_M));
	if (m)
		bpf_probe_read_user(&g0, sizeof(g0), (const void *)m);
	if (m && maker == g0) {
		maker = 0;
		bpf_probe_read_user(&maker, sizeof(maker), (const void *)(m + GO_M_CURG));
	}
	if (!maker)
		return 0;
	struct go_key parent = { .pid = pid, .g = maker };
	struct task_tag *tag = go_tags.lookup(&parent);
	if (from == G_DEAD) {
		/* A new goroutine (in a reused g) works for whom its creator works. */
		if (tag) {
			struct task_tag copy = *tag;
			go_tags.update(&key, &copy);
		} else {
			go_tags.delete(&key);
		}
		return 0;
	}
	struct task_tag handed = {};
	hand_to_goroutine(&key, tag, &handed);
	return 0;
}
#endif

/*
 * runtime.readyWithTime(s, traceskip) (AX, BX) wakes s->g (a sudog's first
 * field) for a semaphore. From semrelease1 (traceskip 5 and up; sync.Cond's
 * notifyList passes 4, Go 1.19 to 1.24) it is a sync.Mutex or RWMutex
 * unlock, a WaitGroup's last Done or a semaphore's release: the goroutine
 * woken waited to go on with its own work, and its wake-up (casgstatus,
 * right after) hands it nothing. Cond and channel wake-ups still do.
 */
#define SEMRELEASE_TRACESKIP 5 /* readyWithTime's traceskip when semrelease1 calls it */

#if PART(1)
int uprobe__go_ready_with_time(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (GO_ARG2(ctx) < SEMRELEASE_TRACESKIP || !daemons.lookup(&pid))
		return 0;
	struct go_key woken = { .pid = pid };
	bpf_probe_read_user(&woken.g, sizeof(woken.g), (const void *)GO_ARG1(ctx));
	u32 one = 1;
	if (woken.g)
		go_lock_wakes.update(&woken, &one);
	return 0;
}
#endif

/*
 * runtime.recv(c, sg, ...) (Go's register ABI: sg in BX): the running
 * goroutine takes a value from a goroutine parked sending it, sg->g (a
 * sudog's first field), then wakes the sender. The work moves from sender to
 * receiver, against that wake-up: the receiver takes the sender's tag as a
 * woken one would (ttrpc's server loop takes requests from its reader so).
 */
#if PART(1)
int uprobe__go_recv(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!daemons.lookup(&pid))
		return 0;
	struct go_key sender = { .pid = pid };
	bpf_probe_read_user(&sender.g, sizeof(sender.g), (const void *)GO_ARG2(ctx));
	struct task_tag *tag = sender.g ? go_tags.lookup(&sender) : NULL;
	struct go_key receiver = { .pid = pid, .g = GO_G(ctx) };
	struct task_tag handed = {};
	struct daemon_thread *self = hand_to_goroutine(&receiver, tag, &handed) ? this_thread(1) : NULL;
	if (self)
		set_thread_tag(self, &handed); /* it runs here now */
	return 0;
}
#endif

#endif
