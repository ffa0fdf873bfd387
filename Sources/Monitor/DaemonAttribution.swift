/// Daemon-side work. The kernel decides whom a daemon thread works for (see
/// "Attribution" in bpf/events.h) and tags its events; here the tags become
/// commands, daemons are named with how each command reached them, and a
/// command's summary waits for the daemon-side work done for it.
extension Tracker {
    /// How long a command's summary waits for daemon work after its own
    /// processes end: the last daemon call must be this old...
    public static let daemonQuiet: UInt64 = 200_000_000
    /// ...and processes daemons forked for it get this long to exit.
    public static let daemonGrace: UInt64 = 2_000_000_000

    /// Nothing left to wait for: no live process, no command waiting for daemons.
    public var idle: Bool { processes.isEmpty && !commands.waitingForDaemons }

    /// A process outside the tree read what a watched task wrote.
    mutating func handlePeer(_ event: Event, _ peer: Event.Peer) -> [Record] {
        guard let command = commands.number(tag: event.attribution.tag) else { return [] }
        return noteDaemon(event.pid, comm: event.comm, for: command, writer: peer.writerPid,
                          writerInode: peer.writerInode, ktime: event.ktime)
    }

    /// An event of a tagged daemon thread: a call it made, or a process it forked.
    mutating func handleDaemonWork(_ event: Event) -> [Record] {
        let tags = [event.attribution.tag] + (event.attribution.ambiguous ? [event.attribution.alsoTag] : [])
        let targets = Array(Set(tags.compactMap { commands.number(tag: $0) })).sorted()
        guard let first = targets.first else {
            lateDaemonWork += 1
            return []
        }
        var records = noteDaemon(event.pid, comm: event.comm, for: first, writer: nil, writerInode: 0, ktime: event.ktime)
        // The daemon's state before the call, once per command the call is credited to.
        // One command (the usual case) takes it by moving, not copying: a daemon's fd
        // table can be large, and a shared copy would be duplicated by the first change.
        let before: LiveProcess? = targets.count == 1 ? nil : daemonProcesses[event.pid]
        for command in targets {
            commands[command]?.lastDaemonWork = event.ktime
            guard var state = before ?? daemonProcesses.removeValue(forKey: event.pid) else { continue }
            if let identity = state.daemon {
                records += daemonWork(event, by: &state, for: command)
                state.daemon = identity
            }
            if before == nil {
                daemonProcesses[event.pid] = state
            } else {
                daemonProcesses[event.pid]?.files = state.files
            }
        }
        return records
    }

    /// What one daemon event did for `command`: a process forked for it, or
    /// the onward requests of a call. `state` is the daemon's, whose `daemon`
    /// scope is its identity; it comes back with the call's changes to its fd table.
    private mutating func daemonWork(_ event: Event, by state: inout LiveProcess, for command: Int) -> [Record] {
        guard var scope = state.daemon else { return [] }
        scope.via = commands[command]?.daemons.first { $0.pid == event.pid }?.via ?? [event.pid]
        scope.ambiguous = event.attribution.ambiguous
        switch event.body {
        case .fork(let fork) where !fork.isThread:
            var child = scope
            child.via.append(fork.childPid)
            addProcess(pid: fork.childPid, ppid: fork.parentPid, comm: event.comm, argv: state.argv, command: command,
                       ktime: event.ktime, files: state.files, daemon: child)
            var record = ProcessRecord(time: clock.wall(event.ktime), command: command, pid: event.pid, tid: event.tid,
                                       ppid: state.ppid, comm: event.comm, action: .fork)
            record.child = fork.childPid
            record.daemon = scope
            return [.process(record)]
        case .syscall(let call):
            state.command = command
            state.daemon = scope
            let endpointCount = commands[command]?.network.count ?? 0
            let work = interpreter.interpret(event, call, by: &state, command: &commands[command], others: &processes)
            // Of a daemon's network calls only onward requests matter: its accepts,
            // replies and closes are the command's own connection seen from the other end.
            // Signals between its own threads (Go preempts with SIGURG) are its own business.
            let onward = work.filter { record in
                guard case .activity(let activity) = record else { return true }
                if activity.category == .network { return activity.action == .connect }
                let internalSignal = activity.signal != nil
                    && (call.args[0] == UInt64(UInt32(bitPattern: event.pid)) || activity.target == event.tid)
                return !internalSignal
            }
            if onward.count < work.count { commands[command]?.dropEndpoints(from: endpointCount) }
            return onward
        default:
            return []
        }
    }

    /// Registers `pid` as a daemon of `command`, reached from `writer`; the
    /// first time, a `peer` record says who reached it and how.
    private mutating func noteDaemon(_ pid: Int32, comm: [UInt8], for command: Int, writer: Int32?, writerInode: UInt64,
                                     ktime: UInt64) -> [Record] {
        let daemonComm: [UInt8]
        if let known = daemonProcesses[pid] {
            daemonComm = known.comm
        } else {
            let snapshot = system.process(pid)
            // It and the processes it talks to may be Go programs: probe their goroutines.
            let peers = snapshot?.files.sockets.compactMap(\.peer?.pid) ?? []
            newDaemons += [pid] + peers.filter { $0 != pid && processes[$0] == nil }
            daemonComm = snapshot?.comm ?? comm
            daemonProcesses[pid] = LiveProcess(
                command: command, entry: nil, ppid: snapshot?.ppid ?? 0, comm: daemonComm,
                argv: snapshot?.argv ?? [], threads: [], files: snapshot?.files ?? FileTable(),
                daemon: DaemonScope(pid: pid, comm: daemonComm, via: [pid]))
        }
        guard let known = commands[command]?.daemons, !known.contains(where: { $0.pid == pid }) else { return [] }
        var via = [pid]
        var channel: SocketState?  // the writer's end; nil for a pipe
        var writerComm: [UInt8] = []
        var writerScope: DaemonScope?
        if let writer {
            if let state = processes[writer] {
                via = (state.daemon?.via ?? [writer]) + [pid]
                writerComm = state.comm
                writerScope = state.daemon
                if let index = commands[command]?.endpoints[writerInode], let endpoint = commands[command]?.network[index] {
                    channel = SocketState(family: endpoint.family, type: endpoint.type, remote: endpoint.remote)
                }
            } else if let entry = known.first(where: { $0.pid == writer }) {
                via = entry.via + [pid]
                writerComm = entry.comm
                writerScope = DaemonScope(pid: writer, comm: entry.comm, via: entry.via)
            }
            if channel?.remote == nil { channel = system.socket(inode: writerInode) ?? channel }
        }
        let address = writer == nil ? "unknown" : Self.address(channel)
        commands[command]?.daemons.append(DaemonEntry(pid: pid, comm: daemonComm, address: address, via: via))
        guard let writer else { return [] }
        let writerPPID = processes[writer]?.ppid ?? daemonProcesses[writer]?.ppid ?? 0
        var record = ActivityRecord(time: clock.wall(ktime), command: command, pid: writer, tid: writer,
                                    ppid: writerPPID, comm: writerComm, category: .network, action: .peer)
        record.socket = SocketState(family: channel?.family ?? "", type: channel?.type ?? "", inode: writerInode,
                                    remote: address, peer: SocketPeer(pid: pid, comm: daemonComm))
        record.daemon = writerScope
        return [.activity(record)]
    }

    /// "unix:/var/run/docker.sock", "tcp:127.0.0.1:80", "socketpair" (a unix
    /// socket with no name at either end), "pipe" (no socket).
    private static func address(_ socket: SocketState?) -> String {
        guard let socket else { return "pipe" }
        guard let remote = socket.remote, !remote.isEmpty else { return socket.family == "unix" ? "socketpair" : "unknown" }
        switch socket.family {
        case "unix": return "unix:" + remote
        default: return (socket.type == "dgram" ? "udp:" : "tcp:") + remote
        }
    }

    /// Ends the command when nothing is left to wait for: its processes, and
    /// the daemon work done for it.
    mutating func settle(_ number: Int, ktime: UInt64) -> [Record] {
        guard let command = commands[number] else { return [] }
        if command.live == 0 && command.daemons.isEmpty {
            return endCommand(number, ktime: ktime).map { [$0] } ?? []
        }
        if command.ownLive == 0 && command.ownEnded == nil { commands[number]?.ownEnded = ktime }
        return []
    }

    /// Ends commands whose daemon work is over: their daemon-forked processes
    /// exited and the daemons have been quiet, or the grace period is up. Processes
    /// daemons forked for them that still run are no longer followed.
    public mutating func expire(ktime: UInt64) -> [Record] {
        var records: [Record] = []
        for number in commands.numbers {
            guard let command = commands[number], let ended = command.ownEnded, ktime > ended else { continue }
            let quiet = command.live == 0 && ktime - max(ended, command.lastDaemonWork) >= Self.daemonQuiet
            guard quiet || ktime - ended >= Self.daemonGrace else { continue }
            releasedTids += processes.removeAll(ofCommand: number)
            if let summary = endCommand(number, ktime: ktime) { records.append(summary) }
        }
        return records
    }

    /// Kernel work for the session, taken once: tags of ended commands to
    /// forget, tasks to stop following, processes whose goroutines to probe.
    public mutating func takeKernelChores() -> (forget: [Int32], unwatch: [Int32], probe: [Int32]) {
        defer {
            endedTags = []
            releasedTids = []
            newDaemons = []
        }
        return (endedTags, releasedTids, Array(Set(newDaemons)).sorted())
    }
}
