/*
 * The base every other file of bpf/ builds on: the record ABI (events.h),
 * the ring buffer and the record header, lost-record counting, the config
 * array, kernel reads at BTF offsets, saved user registers, and the kernel
 * constants the programs test for.
 *
 * Macros the text is compiled with (Sources/Kernel/ProgramText.swift):
 *   OFF_<struct>__<field>  kernel struct offsets, from BTF or the kernel headers
 *   FORK_PROBE_KPROBE      1: kretprobe on copy_process; 0: task:task_newtask
 *   EVENTS_PERF            1: records go to per-CPU perf buffers; 0: to one ring buffer
 *   PROBE_READ_SPLIT       1: bpf_probe_read_{kernel,user}[_str] (Linux 5.5); 0: bpf_probe_read[_str]
 *   TASK_STORAGE           1: per-thread state in task storage, read through the BTF
 *                          task helpers (Linux 5.15); 0: in hashes by tid, read with
 *                          bpf_probe_read_kernel
 *   RINGBUF_PAGES, WATCH_MAX, WAKEUP_EVERY, IO_MAX
 *   IO_EVERY_CALL          1: a record for every read and write (--io)
 *   EXIT_HAS_GROUP_DEAD    1: sched_process_exit has its group_dead field
 *   DATA_READY_PROBE       what sees a socket given data: DATA_READY_TRACEPOINT,
 *                          DATA_READY_KPROBE (sock_def_readable) or DATA_READY_NONE
 *   DAEMON_MAX, CHANNEL_MAX, GO_MAX
 *   NR_FUTEX               this architecture's futex syscall number
 *   NR_CLOSE               and its close syscall number
 *   PART_1, PART_2         1 for the parts of the programs this text compiles (below)
 */
#ifndef BPF_LIB_COMMON_H
#define BPF_LIB_COMMON_H

#define DATA_READY_TRACEPOINT 0
#define DATA_READY_KPROBE 1
#define DATA_READY_NONE 2

#include <linux/errno.h>
#include <uapi/linux/sched.h> /* CLONE_*: the kernel-internal sched.h costs clang most of its time */
#include <asm/ptrace.h>
struct task_struct;
#include "events.h"

/*
 * Each program is bracketed by #if PART(n): the programs come in two parts,
 * which two processes compile at once at start-up
 * (Sources/Kernel/SplitCompile.swift), each from a text with one part.
 */
#define PART(n) PART_##n

/*
 * Loops carry #pragma nounroll: the kernels the monitor runs on (5.3 and
 * later) verify bounded loops, and clang's unrolled copies of them cost the
 * start-up's compiles more time than the loops cost at run time. Hot paths
 * copy with __builtin_memcpy instead. A loop that compares with a constant
 * string stays unrolled: as a loop, clang would put the string in .rodata,
 * which BCC does not load.
 */

/*
 * The saved syscall number (orig_ax), Go's register ABI in the uprobes and
 * the pt_regs layout found on a task's stack are x86-64's.
 */
#if !defined(__x86_64__)
#error "ebpf-monitor's BPF programs are written for x86-64 only"
#endif

/*
 * Before Linux 5.5 one helper read user and kernel memory alike. x86-64
 * keeps the two address ranges apart, so it reads either right.
 */
#if !PROBE_READ_SPLIT
#define bpf_probe_read_kernel bpf_probe_read
#define bpf_probe_read_user bpf_probe_read
#define bpf_probe_read_kernel_str bpf_probe_read_str
#define bpf_probe_read_user_str bpf_probe_read_str
#else
/*
 * The user-memory helpers under names BCC's rewriter does not know. At every
 * call of bpf_probe_read_user[_str] it asks /proc/kallsyms whether the helper
 * exists, and rebuilds its index of the kernel's 120,000 symbols for each
 * asking: tens of milliseconds a call site. PROBE_READ_SPLIT has answered
 * already (libbpf's helper probe, Sources/Kernel/KernelFeatures.swift).
 */
static long (*read_user_memory)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)BPF_FUNC_probe_read_user;
static long (*read_user_string)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)BPF_FUNC_probe_read_user_str;
#define bpf_probe_read_user read_user_memory
#define bpf_probe_read_user_str read_user_string
#endif

/*
 * Kernel constants, written out: the headers that define them cost clang
 * time, and they are part of the kernel's user ABI, so they do not change.
 */
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFIFO 0010000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_DGRAM 2
#define SOCK_SEQPACKET 5
#define MSG_PEEK 2

/*
 * The segments a channel holds. A writer that takes its segment back after
 * a reader took it leaves `end` behind `first`: none.
 */
static __always_inline u32 held_segments(const struct channel *channel)
{
	s32 held = (s32)(channel->end - channel->first);
	if (held < 0)
		return 0;
	return held > CHANNEL_SEGMENTS ? CHANNEL_SEGMENTS : (u32)held;
}

/* A __data_loc field of a tracepoint record: the data's offset in the record is in its low 16 bits. */
static __always_inline u16 data_loc_offset(u32 data_loc)
{
	return data_loc & 0xFFFF;
}

/* The largest byte count kept in 32 bits: larger counts are capped to it. */
#define BYTES_MAX 0x7fffffff

static __always_inline u32 capped_bytes(u64 bytes)
{
	return bytes > BYTES_MAX ? BYTES_MAX : (u32)bytes;
}

BPF_ARRAY(config, u32, CONFIG_MAX);
BPF_PERCPU_ARRAY(lost_counts, u64, LOST_REASON_MAX); /* index: enum event_kind or enum lost_reason */

/*
 * Hides what clang knows of `var`'s range, so that a mask or bound check
 * after it stays in the code: the verifier needs it where clang would drop
 * it as proven, and older verifiers forget a value's bounds across a spill.
 */
#define barrier_var(var) asm volatile("" : "+r"(var))

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

/*
 * The 8 bytes at offsets a, b and c of one struct: in one read when the
 * three lie within READ_SPAN bytes, else in read_kernel_two's reads.
 */
static __always_inline void read_kernel_three(const void *base, u64 a, u64 b, u64 c, u64 *at_a, u64 *at_b, u64 *at_c)
{
	u64 low = a < b ? a : b, high = a < b ? b : a;
	low = c < low ? c : low;
	high = c > high ? c : high;
	if (high - low + 8 > READ_SPAN) {
		read_kernel_two(base, a, b, at_a, at_b);
		*at_c = read_kernel_u64(base, c);
		return;
	}
	u8 span[READ_SPAN];
	if (bpf_probe_read_kernel(span, high - low + 8, (const char *)base + low) != 0) {
		*at_a = 0;
		*at_b = 0;
		*at_c = 0;
		return;
	}
	__builtin_memcpy(at_a, span + (a - low), 8);
	__builtin_memcpy(at_b, span + (b - low), 8);
	__builtin_memcpy(at_c, span + (c - low), 8);
}

static __always_inline u32 parent_tgid(const void *task)
{
	const void *parent = (const void *)read_kernel_u64(task, OFF_task_struct__real_parent);
	return parent ? read_kernel_u32(parent, OFF_task_struct__tgid) : 0;
}

/*
 * Per-thread state: task storage, freed with its task, or a hash by tid,
 * whose entries the exit hook deletes (lifecycle.h). Each map has its own
 * accessor: BCC takes no map call written inside a macro.
 */
#if TASK_STORAGE
#define TASK_STATE(name, type) BPF_TASK_STORAGE(name, type)
#else
#define TASK_STATE(name, type) BPF_F_TABLE("hash", u32, type, name, WATCH_MAX, BPF_F_NO_PREALLOC)
#endif

/* The number of the syscall the registers were saved for. */
#define SYSCALL_NR(regs) ((regs)->orig_ax)

/*
 * The current task's saved user registers, in the syscall hooks and the
 * programs they tail-call, whose first argument points at them. Typed (BTF)
 * where the kernel has bpf_task_pt_regs: a field loads without a helper
 * call. Elsewhere a copy, which also teaches stack_regs where the registers
 * sit on a task's stack.
 */
#if TASK_STORAGE
static __always_inline const struct pt_regs *user_regs(struct bpf_raw_tracepoint_args *ctx)
{
	return (const struct pt_regs *)bpf_task_pt_regs((struct task_struct *)bpf_get_current_task_btf());
}
#else
BPF_PERCPU_ARRAY(regs_heap, struct pt_regs, 1);
BPF_ARRAY(stack_regs, u64, 1); /* the registers' offset from the base of a task's kernel stack; 0: not yet known */

static __always_inline const struct pt_regs *user_regs(struct bpf_raw_tracepoint_args *ctx)
{
	u32 zero = 0;
	struct pt_regs *regs = regs_heap.lookup(&zero);
	if (!regs || bpf_probe_read_kernel(regs, sizeof(*regs), (const void *)ctx->args[0]) != 0)
		return NULL;
	u64 *offset = stack_regs.lookup(&zero);
	if (offset && !*offset)
		*offset = ctx->args[0] - read_kernel_u64((const void *)bpf_get_current_task(), OFF_task_struct__stack);
	return regs;
}
#endif

/* The saved user registers' offset from the base of the current task's kernel stack; 0 when not known. */
static __always_inline u64 user_regs_offset(const void *task)
{
#if TASK_STORAGE
	const struct pt_regs *regs = bpf_task_pt_regs((struct task_struct *)bpf_get_current_task_btf());
	u64 address = 0; /* as a number: the verifier allows no sums with the typed pointer */
	bpf_probe_read_kernel(&address, sizeof(address), &regs);
	return address - read_kernel_u64(task, OFF_task_struct__stack);
#else
	u32 zero = 0;
	u64 *offset = stack_regs.lookup(&zero);
	return offset ? *offset : 0;
#endif
}

/*
 * The number of the syscall sys_exit sees end: its first argument points at
 * the saved registers. Without typed registers at hand (`regs` NULL), one
 * read, which costs less than the two helper calls that find them.
 */
static __always_inline long exit_syscall_nr(struct bpf_raw_tracepoint_args *ctx, const struct pt_regs *regs)
{
#if TASK_STORAGE
	if (regs)
		return SYSCALL_NR(regs);
#endif
	long nr = -1;
	bpf_probe_read_kernel(&nr, sizeof(nr), &SYSCALL_NR((const struct pt_regs *)ctx->args[0]));
	return nr;
}

/* All six syscall arguments, from the saved registers. */
static __always_inline void syscall_args(const struct pt_regs *regs, u64 args[6])
{
	args[0] = PT_REGS_PARM1_SYSCALL(regs);
	args[1] = PT_REGS_PARM2_SYSCALL(regs);
	args[2] = PT_REGS_PARM3_SYSCALL(regs);
	args[3] = PT_REGS_PARM4_SYSCALL(regs);
	args[4] = PT_REGS_PARM5_SYSCALL(regs);
	args[5] = PT_REGS_PARM6_SYSCALL(regs);
}

/*
 * All six syscall arguments in one read of the saved registers a syscall
 * hook's first argument points at. x86-64 passes them in di, si, dx, r10,
 * r8 and r9, which struct pt_regs keeps together, from r10 to di.
 */
struct syscall_arg_regs {
	u64 r10, r9, r8, ax, cx, dx, si, di;
};
_Static_assert(offsetof(struct pt_regs, di) - offsetof(struct pt_regs, r10) == 7 * sizeof(u64),
	       "the argument registers lie together");

static __always_inline int read_syscall_args(struct bpf_raw_tracepoint_args *ctx, u64 args[6])
{
	struct syscall_arg_regs regs;
	if (bpf_probe_read_kernel(&regs, sizeof(regs), (const char *)ctx->args[0] + offsetof(struct pt_regs, r10)) != 0)
		return 0;
	args[0] = regs.di;
	args[1] = regs.si;
	args[2] = regs.dx;
	args[3] = regs.r10;
	args[4] = regs.r8;
	args[5] = regs.r9;
	return 1;
}

static __always_inline void count_lost(u32 reason)
{
	u64 *count = lost_counts.lookup(&reason);
	if (count)
		*count += 1;
}

/*
 * The output: a ring buffer shared by all CPUs (Linux 5.8), or where there is
 * none, a perf buffer per CPU. Either way a record that finds no room is
 * counted in lost_counts under `lost`, its kind.
 */
#if EVENTS_PERF
BPF_PERF_OUTPUT(events); /* wakeups batched by the reader's wakeup_events */

union small_record {
	struct fork_event fork;
	struct exit_event exit;
	struct peer_event peer;
};
BPF_PERCPU_ARRAY(record_heap, union small_record, 1);

/* Space for a small record, sent with submit_record; NULL when there is none. */
static __always_inline void *reserve_record(u32 size, u32 lost)
{
	u32 zero = 0;
	return record_heap.lookup(&zero);
}

static __always_inline void submit_record(void *ctx, void *record, u32 size, u32 lost)
{
	if (events.perf_submit(ctx, record, size) != 0)
		count_lost(lost);
}

/* Sends `size` bytes of a record built elsewhere. */
static __always_inline void output_record(void *ctx, void *record, u32 size, u32 lost)
{
	if (events.perf_submit(ctx, record, size) != 0)
		count_lost(lost);
}
#else
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
BPF_PERCPU_ARRAY(wakeup_counts, u64, 1);

/* Batch wakeups: the reader polls on a timer, and is woken early every WAKEUP_EVERY records per CPU. */
static __always_inline u64 wakeup_flag(void)
{
	u32 zero = 0;
	u64 *count = wakeup_counts.lookup(&zero);
	if (count && ++*count % WAKEUP_EVERY == 0)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void *reserve_record(u32 size, u32 lost)
{
	void *record = events.ringbuf_reserve(size);
	if (!record)
		count_lost(lost);
	return record;
}

static __always_inline void submit_record(void *ctx, void *record, u32 size, u32 lost)
{
	events.ringbuf_submit(record, wakeup_flag());
}

static __always_inline void output_record(void *ctx, void *record, u32 size, u32 lost)
{
	if (events.ringbuf_output(record, size, wakeup_flag()) != 0)
		count_lost(lost);
}
#endif

/* fill_header, for a caller that has the current task's bpf_get_current_pid_tgid() at hand as `id`. */
static __always_inline void fill_header_of(struct event_header *header, u16 kind, u16 size, struct task_tag owner,
					   u64 id)
{
	header->kind = kind;
	header->size = size;
	header->cpu = bpf_get_smp_processor_id();
	header->attribution = owner.attribution;
	header->tag = owner.tag;
	header->also_tag = owner.also_tag;
	header->ktime = bpf_ktime_get_ns();
	header->pid = id >> 32;
	header->tid = (u32)id;
	bpf_get_current_comm(header->comm, sizeof(header->comm));
}

/* The header of a record of `kind` and `size` bytes, made by the current task for the command(s) in `owner`. */
static __always_inline void fill_header(struct event_header *header, u16 kind, u16 size, struct task_tag owner)
{
	fill_header_of(header, kind, size, owner, bpf_get_current_pid_tgid());
}

/* A record's owner: one command (0: none), with its attribution flags. */
static __always_inline struct task_tag owner_of(u32 tag, u32 attribution)
{
	struct task_tag owner = { .tag = tag, .attribution = attribution };
	return owner;
}

static __always_inline u32 config_value(u32 index)
{
	u32 *value = config.lookup(&index);
	return value ? *value : 0;
}

#endif
