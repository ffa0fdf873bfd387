import Monitor

/// Shared builders for synthetic kernel events. Times are ktime nanoseconds;
/// the fixed clock maps ktime 0 to 2026-11-26T15:20:00Z.
let testClock = WallClock(offset: 1_795_706_400 * 1_000_000_000)

func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Kernel task->exit_code values.
enum Code {
    static func exited(_ status: UInt32) -> UInt32 { status << 8 }
    static func signal(_ number: UInt32, core: Bool = false) -> UInt32 { number | (core ? 0x80 : 0) }
}

enum Make {
    /// `tag`: the child's tag, as the fork probe tells it; nil for its pid.
    static func fork(
        _ ktime: UInt64, pid: Int32, tid: Int32? = nil, comm: String = "sh",
        child: Int32, parent: Int32? = nil, unfollowed: Bool = false, tag: Int32? = nil
    ) -> Event {
        fork(
            ktime, pid: pid, tid: tid, comm: utf8(comm), child: child, parent: parent, unfollowed: unfollowed, tag: tag)
    }

    static func fork(
        _ ktime: UInt64, pid: Int32, tid: Int32? = nil, comm: [UInt8],
        child: Int32, parent: Int32? = nil, unfollowed: Bool = false, tag: Int32? = nil
    ) -> Event {
        Event(
            ktime: ktime, pid: pid, tid: tid ?? pid, comm: comm,
            body: .fork(
                Event.Fork(
                    childPid: child, childTid: child, parentPid: parent ?? pid, isThread: false, unfollowed: unfollowed,
                    childTag: tag)
            ))
    }

    static func thread(_ ktime: UInt64, pid: Int32, tid: Int32? = nil, comm: String = "sh", child: Int32) -> Event {
        Event(
            ktime: ktime, pid: pid, tid: tid ?? pid, comm: utf8(comm),
            body: .fork(
                Event.Fork(
                    childPid: pid, childTid: child, parentPid: pid, isThread: true)))
    }

    static func exec(
        _ ktime: UInt64, pid: Int32, tid: Int32? = nil, oldTid: Int32? = nil, comm: [UInt8],
        path: [UInt8], argv: [[UInt8]], truncated: Bool = false
    ) -> Event {
        Event(
            ktime: ktime, pid: pid, tid: tid ?? pid, comm: comm,
            body: .exec(
                Event.Exec(
                    filename: path, argv: argv, oldTid: oldTid ?? tid ?? pid, filenameTruncated: truncated)))
    }

    static func exec(
        _ ktime: UInt64, pid: Int32, tid: Int32? = nil, oldTid: Int32? = nil, comm: String,
        path: String, argv: [String]
    ) -> Event {
        exec(ktime, pid: pid, tid: tid, oldTid: oldTid, comm: utf8(comm), path: utf8(path), argv: argv.map(utf8))
    }

    static func exit(
        _ ktime: UInt64, pid: Int32, tid: Int32? = nil, comm: String = "sh",
        code: UInt32 = 0, parent: Int32 = 0, groupDead: Bool = true
    ) -> Event {
        exit(ktime, pid: pid, tid: tid, comm: utf8(comm), code: code, parent: parent, groupDead: groupDead)
    }

    static func exit(
        _ ktime: UInt64, pid: Int32, tid: Int32? = nil, comm: [UInt8],
        code: UInt32 = 0, parent: Int32 = 0, groupDead: Bool = true
    ) -> Event {
        Event(
            ktime: ktime, pid: pid, tid: tid ?? pid, comm: comm,
            body: .exit(
                Event.Exit(
                    code: code, groupDead: groupDead, parentPid: parent)))
    }
}

extension Tracker {
    /// Feeds events in order and returns every record produced.
    mutating func feed(_ events: [Event]) -> [Record] { events.flatMap { handle($0) } }

    /// A tracker whose root is already known, as the session seeds it.
    static func seeded(
        _ mode: Mode, comm: String = "bash", argv: [String] = ["bash"], ppid: Int32 = 1,
        ktime: UInt64 = 1_000
    ) -> Tracker {
        var tracker = Tracker(mode: mode, clock: testClock)
        tracker.seed(
            pid: tracker.root, ppid: ppid, comm: utf8(comm), argv: argv.map(utf8), threads: [tracker.root],
            ktime: ktime)
        return tracker
    }
}

extension Record {
    var process: ProcessRecord? { if case .process(let record) = self { record } else { nil } }
    var summary: CommandSummary? { if case .summary(let summary) = self { summary } else { nil } }
    var lost: LostRecord? { if case .lost(let lost) = self { lost } else { nil } }

    /// A short tag for sequence checks: "fork", "exec", ..., "summary", "lost".
    var tag: String {
        switch self {
        case .process(let record): record.action.rawValue
        case .activity(let record): record.action.rawValue
        case .summary: "summary"
        case .lost: "lost"
        case .status: "status"
        }
    }
}

extension Array where Element == Record {
    var processes: [ProcessRecord] { compactMap(\.process) }
    var summaries: [CommandSummary] { compactMap(\.summary) }
    var tags: [String] { map(\.tag) }
}

extension CommandSummary {
    func entry(_ pid: Int32) -> Process? { processes.first { $0.pid == pid } }
}
