/*
 * Kernel half of ebpf-monitor. Compiled at start-up by BCC, with these macros
 * prepended by Swift (Sources/Kernel/ProgramText.swift):
 *   OFF_<struct>__<field>  kernel struct offsets, resolved from BTF
 *   FORK_PROBE_KPROBE      1: kretprobe on copy_process; 0: task:task_newtask
 *   RINGBUF_PAGES, WATCH_MAX, WAKEUP_EVERY, IO_MAX
 *   IO_EVERY_CALL          1: a record for every read and write (--io)
 *   DAEMON_MAX, CHANNEL_MAX, GO_MAX
 *   NR_FUTEX               this architecture's futex syscall number
 *
 * Syscalls: user space fills syscall_specs with what to do for each number.
 * The record is made at exit, with the result and the arguments, which are
 * still in the saved registers then; only a write does work at entry (it
 * tags its channel before the reader can wake, see pending_writes). Reads
 * and writes are summed per (process, fd) in io_totals and reported once,
 * with the close (see struct io_key).
 *
 * Only tasks in `watched` emit events. Children join it here, in the fork
 * probe, before they first run, so no child syscall can be missed.
 *
 * Daemons (see "Attribution" in events.h): a process outside the tree that
 * reads what a watched task sent joins `daemons`. Its threads emit events
 * only while tagged for a command, so its own work and other clients' stay
 * in the kernel, counted in unattributed_counts. How threads get and lose
 * tags is in daemons.bpf.c, included before the programs.
 */
#include <linux/errno.h>
#include <uapi/linux/sched.h>  /* CLONE_*: the kernel-internal sched.h costs clang most of its time */
#include <asm/ptrace.h>
struct task_struct;
#include "events.h"

BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
BPF_HASH(watched, u32, struct task_watch, WATCH_MAX);
BPF_HASH(daemons, u32, u32, DAEMON_MAX);                 /* pid -> 1 */
/*
 * Which tids may be in `watched` and which pids in `daemons`, by slot (the
 * id modulo the slots): set before every entry is made and never cleared.
 * A task whose slots are clear is neither, known by two array lookups
 * where the hashes cost several times more, and most calls are others'.
 */
BPF_ARRAY(maybe_watched, u32, MAYBE_SLOTS);
BPF_ARRAY(maybe_daemons, u32, MAYBE_SLOTS);
BPF_HASH(channels, struct channel_key, struct channel, CHANNEL_MAX);
BPF_TABLE("lru_hash", u32, u32, retired_tags, 4096);    /* tags of ended commands (Tracer.forget) */
BPF_ARRAY(config, u32, CONFIG_MAX);
BPF_PERCPU_ARRAY(unattributed_counts, u64, 1);           /* daemon calls done for no watched command */
BPF_PERCPU_ARRAY(lost_counts, u64, LOST_REASON_MAX);  /* index: enum event_kind or enum lost_reason */
BPF_PERCPU_ARRAY(wakeup_counts, u64, 1);
BPF_PERCPU_ARRAY(exec_heap, struct exec_event, 1);

/* A write to a channel, between its entry and exit (settle_write). */
struct write_in_flight {
	struct channel_key key;
	u32 bytes;    /* 0: none */
	u32 counted;  /* it is one of its channel's in_flight */
};

/* A finished call: its arguments, from the saved registers at exit. */
struct syscall_call {
	u64 args[6];
	u32 nr;
	u32 generation;  /* the caller's fd table generation */
};
BPF_ARRAY(syscall_specs, struct syscall_spec, SYSCALL_NR_MAX);
/* A watched task's write to a channel, from entry to exit: task storage, cheaper than a hash by tid, and freed with the task. */
BPF_TASK_STORAGE(pending_writes, struct write_in_flight);
BPF_HASH(io_totals, struct io_key, struct io_totals, IO_MAX);
BPF_HASH(io_counts, u32, s32, WATCH_MAX);  /* pid -> its io_totals entries: user space skips empty processes */

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

BPF_PERCPU_ARRAY(syscall_heap, struct syscall_event, 1);

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

#define READ_SPAN 80

/*
 * The 8 bytes at offsets a and b of one struct. Helper calls cost more than
 * bytes do: fields within READ_SPAN bytes come in one read, others in two.
 */
static __always_inline void read_kernel_two(const void *base, u64 a, u64 b, u64 *at_a, u64 *at_b)
{
	u64 low = a < b ? a : b, high = a < b ? b : a;
	if (high - low + 8 > READ_SPAN) {
		*at_a = read_kernel_u64(base, a);
		*at_b = read_kernel_u64(base, b);
		return;
	}
	u8 span[READ_SPAN];
	if (bpf_probe_read_kernel(span, high - low + 8, (const char *)base + low) != 0) {
		*at_a = 0;
		*at_b = 0;
		return;
	}
	__builtin_memcpy(at_a, span + (a - low), 8);
	__builtin_memcpy(at_b, span + (b - low), 8);
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

static __always_inline void fill_header(struct event_header *header, u16 kind, u16 size, u32 tag, u32 also_tag,
					u32 attribution)
{
	u64 id = bpf_get_current_pid_tgid();
	header->kind = kind;
	header->size = size;
	header->cpu = bpf_get_smp_processor_id();
	header->attribution = attribution;
	header->tag = tag;
	header->also_tag = also_tag;
	header->ktime = bpf_ktime_get_ns();
	header->pid = id >> 32;
	header->tid = (u32)id;
	bpf_get_current_comm(header->comm, sizeof(header->comm));
}

/* The slot of a tid in maybe_watched (daemon 0) or of a pid in maybe_daemons (daemon 1). */
static __always_inline u32 *maybe_slot(u32 id, int daemon)
{
	u32 slot = id & (MAYBE_SLOTS - 1);
	return daemon ? maybe_daemons.lookup(&slot) : maybe_watched.lookup(&slot);
}

static __always_inline int may_be(u32 id, int daemon)
{
	u32 *mark = maybe_slot(id, daemon);
	return !mark || *mark;
}

/* Before the entry is made, so no reader can find the entry with its slot clear. */
static __always_inline void mark_maybe(u32 id, int daemon)
{
	u32 *mark = maybe_slot(id, daemon);
	if (mark)
		*mark = 1;
}

#define may_be_watched(tid) may_be(tid, 0)
#define may_be_daemon(pid) may_be(pid, 1)

/* The task's watch entry, or NULL. */
static __always_inline struct task_watch *watch_of(u32 tid)
{
	return may_be_watched(tid) ? watched.lookup(&tid) : NULL;
}

static __always_inline int is_watched(u32 tid)
{
	return watch_of(tid) != NULL;
}

static __always_inline u32 config_value(u32 index)
{
	u32 *value = config.lookup(&index);
	return value ? *value : 0;
}

/*
 * The child's watch entry, from a watched parent. A thread shares the fd
 * table, so it shares the generation; a new process starts at 0. A child
 * of the --pid root starts a command: its own pid is its tag.
 */
static __always_inline struct task_watch child_watch(const struct task_watch *parent, u32 parent_pid, u32 child_pid,
						     u32 flags)
{
	struct task_watch child = *parent;
	if (!(flags & EVENT_FLAG_THREAD)) {
		child.generation = 0;
		if (parent_pid == config_value(CONFIG_SHELL_ROOT)) {
			child.tag = child_pid;
			retired_tags.delete(&child_pid);  /* a reused pid: a new command */
		}
	}
	return child;
}

static __always_inline void emit_fork(u32 child_pid, u32 child_tid, u32 parent_pid, u64 clone_flags, u32 flags,
				      struct task_watch *child, u32 header_tag)
{
	mark_maybe(child_tid, 0);
	if (watched.update(&child_tid, child) != 0) {
		flags |= EVENT_FLAG_UNFOLLOWED;
		count_lost(LOST_WATCH_MAP_FULL);
	}
	struct fork_event *event = events.ringbuf_reserve(sizeof(*event));
	if (!event) {
		count_lost(EVENT_FORK);
		return;
	}
	fill_header(&event->header, EVENT_FORK, sizeof(*event), header_tag, 0, child->attribution);
	event->child_pid = child_pid;
	event->child_tid = child_tid;
	event->parent_pid = parent_pid;
	event->flags = flags;
	event->clone_flags = clone_flags;
	events.ringbuf_submit(event, wakeup_flag());
}

/* The current task's saved user registers, typed (BTF): a field loads without a helper call. */
static __always_inline const struct pt_regs *user_regs(void)
{
	return (const struct pt_regs *)bpf_task_pt_regs((struct task_struct *)bpf_get_current_task_btf());
}

/* The struct file behind fd in the current task's table, or NULL. */
static __always_inline const void *fd_file(s64 fd)
{
	if (fd < 0)
		return NULL;
	/* Typed loads (BTF), checked by the verifier: no helper call each. */
	const char *task = (const char *)bpf_get_current_task_btf();
	const char *files = *(const char **)(task + OFF_task_struct__files);
	if (!files)
		return NULL;
	const char *fdt = *(const char **)(files + OFF_files_struct__fdt);
	if (!fdt || fd >= *(const u32 *)(fdt + OFF_fdtable__max_fds))
		return NULL;
	u64 fds = *(const u64 *)(fdt + OFF_fdtable__fd);
	return fds ? (const void *)read_kernel_u64((const void *)fds, fd * sizeof(u64)) : NULL;
}

/* The inode, f_mode, device and i_mode of the file behind fd; false when there is none. */
static __always_inline int file_facts(s64 fd, u64 *inode_number, u32 *mode, u32 *dev, u16 *imode)
{
	const void *file = fd_file(fd);
	u64 inode = 0, mode_word = 0, sb = 0;
	if (file)
		read_kernel_two(file, OFF_file__f_inode, OFF_file__f_mode, &inode, &mode_word);
	if (!inode)
		return 0;
	*mode = (u32)mode_word;
	read_kernel_two((const void *)inode, OFF_inode__i_ino, OFF_inode__i_sb, inode_number, &sb);
	*dev = sb ? read_kernel_u32((const void *)sb, OFF_super_block__s_dev) : 0;
	bpf_probe_read_kernel(imode, sizeof(*imode), (const char *)inode + OFF_inode__i_mode);
	return 1;
}

static __always_inline void describe_file(struct syscall_event *event, s64 fd)
{
	if (file_facts(fd, &event->file_inode, &event->file_mode, &event->file_dev, &event->file_imode))
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
	u64 pointer = call->args[(spec->sockaddr_arg - 1) & 7];
	u64 length = 0;
	if (spec->sockaddr_len_kind == SOCKADDR_LEN_FD_PAIR) {
		length = 2 * sizeof(int);
	} else if (spec->sockaddr_len_arg) {
		u64 len_arg = call->args[(spec->sockaddr_len_arg - 1) & 7];
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
	if (length && length <= SOCKADDR_CAP && bpf_probe_read_user(event->paths[0], length, (const void *)pointer) == 0)
		event->sockaddr_len = length;
}

/* An fcntl that makes a descriptor or sets close-on-exec (F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD), or failed. */
static __always_inline int changes_descriptors(u64 command, s64 ret)
{
	return command == 0 || command == 1030 || command == 2 || ret < 0;
}

/* What to do with syscall nr; NULL for the untraced ones: an array lookup, before any hash lookup. */
static __always_inline struct syscall_spec *spec_for(long nr)
{
	if (nr < 0 || nr >= SYSCALL_NR_MAX)
		return NULL;
	u32 index = nr;
	struct syscall_spec *spec = syscall_specs.lookup(&index);
	return spec && spec->action != SYSCALL_IGNORE ? spec : NULL;
}


#include "daemons.bpf.c"

#if FORK_PROBE_KPROBE
/* Where the kernel has kprobes: the new task is copy_process's return value. */
int kretprobe__copy_process(struct pt_regs *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct task_watch *parent = watch_of(tid);
	if (!parent)
		return 0;
	const void *child = (const void *)PT_REGS_RC(ctx);
	if (!child || (unsigned long)child >= (unsigned long)-4095)
		return 0;
	u32 child_tid = read_kernel_u32(child, OFF_task_struct__pid);
	u32 child_pid = read_kernel_u32(child, OFF_task_struct__tgid);
	u32 flags = child_pid == (u32)(id >> 32) ? EVENT_FLAG_THREAD : 0;
	u32 parent_pid = flags ? child_pid : parent_tgid(child);
	struct task_watch watch = child_watch(parent, id >> 32, child_pid, flags);
	emit_fork(child_pid, child_tid, parent_pid, 0, flags, &watch, parent->tag);
	return 0;
}
#else
/* Runs in the parent inside copy_process, before the child can run. */
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
		/* A tagged daemon thread: a new thread keeps working for the command; a new process is the command's. */
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
		emit_fork(pid, child_tid, pid, clone_flags, EVENT_FLAG_THREAD, &watch, header_tag);
		return 0;
	}
	u32 parent_pid = pid;
	if (clone_flags & CLONE_PARENT)
		parent_pid = parent_tgid((const void *)bpf_get_current_task());
	emit_fork(child_tid, child_tid, parent_pid, clone_flags, 0, &watch, header_tag);
	return 0;
}
#endif

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
	next.generation += 1;
	if (old_tid != tid)  /* a thread exec'd and took over the leader's tid */
		watched.delete(&old_tid);
	mark_maybe(tid, 0);
	watched.update(&tid, &next);

	u32 zero = 0;
	struct exec_event *event = exec_heap.lookup(&zero);
	if (!event)
		return 0;
	event->old_tid = old_tid;
	event->flags = 0;
	event->io_entries = io_entries(bpf_get_current_pid_tgid() >> 32);

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
	fill_header(&event->header, EVENT_EXEC, size, next.tag, 0, next.attribution);
	if (size > sizeof(*event))
		return 0;
	if (events.ringbuf_output(event, size, wakeup_flag()) != 0)
		count_lost(EVENT_EXEC);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct task_watch *watch = watch_of(tid);
	if (!watch) {
		if (may_be_daemon(id >> 32) && handoffs.lookup(&tid))
			handoffs.delete(&tid);  /* (a lookup first: it takes no lock) */
		return 0;
	}
	u32 tag = watch->tag, attribution = watch->attribution;
	watched.delete(&tid);

	struct exit_event *event = events.ringbuf_reserve(sizeof(*event));
	if (!event) {
		count_lost(EVENT_EXIT);
		return 0;
	}
	const void *task = (const void *)bpf_get_current_task();
	fill_header(&event->header, EVENT_EXIT, sizeof(*event), tag, 0, attribution);
	event->exit_code = read_kernel_u32(task, OFF_task_struct__exit_code);
	event->flags = args->group_dead ? EVENT_FLAG_GROUP_DEAD : 0;
	event->parent_pid = parent_tgid(task);
	event->io_entries = 0;
	if (args->group_dead) {
		u32 pid = bpf_get_current_pid_tgid() >> 32;
		event->io_entries = io_entries(pid);
		io_counts.delete(&pid);
	}
	events.ringbuf_submit(event, wakeup_flag());
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
	const struct pt_regs *regs = user_regs();
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct task_watch *watch = watch_of(tid);
	if (!watch) {
		/* A daemon thread's write tags the channel before the reader can wake. */
		u32 pid = id >> 32;
		struct daemon_thread *self = spec->action == SYSCALL_IO_WRITE ? daemon_thread(pid) : NULL;
		if (!self)
			return 0;
		u64 args[6];
		regs_args(regs, args);
		daemon_write(self, args[0]);
		u32 reaches = 0;
		struct task_tag *tag = thread_tag(self);
		struct task_tag writer = {};
		if (tag) {
			writer = *tag;
			writer.attribution |= ATTRIBUTION_DAEMON;
			if (self->g)
				writer.attribution &= ~ATTRIBUTION_WOKEN;  /* a goroutine's hand-off is a sure one */
		}
		u32 length = write_length(spec, args);
		int socket = spec->io_length == IO_LENGTH_COUNT ? grpc_write(pid, self, args, length, &reaches) : 0;
		if (socket)
			writer.tag = 0;  /* by stream: no one write's tag */
		else
			socket = tag_channel(args[0], writer.tag, writer.also_tag, writer.attribution, 0, length, &reaches, 0,
					     &self->flight);
		if (socket == 2
		    && (!writer.tag || (writer.attribution & ATTRIBUTION_WOKEN))) {
			if (reaches)
				replay_episode(self, reaches);
			else
				self->episode.count = 0;
			if (writer.tag)
				forget_handoff(self);
		}
		return 0;
	}
	u64 args[6];
	regs_args(regs, args);
	u32 reaches = 0;
	int daemon_side = watch->attribution & ATTRIBUTION_DAEMON;
	struct write_in_flight flight = {};
	if (tag_channel(args[0], watch->tag, 0, watch->attribution, !daemon_side, write_length(spec, args), &reaches, 0,
			&flight) == 2 && !daemon_side)
		remember_command_end(args[0], watch->tag);
	if (!flight.bytes)
		return 0;  /* not to a channel: nothing to settle at exit */
	struct write_in_flight *pending = pending_writes.task_storage_get(bpf_get_current_task_btf(), 0,
									   BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (pending)
		*pending = flight;
	else
		count_lost(LOST_PENDING_FULL);
	return 0;
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
		return 0;  /* utimensat with a path: not through the fd */
	struct io_totals *totals = io_entry(call);
	if (!totals)
		return 0;
	totals->metadata |= spec->fd_metadata;  /* no 32-bit atomic or in this BPF target; a lost bit needs two threads on one fd at once */
	if (spec->fd_metadata == FD_METADATA_MODE)
		totals->mode = (u32)call->args[1];
	return 1;
}

/* Adds a successful read or write to its fd's totals. False when the call must be recorded anyway. */
static __always_inline int add_io(const struct syscall_call *call, u8 action, s64 ret)
{
	if (ret < 0)
		return ret == -EAGAIN;  /* failures are recorded, except "try again" */
	if (IO_EVERY_CALL)
		return 0;  /* --io: every call is recorded, nothing summed */
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

/* Sends the record of a finished call. */
static __always_inline void emit_syscall(const struct syscall_spec *spec, const struct syscall_call *call, s64 ret,
					 u32 tag, u32 also_tag, u32 attribution, int daemon_thread)
{
	u32 zero = 0;
	struct syscall_event *event = syscall_heap.lookup(&zero);
	if (!event)
		return;
	event->ret = ret;
#pragma unroll
	for (int i = 0; i < 6; i++)
		event->args[i] = call->args[i];
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

	u32 tid = (u32)bpf_get_current_pid_tgid();
	if (spec->io_fd_arg && ret >= 0 && !daemon_thread) {
		struct io_key key = { .pid = bpf_get_current_pid_tgid() >> 32,
				      .fd = (u32)call->args[(spec->io_fd_arg - 1) & 7], .generation = call->generation };
		struct io_totals *totals = io_totals.lookup(&key);
		if (totals) {
			event->io = *totals;
			if (io_totals.delete(&key) == 0)
				count_io_entry(key.pid, -1);
		}
	}
	if (spec->new_generation && ret == 0 && !daemon_thread) {
		struct task_watch *watch = watched.lookup(&tid);
		if (watch)
			watch->generation = call->generation + 1;
	}
	if (spec->fd_result && ret >= 0)
		describe_file(event, ret);
	else if (spec->fd_arg)
		describe_file(event, (s64)(int)call->args[(spec->fd_arg - 1) & 7]);
	if (daemon_thread && (spec->action == SYSCALL_IO_READ || spec->action == SYSCALL_IO_WRITE)
	    && (event->file_imode & S_IFMT_) != 0100000 /* S_IFREG */)
		return;  /* a daemon's requests and replies: what they carry is attributed, not listed */
	if (spec->sockaddr_arg)
		copy_sockaddr(event, spec, call);

	u32 size = offsetof(struct syscall_event, paths) + (event->sockaddr_len & (SOCKADDR_CAP * 2 - 1));
	if (spec->path_args[0])
		size = offsetof(struct syscall_event, paths[0]) + copy_path(event, 0, call->args[(spec->path_args[0] - 1) & 7]);
	if (spec->path_args[1])
		size = offsetof(struct syscall_event, paths[1]) + copy_path(event, 1, call->args[(spec->path_args[1] - 1) & 7]);
	fill_header(&event->header, EVENT_SYSCALL, size, tag, also_tag, attribution);
	if (size > sizeof(*event))
		return;
	if (events.ringbuf_output(event, size, wakeup_flag()) != 0)
		count_lost(EVENT_SYSCALL);
}

/* A call by a task outside the tree: a read may tag it; a tagged daemon thread's call is recorded. */
static __always_inline void daemon_syscall(const struct syscall_spec *spec, const struct pt_regs *regs, long nr, s64 ret)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct daemon_thread *self = daemon_thread(pid);
	if (self && spec->action == SYSCALL_IO_WRITE)
		settle_write(&self->flight, ret);  /* (only watched tasks and daemons put writes in flight) */
	else if (self)
		next_request(self);  /* (a write's answer ends at the first call that is not one) */
	struct syscall_call call = {};
	call.nr = nr;
	if (spec->action == SYSCALL_IO_READ && ret > 0 && (self || fresh_channels_exist())) {
		regs_args(regs, call.args);
		int peek = spec->io_flags_arg && (call.args[(spec->io_flags_arg - 1) & 7] & 2 /* MSG_PEEK */);
		if (!peek)
			read_channel((s64)(int)call.args[0], pid, self, ret > 0x7fffffff ? 0x7fffffff : (u32)ret);
		if (!self)
			self = daemon_thread(pid);  /* the read may have made it one */
	}
	if (!self)
		return;
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
			regs_args(regs, call.args);
			log_call(self, spec, nr, ret, call.args);
		}
		return;
	}
	regs_args(regs, call.args);
	emit_syscall(spec, &call, ret, tag->tag, tag->also_tag, ATTRIBUTION_DAEMON | tag->attribution, 1);
}

RAW_TRACEPOINT_PROBE(sys_exit)
{
	const struct pt_regs *regs = user_regs();
	long nr = regs->orig_ax;
	struct syscall_spec *spec = spec_for(nr);
	if (!spec) {
		int woken = nr == NR_FUTEX && ctx->args[1] == 0 && may_be_daemon(bpf_get_current_pid_tgid() >> 32);
		struct daemon_thread *self = woken ? this_thread(0) : NULL;
		if (self && futex_waited(regs))
			take_handoff(self, 1);  /* a daemon thread woken: what its waker handed it (sched_wakeup) */
		return 0;
	}
	s64 ret = ctx->args[1];
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct task_watch *watch = watch_of(tid);
	if (!watch) {
		daemon_syscall(spec, regs, nr, ret);
		return 0;
	}
	if (spec->action == SYSCALL_IO_WRITE) {
		struct write_in_flight *pending = pending_writes.task_storage_get(bpf_get_current_task_btf(), 0, 0);
		if (pending)
			settle_write(pending, ret);
	}
	struct syscall_call call = { .nr = nr, .generation = watch->generation };
	regs_args(regs, call.args);
	if ((spec->action == SYSCALL_IO_READ || spec->action == SYSCALL_IO_WRITE) && add_io(&call, spec->action, ret))
		return 0;
	if (spec->fd_metadata && add_fd_metadata(&call, spec, ret))
		return 0;
	if (spec->fd_command_arg && !changes_descriptors(call.args[(spec->fd_command_arg - 1) & 7], ret))
		return 0;
	emit_syscall(spec, &call, ret, watch->tag, 0, watch->attribution, 0);
	return 0;
}
