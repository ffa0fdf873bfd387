import BPFSources
import CBCC
import Foundation

/// The loaded and attached probes: the one object the rest of the program
/// uses to reach the kernel. Dropping it detaches everything.
public final class Tracer {
    public let forkProbe: ForkProbe
    public let dataReadyProbe: DataReadyProbe
    public let buffer: EventBufferKind
    public let taskState: TaskStateKind
    /// Whether followed daemons' idle threads go unfollowed while no command's
    /// work is under way (bpf/daemons/quiet.h): the kernel has atomic fetch operations.
    public let hasQuietSpells: Bool
    /// 2 when a helper process compiled part of the programs (SplitCompile), else 1.
    public let compileProcesses: Int
    /// Kernel struct offsets, from BTF or the kernel headers.
    public let offsets: KernelOffsets
    private let handles: ProbeHandles
    private let output: EventBuffer
    private let watchedFD: Int32
    private let maybeWatchedFD: Int32
    private let lostFD: Int32
    /// Batch lookups work on `lost_counts` (they fail before Linux 5.6).
    private var lostBatches = true
    private let specsFD: Int32
    private let ioFD: Int32
    private let configFD: Int32
    private let retiredFD: Int32
    private let channelsFD: Int32
    private let commandEndsFD: Int32
    private let unattributedFD: Int32
    private let commandWorkFD: Int32
    private let cpuCount: Int

    /// Sizes of the kernel-side buffers.
    public struct Limits: Sendable {
        /// The ring buffer, or perf buffers; nil: the ring where the kernel has it.
        public var buffer: EventBufferKind?
        /// Task storage, or hashes by tid; nil: task storage where the kernel has it.
        public var taskState: TaskStateKind?
        /// How a datagram is seen landing in its reader's socket; nil: the best the kernel has.
        public var dataReadyProbe: DataReadyProbe?
        /// Ring buffer size in pages, a power of two; perf buffers share it out among the CPUs.
        public var ringBufferPages = 8192
        /// Most tasks (threads) watched at once.
        public var watchedTasks = 65_536
        /// A record for every read and write instead of per-file totals (--io).
        public var ioEveryCall = false

        public init() {}
    }

    /// Checks the machine, resolves offsets, compiles, loads and attaches.
    public init(forkProbe requested: ForkProbe?, limits: Limits = Limits()) throws {
        try Preflight.requireRoot()
        try Self.requireBPF()
        if let missing = KernelFeatures.firstMissing() {
            throw KernelError.kernelTooOld(
                feature: missing.name, since: missing.since, release: Preflight.kernelRelease,
                minimum: KernelFeatures.minimumRelease)
        }
        try Preflight.requireTracefs()
        forkProbe = try Preflight.resolve(requested)
        try Preflight.requireKernelHeaders()
        offsets = try Self.kernelOffsets()
        buffer = try Self.resolve(limits.buffer)
        taskState = try Self.resolve(limits.taskState)
        var text = ProgramText(forkProbe: forkProbe, offsets: offsets)
        text.buffer = buffer
        text.taskState = taskState
        text.probeReadSplit = KernelFeatures.splitProbeRead.present()
        hasQuietSpells = KernelFeatures.atomicFetch.present()
        text.atomicFetch = hasQuietSpells
        text.ringBufferPages = limits.ringBufferPages
        text.wakeupEvery = ProgramText.wakeupEvery(
            bufferPages: limits.ringBufferPages, cpus: CPUs.listed("online").count)
        text.watchMax = limits.watchedTasks
        text.ioEveryCall = limits.ioEveryCall
        text.exitHasGroupDead = Self.exitHasGroupDead
        dataReadyProbe = try Self.resolve(limits.dataReadyProbe)
        text.dataReadyProbe = dataReadyProbe
        // Part 2 of the programs compiles in a helper process meanwhile (SplitCompile).
        var ownText = text
        var helperText = text
        helperText.parts = [2]
        let helper = SplitCompile.start(text: helperText.source)
        if helper != nil { ownText.parts = [1] }
        compileProcesses = helper == nil ? 1 : 2
        // The module holds clang's and LLVM's memory: keep only the fds, free the rest.
        handles = try {
            let module = try helper?.compile(ownText.source) ?? BPFModule(text: ownText.source)
            try module.loadAll()
            // Nothing is attached before every tail call, the helper's and this module's, is in place.
            try helper?.finish()
            try module.loadTailCalls(Self.tailCalls)
            for name in module.functionNames {
                if name.hasPrefix("tracepoint__") {
                    try module.attachTracepoint(name)
                } else if name.hasPrefix("raw_tracepoint__") {
                    try module.attachRawTracepoint(name)
                } else if name.hasPrefix("kretprobe__") || name.hasPrefix("kprobe__") {
                    try module.attachKprobe(name)
                } else if name.hasPrefix("uprobe__") {
                    _ = try module.load(name, type: BPF_PROG_TYPE_KPROBE)  // attached per daemon binary
                }
            }
            return try module.release(tables: [
                "watched", "lost_counts", "events", "syscall_specs", "io_totals",
                "config", "retired_tags", "channels", "command_ends", "unattributed_counts", "command_work",
                "maybe_watched",
                "tail_calls",  // (a program array is emptied when user space holds no fd of it)
            ])
        }()
        malloc_trim(0)
        watchedFD = handles.maps["watched"]!
        maybeWatchedFD = handles.maps["maybe_watched"]!
        lostFD = handles.maps["lost_counts"]!
        specsFD = handles.maps["syscall_specs"]!
        ioFD = handles.maps["io_totals"]!
        configFD = handles.maps["config"]!
        retiredFD = handles.maps["retired_tags"]!
        channelsFD = handles.maps["channels"]!
        commandEndsFD = handles.maps["command_ends"]!
        unattributedFD = handles.maps["unattributed_counts"]!
        commandWorkFD = handles.maps["command_work"]!
        switch buffer {
        case .ring:
            output = try RingBuffer(mapFD: handles.maps["events"]!)
        case .perf:
            let cpus = max(1, CPUs.listed("online").count)
            var pages = 1
            while pages * 2 <= limits.ringBufferPages / cpus { pages *= 2 }
            output = try PerfBuffer(
                mapFD: handles.maps["events"]!, pagesPerCPU: Int32(pages), wakeupEvents: Int32(text.wakeupEvery))
        }
        cpuCount = (CPUs.listed("possible").max() ?? 0) + 1  // per-CPU maps hold a value for each
    }

    /// A one-element map proves the bpf() syscall works before clang spends a second compiling.
    private static func requireBPF() throws {
        let fd = bcc_create_map(BPF_MAP_TYPE_ARRAY, "ebpf_monitor_probe", 4, 4, 1, 0)
        guard fd >= 0 else {
            throw KernelError.noBPF(
                "bpf() failed: \(String(cString: strerror(errno))) (lockdown, seccomp, or a kernel without CONFIG_BPF_SYSCALL)"
            )
        }
        close(fd)
    }

    /// The struct layouts from BTF, else from the kernel headers, which
    /// Preflight has found for this release.
    private static func kernelOffsets() throws -> KernelOffsets {
        try KernelOffsets.fromBTF() ?? KernelOffsets.fromHeaders()
    }

    /// The ring buffer unless perf buffers are asked for, or the kernel has no ring buffer.
    private static func resolve(_ requested: EventBufferKind?) throws -> EventBufferKind {
        let hasRing = KernelFeatures.ringBuffer.present()
        switch requested {
        case .ring? where !hasRing:
            throw KernelError.kernelTooOld(
                feature: KernelFeatures.ringBuffer.name, since: KernelFeatures.ringBuffer.since,
                release: Preflight.kernelRelease, minimum: KernelFeatures.ringBuffer.since)
        case let kind?: return kind
        case nil: return hasRing ? .ring : .perf
        }
    }

    /// Task storage unless hashes are asked for, or the kernel lacks it or the BTF task helpers.
    private static func resolve(_ requested: TaskStateKind?) throws -> TaskStateKind {
        let missing = KernelFeatures.firstMissing(of: KernelFeatures.taskStorage)
        switch requested {
        case .storage?:
            if let missing {
                throw KernelError.kernelTooOld(
                    feature: missing.name, since: missing.since, release: Preflight.kernelRelease,
                    minimum: KernelFeatures.taskStorageRelease)
            }
            return .storage
        case let kind?: return kind
        case nil: return missing == nil ? .storage : .maps
        }
    }

    private static var dataReadyProbe: DataReadyProbe {
        Preflight.hasTracepoint("sock/sk_data_ready") ? .tracepoint : Preflight.hasKprobes ? .kprobe : .unavailable
    }

    /// The probe asked for, if the kernel has it; nil: the best it has.
    private static func resolve(_ requested: DataReadyProbe?) throws -> DataReadyProbe {
        switch requested {
        case .tracepoint? where !Preflight.hasTracepoint("sock/sk_data_ready"):
            throw KernelError.kernelTooOld(
                feature: "the sock:sk_data_ready tracepoint", since: "6.6", release: Preflight.kernelRelease,
                minimum: "6.6")
        case .kprobe? where !Preflight.hasKprobes: throw KernelError.kprobesUnavailable(option: "datagram-probe")
        case let probe?: return probe
        case nil: return dataReadyProbe
        }
    }

    private static var exitHasGroupDead: Bool {
        Preflight.tracepoint("sched/sched_process_exit", hasField: "group_dead")
    }

    /// Compiles the program for `forkProbe` and passes every function through
    /// the verifier without attaching: proves a probe type we cannot attach
    /// here, and (`exitHasGroupDead` false, `dataReadyProbe`, `buffer`,
    /// `taskState`, `probeReadSplit`, `atomicFetch`) the fallbacks of older kernels.
    /// `parts` are the parts of the programs compiled (SplitCompile).
    public static func verify(
        forkProbe: ForkProbe, exitHasGroupDead: Bool? = nil, dataReadyProbe: DataReadyProbe? = nil,
        buffer: EventBufferKind = .ring, taskState: TaskStateKind = .storage, probeReadSplit: Bool = true,
        atomicFetch: Bool = true, parts: Set<Int> = [1, 2]
    ) throws -> [String] {
        try Preflight.requireRoot()
        try Preflight.requireTracefs()
        try Preflight.requireKernelHeaders()
        var text = ProgramText(forkProbe: forkProbe, offsets: try kernelOffsets())
        text.exitHasGroupDead = exitHasGroupDead ?? Self.exitHasGroupDead
        text.dataReadyProbe = dataReadyProbe ?? Self.dataReadyProbe
        text.buffer = buffer
        text.taskState = taskState
        text.probeReadSplit = probeReadSplit
        text.atomicFetch = atomicFetch
        text.parts = parts
        let module = try BPFModule(text: text.source)
        try module.loadAll()
        return module.functionNames
    }

    /// Adds a task to the watched set, working for the command tagged `tag`
    /// (see "Attribution" in bpf/events.h). False when the map is full.
    /// `replacing` false leaves a task the fork probe watched already as it
    /// is, with the tag the probe gave it.
    @discardableResult
    public func watch(tid: Int32, tag: Int32, replacing: Bool = true) -> Bool {
        var key = UInt32(bitPattern: tid)
        // The first generation, as FileTable counts it: totals are looked up by it.
        var value = task_watch(
            generation: UInt32(IO_GENERATION_FIRST), tag: UInt32(bitPattern: tag), attribution: 0, _pad: 0)
        var retired = UInt32(bitPattern: tag)
        _ = bpf_delete_elem(retiredFD, &retired)  // a reused pid: a new command
        var slot = key & (UInt32(MAYBE_SLOTS) - 1), mark: UInt32 = 1  // before the entry: see maybe_watched
        guard bpf_update_elem(maybeWatchedFD, &slot, &mark, 0) == 0 else { return false }
        if bpf_update_elem(watchedFD, &key, &value, replacing ? UInt64(BPF_ANY) : UInt64(BPF_NOEXIST)) == 0 {
            return true
        }
        return !replacing && errno == EEXIST
    }

    /// --pid: each child of `root` starts a command, with a tag of its own (command_tag in bpf/lib/tasks.h).
    public func setShellRoot(_ root: Int32) throws {
        var key = CONFIG_SHELL_ROOT.rawValue
        var value = UInt32(bitPattern: root)
        try check("bpf_update_elem(config)", bpf_update_elem(configFD, &key, &value, 0))
    }

    /// Retires an ended command's tag, so daemon threads that still hold it
    /// drop it (each checks at its next use), and removes it from channels.
    public func forget(tag: Int32) {
        var value = UInt32(bitPattern: tag)
        var one: UInt32 = 1
        _ = bpf_update_elem(retiredFD, &value, &one, 0)
        let channels = deleteEntries(channelsFD, key: channel_key.self, value: channel.self) { channel in
            withUnsafeBytes(of: channel.segments) { Array($0.bindMemory(to: channel_segment.self)) }
                .contains { $0.tag == value || $0.also_tag == value }
        }
        let ends = deleteEntries(commandEndsFD, key: channel_key.self, value: command_end.self) { $0.tag == value }
        // What held work leaves the kernel's count of it (bpf/daemons/quiet.h).
        let held = channels.filter { $0.holds_work != 0 }.count + ends.filter { $0.awaiting != 0 }.count
        if held > 0 {
            forgottenWork &+= UInt32(held)
            var key = CONFIG_FORGOTTEN_WORK.rawValue
            _ = bpf_update_elem(configFD, &key, &forgottenWork, 0)
        }
    }

    /// Channels and command sockets deleted while they held work, as CONFIG_FORGOTTEN_WORK holds it.
    private var forgottenWork: UInt32 = 0

    /// Deletes the entries that match; returns them.
    @discardableResult
    private func deleteEntries<Key, Value>(
        _ fd: Int32, key: Key.Type, value: Value.Type, where matches: (Value) -> Bool
    ) -> [Value] {
        var stale: [UnsafeMutableRawPointer] = []
        var deleted: [Value] = []
        let keySize = MemoryLayout<Key>.size
        var current = UnsafeMutableRawPointer.allocate(byteCount: keySize, alignment: 8)
        var next = UnsafeMutableRawPointer.allocate(byteCount: keySize, alignment: 8)
        let entry = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<Value>.size, alignment: 8)
        defer {
            current.deallocate()
            next.deallocate()
            entry.deallocate()
            for key in stale { key.deallocate() }
        }
        var first = true
        while bpf_get_next_key(fd, first ? nil : current, next) == 0 {
            first = false
            if bpf_lookup_elem(fd, next, entry) == 0, matches(entry.load(as: Value.self)) {
                let copy = UnsafeMutableRawPointer.allocate(byteCount: keySize, alignment: 8)
                copy.copyMemory(from: next, byteCount: keySize)
                stale.append(copy)
                deleted.append(entry.load(as: Value.self))
            }
            swap(&current, &next)
        }
        for key in stale { _ = bpf_delete_elem(fd, key) }
        return deleted
    }

    /// Follows goroutines in `pid`'s executable when it is a Go program:
    /// uprobes on runtime.casgstatus, runtime.recv and runtime.readyWithTime,
    /// and where grpc-go is linked in, uprobes on its stream hand-offs (see
    /// bpf/daemons/go.h and grpc.h).
    /// Each binary is probed once; the probes act only in processes that are
    /// daemons. False when the program is not Go or has no symbols.
    @discardableResult
    public func followGoroutines(pid: Int32) -> Bool {
        let path = "/proc/\(pid)/exe"
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        let file = FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        if let known = goBinaries[file] { return known }
        let transport = "google.golang.org/grpc/internal/transport."
        let probes = [
            ("runtime.casgstatus", "uprobe__go_casgstatus"), ("runtime.recv", "uprobe__go_recv"),
            ("runtime.readyWithTime", "uprobe__go_ready_with_time"),
            (transport + "(*controlBuffer).executeAndPut", "uprobe__grpc_execute_and_put"),
            (transport + "(*loopyWriter).headerHandler", "uprobe__grpc_header_handler"),
            (transport + "(*http2Server).operateHeaders", "uprobe__grpc_operate_headers"),
        ]
        let offsets = ELFSymbols.offsets(of: probes.map(\.0), in: path)
        let attached = attachUprobe(path, offsets[probes[0].0], program: probes[0].1)
        if attached {
            for (symbol, program) in probes.dropFirst() { attachUprobe(path, offsets[symbol], program: program) }
        }
        goBinaries[file] = attached
        return attached
    }

    /// A uprobe at `offset` in the executable at `path` (a function's entry,
    /// from ELFSymbols); false when there is no such function.
    @discardableResult
    private func attachUprobe(_ path: String, _ offset: UInt64?, program: String) -> Bool {
        guard let offset, let fd = handles.programs[program] else { return false }
        uprobeCount += 1
        let link = bpf_attach_uprobe(
            fd, BPF_PROBE_ENTRY, "p_ebpf_monitor_\(getpid())_\(uprobeCount)", path, offset, -1, 0)
        guard link >= 0 else { return false }
        handles.adopt(link)
        return true
    }

    private struct FileID: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    private var goBinaries: [FileID: Bool] = [:]
    private var uprobeCount = 0

    /// How many quiet spells ended: spells in which followed daemons' threads
    /// that held nothing for a command went unfollowed (bpf/daemons/quiet.h).
    public func quietSpells() -> Int64 {
        var key: UInt32 = 0
        var work = command_work()
        guard bpf_lookup_elem(commandWorkFD, &key, &work) == 0 else { return 0 }
        return work.epoch
    }

    /// Calls by daemon threads working for no watched command, summed over CPUs.
    public func unattributedCount() -> UInt64 {
        var key: UInt32 = 0
        var perCPU = [UInt64](repeating: 0, count: cpuCount)
        _ = bpf_lookup_elem(unattributedFD, &key, &perCPU)
        return perCPU.reduce(0, +)
    }

    public func unwatch(tid: Int32) {
        var key = UInt32(bitPattern: tid)
        _ = bpf_delete_elem(watchedFD, &key)
    }

    /// Tells the kernel what to do with each syscall number; the rest are ignored.
    public func setSyscallSpecs(_ specs: [Int: syscall_spec]) throws {
        for (nr, spec) in specs where nr >= 0 && nr < Int(SYSCALL_NR_MAX) {
            var key = UInt32(nr)
            var value = spec
            try check("bpf_update_elem(syscall_specs)", bpf_update_elem(specsFD, &key, &value, 0))
        }
    }

    /// Takes the read and write totals held for `pid`'s `fds` in the given io
    /// generations, summed per fd. Direct lookups: walking the hash map would
    /// cost a pass over every bucket. See `struct io_key`.
    public func takeIOTotals(pid: Int32, fds: [Int32], generations: ClosedRange<UInt32>) -> [Int32: io_totals] {
        var result: [Int32: io_totals] = [:]
        for fd in fds {
            for generation in generations {
                var key = io_key(
                    pid: UInt32(bitPattern: pid), fd: UInt32(bitPattern: fd), generation: generation, _pad: 0)
                var totals = io_totals()
                guard bpf_lookup_elem(ioFD, &key, &totals) == 0 else { continue }
                _ = bpf_delete_elem(ioFD, &key)
                var sum = result[fd] ?? io_totals()
                sum.bytes_read += totals.bytes_read
                sum.bytes_written += totals.bytes_written
                sum.reads += totals.reads
                sum.writes += totals.writes
                if totals.metadata & FD_METADATA_MODE.rawValue != 0 { sum.mode = totals.mode }
                sum.metadata |= totals.metadata
                result[fd] = sum
            }
        }
        return result
    }

    /// Deletes the totals of processes no longer traced: I/O on descriptors
    /// the trace does not name (eventfd, epoll, timerfd ...). Returns how many.
    public func dropIOTotals(keeping live: (Int32) -> Bool) -> Int {
        var stale: [io_key] = []
        var key = io_key()
        var next = io_key()
        var first = true
        while (first ? bpf_get_next_key(ioFD, nil, &next) : bpf_get_next_key(ioFD, &key, &next)) == 0 {
            first = false
            if !live(Int32(bitPattern: next.pid)) { stale.append(next) }
            key = next
        }
        for var entry in stale { _ = bpf_delete_elem(ioFD, &entry) }
        return stale.count
    }

    /// Waits up to `timeoutMs`, then hands every pending record to `handler`.
    public func poll(timeoutMs: Int32, _ handler: @escaping (UnsafeRawBufferPointer) -> Void) -> Int {
        output.poll(timeoutMs: timeoutMs, handler)
    }

    /// Every record stamped before this kernel time has been handed over by
    /// the last poll (per-CPU perf buffers); nil with the ring buffer.
    public var deliveredBefore: UInt64? { output.deliveredBefore }

    /// Records dropped in the kernel so far, summed over CPUs, by where they
    /// were lost: the event kind whose record found the ring buffer full, or
    /// `watch_map_full` for children that could not be followed.
    ///
    /// The reader's loop asks after every batch, so the whole map comes in one
    /// batch lookup (Linux 5.6) where the kernel has it, not a call per index.
    public func lostCounts() -> [String: UInt64] {
        let slots = Int(LOST_REASON_MAX.rawValue)
        var perCPU = [UInt64](repeating: 0, count: slots * cpuCount)
        if !lookUpLostCounts(slots: slots, into: &perCPU) {
            for index in 0..<slots {
                var key = UInt32(index)
                var one = [UInt64](repeating: 0, count: cpuCount)
                _ = bpf_lookup_elem(lostFD, &key, &one)
                perCPU.replaceSubrange(index * cpuCount..<(index + 1) * cpuCount, with: one)
            }
        }
        var counts: [String: UInt64] = [:]
        for (index, place) in Self.lostPlaces {
            let start = Int(index) * cpuCount
            counts[place] = perCPU[start..<start + cpuCount].reduce(0, +)
        }
        return counts
    }

    private func lookUpLostCounts(slots: Int, into perCPU: inout [UInt64]) -> Bool {
        guard lostBatches else { return false }
        var keys = [UInt32](repeating: 0, count: slots)
        var next: UInt32 = 0
        var count = UInt32(slots)
        let result = bpf_lookup_batch(lostFD, nil, &next, &keys, &perCPU, &count)
        // ENOENT: the walk reached the map's end, which one call covering every slot always does.
        if (result == 0 || errno == ENOENT) && count == slots && keys == Array(0..<UInt32(slots)) { return true }
        lostBatches = false
        return false
    }

    /// The programs the syscall hooks tail-call, by their index in `tail_calls`.
    static let tailCalls = [
        "tail__read_wakeup": TAIL_READ_WAKEUP.rawValue, "tail__settle_answer": TAIL_SETTLE_ANSWER.rawValue,
        "tail__hold_completions": TAIL_HOLD_COMPLETIONS.rawValue,
        "tail__queue_handoffs": TAIL_QUEUE_HANDOFFS.rawValue,
        "tail__answer_completion": TAIL_ANSWER_COMPLETION.rawValue,
        "tail__replay": TAIL_REPLAY.rawValue,
        "tail__daemon_write": TAIL_DAEMON_WRITE.rawValue, "tail__daemon_reply": TAIL_DAEMON_REPLY.rawValue,
        "tail__daemon_syscall": TAIL_DAEMON_SYSCALL.rawValue, "tail__daemon_read": TAIL_DAEMON_READ.rawValue,
        "tail__daemon_call": TAIL_DAEMON_CALL.rawValue, "tail__grpc_write": TAIL_GRPC_WRITE.rawValue,
        "tail__daemon_tag": TAIL_DAEMON_TAG.rawValue, "tail__daemon_wakeup": TAIL_DAEMON_WAKEUP.rawValue,
        "tail__write_channel": TAIL_WRITE_CHANNEL.rawValue, "tail__daemon_taken": TAIL_DAEMON_TAKEN.rawValue,
    ]

    private static let lostPlaces: [(UInt32, String)] = [
        (EVENT_FORK.rawValue, "fork"), (EVENT_EXEC.rawValue, "exec"), (EVENT_EXIT.rawValue, "exit"),
        (EVENT_SYSCALL.rawValue, "syscall"), (LOST_WATCH_MAP_FULL.rawValue, "watch_map_full"),
        (LOST_PENDING_FULL.rawValue, "pending_map_full"), (LOST_IO_MAP_FULL.rawValue, "io_map_full"),
        (LOST_THREAD_STATE.rawValue, "daemon_thread_state"), (EVENT_PEER.rawValue, "peer"),
        (LOST_COMPLETIONS_FULL.rawValue, "completions"),
    ]
}
