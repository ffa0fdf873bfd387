/// Daemon-side work. The kernel decides whom a daemon thread works for (see
/// "Attribution" in bpf/events.h) and tags its events; here the tags become
/// commands, daemons are named with how each command reached them, and their
/// calls are interpreted against their own descriptor tables.
///
/// It owns the daemons' states and the kernel chores daemon work leaves; the
/// tracker passes in the commands and the process tree each call acts on.
struct DaemonAttribution {
    /// How long a command's summary waits for daemon work after its own
    /// processes end: the last daemon call must be this old...
    static let quiet: UInt64 = 200_000_000
    /// ...and processes daemons forked for it get this long to exit.
    static let grace: UInt64 = 2_000_000_000

    /// A process a daemon forked for a command: the tracker adds it to the tree.
    struct Fork {
        let command: Int
        let pid: Int32
        let ppid: Int32
        let comm: [UInt8]
        let argv: [[UInt8]]
        let files: FileTable
        let scope: DaemonScope
    }

    let clock: WallClock
    let system: SystemQueries
    /// Daemons by pid: processes outside the tree that serve watched commands.
    private var daemons: [Int32: LiveProcess] = [:]
    /// Daemon work that arrived for a command already summarised.
    private(set) var lateWork = 0
    /// Kernel state to drop: tags of ended commands, tasks no longer followed.
    var endedTags: [Int32] = []
    var releasedTids: [Int32] = []
    /// Processes whose goroutines to probe: new daemons and the processes they talk to.
    private var newDaemons: [Int32] = []

    init(clock: WallClock, system: SystemQueries) {
        self.clock = clock
        self.system = system
    }

    /// A process outside the tree read what a watched task wrote. A new
    /// daemon at a known pid is another process than the daemon that had
    /// the pid: that one is dead, and what was known of it goes.
    mutating func peer(_ event: Event, _ peer: Event.Peer, commands: inout CommandRegistry, tree: ProcessTree)
        -> [Record]
    {
        if peer.newDaemon { daemons[event.pid] = nil }
        guard let command = commands.number(tag: event.attribution.tag) else { return [] }
        return note(
            event.pid, comm: event.comm, for: command, writer: peer.writerPid, writerInode: peer.writerInode,
            readerInode: peer.readerInode, ktime: event.ktime, commands: &commands, tree: tree)
    }

    /// An event of a tagged daemon thread: a call it made, or a process it
    /// forked. Returns its records and the processes forked for commands.
    mutating func work(
        _ event: Event, commands: inout CommandRegistry, tree: inout ProcessTree,
        interpreter: SyscallInterpreter
    ) -> (records: [Record], forks: [Fork]) {
        let tags = [event.attribution.tag] + (event.attribution.ambiguous ? [event.attribution.alsoTag] : [])
        let targets = Array(Set(tags.compactMap { commands.number(tag: $0) })).sorted()
        guard let first = targets.first else {
            lateWork += 1
            return ([], [])
        }
        var records = note(
            event.pid, comm: event.comm, for: first, writer: nil, writerInode: 0, ktime: event.ktime,
            commands: &commands, tree: tree)
        var forks: [Fork] = []
        // The daemon's state before the call, once per command the call is credited to.
        // One command (the usual case) takes it by moving, not copying: a daemon's fd
        // table can be large, and a shared copy would be duplicated by the first change.
        let before: LiveProcess? = targets.count == 1 ? nil : daemons[event.pid]
        for command in targets {
            commands[command]?.lastDaemonWork = event.ktime
            guard var state = before ?? daemons.removeValue(forKey: event.pid) else { continue }
            if let identity = state.daemon {
                records += work(
                    event, by: &state, for: command, commands: &commands, tree: &tree,
                    interpreter: interpreter, forks: &forks)
                state.daemon = identity
            }
            if before == nil {
                daemons[event.pid] = state
            } else {
                daemons[event.pid]?.files = state.files
            }
        }
        return (records, forks)
    }

    /// Kernel work for the session, taken once: tags of ended commands to
    /// forget, tasks to stop following, processes whose goroutines to probe.
    mutating func takeChores() -> (forget: [Int32], unwatch: [Int32], probe: [Int32]) {
        defer {
            endedTags = []
            releasedTids = []
            newDaemons = []
        }
        return (endedTags, releasedTids, Array(Set(newDaemons)).sorted())
    }

    /// What one daemon event did for `command`: a process forked for it, or
    /// the onward requests of a call. `state` is the daemon's, whose `daemon`
    /// scope is its identity; it comes back with the call's changes to its fd table.
    private func work(
        _ event: Event, by state: inout LiveProcess, for command: Int, commands: inout CommandRegistry,
        tree: inout ProcessTree, interpreter: SyscallInterpreter, forks: inout [Fork]
    ) -> [Record] {
        guard var scope = state.daemon else { return [] }
        scope.via = commands[command]?.daemons.last { $0.pid == event.pid }?.via ?? [event.pid]
        scope.ambiguous = event.attribution.ambiguous
        switch event.body {
        case .fork(let fork) where !fork.isThread:
            var child = scope
            child.via.append(fork.childPid)
            forks.append(
                Fork(
                    command: command, pid: fork.childPid, ppid: fork.parentPid, comm: event.comm,
                    argv: state.argv, files: state.files.forked(), scope: child))
            var record = ProcessRecord(
                time: clock.wall(event.ktime), command: command, pid: event.pid, tid: event.tid,
                ppid: state.ppid, comm: event.comm, action: .fork)
            record.child = fork.childPid
            record.daemon = scope
            return [.process(record)]
        case .syscall(let call):
            state.command = command
            state.daemon = scope
            let endpointCount = commands[command]?.network.count ?? 0
            let work = interpreter.interpret(event, call, by: &state, command: &commands[command], others: &tree)
            // Of a daemon's network calls only onward requests matter: its accepts,
            // replies and closes are the command's own connection seen from the other end.
            // Signals between its own threads (Go preempts with SIGURG) are its own business.
            let onward = work.filter { record in
                guard case .activity(let activity) = record else { return true }
                if activity.category == .network { return activity.action == .connect }
                let internalSignal =
                    activity.signal != nil
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
    private mutating func note(
        _ pid: Int32, comm: [UInt8], for command: Int, writer: Int32?, writerInode: UInt64,
        readerInode: UInt64 = 0, ktime: UInt64, commands: inout CommandRegistry, tree: ProcessTree
    ) -> [Record] {
        let daemonComm: [UInt8]
        if let known = daemons[pid] {
            daemonComm = known.comm
        } else {
            let snapshot = system.process(pid)
            // It and the processes it talks to may be Go programs: probe their goroutines.
            let peers = snapshot?.files.sockets.compactMap(\.peer?.pid) ?? []
            newDaemons += [pid] + peers.filter { $0 != pid && tree[$0] == nil }
            daemonComm = snapshot?.comm ?? comm
            daemons[pid] = LiveProcess(
                command: command, entry: nil, ppid: snapshot?.ppid ?? 0, comm: daemonComm,
                argv: snapshot?.argv ?? [], threads: [], files: snapshot?.files ?? FileTable(),
                daemon: DaemonScope(pid: pid, comm: daemonComm, via: [pid]))
        }
        // A daemon restarted at its predecessor's pid is listed apart from it, when it is another program.
        guard let known = commands[command]?.daemons,
            !known.contains(where: { $0.pid == pid && $0.comm == daemonComm })
        else { return [] }
        var via = [pid]
        var channel: SocketState?  // the writer's end; nil for a pipe
        var writerComm: [UInt8] = []
        var writerScope: DaemonScope?
        if let writer {
            if let state = tree[writer] {
                via = (state.daemon?.via ?? [writer]) + [pid]
                writerComm = state.comm
                writerScope = state.daemon
                if let index = commands[command]?.endpoints[writerInode],
                    let endpoint = commands[command]?.network[index]
                {
                    channel = SocketState(family: endpoint.family, type: endpoint.type, remote: endpoint.remote)
                }
            } else if let entry = known.last(where: { $0.pid == writer }) {
                via = entry.via + [pid]
                writerComm = entry.comm
                writerScope = DaemonScope(pid: writer, comm: entry.comm, via: entry.via)
            }
            if channel?.remote == nil { channel = system.socket(inode: writerInode) ?? channel }
            if let reader = Self.readerEnd(channel, readerInode: readerInode, system: system) {
                channel = reader
            }
            // A datagram's reader is the peer of the command's socket, sent to an address or connected.
            if let channel, channel.type == "dgram", tree[writer] != nil {
                commands[command]?.learnDestination(
                    writerInode, of: channel, peer: SocketPeer(pid: pid, comm: daemonComm))
            }
        }
        let address = writer == nil ? "unknown" : Self.address(channel)
        commands[command]?.daemons.append(DaemonEntry(pid: pid, comm: daemonComm, address: address, via: via))
        guard let writer else { return [] }
        let writerPPID = tree[writer]?.ppid ?? daemons[writer]?.ppid ?? 0
        var record = ActivityRecord(
            time: clock.wall(ktime), command: command, pid: writer, tid: writer,
            ppid: writerPPID, comm: writerComm, category: .network, action: .peer)
        record.socket = SocketState(
            family: channel?.family ?? "", type: channel?.type ?? "", inode: writerInode,
            remote: address, peer: SocketPeer(pid: pid, comm: daemonComm))
        record.daemon = writerScope
        return [.activity(record)]
    }

    /// The writer's end as its reader names it, when the writer's socket
    /// names no remote: a datagram sent to an address rather than through a
    /// connection, or a socket closed before the peer record was read (a
    /// daemon's short connection to another). The reader's family and type,
    /// with its own address as the remote. Nil when the reader has no address
    /// (a pipe, a socket pair) or is gone too.
    static func readerEnd(_ writer: SocketState?, readerInode: UInt64, system: SystemQueries) -> SocketState? {
        guard writer?.remote?.isEmpty ?? true, readerInode != 0,
            let reader = system.socket(inode: readerInode, family: writer?.family ?? "unknown"),
            let local = reader.local, !local.isEmpty
        else { return nil }
        return SocketState(family: reader.family, type: reader.type, remote: local)
    }

    /// "unix:/var/run/docker.sock", "tcp:127.0.0.1:80", "socketpair" (a unix
    /// socket with no name at either end), "pipe" (no socket).
    private static func address(_ socket: SocketState?) -> String {
        guard let socket else { return "pipe" }
        guard let remote = socket.remote, !remote.isEmpty else {
            return socket.family == "unix" ? "socketpair" : "unknown"
        }
        switch socket.family {
        case "unix": return "unix:" + remote
        default: return (socket.type == "dgram" ? "udp:" : "tcp:") + remote
        }
    }
}
