/// What the HTML report keeps of one command while records stream past: the
/// summary once it comes, when each process began and ended (the summary has
/// no times per process), and the first events for the timeline. Later events
/// are only counted, so a busy command costs a bounded amount of memory.
struct ReportCommand {
    /// A process's span on the timeline; nil ends are filled in by the page
    /// from the command's own start and end.
    struct Lifetime {
        var start: UInt64?
        var end: UInt64?
    }

    /// One mark on the timeline, its text escaped as the text trace escapes it.
    struct Item {
        var time: UInt64
        var pid: Int32
        var comm: String
        var action: String
        var label: String
        var daemon: DaemonScope?
    }

    let number: Int
    var summary: CommandSummary?
    private(set) var lifetimes: [Int32: Lifetime] = [:]
    private(set) var items: [Item] = []
    /// Events not kept once the cap was reached.
    private(set) var dropped = 0
    /// Processes whose lifetime was not kept once the cap was reached.
    private(set) var droppedLifetimes = 0

    init(number: Int) { self.number = number }

    /// Keeps a process event: a mark on the timeline, and the start or end
    /// of the process it is about. `room` says whether a mark may still be kept.
    mutating func add(_ record: ProcessRecord, cap: Int, room: Bool) -> Bool {
        switch record.action {
        case .fork:
            if let child = record.child, !record.unfollowed { begin(child, at: record.time, cap: cap) }
        case .exec:
            begin(record.pid, at: record.time, cap: cap)
        case .exit:
            if lifetimes[record.pid] != nil { lifetimes[record.pid]?.end = record.time }
        case .thread, .threadExit:
            return false  // threads share their process's bar
        }
        return keep(
            Item(
                time: record.time, pid: record.pid, comm: Escaping.text(record.comm), action: record.action.rawValue,
                label: Self.label(record), daemon: record.daemon), cap: cap, room: room)
    }

    /// Keeps a file, network or signal event as a mark; the loader's reads are
    /// left out (the `loaded` bucket lists them).
    mutating func add(_ record: ActivityRecord, cap: Int, room: Bool) -> Bool {
        if record.loader { return false }
        return keep(
            Item(
                time: record.time, pid: record.pid, comm: Escaping.text(record.comm), action: record.action.rawValue,
                label: Self.label(record), daemon: record.daemon), cap: cap, room: room)
    }

    private mutating func begin(_ pid: Int32, at time: UInt64, cap: Int) {
        guard lifetimes[pid] == nil else { return }
        guard lifetimes.count < cap else {
            droppedLifetimes += 1
            return
        }
        lifetimes[pid] = Lifetime(start: time)
    }

    private mutating func keep(_ item: Item, cap: Int, room: Bool) -> Bool {
        guard room, items.count < cap else {
            dropped += 1
            return false
        }
        items.append(item)
        return true
    }

    private static func label(_ record: ProcessRecord) -> String {
        switch record.action {
        case .fork, .thread:
            return record.child.map { "child \($0)" + (record.unfollowed ? " (not followed)" : "") } ?? ""
        case .exec:
            let path = record.path.map(Escaping.text) ?? ""
            return record.argv.map { path + " argv: " + Escaping.arguments($0) } ?? path
        case .exit, .threadExit:
            return record.termination.map(Self.status) ?? "status unknown"
        }
    }

    private static func label(_ record: ActivityRecord) -> String {
        var parts: [String] = []
        if let path = record.path { parts.append(Escaping.text(path)) }
        if let from = record.from, let to = record.to { parts.append(Escaping.text(from) + " -> " + Escaping.text(to)) }
        if let socket = record.socket {
            if let remote = socket.remote, !remote.isEmpty {
                parts.append("remote=" + Escaping.text(Array(remote.utf8)))
            }
            if let peer = socket.peer { parts.append("peer=\(Escaping.text(peer.comm))(\(peer.pid))") }
        }
        if let bytes = record.bytes { parts.append("bytes=\(bytes)") }
        if let signal = record.signal, let target = record.target {
            parts.append("\(Signals.name(signal)) to \(target)")
        }
        if let error = record.error { parts.append("error=" + error) }
        return parts.joined(separator: " ")
    }

    /// `exit_code=N` or `signal=SIGKILL`, as the text trace says it.
    static func status(_ termination: Termination) -> String {
        switch termination {
        case .exited(let code): return "exit_code=\(code)"
        case .signaled(let signal, let core): return "signal=\(Signals.name(signal))" + (core ? " (core dumped)" : "")
        }
    }
}
