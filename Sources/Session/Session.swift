import Foundation
import Kernel
import Monitor
import Synchronization

/// Wires the kernel to the model to the sink and runs the poll loop:
/// poll -> decode -> reorder -> track -> print, once per batch.
public final class Session {
    public enum Target: Equatable, Sendable {
        case pid(Int32)
        /// The command's arguments as bytes: they reach execve unchanged.
        case command([[UInt8]])

        /// The command after `--` with its exact bytes. Swift's arguments are
        /// Strings, which replace invalid UTF-8; /proc/self/cmdline has the bytes.
        public static func command(exactly arguments: [String]) -> Target {
            let own = ProcScan.read(getpid())?.argv ?? []
            if let terminator = own.firstIndex(of: Array("--".utf8)) {
                let raw = Array(own[(terminator + 1)...])
                let same =
                    raw.count == arguments.count
                    && zip(raw, arguments).allSatisfy { String(decoding: $0, as: UTF8.self) == $1 }
                if same { return .command(raw) }
            }
            return .command(arguments.map { Array($0.utf8) })
        }
    }

    public struct Options: Sendable {
        public var target: Target
        public var forkProbe: ForkProbe?
        /// How long a poll waits when no wakeup comes: the live-output latency.
        public var pollMilliseconds: Int32 = 20
        public var limits = Tracer.Limits()
        /// Seconds since boot (CLOCK_MONOTONIC) when the process started, for the time to ready.
        public var startedAt: Double

        public init(target: Target, forkProbe: ForkProbe?, startedAt: Double) {
            self.target = target
            self.forkProbe = forkProbe
            self.startedAt = startedAt
        }
    }

    private let options: Options
    private let sink: Sink
    private let diagnostics: ByteStream
    private let decoder = Decoder()
    private var reorderer = Reorderer()
    private var lostSeen: [String: UInt64] = [:]
    private var decodeFailures: UInt64 = 0
    private var missingOnLastSweep = Set<Int32>()
    private var lastSweep: UInt64 = 0
    private var lastIOSweep: UInt64 = 0
    private var unknownIOAtLastSweep = Set<Int32>()
    private var unattributedIO = 0

    /// `sink` gets the trace; `diagnostics` (stderr) gets the status lines.
    public init(options: Options, sink: Sink, diagnostics: ByteStream) {
        self.options = options
        self.sink = sink
        self.diagnostics = diagnostics
    }

    /// Traces until everything watched has exited or a signal arrives.
    /// Returns the exit status: the command's with `-- CMD`, else 0.
    public func run() throws -> Int32 {
        if case .pid(let pid) = options.target, !ProcScan.exists(pid) { throw SessionError.noSuchProcess(pid) }
        if case .command(let arguments) = options.target { _ = try Launcher.resolve(arguments[0]) }

        let tracer = try Tracer(forkProbe: options.forkProbe, limits: options.limits)
        let clock = WallClock(offset: Int64(Self.now(CLOCK_REALTIME)) - Int64(Self.now(CLOCK_MONOTONIC)))
        lostSeen = tracer.lostCounts()
        try tracer.setSyscallSpecs(SyscallTable.specs)
        StopSignal.install()

        var launcher: Launcher?
        var tracker: Tracker
        let queries = SessionQueries(tracer: tracer)
        switch options.target {
        case .pid(let root):
            tracker = Tracker(mode: .shell(root: root), clock: clock, system: queries)
            try tracer.setShellRoot(root)
            try watchTree(root, tracer: tracer, tracker: &tracker, queries: queries)
        case .command(let arguments):
            let child = try Launcher(arguments: arguments)
            tracer.watch(tid: child.pid, tag: child.pid)
            tracker = Tracker(mode: .command(root: child.pid), clock: clock, system: queries)
            tracker.seed(
                pid: child.pid, ppid: getpid(), comm: Array("ebpf-monitor".utf8),
                argv: arguments, threads: [], ktime: Self.now(CLOCK_MONOTONIC), files: queries.files(of: child.pid))
            launcher = child
        }

        let watchedPids = Set(tracker.livePids + [getpid()])
        let goPrograms = GoPrograms.running(excluding: watchedPids).filter { tracer.followGoroutines(pid: $0) }.count
        let ready = Self.seconds(Self.now(CLOCK_MONOTONIC)) - options.startedAt
        status(
            "ready", clock: clock,
            [
                "fork_probe": tracer.forkProbe.rawValue,
                "datagram_probe": tracer.dataReadyProbe.rawValue,
                "buffer": tracer.buffer.rawValue,
                "task_state": tracer.taskState.rawValue,
                "quiet_spells": tracer.hasQuietSpells ? "on" : "off",
                "compile_processes": String(tracer.compileProcesses),
                "offsets": tracer.offsets.source.rawValue,
                "ready_seconds": String(format: "%.3f", ready),
                "go_programs": String(goPrograms),
                "watching": String(tracker.liveProcesses),
            ])
        let cpuAtReady = Self.cpuSeconds()
        launcher?.release()

        var interrupted = false
        while true {
            // Reaped before this poll began: the command's last records (its exit's among them) were in the
            // buffer before waitpid could reap it, so a poll from then on that brings nothing has had them all.
            let reapedBeforePoll = launcher?.termination != nil
            let records = poll(tracer, timeout: options.pollMilliseconds)
            process(&tracker, tracer: tracer, flushAll: records == 0)
            if let signal = StopSignal.take() {
                if let launcher, launcher.poll() == nil, !interrupted {
                    // The command decides when it ends; a second signal stops the trace at once.
                    if signal != SIGINT { launcher.signal(signal) }
                    interrupted = true
                } else {
                    break
                }
            }
            launcher?.poll()
            if records == 0, reapedBeforePoll, let launcher, let termination = launcher.termination {
                // Still in the tree, it lost its exit event: every event from before the reap is processed.
                for record in tracker.vanished(launcher.pid, ktime: Self.now(CLOCK_MONOTONIC), termination: termination)
                {
                    sink.emit(record)
                }
            }
            if records == 0, tracker.lostTotal > 0 || launcher?.status != nil {
                sweep(&tracker)
            }
            dropStaleIOTotals(tracer, tracker)
            if tracker.idle, launcher?.status != nil || launcher == nil { break }
            if sink.failed { break }
        }

        // Drain what the kernel still holds, then close every open command. Busy
        // daemons may never leave the buffer empty: what they add later is not waited for.
        var drains = 0
        while drains < 16, poll(tracer, timeout: 0) > 0 { drains += 1 }
        process(&tracker, tracer: tracer, flushAll: true)
        let end = Self.now(CLOCK_MONOTONIC)
        for record in tracker.finish(ktime: end) { sink.emit(record) }
        status(
            "end", clock: clock,
            [
                "events": String(tracker.eventCount),
                "lost": String(tracker.lostTotal),
                "adopted": String(tracker.adopted),
                "io_unattributed": String(unattributedIO),
                "daemon_unattributed": String(tracer.unattributedCount()),
                "daemon_late": String(tracker.lateDaemonWork),
                "quiet_spells": String(tracer.quietSpells()),
                "trace_cpu_seconds": String(format: "%.3f", Self.cpuSeconds() - cpuAtReady),
                "rss_kib": ProcScan.memory("VmRSS"),
                "peak_rss_kib": ProcScan.memory("VmHWM"),
            ])
        sink.flush()
        return launcher?.poll() ?? 0
    }

    private func watchTree(_ root: Int32, tracer: Tracer, tracker: inout Tracker, queries: SessionQueries) throws {
        // The monitor never watches itself, even when started from the shell it watches.
        let tree = ProcScan.tree(root).filter { $0.pid != getpid() }
        guard !tree.isEmpty else { throw SessionError.noSuchProcess(root) }
        let now = Self.now(CLOCK_MONOTONIC)
        for process in tree {
            tracker.seed(
                pid: process.pid, ppid: process.ppid, comm: process.comm, argv: process.argv,
                threads: process.threads, ktime: now, files: queries.files(of: process.pid))
            for tid in process.threads { tracer.watch(tid: tid, tag: tracker.tag(of: process.pid)) }
        }
        // A child forked while the scan ran was missed by both the scan and the
        // probe. Rescan and watch it; its events reach the tracker, which adopts it.
        var known = Set(tree.map(\.pid))
        for _ in 0..<3 {
            let late = ProcScan.tree(root).filter { !known.contains($0.pid) && $0.pid != getpid() }
            if late.isEmpty { break }
            for process in late {
                let tag = process.ppid == root ? process.pid : tracker.tag(of: process.ppid)
                // Forked after the root was watched: the fork probe may have watched it, with the tag it made.
                for tid in process.threads { tracer.watch(tid: tid, tag: tag, replacing: false) }
                known.insert(process.pid)
            }
        }
    }

    /// One poll: decodes every pending record into the reorder window.
    private func poll(_ tracer: Tracer, timeout: Int32) -> Int {
        tracer.poll(timeoutMs: timeout) { [self] bytes in
            do {
                let event = try decoder.decode(bytes)
                reorderer.add(event)
            } catch {
                decodeFailures += 1
            }
        }
    }

    private func process(_ tracker: inout Tracker, tracer: Tracer, flushAll: Bool) {
        let counts = tracer.lostCounts()
        var delta: [String: UInt64] = [:]
        for (place, count) in counts where count > lostSeen[place, default: 0] {
            delta[place] = count - lostSeen[place, default: 0]
        }
        lostSeen = counts
        if decodeFailures > 0 {
            delta["decode", default: 0] += decodeFailures
            decodeFailures = 0
        }
        for record in tracker.lost(delta, ktime: Self.now(CLOCK_MONOTONIC)) { sink.emit(record) }
        tracker.unattributed = tracer.unattributedCount()
        let handle = { (event: Event) in
            for record in tracker.handle(event) { self.sink.emit(record) }
        }
        if flushAll { reorderer.flush(handle) } else { reorderer.release(delivered: tracer.deliveredBefore, handle) }
        for record in tracker.expire(ktime: Self.now(CLOCK_MONOTONIC)) { sink.emit(record) }
        let chores = tracker.takeKernelChores()
        for tag in chores.forget { tracer.forget(tag: tag) }
        for tid in chores.unwatch { tracer.unwatch(tid: tid) }
        for pid in chores.probe { tracer.followGoroutines(pid: pid) }
        sink.flush()
    }

    /// Every 2 s, deletes the kernel's read and write totals of processes that
    /// are gone: I/O on descriptors the trace does not name (eventfd, epoll ...).
    /// A process the tracker does not know may be one whose fork is still on
    /// its way: its totals go only when it was unknown at the sweep before too.
    private func dropStaleIOTotals(_ tracer: Tracer, _ tracker: Tracker) {
        let now = Self.now(CLOCK_MONOTONIC)
        guard now - lastIOSweep >= 2_000_000_000 else { return }
        lastIOSweep = now
        let live = Set(tracker.livePids)
        var unknown = Set<Int32>()
        unattributedIO += tracer.dropIOTotals { pid in
            if live.contains(pid) { return true }
            unknown.insert(pid)
            return !unknownIOAtLastSweep.contains(pid)
        }
        unknownIOAtLastSweep = unknown
    }

    /// When exit events were lost, processes can end unseen: once a second,
    /// any process missing from /proc on two checks in a row is ended as vanished.
    private func sweep(_ tracker: inout Tracker) {
        let now = Self.now(CLOCK_MONOTONIC)
        guard now - lastSweep >= 1_000_000_000 else { return }
        lastSweep = now
        let missing = Set(tracker.livePids.filter { !ProcScan.exists($0) })
        for pid in missing.intersection(missingOnLastSweep).sorted() {
            for record in tracker.vanished(pid, ktime: now) { sink.emit(record) }
        }
        missingOnLastSweep = missing
        sink.flush()
    }

    private func status(_ message: String, clock: WallClock, _ fields: [String: String]) {
        let record = StatusRecord(time: clock.wall(Self.now(CLOCK_MONOTONIC)), message: message, fields: fields)
        let text = fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        diagnostics.write("ebpf-monitor: \(message) \(text)\n")
        diagnostics.flush()
        if sink.includesStatus { sink.emit(.status(record)) }
        sink.flush()
    }

    static func now(_ clock: clockid_t) -> UInt64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    static func seconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e9 }

    /// User plus system CPU time of this process.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        return user + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

/// SIGINT, SIGTERM and SIGHUP end the trace cleanly; the handler only records which arrived.
enum StopSignal {
    private static let pending = Atomic<Int32>(0)

    static func install() {
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number) { StopSignal.pending.store($0, ordering: .relaxed) }
        }
        signal(SIGPIPE, SIG_IGN)
    }

    static func take() -> Int32? {
        let value = pending.exchange(0, ordering: .relaxed)
        return value == 0 ? nil : value
    }
}
