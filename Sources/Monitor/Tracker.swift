/// The process model: which processes and threads are alive, which command
/// each belongs to, and when a command is over. It consumes events in
/// timestamp order and produces the records the sinks print.
///
/// Commands: with `--pid`, the watched root is command 0 and every process it
/// forks starts a new command, inherited by that process's whole subtree.
/// With `-- CMD`, the launched process is command 1.
public struct Tracker {
    public enum Mode: Equatable, Sendable {
        case shell(root: Int32)
        case command(root: Int32)
    }

    struct LiveProcess {
        var command: Int
        var entry: Int          // index in the command's process list
        var ppid: Int32
        var comm: [UInt8]
        var argv: [[UInt8]]
        var threads: Set<Int32>
        var files: FileTable
        /// Forked by a daemon for the command; for a daemon itself, whom it works for now.
        var daemon: DaemonScope? = nil
    }

    struct Command {
        var leader: Int32
        var start: UInt64
        var lostAtStart: UInt64
        var processes: [CommandSummary.Process] = []
        var live = 0
        var threads = 0
        var ledger = FileLedger()
        /// What daemon work of ambiguous confidence did: listed apart.
        var ambiguousLedger = FileLedger()

        mutating func swapLedgers() { swap(&ledger, &ambiguousLedger) }
        var network: [NetworkEndpoint] = []
        /// Socket inode -> index in `network`.
        var endpoints: [UInt64: Int] = [:]
        /// The socket inode of each entry of `network` (0: unknown).
        var endpointInodes: [UInt64] = []

        /// Drops the endpoints added since there were `count`.
        mutating func dropEndpoints(from count: Int) {
            for inode in endpointInodes[count...] where inode != 0 { endpoints[inode] = nil }
            network.removeSubrange(count...)
            endpointInodes.removeSubrange(count...)
        }
        var hardLinks = HardLinks()
        var daemons: [DaemonEntry] = []
        /// Live processes of the command's own, not forked by daemons.
        var ownLive = 0
        /// When the command's own processes all ended while daemon work went on.
        var ownEnded: UInt64? = nil
        var lastDaemonWork: UInt64 = 0
        var unattributedAtStart: UInt64 = 0
    }

    public let mode: Mode
    let clock: WallClock
    /// What the tracker asks the kernel and /proc: fd totals, socket peers.
    let system: SystemQueries
    var live: [Int32: LiveProcess] = [:]
    private var threadOwner: [Int32: Int32] = [:]
    var commands: [Int: Command] = [:]
    private var nextCommand: Int
    public private(set) var lostTotal: UInt64 = 0
    public private(set) var eventCount = 0
    /// Processes seen that had no fork event: their fork was lost or predates the watch.
    public private(set) var adopted = 0
    /// Daemons by pid: processes outside the tree that serve watched commands.
    var daemonProcesses: [Int32: LiveProcess] = [:]
    /// The kernel's tags (a command's first pid) -> command numbers.
    var commandByTag: [Int32: Int] = [:]
    /// Daemon calls done for no watched command, as the kernel counts them; set by the session.
    public var unattributed: UInt64 = 0
    /// Daemon work that arrived for a command already summarised.
    public internal(set) var lateDaemonWork = 0
    /// Kernel state to drop: tags of ended commands, tasks no longer followed.
    public internal(set) var endedTags: [Int32] = []
    public internal(set) var releasedTids: [Int32] = []
    var newDaemons: [Int32] = []

    public init(mode: Mode, clock: WallClock, system: SystemQueries = NoSystemQueries()) {
        self.mode = mode
        self.clock = clock
        self.system = system
        switch mode {
        case .shell: nextCommand = 1
        case .command: nextCommand = 2
        }
    }

    public var root: Int32 {
        switch mode {
        case .shell(let root), .command(let root): return root
        }
    }

    /// Processes still alive.
    public var liveProcesses: Int { live.count }

    /// Commands started and not yet summarised.
    public var openCommands: [Int] { commands.keys.sorted() }

    /// Registers a process that existed before the probes were attached.
    /// Direct children of the `--pid` root each start a command, in pid order.
    public mutating func seed(pid: Int32, ppid: Int32, comm: [UInt8], argv: [[UInt8]], threads: [Int32], ktime: UInt64,
                              files: FileTable = FileTable()) {
        let command: Int
        if pid == root {
            command = rootCommand
        } else if ppid == root, case .shell = mode {
            command = startCommand(leader: pid, ktime: ktime)
        } else {
            command = live[ppid]?.command ?? rootCommand
        }
        addProcess(pid: pid, ppid: ppid, comm: comm, argv: argv, command: command, ktime: ktime, files: files)
        for tid in threads where tid != pid {
            addThread(tid, to: pid)
        }
    }

    public mutating func handle(_ event: Event) -> [Record] {
        eventCount += 1
        if case .peer(let peer) = event.body { return handlePeer(event, peer) }
        if event.attribution.daemon, live[event.pid] == nil { return handleDaemonWork(event) }
        switch event.body {
        case .fork(let fork): return handleFork(event, fork)
        case .exec(let exec): return handleExec(event, exec)
        case .exit(let exit): return handleExit(event, exit)
        case .syscall(let call): return handleSyscall(event, call)
        case .peer: return []  // handled above
        }
    }

    /// Records events the kernel could not deliver. Every loss is shown.
    public mutating func lost(_ counts: [String: UInt64], ktime: UInt64) -> [Record] {
        let total = counts.values.reduce(0, +)
        guard total > 0 else { return [] }
        lostTotal += total
        return [.lost(LostRecord(time: clock.wall(ktime), counts: counts, total: total))]
    }

    /// Summaries for every command still open: used at the end of the trace.
    /// Reads and writes through fds still open are reported first.
    public mutating func finish(ktime: UInt64) -> [Record] {
        var records: [Record] = []
        for pid in livePids {
            guard let state = live[pid] else { continue }
            records += flushIO(pid: pid, tid: pid, state: state, ktime: ktime)
        }
        return records + commands.keys.sorted().compactMap { endCommand($0, ktime: ktime) }
    }

    // MARK: - Events

    private mutating func handleFork(_ event: Event, _ fork: Event.Fork) -> [Record] {
        let parent = process(for: event)
        var record = baseRecord(event, parent: parent)
        record.child = fork.isThread ? fork.childTid : fork.childPid
        record.unfollowed = fork.unfollowed
        if fork.isThread {
            record.action = .thread
            addThread(fork.childTid, to: event.pid)
            if let command = live[event.pid]?.command { commands[command]?.threads += 1 }
            return [.process(record)]
        }
        record.action = .fork
        var records: [Record] = []
        if live[fork.childPid] != nil {
            // The pid was handed out again, so the old process ended and its exit was lost.
            records = vanished(fork.childPid, ktime: event.ktime)
        }
        var command = parent.command
        if case .shell = mode, event.pid == root, !fork.unfollowed {
            command = startCommand(leader: fork.childPid, ktime: event.ktime)
        }
        if !fork.unfollowed {
            // A child of a process a daemon forked for the command is daemon work too.
            let daemon = parent.daemon.map { scope in DaemonScope(pid: scope.pid, comm: scope.comm,
                                                                 via: scope.via + [fork.childPid], ambiguous: scope.ambiguous) }
            addProcess(pid: fork.childPid, ppid: fork.parentPid, comm: event.comm, argv: parent.argv,
                       command: command, ktime: event.ktime, files: parent.files, daemon: daemon)
        }
        record.command = command
        return records + [.process(record)]
    }

    private mutating func handleExec(_ event: Event, _ exec: Event.Exec) -> [Record] {
        if exec.oldTid != event.tid {
            threadOwner[exec.oldTid] = nil
            live[event.pid]?.threads.remove(exec.oldTid)
        }
        var records: [Record] = []
        let state = process(for: event)
        if let closed = live[event.pid]?.files.exec() {
            records += endGeneration(event, state: state, closed: closed, kernelHoldsIO: exec.ioEntries != 0)
        }
        live[event.pid]?.comm = event.comm
        live[event.pid]?.argv = exec.argv
        var record = baseRecord(event, parent: live[event.pid]!)
        record.action = .exec
        if Paths.isAbsolute(exec.filename) || state.files.cwd == nil {
            record.path = Paths.isAbsolute(exec.filename) ? (state.files.root ?? []) + exec.filename : exec.filename
        } else {
            record.path = Paths.resolve(exec.filename, against: state.files.cwd!)
        }
        record.argv = exec.argv
        record.truncated = exec.filenameTruncated || exec.argvTruncated
        if let state = live[event.pid] {
            commands[state.command]?.processes[state.entry].argv = exec.argv
            commands[state.command]?.processes[state.entry].comm = event.comm
        }
        return records + [.process(record)]
    }

    private mutating func handleExit(_ event: Event, _ exit: Event.Exit) -> [Record] {
        var state = process(for: event)
        if exit.parentPid != 0 { state.ppid = exit.parentPid }  // reparented to a subreaper or init
        var record = baseRecord(event, parent: state)
        threadOwner[event.tid] = nil
        live[event.pid]?.threads.remove(event.tid)
        guard exit.groupDead else {
            record.action = .threadExit
            return [.process(record)]
        }
        record.action = .exit
        record.termination = exit.status
        let io = flushIO(pid: event.pid, tid: event.tid, state: state, ktime: event.ktime, kernelHoldsIO: exit.ioEntries != 0)
        return io + [.process(record)] + end(event.pid, state: state, termination: exit.status, ktime: event.ktime)
    }

    /// Ends a process that is gone without an exit event (the event was lost):
    /// the session finds these by checking /proc when the kernel reported losses.
    /// `termination` is known only for the monitor's own child, from waitpid.
    public mutating func vanished(_ pid: Int32, ktime: UInt64, termination: Termination? = nil) -> [Record] {
        guard let state = live[pid] else { return [] }
        var record = ProcessRecord(time: clock.wall(ktime), command: state.command, pid: pid, tid: pid,
                                   ppid: state.ppid, comm: state.comm, action: .exit)
        record.termination = termination
        record.statusUnknown = termination == nil
        return [.process(record)] + end(pid, state: state, termination: termination, ktime: ktime)
    }

    /// The kernel's tag for the process's work: its command's first process.
    public func tag(of pid: Int32) -> Int32 {
        guard let command = live[pid]?.command, let leader = commands[command]?.leader else { return root }
        return leader
    }

    /// Pids of the processes still alive in the model.
    public var livePids: [Int32] { live.keys.sorted() }

    // MARK: - Model

    private var rootCommand: Int {
        switch mode {
        case .shell: return 0
        case .command: return 1
        }
    }

    private mutating func startCommand(leader: Int32, ktime: UInt64) -> Int {
        let number = nextCommand
        nextCommand += 1
        commands[number] = Command(leader: leader, start: ktime, lostAtStart: lostTotal, unattributedAtStart: unattributed)
        commandByTag[leader] = number
        return number
    }

    mutating func addProcess(pid: Int32, ppid: Int32, comm: [UInt8], argv: [[UInt8]], command: Int, ktime: UInt64,
                             files: FileTable = FileTable(), daemon: DaemonScope? = nil) {
        if commands[command] == nil {
            commands[command] = Command(leader: pid, start: ktime, lostAtStart: lostTotal, unattributedAtStart: unattributed)
            commandByTag[pid] = command
        }
        let entry = commands[command]!.processes.count
        var process = CommandSummary.Process(pid: pid, ppid: ppid, comm: comm, argv: argv, termination: nil)
        process.daemon = daemon
        commands[command]!.processes.append(process)
        commands[command]!.live += 1
        if daemon == nil { commands[command]!.ownLive += 1 }
        live[pid] = LiveProcess(command: command, entry: entry, ppid: ppid, comm: comm, argv: argv, threads: [pid],
                                files: files, daemon: daemon)
        threadOwner[pid] = pid
    }

    private mutating func addThread(_ tid: Int32, to pid: Int32) {
        threadOwner[tid] = pid
        live[pid]?.threads.insert(tid)
    }

    /// The live process an event belongs to. One never seen before (its fork
    /// was lost, or it was missed at attach) is adopted into the root's command.
    mutating func process(for event: Event) -> LiveProcess {
        if let state = live[event.pid] { return state }
        adopted += 1
        var ppid: Int32 = 0
        if case .exit(let exit) = event.body { ppid = exit.parentPid }
        let command = live[ppid]?.command ?? rootCommand
        addProcess(pid: event.pid, ppid: ppid, comm: event.comm, argv: [], command: command, ktime: event.ktime)
        if event.tid != event.pid { addThread(event.tid, to: event.pid) }
        return live[event.pid]!
    }

    /// Removes an ended process and closes its command when it was the last one.
    private mutating func end(_ pid: Int32, state: LiveProcess, termination: Termination?, ktime: UInt64) -> [Record] {
        for tid in state.threads { threadOwner[tid] = nil }
        live[pid] = nil
        // Mutated in place: copying a command out would copy its whole process list on every exit.
        guard commands[state.command] != nil else { return [] }
        commands[state.command]!.processes[state.entry].termination = termination
        commands[state.command]!.processes[state.entry].ended = true
        commands[state.command]!.processes[state.entry].ppid = state.ppid
        commands[state.command]!.live -= 1
        if state.daemon == nil { commands[state.command]!.ownLive -= 1 }
        return settle(state.command, ktime: ktime)
    }

    mutating func endCommand(_ number: Int, ktime: UInt64) -> Record? {
        guard let command = commands.removeValue(forKey: number) else { return nil }
        if commandByTag[command.leader] == number { commandByTag[command.leader] = nil }
        if !command.daemons.isEmpty { endedTags.append(command.leader) }
        let leader = command.processes.first { $0.pid == command.leader } ?? command.processes.first
        var summary = CommandSummary(
            command: number, pid: command.leader, argv: leader?.argv ?? [],
            termination: leader?.termination, start: clock.wall(command.start), end: clock.wall(ktime),
            processes: command.processes, threads: command.threads,
            lostEvents: lostTotal - command.lostAtStart)
        summary.files = command.ledger.summary()
        let ambiguous = command.ambiguousLedger.summary()
        summary.files.ambiguous = Array(Set(ambiguous.created + ambiguous.modified + ambiguous.deleted + ambiguous.temporary
            + ambiguous.metadata + ambiguous.directoriesCreated + ambiguous.directoriesDeleted
            + ambiguous.directoriesTemporary + ambiguous.renamed.map(\.to))).sorted { $0.lexicographicallyPrecedes($1) }
        summary.network = command.network
        summary.daemons = command.daemons
        summary.unattributed = unattributed - min(unattributed, command.unattributedAtStart)
        return .summary(summary)
    }

    func baseRecord(_ event: Event, parent: LiveProcess) -> ProcessRecord {
        var record = ProcessRecord(
            time: clock.wall(event.ktime), command: parent.command, pid: event.pid, tid: event.tid,
            ppid: parent.ppid, comm: event.comm, action: .exec)
        record.daemon = parent.daemon
        return record
    }
}

/// Converts kernel monotonic timestamps to wall-clock time.
public struct WallClock: Sendable {
    /// Wall clock minus monotonic clock, in nanoseconds.
    public let offset: Int64

    public init(offset: Int64) { self.offset = offset }

    public func wall(_ ktime: UInt64) -> UInt64 { UInt64(Int64(ktime) + offset) }
}
