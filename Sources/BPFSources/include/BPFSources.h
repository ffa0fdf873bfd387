/* The BPF text and its ABI header, both embedded at build time from bpf/. */
#ifndef BPF_SOURCES_H
#define BPF_SOURCES_H
#include "../../../bpf/events.h"

/* bpf/monitor.bpf.c and bpf/events.h, NUL-terminated. */
const char *bpf_monitor_source(void);
const char *bpf_events_header_source(void);
#endif
