/* The BPF text and its ABI header, both embedded at build time from bpf/. */
#ifndef BPF_SOURCES_H
#define BPF_SOURCES_H
#include "../../../bpf/events.h"
/* Syscall numbers for this architecture, for the syscall table. */
#include <asm/unistd.h>
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452 /* Linux 6.6; the same number on every architecture */
#endif

/* bpf/monitor.bpf.c, bpf/daemons.bpf.c, bpf/grpc.bpf.c and bpf/events.h, NUL-terminated. */
const char *bpf_monitor_source(void);
const char *bpf_daemons_source(void);
const char *bpf_grpc_source(void);
const char *bpf_events_header_source(void);
#endif
