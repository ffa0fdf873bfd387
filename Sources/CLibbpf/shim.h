#include <bpf/btf.h>
