import BPFSources

/// Which probe follows forks. Tracepoints work everywhere; the kprobe needs CONFIG_KPROBES.
public enum ForkProbe: String, CaseIterable, Sendable {
    case kprobe
    case tracepoint
}

/// What sees a datagram land in its reader's socket, in the sender's context:
/// the `sock:sk_data_ready` tracepoint (Linux 6.6), else a kprobe on
/// `sock_def_readable`; with neither, datagrams are followed to no one.
public enum DataReadyProbe: String, CaseIterable, Sendable {
    case tracepoint
    case kprobe
    case unavailable = "none"

    var macro: String {
        switch self {
        case .tracepoint: return "DATA_READY_TRACEPOINT"
        case .kprobe: return "DATA_READY_KPROBE"
        case .unavailable: return "DATA_READY_NONE"
        }
    }
}

/// Where records go: one ring buffer shared by every CPU (Linux 5.8), or a
/// perf buffer per CPU, for kernels without the ring buffer.
public enum EventBufferKind: String, CaseIterable, Sendable {
    case ring
    case perf
}

/// Where per-thread state lives: task storage, read through the BTF task
/// helpers (Linux 5.15), or hashes by tid, read with plain kernel reads.
public enum TaskStateKind: String, CaseIterable, Sendable {
    case storage
    case maps
}

/// Assembles the BPF C that BCC compiles: tunables and struct offsets as
/// macros, then bpf/monitor.bpf.c with its includes (BPFSourceTree), all
/// from the binary itself.
public struct ProgramText: Sendable {
    public var forkProbe: ForkProbe
    /// Kernel struct offsets from BTF: the tracer does not start without them.
    public var offsets: KernelOffsets
    public var buffer = EventBufferKind.ring
    public var taskState = TaskStateKind.storage
    /// bpf_probe_read_kernel and _user (Linux 5.5); else bpf_probe_read for both.
    public var probeReadSplit = true
    /// Atomic fetch operations (Linux 5.12), which quiet spells need (bpf/daemons/quiet.h).
    public var atomicFetch = true
    public var ringBufferPages = 8192
    public var watchMax = 65_536
    /// Records per CPU between forced wake-ups of the reader, which otherwise
    /// polls on a timer (`wakeupEvery(bufferPages:cpus:)`).
    public var wakeupEvery = 256
    public var ioMax = 65_536
    public var daemonMax = 1024
    public var channelMax = 16_384
    public var goMax = 65_536
    /// A record for every read and write, instead of totals at close.
    public var ioEveryCall = false
    /// `sched:sched_process_exit` has the `group_dead` field (newer kernels:
    /// 6.18 has it, 6.12 not); elsewhere the programs read the process's live
    /// thread count.
    public var exitHasGroupDead = true
    public var dataReadyProbe = DataReadyProbe.tracepoint
    /// The parts of the programs (`#if PART(n)` in bpf/) this text compiles.
    public var parts: Set<Int> = [1, 2]

    public init(forkProbe: ForkProbe, offsets: KernelOffsets) {
        self.forkProbe = forkProbe
        self.offsets = offsets
    }

    /// Enough records between wake-ups to fill an eighth of the buffer, at
    /// 256 bytes a record, when every CPU writes; at least 256. Each wake-up
    /// costs an interrupt in the traced task's context and a pass of the
    /// reader's loop, while the reader polls every few milliseconds anyway.
    public static func wakeupEvery(bufferPages: Int, cpus: Int) -> Int {
        max(256, bufferPages * 4096 / 8 / 256 / max(1, cpus))
    }

    public var source: String {
        var lines = [
            "#define FORK_PROBE_KPROBE \(forkProbe == .kprobe ? 1 : 0)",
            "#define EVENTS_PERF \(buffer == .perf ? 1 : 0)",
            "#define PROBE_READ_SPLIT \(probeReadSplit ? 1 : 0)",
            "#define ATOMIC_FETCH \(atomicFetch ? 1 : 0)",
            "#define TASK_STORAGE \(taskState == .storage ? 1 : 0)",
            "#define RINGBUF_PAGES \(ringBufferPages)",
            "#define WATCH_MAX \(watchMax)",
            "#define WAKEUP_EVERY \(wakeupEvery)",
            "#define IO_MAX \(ioMax)",
            "#define IO_EVERY_CALL \(ioEveryCall ? 1 : 0)",
            "#define EXIT_HAS_GROUP_DEAD \(exitHasGroupDead ? 1 : 0)",
            "#define DATA_READY_PROBE \(dataReadyProbe.macro)",
            "#define DAEMON_MAX \(daemonMax)",
            "#define CHANNEL_MAX \(channelMax)",
            "#define GO_MAX \(goMax)",
            "#define NR_FUTEX \(__NR_futex)",
            "#define NR_CLOSE \(__NR_close)",
        ]
        for part in 1...2 {
            lines.append("#define PART_\(part) \(parts.contains(part) ? 1 : 0)")
        }
        // A field missing from `offsets` gets no macro: clang then names it.
        for path in KernelOffsets.required {
            if let offset = offsets.offsets[path] { lines.append("#define \(KernelOffsets.macroName(path)) \(offset)") }
        }
        return lines.joined(separator: "\n") + "\n" + BPFSourceTree.embedded.expanded("monitor.bpf.c")
    }
}
