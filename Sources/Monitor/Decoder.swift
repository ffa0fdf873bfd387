import BPFSources

/// Turns ring-buffer records into `Event`s. The layouts come from
/// bpf/events.h through the BPFSources module, so they are never restated.
public struct Decoder: Sendable {
    public enum Failure: Error, Equatable {
        case short(size: Int)
        case unknownKind(UInt16)
        case sizeMismatch(kind: UInt16, size: Int)
    }

    public init() {}

    public func decode(_ bytes: UnsafeRawBufferPointer) throws -> Event {
        guard bytes.count >= MemoryLayout<event_header>.size else { throw Failure.short(size: bytes.count) }
        let header = bytes.loadUnaligned(as: event_header.self)
        guard Int(header.size) == bytes.count else { throw Failure.sizeMismatch(kind: header.kind, size: bytes.count) }
        let body: Event.Body
        switch UInt32(header.kind) {
        case EVENT_FORK.rawValue:
            let record: fork_event = try load(bytes, kind: header.kind)
            body = .fork(Event.Fork(
                childPid: Int32(bitPattern: record.child_pid), childTid: Int32(bitPattern: record.child_tid),
                parentPid: Int32(bitPattern: record.parent_pid),
                isThread: record.flags & EVENT_FLAG_THREAD.rawValue != 0,
                unfollowed: record.flags & EVENT_FLAG_UNFOLLOWED.rawValue != 0,
                cloneFlags: record.clone_flags))
        case EVENT_EXEC.rawValue:
            body = .exec(try decodeExec(bytes, kind: header.kind))
        case EVENT_SYSCALL.rawValue:
            body = .syscall(try decodeSyscall(bytes, kind: header.kind))
        case EVENT_EXIT.rawValue:
            let record: exit_event = try load(bytes, kind: header.kind)
            body = .exit(Event.Exit(
                code: record.exit_code, groupDead: record.flags & EVENT_FLAG_GROUP_DEAD.rawValue != 0,
                parentPid: Int32(bitPattern: record.parent_pid)))
        default:
            throw Failure.unknownKind(header.kind)
        }
        return Event(
            ktime: header.ktime, cpu: header.cpu,
            pid: Int32(bitPattern: header.pid), tid: Int32(bitPattern: header.tid),
            comm: cString(bytes, offset: MemoryLayout<event_header>.offset(of: \.comm)!, capacity: Int(COMM_LEN)),
            body: body)
    }

    private func load<T>(_ bytes: UnsafeRawBufferPointer, kind: UInt16) throws -> T {
        guard bytes.count == MemoryLayout<T>.size else { throw Failure.sizeMismatch(kind: kind, size: bytes.count) }
        return bytes.loadUnaligned(as: T.self)
    }

    /// exec records are sent cut after the used part of argv.
    private func decodeExec(_ bytes: UnsafeRawBufferPointer, kind: UInt16) throws -> Event.Exec {
        let argvOffset = MemoryLayout<exec_event>.offset(of: \.argv)!
        guard bytes.count >= argvOffset else { throw Failure.sizeMismatch(kind: kind, size: bytes.count) }
        let oldTid = bytes.loadUnaligned(fromByteOffset: MemoryLayout<exec_event>.offset(of: \.old_tid)!, as: UInt32.self)
        let flags = bytes.loadUnaligned(fromByteOffset: MemoryLayout<exec_event>.offset(of: \.flags)!, as: UInt32.self)
        let filenameLength = Int(bytes.loadUnaligned(fromByteOffset: MemoryLayout<exec_event>.offset(of: \.filename_len)!, as: UInt16.self))
        let argvLength = Int(bytes.loadUnaligned(fromByteOffset: MemoryLayout<exec_event>.offset(of: \.argv_len)!, as: UInt16.self))
        guard argvOffset + argvLength == bytes.count, filenameLength < Int(EXEC_FILENAME_CAP) else {
            throw Failure.sizeMismatch(kind: kind, size: bytes.count)
        }
        let filenameOffset = MemoryLayout<exec_event>.offset(of: \.filename)!
        let filename = Array(bytes[filenameOffset..<filenameOffset + filenameLength])
        var argv = bytes[argvOffset..<argvOffset + argvLength].split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
        if argv.last?.isEmpty == true { argv.removeLast() }
        return Event.Exec(
            filename: filename, argv: argv, oldTid: Int32(bitPattern: oldTid),
            filenameTruncated: flags & EVENT_FLAG_FILENAME_TRUNCATED.rawValue != 0,
            argvTruncated: flags & EVENT_FLAG_ARGV_TRUNCATED.rawValue != 0)
    }

    /// syscall records are sent cut after the last path used.
    private func decodeSyscall(_ bytes: UnsafeRawBufferPointer, kind: UInt16) throws -> Event.Syscall {
        let pathsOffset = MemoryLayout<syscall_event>.offset(of: \.paths)!
        guard bytes.count >= pathsOffset, bytes.count <= MemoryLayout<syscall_event>.size else {
            throw Failure.sizeMismatch(kind: kind, size: bytes.count)
        }
        // Copy the fixed part into a whole struct; the paths are read from the bytes.
        var record = syscall_event()
        withUnsafeMutableBytes(of: &record) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<pathsOffset])) }
        let lengths = [Int(record.path_len.0), Int(record.path_len.1)]
        var paths: [[UInt8]] = []
        for slot in 0..<2 {
            let start = pathsOffset + slot * Int(SYSCALL_PATH_CAP)
            guard start < bytes.count else { break }
            guard lengths[slot] < Int(SYSCALL_PATH_CAP), start + lengths[slot] <= bytes.count else {
                throw Failure.sizeMismatch(kind: kind, size: bytes.count)
            }
            paths.append(Array(bytes[start..<start + lengths[slot]]))
        }
        let sockaddrLength = min(Int(record.sockaddr_len), Int(SOCKADDR_CAP))
        let sockaddr = withUnsafeBytes(of: record.sockaddr) { Array($0.prefix(sockaddrLength)) }
        let args = withUnsafeBytes(of: record.args) { Array($0.bindMemory(to: UInt64.self)) }
        let hasFile = record.flags & EVENT_FLAG_HAS_FILE.rawValue != 0
        let io = record.io
        return Event.Syscall(
            nr: Int(record.nr), ret: record.ret, args: args, paths: paths,
            pathTruncated: [record.flags & EVENT_FLAG_PATH0_TRUNCATED.rawValue != 0,
                            record.flags & EVENT_FLAG_PATH1_TRUNCATED.rawValue != 0].prefix(paths.count).map { $0 },
            sockaddr: sockaddr,
            file: hasFile ? Event.FileInfo(inode: record.file_inode, mode: record.file_mode, device: record.file_dev,
                                          inodeMode: record.file_imode) : nil,
            io: io.reads == 0 && io.writes == 0 ? nil
                : Event.IOTotals(bytesRead: io.bytes_read, bytesWritten: io.bytes_written, reads: io.reads, writes: io.writes))
    }

    private func cString(_ bytes: UnsafeRawBufferPointer, offset: Int, capacity: Int) -> [UInt8] {
        Array(bytes[offset..<offset + capacity].prefix { $0 != 0 })
    }
}
