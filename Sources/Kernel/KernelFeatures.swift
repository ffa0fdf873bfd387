import CBCC
import CLibbpf
import Glibc

/// The BPF features the programs use that older kernels lack. Each is
/// probed by loading a tiny map or program (libbpf's probes), so that a
/// kernel without one gets a refusal that names it and the first Linux
/// release that has it, instead of a verifier log.
enum KernelFeatures {
    struct Feature: Sendable {
        let name: String
        /// The first Linux release with it.
        let since: String
        let present: @Sendable () -> Bool
    }

    /// Needed everywhere.
    static let required: [Feature] = [
        Feature(name: "raw tracepoint programs", since: "4.17") { programType(BPF_PROG_TYPE_RAW_TRACEPOINT) },
        Feature(name: "bounded loops in BPF programs", since: "5.3") { boundedLoops() },
    ]

    /// The oldest Linux release with every required feature, and with a long-term branch.
    static let minimumRelease = "5.4"

    /// Used where present; bpf_probe_read stands in for it.
    static let splitProbeRead = Feature(name: "bpf_probe_read_kernel()", since: "5.5") {
        helper(BPF_FUNC_probe_read_kernel)
    }

    /// Used where present; perf buffers stand in for it.
    static let ringBuffer = Feature(name: "the BPF ring buffer", since: "5.8") { mapType(BPF_MAP_TYPE_RINGBUF) }

    /// Atomic compare-and-exchange, which quiet spells count channels with
    /// (bpf/daemons/quiet.h); without it daemons are followed in full.
    static let atomicFetch = Feature(name: "BPF atomic fetch operations", since: "5.12") { compareExchange() }

    /// Per-thread state in task storage, read through the BTF task helpers;
    /// hashes by tid and plain reads stand in for them.
    static let taskStorage: [Feature] = [
        Feature(name: "BPF task storage", since: "5.11") { mapType(BPF_MAP_TYPE_TASK_STORAGE) },
        Feature(name: "bpf_get_current_task_btf()", since: "5.11") { helper(BPF_FUNC_get_current_task_btf) },
        Feature(name: "bpf_task_pt_regs()", since: "5.15") { helper(BPF_FUNC_task_pt_regs) },
    ]

    /// The oldest Linux release with all of `taskStorage`.
    static let taskStorageRelease = "5.15"

    /// The first feature of `features` this kernel lacks, if any.
    static func firstMissing(of features: [Feature] = required) -> Feature? { features.first { !$0.present() } }

    /// A probe that fails for another reason than "unsupported" (say, a
    /// memory limit) counts as present: loading the programs will tell.
    private static func mapType(_ type: bpf_map_type) -> Bool {
        libbpf_probe_bpf_map_type(type, nil) != 0
    }

    private static func programType(_ type: bpf_prog_type) -> Bool {
        libbpf_probe_bpf_prog_type(type, nil) != 0
    }

    /// A four-pass loop: verifiers before 5.3 refuse any jump backwards.
    private static func boundedLoops() -> Bool {
        let program = [
            instruction(BPF_ALU64 | BPF_MOV | BPF_K, dst: 1),  // r1 = 0
            instruction(BPF_ALU64 | BPF_ADD | BPF_K, dst: 1, imm: 1),  // r1 += 1
            instruction(BPF_JMP | BPF_JLT | BPF_K, dst: 1, off: -2, imm: 4),  // if r1 < 4 goto r1 += 1
            instruction(BPF_ALU64 | BPF_MOV | BPF_K),  // r0 = 0
            instruction(BPF_JMP | BPF_EXIT),
        ]
        return loads(program)
    }

    /// A compare-and-exchange on the stack: verifiers before 5.12 refuse any atomic but an add.
    private static func compareExchange() -> Bool {
        let program = [
            instruction(BPF_ALU64 | BPF_MOV | BPF_K, dst: 1),  // r1 = 0
            instruction(BPF_STX | BPF_MEM | BPF_DW, dst: 10, src: 1, off: -8),  // *(u64 *)(r10 - 8) = r1
            instruction(BPF_ALU64 | BPF_MOV | BPF_K),  // r0 = 0
            instruction(BPF_ALU64 | BPF_MOV | BPF_K, dst: 1, imm: 1),  // r1 = 1
            // r0 = cmpxchg((u64 *)(r10 - 8), r0, r1)
            instruction(BPF_STX | BPF_ATOMIC | BPF_DW, dst: 10, src: 1, off: -8, imm: BPF_CMPXCHG),
            instruction(BPF_ALU64 | BPF_MOV | BPF_K),  // r0 = 0
            instruction(BPF_JMP | BPF_EXIT),
        ]
        return loads(program)
    }

    private static func instruction(_ code: Int32, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0)
        -> bpf_insn
    {
        var insn = bpf_insn(code: UInt8(code), dst_reg: dst, src_reg: 0, off: off, imm: imm)
        insn.src_reg = src
        return insn
    }

    /// Whether a socket filter program loads; one refused for another reason than EINVAL counts as loaded.
    private static func loads(_ program: [bpf_insn]) -> Bool {
        let fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, nil, "GPL", program, program.count, nil)
        guard fd >= 0 else { return errno != EINVAL }
        close(fd)
        return true
    }

    /// Helpers are probed for raw tracepoint programs, the type of the syscall hooks.
    private static func helper(_ function: bpf_func_id) -> Bool {
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, function, nil) != 0
    }
}
