/* The files of bpf/, embedded at build time, and the ABI header they share with Swift. */
#ifndef BPF_SOURCES_H
#define BPF_SOURCES_H
#include "../../../bpf/events.h"
/* Syscall numbers for this architecture, for the syscall table. */
#include <asm/unistd.h>
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452 /* Linux 6.6; the same number on every architecture */
#endif

/* One file of bpf/: its path relative to bpf/, and its text, NUL-terminated. */
struct bpf_source_file {
	const char *path;
	const char *text;
};

/* Every file of bpf/; *count is set to how many. */
const struct bpf_source_file *bpf_source_files(unsigned *count);
#endif
