#include <bcc/bcc_common.h>
#include <bcc/libbpf.h>
#include <malloc.h>
#include <bcc/bcc_syms.h>
#include <bcc/bcc_elf.h>
#include <bcc/perf_reader.h>
