/*
 * Who is traced: the watched tasks (the commands' trees) and the daemon
 * processes that read what they sent.
 *
 * Only tasks in `watched` emit events. Children join it in the fork probe,
 * before they first run, so no child syscall can be missed. A process outside
 * the tree that reads what a watched task sent joins `daemons`. Its threads
 * emit events only while tagged for a command, so its own work and other
 * clients' stay in the kernel, counted in unattributed_counts.
 */
#ifndef BPF_LIB_TASKS_H
#define BPF_LIB_TASKS_H

#include "lib/common.h"

BPF_HASH(watched, u32, struct task_watch, WATCH_MAX);
BPF_HASH(daemons, u32, u32, DAEMON_MAX); /* pid -> 1 */
/*
 * Which tids may be in `watched` and which pids in `daemons`, by slot (the
 * id modulo the slots): set before every entry is made and never cleared.
 * A task whose slots are clear is neither, known by two array lookups
 * where the hashes cost several times more, and most calls are others'.
 */
BPF_ARRAY(maybe_watched, u32, MAYBE_SLOTS);
BPF_ARRAY(maybe_daemons, u32, MAYBE_SLOTS);
BPF_TABLE("lru_hash", u32, u32, retired_tags, 4096); /* tags of ended commands (Tracer.forget) */
/* The last generation of the command tags made for each pid, by slot (the pid modulo the slots). */
BPF_ARRAY(tag_generations, u32, MAYBE_SLOTS);

enum maybe_set {
	MAYBE_WATCHED = 0, /* a tid in maybe_watched */
	MAYBE_DAEMON = 1,  /* a pid in maybe_daemons */
};

static __always_inline u32 *maybe_slot(u32 id, enum maybe_set set)
{
	u32 slot = id & (MAYBE_SLOTS - 1);
	return set == MAYBE_DAEMON ? maybe_daemons.lookup(&slot) : maybe_watched.lookup(&slot);
}

static __always_inline int may_be(u32 id, enum maybe_set set)
{
	u32 *mark = maybe_slot(id, set);
	return !mark || *mark;
}

/* Before the entry is made, so no reader can find the entry with its slot clear. */
static __always_inline void mark_maybe(u32 id, enum maybe_set set)
{
	u32 *mark = maybe_slot(id, set);
	if (mark)
		*mark = 1;
}

/*
 * The tag of a command the --pid root's fork starts: the child's pid, with a
 * generation above its bits that grows each time a pid of the slot leads a
 * command. A pid handed out again thus leads a command of a new tag, while
 * daemon threads that still hold the old command's tag find it retired.
 * Generations start at 1, so no command tag equals a pid, the tag user space
 * gives the commands it starts. Pids share a slot's counter (the pid modulo
 * the slots), so a tag comes back after 1023 commands led by the pids of one
 * slot. Two forks of one slot at once may take one generation; their pids
 * still differ, and so do their tags.
 */
static __always_inline u32 command_tag(u32 pid)
{
	u32 slot = pid & (MAYBE_SLOTS - 1);
	u32 *last = tag_generations.lookup(&slot);
	if (!last)
		return pid;
	u32 generation = (*last + 1) & ((1u << (32 - TAG_PID_BITS)) - 1);
	if (!generation)
		generation = 1;
	*last = generation;
	return (pid & ((1u << TAG_PID_BITS) - 1)) | (generation << TAG_PID_BITS);
}

#define may_be_watched(tid) may_be(tid, MAYBE_WATCHED)
#define may_be_daemon(pid) may_be(pid, MAYBE_DAEMON)

/* The task's watch entry, or NULL. */
static __always_inline struct task_watch *watch_of(u32 tid)
{
	return may_be_watched(tid) ? watched.lookup(&tid) : NULL;
}

static __always_inline int is_watched(u32 tid)
{
	return watch_of(tid) != NULL;
}

#endif
