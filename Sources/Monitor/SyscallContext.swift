/// Who a record is about and when: the fields every record made for one
/// event shares, and the ledger its file changes go to.
struct RecordOrigin {
    let time: UInt64
    let command: Int
    let pid: Int32
    let tid: Int32
    let ppid: Int32
    let comm: [UInt8]
    let daemon: DaemonScope?
    let confidence: Confidence

    /// For an event of `process`: `comm` is the event's, the rest the process's.
    init(clock: WallClock, ktime: UInt64, pid: Int32, tid: Int32, comm: [UInt8], process: LiveProcess,
         confidence: Confidence) {
        self.time = clock.wall(ktime)
        self.command = process.command
        self.pid = pid
        self.tid = tid
        self.ppid = process.ppid
        self.comm = comm
        self.daemon = process.daemon
        self.confidence = confidence
    }

    func activity(_ category: ActivityRecord.Category, _ action: ActivityAction) -> ActivityRecord {
        var record = ActivityRecord(time: time, command: command, pid: pid, tid: tid, ppid: ppid, comm: comm,
                                    category: category, action: action)
        record.daemon = daemon
        return record
    }
}

/// One syscall being interpreted, and the records it produced so far. The
/// descriptor table of the process that made it is passed beside it.
struct SyscallContext {
    let call: Event.Syscall
    let info: SyscallInfo
    let origin: RecordOrigin
    var records: [Record] = []

    var command: Int { origin.command }
    var meaning: SyscallInfo.Meaning { info.meaning }
    var arguments: SyscallInfo.Arguments { info.arguments }

    /// A record of the call: failed calls carry their errno name.
    func record(_ category: ActivityRecord.Category, _ action: ActivityAction) -> ActivityRecord {
        var record = origin.activity(category, action)
        if let errno = call.errno { record.error = Errno.name(errno) }
        return record
    }

    /// The value of an optional argument position (flags, a dirfd).
    func arg(_ index: Int?) -> UInt64? { index.map(call.arg) }

    /// The fd at an optional argument position; AT_FDCWD where there is none.
    func dirfd(_ index: Int?) -> Int32 { index.map(call.int) ?? Tracker.atFDCWD }
}
