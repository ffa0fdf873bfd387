/*
 * Reads and writes summed per (process, fd, generation) in io_totals and
 * reported once, with the close (see struct io_key); attribute changes made
 * through an fd ride along (struct fd_metadata).
 */
#ifndef BPF_SYSCALLS_IO_H
#define BPF_SYSCALLS_IO_H

#include "lib/common.h"
#include "syscalls/specs.h"

BPF_HASH(io_totals, struct io_key, struct io_totals, IO_MAX);
BPF_HASH(io_counts, u32, s32, WATCH_MAX); /* pid -> its io_totals entries: user space skips empty processes */

static __always_inline void count_io_entry(u32 pid, s32 delta)
{
	s32 zero = 0;
	s32 *count = io_counts.lookup_or_try_init(&pid, &zero);
	if (count)
		__sync_fetch_and_add(count, delta);
}

static __always_inline s32 io_entries(u32 pid)
{
	s32 *count = io_counts.lookup(&pid);
	return count ? *count : 0;
}

/* The totals of the call's fd (its first argument) in its generation, made if new. */
static __always_inline struct io_totals *io_entry(const struct syscall_call *call)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct io_key key = { .pid = pid, .fd = (u32)call->args[0], .generation = call->generation };
	struct io_totals *totals = io_totals.lookup(&key);
	if (totals)
		return totals;
	struct io_totals zero = {};
	if (io_totals.insert(&key, &zero) == 0)
		count_io_entry(pid, 1);
	totals = io_totals.lookup(&key);
	if (!totals)
		count_lost(LOST_IO_MAP_FULL);
	return totals;
}

/* fchmod, fchown, futimens, fsetxattr: noted on the fd's totals for its close. False when a record is needed. */
static __always_inline int add_fd_metadata(const struct syscall_call *call, const struct syscall_spec *spec, s64 ret)
{
	if (IO_EVERY_CALL || ret != 0)
		return 0;
	if (spec->fd_metadata == FD_METADATA_TIMES && call->args[1] != 0)
		return 0; /* utimensat with a path: not through the fd */
	struct io_totals *totals = io_entry(call);
	if (!totals)
		return 0;
	/* No 32-bit atomic or in this BPF target; a lost bit needs two threads on one fd at once. */
	totals->metadata |= spec->fd_metadata;
	if (spec->fd_metadata == FD_METADATA_MODE)
		totals->mode = (u32)call->args[1];
	return 1;
}

/* Adds a successful read or write to its fd's totals. False when the call must be recorded anyway. */
static __always_inline int add_io(const struct syscall_call *call, u8 action, s64 ret)
{
	if (ret < 0)
		return ret == -EAGAIN; /* failures are recorded, except "try again" */
	if (IO_EVERY_CALL)
		return 0; /* --io: every call is recorded, nothing summed */
	if (ret == 0)
		return 1;
	struct io_totals *totals = io_entry(call);
	if (!totals)
		return 0;
	if (action == SYSCALL_IO_READ) {
		__sync_fetch_and_add(&totals->bytes_read, ret);
		__sync_fetch_and_add(&totals->reads, 1);
	} else {
		__sync_fetch_and_add(&totals->bytes_written, ret);
		__sync_fetch_and_add(&totals->writes, 1);
	}
	return 1;
}

#endif
