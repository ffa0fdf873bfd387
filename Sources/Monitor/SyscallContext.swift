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
    func dirfd(_ index: Int?) -> Int32 { index.map(call.int) ?? Linux.atFDCWD }
}
