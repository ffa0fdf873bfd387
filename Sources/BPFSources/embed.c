/* Embeds bpf/ into the binary: nothing is read from disk at run time. */
#include "BPFSources.h"

#pragma clang diagnostic ignored "-Wc23-extensions"

static const char monitor_text[] = {
#embed "../../bpf/monitor.bpf.c"
	, 0
};

static const char daemons_text[] = {
#embed "../../bpf/daemons.bpf.c"
	, 0
};

static const char grpc_text[] = {
#embed "../../bpf/grpc.bpf.c"
	, 0
};

static const char events_header_text[] = {
#embed "../../bpf/events.h"
	, 0
};

const char *bpf_monitor_source(void) { return monitor_text; }
const char *bpf_daemons_source(void) { return daemons_text; }
const char *bpf_grpc_source(void) { return grpc_text; }
const char *bpf_events_header_source(void) { return events_header_text; }
