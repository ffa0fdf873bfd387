#include <bpf/btf.h>
#include <bpf/libbpf.h>
