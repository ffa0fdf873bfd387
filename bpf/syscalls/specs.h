/*
 * What to do for each syscall number, as user space sets it in
 * syscall_specs (struct syscall_spec), and a finished call's facts.
 *
 * The record is made at exit, with the result and the arguments, which are
 * still in the saved registers then; only a write does work at entry (it
 * tags its channel before the reader can wake, see pending_writes).
 */
#ifndef BPF_SYSCALLS_SPECS_H
#define BPF_SYSCALLS_SPECS_H

#include "lib/common.h"

BPF_ARRAY(syscall_specs, struct syscall_spec, SYSCALL_NR_MAX);
BPF_PERCPU_ARRAY(syscall_heap, struct syscall_event, 1); /* a record is too big for the BPF stack */

/* A finished call: its arguments, from the saved registers at exit. */
struct syscall_call {
	u64 args[6];
	u32 nr;
	u32 generation; /* the caller's fd table generation */
};

/*
 * The argument a spec names by position (index + 1, see struct
 * syscall_spec). The mask keeps the index in bounds for the verifier.
 */
static __always_inline u64 spec_arg(const u64 *args, u8 position)
{
	return args[(position - 1) & 7];
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

/* A read or a write: summed per fd, or taken for a request or an answer by daemon attribution. */
static __always_inline int is_io(const struct syscall_spec *spec)
{
	return spec->action == SYSCALL_IO_READ || spec->action == SYSCALL_IO_WRITE;
}

#endif
