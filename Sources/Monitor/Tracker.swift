/// The process model: which processes and threads are alive, which command
/// each belongs to, and when a command is over. It consumes events in
/// timestamp order and produces the records the sinks print.
///
/// Commands: with `--pid`, the watched root is command 0 and every process it
/// forks starts a new command, inherited by that process's whole subtree.
/// With `-- CMD`, the launched process is command 1.
///
/// The tracker composes a `ProcessTree` (live processes and their descriptor
/// tables), a `CommandRegistry` of open commands, each a `CommandState` (its
/// process list, file ledgers, endpoints and daemons), a `SyscallInterpreter`
/// and a `DaemonAttribution`. It routes each event and passes each of them the
/// state the event acts on: the interpreter gets the calling process, its
/// command and the rest of the tree; daemon attribution gets the commands and
/// the tree, and keeps the daemons' own states.
public struct Tracker {
    public enum Mode: Equatable, Sendable {
        case shell(root: Int32)
        case command(root: Int32)
    }

    public let mode: Mode
    let clock: WallClock
    /// Interprets syscalls; asks the kernel and /proc for fd totals and socket peers.
    let interpreter: SyscallInterpreter
    var processes = ProcessTree()
    var commands: CommandRegistry
    /// Daemons serving commands, and the kernel chores their work leaves.
    var attribution: DaemonAttribution
    public private(set) var lostTotal: UInt64 = 0
    public private(set) var eventCount = 0
    /// Processes seen that had no fork event: their fork was lost or predates the watch.
    public private(set) var adopted = 0
    /// Daemon calls done for no watched command, as the kernel counts them; set by the session.
    public var unattributed: UInt64 = 0
    /// Daemon work that arrived for a command already summarised.
    public var lateDaemonWork: Int { attribution.lateWork }
    /// Kernel state to drop: tags of ended commands, tasks no longer followed.
    public var endedTags: [Int32] { attribution.endedTags }
    public var releasedTids: [Int32] { attribution.releasedTids }

    /// How long a command's summary waits for daemon work after its own
    /// processes end: the last daemon call must be this old...
    public static let daemonQuiet: UInt64 = DaemonAttribution.quiet
    /// ...and processes daemons forked for it get this long to exit.
    public static let daemonGrace: UInt64 = DaemonAttribution.grace

    public init(mode: Mode, clock: WallClock, system: SystemQueries = NoSystemQueries()) {
        self.mode = mode
        self.clock = clock
        interpreter = SyscallInterpreter(clock: clock, system: system)
        attribution = DaemonAttribution(clock: clock, system: system)
        switch mode {
        case .shell: commands = CommandRegistry(firstNumber: 1)
        case .command: commands = CommandRegistry(firstNumber: 2)
        }
    }

    public var root: Int32 {
        switch mode {
        case .shell(let root), .command(let root): return root
        }
    }

    /// Processes still alive.
    public var liveProcesses: Int { processes.count }

    /// Commands started and not yet summarised.
    public var openCommands: [Int] { commands.numbers }

    /// Registers a process that existed before the probes were attached.
    /// Direct children of the `--pid` root each start a command, in pid order.
    public mutating func seed(
        pid: Int32, ppid: Int32, comm: [UInt8], argv: [[UInt8]], threads: [Int32], ktime: UInt64,
        files: FileTable = FileTable()
    ) {
        let command: Int
        if pid == root {
            command = rootCommand
        } else if ppid == root, case .shell = mode {
            command = startCommand(leader: pid, tag: pid, ktime: ktime)
        } else {
            command = processes[ppid]?.command ?? rootCommand
        }
        addProcess(pid: pid, ppid: ppid, comm: comm, argv: argv, command: command, ktime: ktime, files: files)
        for tid in threads where tid != pid {
            processes.addThread(tid, to: pid)
        }
    }

    public mutating func handle(_ event: Event) -> [Record] {
        eventCount += 1
        if case .peer(let peer) = event.body {
            return attribution.peer(event, peer, commands: &commands, tree: processes)
        }
        if event.attribution.daemon, processes[event.pid] == nil { return handleDaemonWork(event) }
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
            guard var process = processes.remove(pid) else { continue }
            let origin = RecordOrigin(
                clock: clock, ktime: ktime, pid: pid, tid: pid, comm: process.comm,
                process: process, confidence: .certain)
            records += interpreter.io.flushIO(origin, files: &process.files, command: &commands[process.command])
            processes.add(pid, process)
        }
        return records + commands.numbers.compactMap { endCommand($0, ktime: ktime) }
    }

    // MARK: - Events

    private mutating func handleFork(_ event: Event, _ fork: Event.Fork) -> [Record] {
        let parent = process(for: event)
        var record = baseRecord(event, parent: parent)
        record.child = fork.isThread ? fork.childTid : fork.childPid
        record.unfollowed = fork.unfollowed
        if fork.isThread {
            record.action = .thread
            processes.addThread(fork.childTid, to: event.pid)
            commands[parent.command]?.threads += 1
            return [.process(record)]
        }
        record.action = .fork
        var records: [Record] = []
        if processes[fork.childPid] != nil {
            // The pid was handed out again, so the old process ended and its exit was lost.
            records = vanished(fork.childPid, ktime: event.ktime)
        }
        var command = parent.command
        if case .shell = mode, event.pid == root, !fork.unfollowed {
            command = startCommand(leader: fork.childPid, tag: fork.childTag, ktime: event.ktime)
        }
        if !fork.unfollowed {
            // A child of a process a daemon forked for the command is daemon work too.
            let daemon = parent.daemon.map { scope in
                DaemonScope(
                    pid: scope.pid, comm: scope.comm,
                    via: scope.via + [fork.childPid], ambiguous: scope.ambiguous)
            }
            addProcess(
                pid: fork.childPid, ppid: fork.parentPid, comm: event.comm, argv: parent.argv,
                command: command, ktime: event.ktime, files: parent.files.forked(), daemon: daemon)
        }
        record.command = command
        return records + [.process(record)]
    }

    private mutating func handleExec(_ event: Event, _ exec: Event.Exec) -> [Record] {
        var process = takeProcess(for: event)
        if exec.oldTid != event.tid { process.threads.remove(exec.oldTid) }
        let origin = RecordOrigin(
            clock: clock, ktime: event.ktime, pid: event.pid, tid: event.tid, comm: event.comm,
            process: process, confidence: .certain)
        let closed = process.files.exec()
        let records = interpreter.io.endGeneration(
            origin, files: &process.files, command: &commands[process.command],
            closed: closed, kernelHoldsIO: exec.ioEntries != 0)
        process.comm = event.comm
        process.argv = exec.argv
        var record = baseRecord(event, parent: process)
        record.action = .exec
        if Paths.isAbsolute(exec.filename) {
            record.path = (process.files.root ?? []) + exec.filename
        } else if let cwd = process.files.cwd {
            record.path = Paths.resolve(exec.filename, against: cwd)
        } else {
            record.path = exec.filename
        }
        record.argv = exec.argv
        record.truncated = exec.filenameTruncated || exec.argvTruncated
        if let entry = process.entry {
            commands[process.command]?.processes[entry].argv = exec.argv
            commands[process.command]?.processes[entry].comm = event.comm
        }
        processes.add(event.pid, process)
        return records + [.process(record)]
    }

    private mutating func handleExit(_ event: Event, _ exit: Event.Exit) -> [Record] {
        guard exit.groupDead else {
            var record = baseRecord(event, parent: reparented(process(for: event), exit))
            record.action = .threadExit
            processes.removeThread(event.tid, of: event.pid)
            return [.process(record)]
        }
        var process = reparented(takeProcess(for: event), exit)
        var record = baseRecord(event, parent: process)
        record.action = .exit
        record.termination = exit.status
        let origin = RecordOrigin(
            clock: clock, ktime: event.ktime, pid: event.pid, tid: event.tid, comm: process.comm,
            process: process, confidence: .certain)
        let io = interpreter.io.flushIO(
            origin, files: &process.files, command: &commands[process.command],
            kernelHoldsIO: exit.ioEntries != 0)
        return io + [.process(record)] + end(process, termination: exit.status, ktime: event.ktime)
    }

    /// A syscall of a process in the tree (adopted if it was unknown).
    private mutating func handleSyscall(_ event: Event, _ call: Event.Syscall) -> [Record] {
        guard SyscallTable.byNumber[call.nr] != nil else { return [] }
        var process = takeProcess(for: event)
        let records = interpreter.interpret(
            event, call, by: &process, command: &commands[process.command],
            others: &processes)
        processes.add(event.pid, process)
        return records
    }

    /// An event of a tagged daemon thread; processes forked for commands join the tree.
    private mutating func handleDaemonWork(_ event: Event) -> [Record] {
        let (records, forks) = attribution.work(event, commands: &commands, tree: &processes, interpreter: interpreter)
        for fork in forks {
            addProcess(
                pid: fork.pid, ppid: fork.ppid, comm: fork.comm, argv: fork.argv, command: fork.command,
                ktime: event.ktime, files: fork.files, daemon: fork.scope)
        }
        return records
    }

    /// The process with its parent at exit: a subreaper or init when it was reparented.
    private func reparented(_ process: LiveProcess, _ exit: Event.Exit) -> LiveProcess {
        var process = process
        if exit.parentPid != 0 { process.ppid = exit.parentPid }
        return process
    }

    /// Ends a process that is gone without an exit event (the event was lost):
    /// the session finds these by checking /proc when the kernel reported losses.
    /// `termination` is known only for the monitor's own child, from waitpid.
    public mutating func vanished(_ pid: Int32, ktime: UInt64, termination: Termination? = nil) -> [Record] {
        guard let process = processes.remove(pid) else { return [] }
        var record = ProcessRecord(
            time: clock.wall(ktime), command: process.command, pid: pid, tid: pid,
            ppid: process.ppid, comm: process.comm, action: .exit)
        record.termination = termination
        record.statusUnknown = termination == nil
        return [.process(record)] + end(process, termination: termination, ktime: ktime)
    }

    /// Nothing left to wait for: no live process, no command waiting for daemons.
    public var idle: Bool { processes.isEmpty && !commands.waitingForDaemons }

    /// Ends commands whose daemon work is over: their daemon-forked processes
    /// exited and the daemons have been quiet, or the grace period is up. Processes
    /// daemons forked for them that still run are no longer followed.
    public mutating func expire(ktime: UInt64) -> [Record] {
        var records: [Record] = []
        for number in commands.doneWaiting(at: ktime, quiet: Self.daemonQuiet, grace: Self.daemonGrace) {
            attribution.releasedTids += processes.removeAll(ofCommand: number)
            if let summary = endCommand(number, ktime: ktime) { records.append(summary) }
        }
        return records
    }

    /// Kernel work for the session, taken once: tags of ended commands to
    /// forget, tasks to stop following, processes whose goroutines to probe.
    public mutating func takeKernelChores() -> (forget: [Int32], unwatch: [Int32], probe: [Int32]) {
        attribution.takeChores()
    }

    /// The kernel's tag for the process's work: its command's.
    public func tag(of pid: Int32) -> Int32 {
        guard let command = processes[pid]?.command, let tag = commands[command]?.tag else { return root }
        return tag
    }

    /// Pids of the processes still alive in the model.
    public var livePids: [Int32] { processes.pids }

    // MARK: - Model

    private var rootCommand: Int {
        switch mode {
        case .shell: return 0
        case .command: return 1
        }
    }

    private mutating func startCommand(leader: Int32, tag: Int32, ktime: UInt64) -> Int {
        commands.start(
            leader: leader, tag: tag, ktime: ktime, lostAtStart: lostTotal, unattributedAtStart: unattributed)
    }

    private mutating func addProcess(
        pid: Int32, ppid: Int32, comm: [UInt8], argv: [[UInt8]], command: Int, ktime: UInt64,
        files: FileTable = FileTable(), daemon: DaemonScope? = nil
    ) {
        processes.add(
            pid,
            newProcess(
                pid: pid, ppid: ppid, comm: comm, argv: argv, command: command, ktime: ktime,
                files: files, daemon: daemon))
    }

    /// A process added to `command`'s list (the command starts here if it is
    /// unknown), not yet in the tree.
    private mutating func newProcess(
        pid: Int32, ppid: Int32, comm: [UInt8], argv: [[UInt8]], command: Int,
        ktime: UInt64, files: FileTable, daemon: DaemonScope?
    ) -> LiveProcess {
        commands.open(
            command, leader: pid, tag: pid, ktime: ktime, lostAtStart: lostTotal, unattributedAtStart: unattributed)
        var entry = CommandSummary.Process(pid: pid, ppid: ppid, comm: comm, argv: argv, termination: nil)
        entry.daemon = daemon
        return LiveProcess(
            command: command, entry: commands[command]?.add(entry), ppid: ppid, comm: comm, argv: argv,
            threads: [pid], files: files, daemon: daemon)
    }

    /// The live process an event belongs to (a copy; the tree keeps it).
    private mutating func process(for event: Event) -> LiveProcess {
        if let process = processes[event.pid] { return process }
        let process = adopt(event)
        processes.add(event.pid, process)
        return process
    }

    /// The live process an event belongs to, taken out of the tree so that
    /// changes to it are made in place; the caller puts it back or ends it.
    private mutating func takeProcess(for event: Event) -> LiveProcess {
        processes.remove(event.pid) ?? adopt(event)
    }

    /// A process never seen before (its fork was lost, or it was missed at
    /// attach), adopted into its parent's command or the root's.
    private mutating func adopt(_ event: Event) -> LiveProcess {
        adopted += 1
        var ppid: Int32 = 0
        if case .exit(let exit) = event.body { ppid = exit.parentPid }
        let command = processes[ppid]?.command ?? rootCommand
        var process = newProcess(
            pid: event.pid, ppid: ppid, comm: event.comm, argv: [], command: command,
            ktime: event.ktime, files: FileTable(), daemon: nil)
        if event.tid != event.pid { process.threads.insert(event.tid) }
        return process
    }

    /// Records the end of a process already out of the tree, and closes its
    /// command when it was the last one.
    private mutating func end(_ process: LiveProcess, termination: Termination?, ktime: UInt64) -> [Record] {
        guard let entry = process.entry, commands[process.command] != nil else { return [] }
        commands[process.command]?.ended(entry: entry, termination: termination, ppid: process.ppid)
        return settle(process.command, ktime: ktime)
    }

    private mutating func endCommand(_ number: Int, ktime: UInt64) -> Record? {
        guard let command = commands.remove(number) else { return nil }
        if !command.daemons.isEmpty { attribution.endedTags.append(command.tag) }
        return .summary(
            command.summary(
                number: number, start: clock.wall(command.start), end: clock.wall(ktime),
                lostEvents: lostTotal - command.lostAtStart,
                unattributed: unattributed - min(unattributed, command.unattributedAtStart)))
    }

    /// Ends the command when nothing is left to wait for: its processes, and
    /// the daemon work done for it.
    private mutating func settle(_ number: Int, ktime: UInt64) -> [Record] {
        guard commands.isOver(number, at: ktime) else { return [] }
        return endCommand(number, ktime: ktime).map { [$0] } ?? []
    }

    private func baseRecord(_ event: Event, parent: LiveProcess) -> ProcessRecord {
        var record = ProcessRecord(
            time: clock.wall(event.ktime), command: parent.command, pid: event.pid, tid: event.tid,
            ppid: parent.ppid, comm: event.comm, action: .exec)
        record.daemon = parent.daemon
        return record
    }
}
