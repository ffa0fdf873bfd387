/*
 * Episodes: what an untagged or handed-off daemon thread did since it last
 * read a request, kept in the kernel and sent tagged when its reply goes to
 * a command's socket (a worker may take a queued request other than the one
 * its waker read, or one without any wake-up).
 */
#ifndef BPF_DAEMONS_EPISODES_H
#define BPF_DAEMONS_EPISODES_H

#include "lib/common.h"
#include "lib/files.h"
#include "syscalls/specs.h"

#define EPISODE_CALLS 16 /* a request's path lookups, stats and opens, up to its writes */
#define EPISODE_PATH 256
#define EPISODE_ARGS 4 /* the calls kept take no more */
struct episode_call {
	u32 nr;
	u32 file_mode;
	s64 ret;
	u64 args[EPISODE_ARGS];
	u64 file_inode;
	u32 file_dev;
	u16 file_imode;
	u16 path_len;
	char path[EPISODE_PATH];
};
struct episode {
	u32 count;
	u32 _pad;
	u64 last_call; /* when its last traced call returned: it handed its result on after (pair_completion) */
	struct episode_call calls[EPISODE_CALLS];
};

/* Keeps a call by an untagged daemon thread that names a path, for its reply. */
static __always_inline void log_call(struct episode *episode, const struct syscall_spec *spec,
				     const struct syscall_call *made, s64 ret)
{
	episode->last_call = bpf_ktime_get_ns();
	if (episode->count >= EPISODE_CALLS)
		return;
	struct episode_call *call = &episode->calls[episode->count & (EPISODE_CALLS - 1)];
	call->nr = made->nr;
	call->ret = ret;
#pragma nounroll
	for (int i = 0; i < EPISODE_ARGS; i++)
		call->args[i] = made->args[i];
	call->file_inode = 0;
	call->file_mode = 0;
	call->file_dev = 0;
	call->file_imode = 0;
	struct file_facts facts = {};
	if (spec->fd_result && ret >= 0 && file_facts(ret, &facts)) {
		call->file_inode = facts.inode;
		call->file_mode = facts.mode;
		call->file_dev = facts.dev;
		call->file_imode = facts.imode;
	}
	/* The path is among the arguments kept: the mask keeps the index in bounds. */
	const void *path = (const void *)made->args[(spec->path_args[0] - 1) & (EPISODE_ARGS - 1)];
	long n = bpf_probe_read_user_str(call->path, EPISODE_PATH, path);
	call->path_len = n > 0 ? n - 1 : 0;
	episode->count += 1;
}

/* The thread that made an episode's calls: its records name it, whoever sends them. */
struct episode_thread {
	u32 pid;
	u32 tid;
	char comm[COMM_LEN];
};

static __always_inline struct episode_thread current_episode_thread(void)
{
	u64 id = bpf_get_current_pid_tgid();
	struct episode_thread thread = { .pid = id >> 32, .tid = (u32)id };
	bpf_get_current_comm(thread.comm, sizeof(thread.comm));
	return thread;
}

/* One kept call, sent as the command's. */
static __always_inline void replay_call(void *ctx, struct syscall_event *event, const struct episode_call *call,
					struct task_tag owner, const struct episode_thread *thread)
{
	__builtin_memset(&event->io, 0, sizeof(event->io));
	event->ret = call->ret;
#pragma nounroll
	for (int j = 0; j < 6; j++)
		event->args[j] = j < EPISODE_ARGS ? call->args[j] : 0;
	event->nr = call->nr;
	event->flags = call->file_inode ? EVENT_FLAG_HAS_FILE : 0;
	event->file_inode = call->file_inode;
	event->file_mode = call->file_mode;
	event->file_dev = call->file_dev;
	event->file_imode = call->file_imode;
	u32 len = call->path_len & (EPISODE_PATH - 1);
	if (len == EPISODE_PATH - 1)
		event->flags |= EVENT_FLAG_PATH0_TRUNCATED;
	bpf_probe_read_kernel(event->paths[0], EPISODE_PATH, call->path);
	event->path_len[0] = len;
	event->path_len[1] = 0;
	event->sockaddr_len = 0;
	u32 size = offsetof(struct syscall_event, paths[0]) + len + 1;
	fill_header(&event->header, EVENT_SYSCALL, size, owner);
	event->header.pid = thread->pid;
	event->header.tid = thread->tid;
	__builtin_memcpy(event->header.comm, thread->comm, COMM_LEN);
	output_record(ctx, event, size, EVENT_SYSCALL);
}

/*
 * The calls kept for a thread whose reply went to a command's socket, sent as
 * that command's (owner), in the name of the thread that made them.
 */
static __always_inline void replay_episode(void *ctx, struct episode *episode, struct task_tag owner,
					   const struct episode_thread *thread)
{
	u32 zero = 0;
	struct syscall_event *event = syscall_heap.lookup(&zero);
	if (!episode->count || !event)
		return;
	u32 count = episode->count;
	/* A loop the verifier walks, not unrolled: it is inlined at several hooks, where unrolled it was most of their code. */
#pragma clang loop unroll(disable)
	for (int i = 0; i < EPISODE_CALLS; i++)
		if (i < count)
			replay_call(ctx, event, &episode->calls[i], owner, thread);
	episode->count = 0;
}

/*
 * A replay for tail__replay, which walks an episode's calls in one program
 * for all that send one: inlined, that walk was most of the verifier's
 * work in each. `completion`: the completion whose episode it is; 0 for the
 * calling thread's own.
 */
struct replay {
	u64 completion;
	struct task_tag owner;
	u32 then; /* the tail call to go on to, plus 1; 0: none */
	u32 _pad;
};
BPF_PERCPU_ARRAY(replay_heap, struct replay, 1);

static __always_inline struct replay *queue_replay(u64 completion, struct task_tag owner)
{
	u32 zero = 0;
	struct replay *replay = replay_heap.lookup(&zero);
	if (replay) {
		replay->completion = completion;
		replay->owner = owner;
		replay->then = 0;
	}
	return replay;
}

#endif
