/* The record of a finished syscall: its arguments, result, the file, paths or address it names. */
#ifndef BPF_SYSCALLS_RECORD_H
#define BPF_SYSCALLS_RECORD_H

#include "lib/common.h"
#include "lib/files.h"
#include "lib/tasks.h"
#include "syscalls/io.h"
#include "syscalls/specs.h"

/* Who made a call: the I/O totals and fd generations are kept for watched tasks only. */
enum caller {
	CALLER_WATCHED = 0,
	CALLER_DAEMON_THREAD = 1, /* a daemon thread working for a command */
};

static __always_inline void describe_file(struct syscall_event *event, s64 fd)
{
	struct file_facts facts = {};
	if (!file_facts(fd, &facts))
		return;
	event->file_inode = facts.inode;
	event->file_mode = facts.mode;
	event->file_dev = facts.dev;
	event->file_imode = facts.imode;
	event->flags |= EVENT_FLAG_HAS_FILE;
}

static __always_inline u32 copy_path(struct syscall_event *event, int slot, u64 pointer)
{
	long n = 0;
	if (slot == 0)
		n = bpf_probe_read_user_str(event->paths[0], SYSCALL_PATH_CAP, (const void *)pointer);
	else
		n = bpf_probe_read_user_str(event->paths[1], SYSCALL_PATH_CAP, (const void *)pointer);
	if (n <= 0)
		n = 1;
	if (n >= SYSCALL_PATH_CAP)
		event->flags |= slot == 0 ? EVENT_FLAG_PATH0_TRUNCATED : EVENT_FLAG_PATH1_TRUNCATED;
	event->path_len[slot & 1] = n - 1;
	return n;
}

static __always_inline void copy_sockaddr(struct syscall_event *event, const struct syscall_spec *spec,
					  const struct syscall_call *call)
{
	u64 pointer = spec_arg(call->args, spec->sockaddr_arg);
	u64 length = 0;
	if (spec->sockaddr_len_kind == SOCKADDR_LEN_FD_PAIR) {
		length = 2 * sizeof(int);
	} else if (spec->sockaddr_len_arg) {
		u64 len_arg = spec_arg(call->args, spec->sockaddr_len_arg);
		if (spec->sockaddr_len_kind == SOCKADDR_LEN_POINTER) {
			u32 value = 0;
			if (len_arg)
				bpf_probe_read_user(&value, sizeof(value), (const void *)len_arg);
			length = value;
		} else {
			length = len_arg;
		}
	}
	if (!pointer || !length)
		return;
	if (length > SOCKADDR_CAP)
		length = SOCKADDR_CAP;
	length &= SOCKADDR_CAP * 2 - 1;
	if (length && length <= SOCKADDR_CAP &&
	    bpf_probe_read_user(event->paths[0], length, (const void *)pointer) == 0)
		event->sockaddr_len = length;
}

/* Sends the record of a finished call. */
static __always_inline void emit_syscall(void *ctx, const struct syscall_spec *spec, const struct syscall_call *call,
					 s64 ret, struct task_tag owner, enum caller caller)
{
	u32 zero = 0;
	struct syscall_event *event = syscall_heap.lookup(&zero);
	if (!event)
		return;
	event->ret = ret;
	__builtin_memcpy(event->args, call->args, sizeof(event->args));
	event->nr = call->nr;
	event->flags = 0;
	event->file_inode = 0;
	event->file_mode = 0;
	event->file_dev = 0;
	event->io.bytes_read = 0;
	event->io.bytes_written = 0;
	event->io.reads = 0;
	event->io.writes = 0;
	event->io.metadata = 0;
	event->io.mode = 0;
	event->path_len[0] = 0;
	event->path_len[1] = 0;
	event->sockaddr_len = 0;
	event->file_imode = 0;

	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	if (spec->io_fd_arg && ret >= 0 && caller == CALLER_WATCHED) {
		struct io_key key = { .pid = id >> 32,
				      .fd = (u32)spec_arg(call->args, spec->io_fd_arg),
				      .generation = call->generation };
		struct io_totals *totals = io_totals.lookup(&key);
		if (totals) {
			event->io = *totals;
			if (io_totals.delete(&key) == 0)
				count_io_entry(key.pid, -1);
		}
	}
	if (spec->new_generation && ret == 0 && caller == CALLER_WATCHED) {
		struct task_watch *watch = watched.lookup(&tid);
		if (watch)
			watch->generation = io_generation_after(call->generation);
	}
	if (spec->fd_result && ret >= 0)
		describe_file(event, ret);
	else if (spec->fd_arg)
		describe_file(event, (s64)(int)spec_arg(call->args, spec->fd_arg));
	if (caller == CALLER_DAEMON_THREAD && is_io(spec) && (event->file_imode & S_IFMT) != S_IFREG)
		return; /* a daemon's requests and replies: what they carry is attributed, not listed */
	if (spec->sockaddr_arg)
		copy_sockaddr(event, spec, call);

	u32 size = offsetof(struct syscall_event, paths) + (event->sockaddr_len & (SOCKADDR_CAP * 2 - 1));
	if (spec->path_args[0])
		size = offsetof(struct syscall_event, paths[0]) +
		       copy_path(event, 0, spec_arg(call->args, spec->path_args[0]));
	if (spec->path_args[1])
		size = offsetof(struct syscall_event, paths[1]) +
		       copy_path(event, 1, spec_arg(call->args, spec->path_args[1]));
	fill_header_of(&event->header, EVENT_SYSCALL, size, owner, id);
	if (size > sizeof(*event))
		return;
	output_record(ctx, event, size, EVENT_SYSCALL);
}

#endif
