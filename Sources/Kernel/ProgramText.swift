import BPFSources

/// Which probe follows forks. Tracepoints work everywhere; the kprobe needs CONFIG_KPROBES.
public enum ForkProbe: String, CaseIterable, Sendable {
    case kprobe
    case tracepoint
}

/// Assembles the BPF C that BCC compiles: tunables and struct offsets as
/// macros, then the ABI header, then the program, all from the binary itself.
public struct ProgramText: Sendable {
    public var forkProbe: ForkProbe
    /// nil: no kernel BTF, so offsets fall back to `offsetof` on the installed headers.
    public var offsets: BTFOffsets?
    public var ringBufferPages = 8192
    public var watchMax = 65_536
    public var wakeupEvery = 256
    public var ioMax = 65_536
    public var daemonMax = 1024
    public var channelMax = 16_384
    public var goMax = 65_536
    /// A record for every read and write, instead of totals at close.
    public var ioEveryCall = false

    public init(forkProbe: ForkProbe, offsets: BTFOffsets?) {
        self.forkProbe = forkProbe
        self.offsets = offsets
    }

    public var source: String {
        var lines = [
            "#define FORK_PROBE_KPROBE \(forkProbe == .kprobe ? 1 : 0)",
            "#define RINGBUF_PAGES \(ringBufferPages)",
            "#define WATCH_MAX \(watchMax)",
            "#define WAKEUP_EVERY \(wakeupEvery)",
            "#define IO_MAX \(ioMax)",
            "#define IO_EVERY_CALL \(ioEveryCall ? 1 : 0)",
            "#define DAEMON_MAX \(daemonMax)",
            "#define CHANNEL_MAX \(channelMax)",
            "#define GO_MAX \(goMax)",
            "#define NR_FUTEX \(__NR_futex)",
        ]
        for path in BTFOffsets.required {
            let name = BTFOffsets.macroName(path)
            if let offset = offsets?.offsets[path] {
                lines.append("#define \(name) \(offset)")
            } else {
                let parts = path.split(separator: ".")
                lines.append("#define \(name) offsetof(struct \(parts[0]), \(parts[1]))")
            }
        }
        let header = String(cString: bpf_events_header_source())
        let program = String(cString: bpf_monitor_source())
            .replacingOccurrences(of: "#include \"events.h\"", with: header)
            .replacingOccurrences(of: "#include \"daemons.bpf.c\"", with: String(cString: bpf_daemons_source()))
            .replacingOccurrences(of: "#include \"grpc.bpf.c\"", with: String(cString: bpf_grpc_source()))
        return lines.joined(separator: "\n") + "\n" + program
    }
}
