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
            body = .fork(
                Event.Fork(
                    childPid: Int32(bitPattern: record.child_pid), childTid: Int32(bitPattern: record.child_tid),
                    parentPid: Int32(bitPattern: record.parent_pid),
                    isThread: record.flags & EVENT_FLAG_THREAD.rawValue != 0,
                    unfollowed: record.flags & EVENT_FLAG_UNFOLLOWED.rawValue != 0,
                    cloneFlags: record.clone_flags, childTag: Int32(bitPattern: record.child_tag)))
        case EVENT_EXEC.rawValue:
            body = .exec(try decodeExec(bytes, kind: header.kind))
        case EVENT_SYSCALL.rawValue:
            body = .syscall(try decodeSyscall(bytes, kind: header.kind))
        case EVENT_PEER.rawValue:
            let record: peer_event = try load(bytes, kind: header.kind)
            body = .peer(
                Event.Peer(
                    writerPid: Int32(bitPattern: record.writer_pid), writerTid: Int32(bitPattern: record.writer_tid),
                    writerInode: record.writer_inode, readerInode: record.reader_inode, readerFD: record.reader_fd,
                    newDaemon: record.flags & EVENT_FLAG_NEW_DAEMON.rawValue != 0))
        case EVENT_EXIT.rawValue:
            let record: exit_event = try load(bytes, kind: header.kind)
            body = .exit(
                Event.Exit(
                    code: record.exit_code, groupDead: record.flags & EVENT_FLAG_GROUP_DEAD.rawValue != 0,
                    parentPid: Int32(bitPattern: record.parent_pid), ioEntries: record.io_entries))
        default:
            throw Failure.unknownKind(header.kind)
        }
        return Event(
            ktime: header.ktime, cpu: UInt32(header.cpu),
            pid: Int32(bitPattern: header.pid), tid: Int32(bitPattern: header.tid),
            comm: cString(bytes, offset: MemoryLayout<event_header>.offset(of: \.comm)!, capacity: Int(COMM_LEN)),
            body: body,
            attribution: Event.Attribution(
                tag: Int32(bitPattern: header.tag), alsoTag: Int32(bitPattern: header.also_tag),
                daemon: UInt32(header.attribution) & ATTRIBUTION_DAEMON.rawValue != 0,
                ambiguous: UInt32(header.attribution) & ATTRIBUTION_AMBIGUOUS.rawValue != 0))
    }

    private func load<T>(_ bytes: UnsafeRawBufferPointer, kind: UInt16) throws -> T {
        guard bytes.count == MemoryLayout<T>.size else { throw Failure.sizeMismatch(kind: kind, size: bytes.count) }
        return bytes.loadUnaligned(as: T.self)
    }

    /// exec records are sent cut after the used part of argv.
    private func decodeExec(_ bytes: UnsafeRawBufferPointer, kind: UInt16) throws -> Event.Exec {
        let argvOffset = MemoryLayout<exec_event>.offset(of: \.argv)!
        guard bytes.count >= argvOffset else { throw Failure.sizeMismatch(kind: kind, size: bytes.count) }
        let oldTid = bytes.loadUnaligned(
            fromByteOffset: MemoryLayout<exec_event>.offset(of: \.old_tid)!, as: UInt32.self)
        let flags = bytes.loadUnaligned(fromByteOffset: MemoryLayout<exec_event>.offset(of: \.flags)!, as: UInt32.self)
        let filenameLength = Int(
            bytes.loadUnaligned(fromByteOffset: MemoryLayout<exec_event>.offset(of: \.filename_len)!, as: UInt16.self))
        let argvLength = Int(
            bytes.loadUnaligned(fromByteOffset: MemoryLayout<exec_event>.offset(of: \.argv_len)!, as: UInt16.self))
        let ioEntries = bytes.loadUnaligned(
            fromByteOffset: MemoryLayout<exec_event>.offset(of: \.io_entries)!, as: Int32.self)
        guard argvOffset + argvLength == bytes.count, filenameLength < Int(EXEC_FILENAME_CAP) else {
            throw Failure.sizeMismatch(kind: kind, size: bytes.count)
        }
        let filenameOffset = MemoryLayout<exec_event>.offset(of: \.filename)!
        let filename = Array(bytes[filenameOffset..<filenameOffset + filenameLength])
        var argv = bytes[argvOffset..<argvOffset + argvLength].split(separator: 0, omittingEmptySubsequences: false)
            .map(Array.init)
        if argv.last?.isEmpty == true { argv.removeLast() }
        return Event.Exec(
            filename: filename, argv: argv, oldTid: Int32(bitPattern: oldTid),
            filenameTruncated: flags & EVENT_FLAG_FILENAME_TRUNCATED.rawValue != 0,
            argvTruncated: flags & EVENT_FLAG_ARGV_TRUNCATED.rawValue != 0, ioEntries: ioEntries)
    }

    /// syscall records are sent cut after the last path used.
    private func decodeSyscall(_ bytes: UnsafeRawBufferPointer, kind: UInt16) throws -> Event.Syscall {
        let pathsOffset = MemoryLayout<syscall_event>.offset(of: \.paths)!
        guard bytes.count >= pathsOffset, bytes.count <= MemoryLayout<syscall_event>.size else {
            throw Failure.sizeMismatch(kind: kind, size: bytes.count)
        }
        // Field by field: the whole struct is 8 KiB, most of it path buffers.
        func field<T>(_ path: PartialKeyPath<syscall_event>, _ type: T.Type) -> T {
            bytes.loadUnaligned(fromByteOffset: MemoryLayout<syscall_event>.offset(of: path)!, as: T.self)
        }
        let pathLengths = field(\syscall_event.path_len, (UInt16, UInt16).self)
        let lengths = [Int(pathLengths.0), Int(pathLengths.1)]
        let sockaddrLength = min(Int(field(\syscall_event.sockaddr_len, UInt16.self)), Int(SOCKADDR_CAP))
        var paths: [[UInt8]] = []
        for slot in 0..<(sockaddrLength > 0 ? 0 : 2) {
            let start = pathsOffset + slot * Int(SYSCALL_PATH_CAP)
            guard start < bytes.count else { break }
            guard lengths[slot] < Int(SYSCALL_PATH_CAP), start + lengths[slot] <= bytes.count else {
                throw Failure.sizeMismatch(kind: kind, size: bytes.count)
            }
            paths.append(Array(bytes[start..<start + lengths[slot]]))
        }
        let argsOffset = MemoryLayout<syscall_event>.offset(of: \syscall_event.args)!
        var args = SIMD8<UInt64>()
        for index in 0..<6 {
            args[index] = bytes.loadUnaligned(fromByteOffset: argsOffset + 8 * index, as: UInt64.self)
        }
        guard pathsOffset + sockaddrLength <= bytes.count else {
            throw Failure.sizeMismatch(kind: kind, size: bytes.count)
        }
        let sockaddr = Array(bytes[pathsOffset..<pathsOffset + sockaddrLength])
        let flags = field(\syscall_event.flags, UInt32.self)
        let io = field(\syscall_event.io, io_totals.self)
        let file =
            flags & EVENT_FLAG_HAS_FILE.rawValue == 0
            ? nil
            : Event.FileInfo(
                inode: field(\syscall_event.file_inode, UInt64.self),
                mode: field(\syscall_event.file_mode, UInt32.self),
                device: field(\syscall_event.file_dev, UInt32.self),
                inodeMode: field(\syscall_event.file_imode, UInt16.self))
        return Event.Syscall(
            nr: Int(field(\syscall_event.nr, UInt32.self)), ret: field(\syscall_event.ret, Int64.self), args: args,
            paths: paths,
            truncatedPaths: (flags & EVENT_FLAG_PATH0_TRUNCATED.rawValue != 0 && paths.count > 0 ? 1 : 0)
                | (flags & EVENT_FLAG_PATH1_TRUNCATED.rawValue != 0 && paths.count > 1 ? 2 : 0),
            sockaddr: sockaddr, file: file,
            io: io.reads == 0 && io.writes == 0 && io.metadata == 0 ? nil : Event.IOTotals(io))
    }

    private func cString(_ bytes: UnsafeRawBufferPointer, offset: Int, capacity: Int) -> [UInt8] {
        Array(bytes[offset..<offset + capacity].prefix { $0 != 0 })
    }
}

extension Event.IOTotals {
    /// From the kernel's `struct io_totals`.
    public init(_ totals: io_totals) {
        self.init(
            bytesRead: totals.bytes_read, bytesWritten: totals.bytes_written, reads: totals.reads,
            writes: totals.writes, metadata: totals.metadata, mode: totals.mode)
    }
}
