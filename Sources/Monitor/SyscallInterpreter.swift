import BPFSources

/// Turns syscall events into records and keeps the calling process's
/// descriptor table and directories. It acts only on what it is given: the
/// caller, its command (whose ledger for the call's confidence takes file
/// changes) and the other processes of the tree. File syscalls are
/// interpreted by `FileSyscalls`, socket syscalls by `NetworkInterpreter`,
/// read and write totals reported by `IOReport`.
struct SyscallInterpreter {
    let clock: WallClock
    let system: SystemQueries
    let io: IOReport
    private let fileCalls: FileSyscalls
    private let networkCalls: NetworkInterpreter

    init(clock: WallClock, system: SystemQueries) {
        self.clock = clock
        self.system = system
        io = IOReport(system: system)
        fileCalls = FileSyscalls(system: system, io: io)
        networkCalls = NetworkInterpreter(system: system)
    }

    /// PID of a `/proc/PID/ns/mnt` path.
    static func mountNamespaceOwner(_ path: [UInt8]) -> Int32? {
        let parts = path.split(separator: Paths.slash)
        guard parts.count == 4, parts[0].elementsEqual("proc".utf8), parts[2].elementsEqual("ns".utf8),
            parts[3].elementsEqual("mnt".utf8), let pid = Int32(String(decoding: parts[1], as: UTF8.self))
        else { return nil }
        return pid
    }

    /// The records of a syscall `process` made, whose descriptor table it
    /// changes. `command` is the process's command; work of ambiguous
    /// confidence goes to its ambiguous ledger. `others` are the processes of
    /// the tree, without `process`: renames and removals reach their tables.
    func interpret(
        _ event: Event, _ call: Event.Syscall, by process: inout LiveProcess, command: inout CommandState?,
        others: inout ProcessTree
    ) -> [Record] {
        guard let info = SyscallTable.byNumber[call.nr] else { return [] }
        let origin = RecordOrigin(
            clock: clock, ktime: event.ktime, pid: event.pid, tid: event.tid, comm: event.comm,
            process: process, confidence: process.confidence)
        var context = SyscallContext(call: call, info: info, origin: origin)
        interpret(&context, files: &process.files, command: &command, others: &others)
        return context.records
    }

    private func interpret(
        _ ctx: inout SyscallContext, files: inout FileTable, command: inout CommandState?,
        others: inout ProcessTree
    ) {
        let call = ctx.call
        if ctx.info.summed { return fileCalls.readWrite(&ctx, files: files, command: &command) }
        switch ctx.meaning {
        case .open: fileCalls.open(&ctx, files: &files, command: &command)
        case .close:
            let fd = call.int(0)
            if call.ret == 0, let file = files[fd] {
                let totals = files.takeCarried(fd, adding: call.io)
                files.close(fd)
                ctx.records += io.reportIO(
                    ctx.origin, fd: fd, file: file, totals: totals, closing: true, command: &command)
            }
        case .closeRange:
            guard call.ret == 0 else { return }
            let first = call.arg(0), last = call.arg(1)
            let fds = files.openDescriptors.filter { UInt64($0) >= first && UInt64($0) <= last }
            if call.arg(2) & Linux.closeRangeCloexec != 0 {  // CLOSE_RANGE_CLOEXEC only marks them
                for fd in fds { files.setCloseOnExec(fd, true) }
                return
            }
            var closed: [Int32: OpenFile] = [:]
            for fd in fds { closed[fd] = files[fd] }
            ctx.records += io.endGeneration(ctx.origin, files: &files, command: &command, closed: closed)
            for fd in fds { files.close(fd) }
        case .read, .write:
            fileCalls.readWrite(&ctx, files: files, command: &command)
        case .transfer:
            fileCalls.transfer(&ctx, files: files, command: &command)
        case .truncate:
            fileCalls.truncate(&ctx, files: files, command: &command)
        case .unlink, .rmdir:
            fileCalls.remove(&ctx, files: &files, command: &command, others: &others)
        case .mkdir, .mknod:
            fileCalls.make(&ctx, files: files, command: &command)
        case .rename, .link:
            fileCalls.renameOrLink(&ctx, files: &files, command: &command, others: &others)
        case .symlink:
            fileCalls.symlink(&ctx, files: files, command: &command)
        case .chmod, .chown, .utime, .xattr:
            fileCalls.changeMetadata(&ctx, files: files, command: &command)
        case .mount, .umount:
            let path = fileCalls.resolved(ctx, files, dirfd: Linux.atFDCWD, slot: ctx.meaning == .mount ? 1 : 0)
            fileCalls.simple(&ctx, .file, ctx.meaning == .mount ? .mount : .umount, path: path)
        case .chdir:
            if call.ret == 0, let path = fileCalls.resolved(ctx, files, dirfd: Linux.atFDCWD, slot: 0, followLast: true)
            {
                files.cwd = path
            }
        case .fchdir:
            if call.ret == 0, let path = files[call.int(0)]?.path { files.cwd = path }
        case .changeRoot:
            // runc: chdir(rootfs); pivot_root(".", "."); chdir("/"). The new root as the host names it.
            if call.ret == 0, let path = fileCalls.resolved(ctx, files, dirfd: Linux.atFDCWD, slot: 0, followLast: true)
            {
                files.root = path == [Paths.slash] ? nil : path
            }
        case .joinNamespace:
            // runc exec, nsenter: setns on /proc/PID/ns/mnt takes PID's root, as the host names it.
            guard call.ret == 0, call.arg(1) == 0 || call.arg(1) & Linux.cloneNewns != 0,
                let path = files[call.int(0)]?.path, let target = Self.mountNamespaceOwner(path)
            else { return }
            files.root = system.mountedRoot(of: target)
        case .dup:
            guard call.ret >= 0 else { return }
            let new = Int32(truncatingIfNeeded: call.ret)
            if let replaced = files[new], call.int(0) != new {
                // dup2 onto an open fd closes it; the kernel put its totals on this record.
                let totals = files.takeCarried(new, adding: call.io)
                ctx.records += io.reportIO(
                    ctx.origin, fd: new, file: replaced, totals: totals, closing: true,
                    command: &command)
            }
            files.close(new)
            let cloexec = (ctx.arg(ctx.arguments.flags) ?? 0) & Linux.oCloexec != 0
            files.duplicate(call.int(0), to: new, closeOnExec: cloexec)
        case .fcntl:
            let command = call.arg(1)
            let cloexec = command == UInt64(FCNTL_DUPFD_CLOEXEC.rawValue)
            if command == UInt64(FCNTL_DUPFD.rawValue) || cloexec, call.ret >= 0 {
                files.duplicate(call.int(0), to: Int32(truncatingIfNeeded: call.ret), closeOnExec: cloexec)
            } else if command == UInt64(FCNTL_SETFD.rawValue), call.ret == 0 {
                files.setCloseOnExec(call.int(0), call.arg(2) & Linux.fdCloexec != 0)
            }
        case .pipe:
            guard call.ret == 0, let (read, write) = SocketAddress.fdPair(call.sockaddr) else { return }
            let cloexec = (ctx.arg(ctx.arguments.flags) ?? 0) & Linux.oCloexec != 0
            files.open(read, OpenFile(kind: .pipe), closeOnExec: cloexec)
            files.open(write, OpenFile(kind: .pipe, writable: true), closeOnExec: cloexec)
        case .socket, .socketpair, .connect, .bind, .listen, .accept, .send, .recv, .shutdown:
            networkCalls.interpret(&ctx, files: &files, command: &command)
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
}
