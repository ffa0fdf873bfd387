/*
 * BCC's clang front end lists every kernel symbol from /proc/kallsyms (about
 * 120,000 here, 0.1-0.2 s with its name index) for one question: does the
 * kernel have bpf_probe_read_kernel (and _user)? The answer picks the names
 * its rewriter writes for kernel reads. Nothing else in the monitor asks
 * libbcc about kernel symbols (stack traces are not symbolized; uprobes
 * resolve ELF symbols, not these).
 *
 * This replacement of libbcc's bcc_procutils_each_ksym answers that question
 * from libbpf's helper probe, which loads a two-instruction program, and
 * lists just those two symbols when the helpers exist. A kernel without them
 * gets an empty list, and BCC falls back to bpf_probe_read as it would.
 */
#include <bcc/bcc_proc.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

int bcc_hooks_linked(void) { return 1; }

int bcc_procutils_each_ksym(bcc_procutils_ksymcb callback, void *payload)
{
	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_FUNC_probe_read_kernel, NULL) != 1)
		return 0;
	/* The address is never used: BCC only tests that the name resolves. */
	callback("bpf_probe_read_kernel", "", 1, payload);
	callback("bpf_probe_read_user", "", 2, payload);
	return 0;
}
