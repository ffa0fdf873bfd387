/*
 * The one definition of every record the BPF programs send to user space.
 * It is compiled twice: into the BPF text (embedded in the binary, built by
 * BCC at start-up) and into Swift through the BPFSources C module.
 *
 * Rules: every record starts with struct event_header; kinds are explicitly
 * numbered and never reused; fields are fixed-width with named padding;
 * _Static_assert guards every size.
 */
#ifndef EBPF_MONITOR_EVENTS_H
#define EBPF_MONITOR_EVENTS_H

#include <linux/types.h>

#define COMM_LEN 16
#define EXEC_FILENAME_CAP 1024
#define EXEC_ARGV_CAP 4096

enum event_kind {
	EVENT_FORK = 1,   /* new process or thread; sent by the parent */
	EVENT_EXEC = 2,
	EVENT_EXIT = 3,   /* one task exits; group_dead marks the process end */
	EVENT_KIND_MAX = 4,
};

/* Indexes of the lost_counts map: one per kind, then the causes that are not kinds. */
enum lost_reason {
	LOST_WATCH_MAP_FULL = EVENT_KIND_MAX, /* a child could not be followed */
	LOST_REASON_MAX = EVENT_KIND_MAX + 1,
};

enum event_flags {
	EVENT_FLAG_THREAD = 1 << 0,           /* fork: the child is a thread */
	EVENT_FLAG_UNFOLLOWED = 1 << 1,       /* fork: watch map full, child not followed */
	EVENT_FLAG_FILENAME_TRUNCATED = 1 << 2,
	EVENT_FLAG_ARGV_TRUNCATED = 1 << 3,
	EVENT_FLAG_GROUP_DEAD = 1 << 4,       /* exit: last thread of the process */
};

struct event_header {
	__u16 kind;
	__u16 size;  /* whole record, header included */
	__u32 cpu;
	__u64 ktime; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 pid;   /* tgid of the task the event happened in */
	__u32 tid;
	char comm[COMM_LEN];
};
_Static_assert(sizeof(struct event_header) == 40, "event_header layout");

struct fork_event {
	struct event_header header;
	__u32 child_pid;   /* tgid of the child */
	__u32 child_tid;
	__u32 parent_pid;  /* the child's parent process (differs from header.pid under CLONE_PARENT) */
	__u32 flags;
	__u64 clone_flags;
};
_Static_assert(sizeof(struct fork_event) == 64, "fork_event layout");

struct exec_event {
	struct event_header header;
	__u32 old_tid;     /* tid that called exec; differs from header.tid when a thread exec'd */
	__u32 flags;
	__u16 filename_len; /* bytes in filename, without the NUL */
	__u16 argv_len;     /* bytes used in argv: NUL-separated arguments */
	__u32 _pad0;
	char filename[EXEC_FILENAME_CAP];
	char argv[EXEC_ARGV_CAP]; /* last field: the record is sent cut after argv_len bytes */
};
_Static_assert(sizeof(struct exec_event) == 40 + 16 + EXEC_FILENAME_CAP + EXEC_ARGV_CAP, "exec_event layout");

struct exit_event {
	struct event_header header;
	__u32 exit_code;   /* task->exit_code: status << 8, or the signal number (| 0x80 on core dump) */
	__u32 flags;
	__u32 parent_pid;  /* real parent at exit: shows reparenting to a subreaper */
	__u32 _pad0;
};
_Static_assert(sizeof(struct exit_event) == 56, "exit_event layout");

#endif
