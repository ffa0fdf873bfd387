#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
