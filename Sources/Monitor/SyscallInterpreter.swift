/// Turns syscall events into records and keeps the calling process's
/// descriptor table and directories. File changes go to the ledger the
/// call's origin names; file syscalls are in FileSyscalls.swift, socket
/// syscalls in NetworkInterpreter.swift.
extension Tracker {
    static let atFDCWD: Int32 = -100
    static let oCreat: UInt64 = 0o100, oTrunc: UInt64 = 0o1000, oCloexec: UInt64 = 0o2000000
    static let oAccmode: UInt64 = 3, oPath: UInt64 = 0o10000000, oTmpfile: UInt64 = 0o20000000
    static let oNofollow: UInt64 = 0o400000, oExcl: UInt64 = 0o200
    static let atRemovedir: UInt64 = 0x200, atSymlinkNofollow: UInt64 = 0x100
    static let renameNoreplace: UInt64 = 1, renameExchange: UInt64 = 2
    static let closeRangeCloexec: UInt64 = 4
    static let enoent: Int32 = 2, eexist: Int32 = 17, einprogress: Int32 = 115
    private static let cloneNewns: UInt64 = 0x20000

    /// PID of a `/proc/PID/ns/mnt` path.
    static func mountNamespaceOwner(_ path: [UInt8]) -> Int32? {
        let parts = path.split(separator: Paths.slash)
        guard parts.count == 4, parts[0].elementsEqual("proc".utf8), parts[2].elementsEqual("ns".utf8),
              parts[3].elementsEqual("mnt".utf8), let pid = Int32(String(decoding: parts[1], as: UTF8.self)) else { return nil }
        return pid
    }

    /// A syscall of a process in the tree (adopted if it was unknown).
    mutating func handleSyscall(_ event: Event, _ call: Event.Syscall) -> [Record] {
        guard SyscallTable.byNumber[call.nr] != nil else { return [] }
        var process = takeProcess(for: event)
        let records = interpretSyscall(event, call, by: &process)
        processes.add(event.pid, process)
        return records
    }

    /// The records of a syscall `process` made, whose descriptor table it
    /// changes. Work of ambiguous confidence goes to the command's ambiguous ledger.
    mutating func interpretSyscall(_ event: Event, _ call: Event.Syscall, by process: inout LiveProcess) -> [Record] {
        guard let info = SyscallTable.byNumber[call.nr] else { return [] }
        let origin = RecordOrigin(clock: clock, ktime: event.ktime, pid: event.pid, tid: event.tid, comm: event.comm,
                                  process: process, confidence: process.confidence)
        var context = SyscallContext(call: call, info: info, origin: origin)
        interpret(&context, files: &process.files)
        return context.records
    }

    private mutating func interpret(_ ctx: inout SyscallContext, files: inout FileTable) {
        let call = ctx.call
        if ctx.info.summed { return readWrite(&ctx, files: files) }
        switch ctx.meaning {
        case .open: open(&ctx, files: &files)
        case .close:
            let fd = call.int(0)
            if call.ret == 0, let file = files[fd] {
                let totals = files.takeCarried(fd, adding: call.io)
                files.close(fd)
                ctx.records += reportIO(ctx.origin, fd: fd, file: file, totals: totals, closing: true)
            }
        case .closeRange:
            guard call.ret == 0 else { return }
            let first = call.arg(0), last = call.arg(1)
            let fds = files.openDescriptors.filter { UInt64($0) >= first && UInt64($0) <= last }
            if call.arg(2) & Self.closeRangeCloexec != 0 {  // CLOSE_RANGE_CLOEXEC only marks them
                for fd in fds { files.setCloseOnExec(fd, true) }
                return
            }
            var closed: [Int32: OpenFile] = [:]
            for fd in fds { closed[fd] = files[fd] }
            ctx.records += endGeneration(ctx.origin, files: &files, closed: closed)
            for fd in fds { files.close(fd) }
        case .read, .write:
            readWrite(&ctx, files: files)
        case .transfer:
            transfer(&ctx, files: files)
        case .truncate:
            truncate(&ctx, files: files)
        case .unlink, .rmdir:
            remove(&ctx, files: &files)
        case .mkdir, .mknod:
            make(&ctx, files: files)
        case .rename, .link:
            renameOrLink(&ctx, files: &files)
        case .symlink:
            symlink(&ctx, files: files)
        case .chmod, .chown, .utime, .xattr:
            changeMetadata(&ctx, files: files)
        case .mount, .umount:
            let path = resolved(ctx, files, dirfd: Self.atFDCWD, slot: ctx.meaning == .mount ? 1 : 0)
            simple(&ctx, .file, ctx.meaning == .mount ? .mount : .umount, path: path)
        case .chdir:
            if call.ret == 0, let path = resolved(ctx, files, dirfd: Self.atFDCWD, slot: 0, followLast: true) { files.cwd = path }
        case .fchdir:
            if call.ret == 0, let path = files[call.int(0)]?.path { files.cwd = path }
        case .changeRoot:
            // runc: chdir(rootfs); pivot_root(".", "."); chdir("/"). The new root as the host names it.
            if call.ret == 0, let path = resolved(ctx, files, dirfd: Self.atFDCWD, slot: 0, followLast: true) {
                files.root = path == [Paths.slash] ? nil : path
            }
        case .joinNamespace:
            // runc exec, nsenter: setns on /proc/PID/ns/mnt takes PID's root, as the host names it.
            guard call.ret == 0, call.arg(1) == 0 || call.arg(1) & Self.cloneNewns != 0,
                  let path = files[call.int(0)]?.path, let target = Self.mountNamespaceOwner(path) else { return }
            files.root = system.mountedRoot(of: target)
        case .dup:
            guard call.ret >= 0 else { return }
            let new = Int32(truncatingIfNeeded: call.ret)
            if let replaced = files[new], call.int(0) != new {
                // dup2 onto an open fd closes it; the kernel put its totals on this record.
                let totals = files.takeCarried(new, adding: call.io)
                ctx.records += reportIO(ctx.origin, fd: new, file: replaced, totals: totals, closing: true)
            }
            files.close(new)
            let cloexec = (ctx.arg(ctx.arguments.flags) ?? 0) & Self.oCloexec != 0
            files.duplicate(call.int(0), to: new, closeOnExec: cloexec)
        case .fcntl:
            let command = call.arg(1)
            if (command == 0 || command == 1030), call.ret >= 0 {  // F_DUPFD, F_DUPFD_CLOEXEC
                files.duplicate(call.int(0), to: Int32(truncatingIfNeeded: call.ret), closeOnExec: command == 1030)
            } else if command == 2, call.ret == 0 {  // F_SETFD
                files.setCloseOnExec(call.int(0), call.arg(2) & 1 != 0)
            }
        case .pipe:
            guard call.ret == 0, let (read, write) = SocketAddress.fdPair(call.sockaddr) else { return }
            let cloexec = (ctx.arg(ctx.arguments.flags) ?? 0) & Self.oCloexec != 0
            files.open(read, OpenFile(kind: .pipe), closeOnExec: cloexec)
            files.open(write, OpenFile(kind: .pipe, writable: true), closeOnExec: cloexec)
        case .socket, .socketpair, .connect, .bind, .listen, .accept, .send, .recv, .shutdown:
            network(&ctx, files: &files)
        case .kill:
            guard let target = ctx.arguments.target, let signalArgument = ctx.arguments.signal else { return }
            let signal = call.int(signalArgument)
            guard signal != 0 else { return }  // an existence check, not a signal
            var record = ctx.record(.process, .signal)
            record.target = call.int(target)
            record.signal = signal
            ctx.records.append(.activity(record))
        }
    }

    /// Applies `change` to the ledger `origin` names, of `origin`'s command.
    mutating func updateLedger(_ origin: RecordOrigin, _ change: (inout FileLedger) -> Void) {
        commands[origin.command]?.updateLedger(origin.confidence, change)
    }

    /// Content or attributes of a file changed, and of its hard links.
    mutating func changed(_ path: [UInt8], _ origin: RecordOrigin, content: Bool) {
        commands[origin.command]?.changed(path, content: content, origin.confidence)
    }

    /// After a rename, open fds and working directories that named the old
    /// path (or a path under it) name the new one: in every process in the
    /// tree, and in the caller's `files`.
    mutating func renameOpenFiles(from: [UInt8], to: [UInt8], caller files: inout FileTable) {
        processes.updateFiles { $0.renamePaths(from: from, to: to) }
        files.renamePaths(from: from, to: to)
    }

    /// The name was removed or renamed over: files still open under it no
    /// longer have that name, so writes through them change nothing listed.
    mutating func detachOpenFiles(at path: [UInt8], caller files: inout FileTable) {
        processes.updateFiles { $0.detach(at: path) }
        files.detach(at: path)
    }
}
