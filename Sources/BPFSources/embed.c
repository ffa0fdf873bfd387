/* Embeds every file of bpf/ into the binary: nothing is read from disk at run time. */
#include "BPFSources.h"

#pragma clang diagnostic ignored "-Wc23-extensions"

static const char events_h[] = {
#embed "../../bpf/events.h"
	, 0
};

static const char monitor_bpf_c[] = {
#embed "../../bpf/monitor.bpf.c"
	, 0
};

static const char daemons_channels_h[] = {
#embed "../../bpf/daemons/channels.h"
	, 0
};

static const char daemons_completions_h[] = {
#embed "../../bpf/daemons/completions.h"
	, 0
};

static const char daemons_datagrams_h[] = {
#embed "../../bpf/daemons/datagrams.h"
	, 0
};

static const char daemons_endpoints_h[] = {
#embed "../../bpf/daemons/endpoints.h"
	, 0
};

static const char daemons_episodes_h[] = {
#embed "../../bpf/daemons/episodes.h"
	, 0
};

static const char daemons_futex_h[] = {
#embed "../../bpf/daemons/futex.h"
	, 0
};

static const char daemons_go_h[] = {
#embed "../../bpf/daemons/go.h"
	, 0
};

static const char daemons_grpc_h[] = {
#embed "../../bpf/daemons/grpc.h"
	, 0
};

static const char daemons_quiet_h[] = {
#embed "../../bpf/daemons/quiet.h"
	, 0
};

static const char daemons_reading_h[] = {
#embed "../../bpf/daemons/reading.h"
	, 0
};

static const char daemons_threads_h[] = {
#embed "../../bpf/daemons/threads.h"
	, 0
};

static const char lib_common_h[] = {
#embed "../../bpf/lib/common.h"
	, 0
};

static const char lib_files_h[] = {
#embed "../../bpf/lib/files.h"
	, 0
};

static const char lib_tasks_h[] = {
#embed "../../bpf/lib/tasks.h"
	, 0
};

static const char process_lifecycle_h[] = {
#embed "../../bpf/process/lifecycle.h"
	, 0
};

static const char syscalls_io_h[] = {
#embed "../../bpf/syscalls/io.h"
	, 0
};

static const char syscalls_record_h[] = {
#embed "../../bpf/syscalls/record.h"
	, 0
};

static const char syscalls_specs_h[] = {
#embed "../../bpf/syscalls/specs.h"
	, 0
};

static const struct bpf_source_file files[] = {
	{ "events.h", events_h },
	{ "monitor.bpf.c", monitor_bpf_c },
	{ "daemons/channels.h", daemons_channels_h },
	{ "daemons/completions.h", daemons_completions_h },
	{ "daemons/datagrams.h", daemons_datagrams_h },
	{ "daemons/endpoints.h", daemons_endpoints_h },
	{ "daemons/episodes.h", daemons_episodes_h },
	{ "daemons/futex.h", daemons_futex_h },
	{ "daemons/go.h", daemons_go_h },
	{ "daemons/grpc.h", daemons_grpc_h },
	{ "daemons/quiet.h", daemons_quiet_h },
	{ "daemons/reading.h", daemons_reading_h },
	{ "daemons/threads.h", daemons_threads_h },
	{ "lib/common.h", lib_common_h },
	{ "lib/files.h", lib_files_h },
	{ "lib/tasks.h", lib_tasks_h },
	{ "process/lifecycle.h", process_lifecycle_h },
	{ "syscalls/io.h", syscalls_io_h },
	{ "syscalls/record.h", syscalls_record_h },
	{ "syscalls/specs.h", syscalls_specs_h },
};

const struct bpf_source_file *bpf_source_files(unsigned *count)
{
	*count = sizeof(files) / sizeof(files[0]);
	return files;
}
