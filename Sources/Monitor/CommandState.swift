/// Everything one command has done so far, kept until its summary.
struct CommandState {
    var leader: Int32
    /// The kernel's tag for the command's work (see "Attribution" in bpf/events.h).
    var tag: Int32
    var start: UInt64
    var lostAtStart: UInt64
    var unattributedAtStart: UInt64
    var processes: [CommandSummary.Process] = []
    var live = 0
    var threads = 0
    /// Live processes of the command's own, not forked by daemons.
    var ownLive = 0
    /// When the command's own processes all ended while daemon work went on.
    var ownEnded: UInt64? = nil
    var lastDaemonWork: UInt64 = 0
    /// What the command's processes, and daemon work done certainly for it, did to files.
    var ledger = FileLedger()
    /// What daemon work of ambiguous confidence did: listed apart.
    var ambiguousLedger = FileLedger()
    var hardLinks = HardLinks()
    var network: [NetworkEndpoint] = []
    /// Socket inode -> index in `network`.
    var endpoints: [UInt64: Int] = [:]
    /// The socket inode of each entry of `network`, where known.
    var endpointInodes: [UInt64?] = []
    var daemons: [DaemonEntry] = []

    init(leader: Int32, tag: Int32, start: UInt64, lostAtStart: UInt64, unattributedAtStart: UInt64) {
        self.leader = leader
        self.tag = tag
        self.start = start
        self.lostAtStart = lostAtStart
        self.unattributedAtStart = unattributedAtStart
    }

    // MARK: - Processes

    /// Adds a process to the command's list and returns its entry.
    mutating func add(_ process: CommandSummary.Process) -> Int {
        processes.append(process)
        live += 1
        if process.daemon == nil { ownLive += 1 }
        return processes.count - 1
    }

    /// The process at `entry` ended.
    mutating func ended(entry: Int, termination: Termination?, ppid: Int32) {
        guard processes.indices.contains(entry) else { return }
        processes[entry].termination = termination
        processes[entry].ended = true
        processes[entry].ppid = ppid
        live -= 1
        if processes[entry].daemon == nil { ownLive -= 1 }
    }

    // MARK: - Files

    /// Applies `change` to the ledger for work of `confidence`.
    mutating func updateLedger(_ confidence: Confidence, _ change: (inout FileLedger) -> Void) {
        switch confidence {
        case .certain: change(&ledger)
        case .ambiguous: change(&ambiguousLedger)
        }
    }

    /// Content or attributes of a file changed: the same holds for every hard
    /// link to it the command made, since they are one file.
    mutating func changed(_ path: [UInt8], content: Bool, _ confidence: Confidence) {
        let names = [path] + hardLinks.others(of: path)
        updateLedger(confidence) { ledger in
            for name in names {
                if content { ledger.wrote(name) } else { ledger.changedMetadata(name) }
            }
        }
    }

    // MARK: - Network

    /// Adds a summary entry for `socket` and returns its index in `network`.
    mutating func addEndpoint(_ socket: SocketState) -> Int {
        network.append(
            NetworkEndpoint(
                family: socket.family, type: socket.type, local: socket.local,
                remote: socket.remote, peer: socket.peer))
        endpointInodes.append(socket.inode)
        let index = network.count - 1
        if let inode = socket.inode { endpoints[inode] = index }
        return index
    }

    /// A datagram socket of the command (inode `inode`) sent to `reader`'s
    /// address (by name or connected), where `peer` read it: its entry names
    /// them, made if new.
    mutating func learnDestination(_ inode: UInt64, of reader: SocketState, peer: SocketPeer) {
        guard let index = endpoints[inode] else {
            _ = addEndpoint(
                SocketState(family: reader.family, type: reader.type, inode: inode, remote: reader.remote, peer: peer))
            return
        }
        if network[index].remote?.isEmpty ?? true { network[index].remote = reader.remote }
        if network[index].peer == nil { network[index].peer = peer }
    }

    /// Drops the endpoints added since there were `count`.
    mutating func dropEndpoints(from count: Int) {
        guard count < network.count else { return }
        for case let inode? in endpointInodes[count...] { endpoints[inode] = nil }
        network.removeSubrange(count...)
        endpointInodes.removeSubrange(count...)
    }

    // MARK: - Summary

    /// The command's report, numbered `number`, as it ends at wall time `end`.
    func summary(number: Int, start: UInt64, end: UInt64, lostEvents: UInt64, unattributed: UInt64) -> CommandSummary {
        let first = processes.first { $0.pid == leader } ?? processes.first
        var summary = CommandSummary(
            command: number, pid: leader, argv: first?.argv ?? [], termination: first?.termination,
            start: start, end: end, processes: processes, threads: threads, lostEvents: lostEvents)
        summary.files = ledger.summary()
        let ambiguous = ambiguousLedger.summary()
        summary.files.ambiguous = Array(
            Set(
                ambiguous.created + ambiguous.modified + ambiguous.deleted + ambiguous.temporary
                    + ambiguous.metadata + ambiguous.directoriesCreated + ambiguous.directoriesDeleted
                    + ambiguous.directoriesTemporary + ambiguous.renamed.map(\.to))
        ).sorted(by: Paths.precedes)
        summary.network = network
        summary.daemons = daemons
        summary.unattributed = unattributed
        return summary
    }
}
