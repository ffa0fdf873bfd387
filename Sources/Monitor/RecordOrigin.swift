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
    init(
        clock: WallClock, ktime: UInt64, pid: Int32, tid: Int32, comm: [UInt8], process: LiveProcess,
        confidence: Confidence
    ) {
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
        var record = ActivityRecord(
            time: time, command: command, pid: pid, tid: tid, ppid: ppid, comm: comm,
            category: category, action: action)
        record.daemon = daemon
        return record
    }
}
