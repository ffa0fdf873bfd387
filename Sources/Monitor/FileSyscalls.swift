import Synchronization

/// File syscalls: absolute paths from the working directory and dirfds, the
/// descriptor table entries opens make, and the changes the command's ledger
/// records. Each call takes the caller's descriptor table and its command;
/// calls that rename or remove names take the other processes' tables too.
struct FileSyscalls {
    let system: SystemQueries
    let io: IOReport

    /// A read or write summed in the kernel: it arrives alone only when it
    /// failed, or with --io.
    func readWrite(_ ctx: inout SyscallContext, files: FileTable, command: inout CommandState?) {
        let call = ctx.call
        let fd = call.int(0)
        let reading = ctx.meaning == .read || ctx.meaning == .recv
        var record = ctx.record(.file, reading ? .read : .write)
        record.fd = fd
        let file = files[fd]
        if let socket = file?.socket {
            record.category = .network
            record.action = reading ? .recv : .send
            record.socket = socket
        }
        record.path = file?.path
        if call.ret >= 0 {
            record.bytes = UInt64(call.ret)
            let totals =
                reading
                ? Event.IOTotals(bytesRead: UInt64(call.ret), bytesWritten: 0, reads: 1, writes: 0)
                : Event.IOTotals(bytesRead: 0, bytesWritten: UInt64(call.ret), reads: 0, writes: 1)
            io.account(ctx.origin, file: file, totals: totals, command: &command)
        }
        ctx.records.append(.activity(record))
    }

    func open(_ ctx: inout SyscallContext, files: inout FileTable, command: inout CommandState?) {
        let call = ctx.call
        let flags: UInt64? = ctx.arg(ctx.arguments.flags) ?? ctx.arguments.impliedFlags
        // O_CREAT|O_EXCL never follows a symlink in the last component: it fails on one.
        let exclusive = (flags ?? 0) & (Linux.oCreat | Linux.oExcl) == Linux.oCreat | Linux.oExcl
        let path = resolved(
            ctx, files, dirfd: ctx.dirfd(ctx.arguments.dirfd), slot: 0,
            followLast: (flags ?? 0) & Linux.oNofollow == 0 && !exclusive)
        guard call.ret >= 0 else {
            // ENOENT says nothing certain (a dangling symlink gives it too); EEXIST of O_CREAT|O_EXCL does.
            if call.errno == Linux.eexist, let path { changeLedger(&command, ctx) { $0.observed(path, exists: true) } }
            var record = ctx.record(.file, .open)
            record.path = path
            record.flags = flags.map(Self.openFlags)
            record.truncated = call.isPathTruncated(0)
            ctx.records.append(.activity(record))
            return
        }
        let fd = Int32(truncatingIfNeeded: call.ret)
        let info = call.file
        let created = info?.created ?? false
        let writable = info?.writable ?? ((flags ?? 0) & Linux.oAccmode != 0)
        let kind: OpenFile.Kind =
            info.map {
                $0.isDirectory ? .directory : $0.isRegular ? .file : $0.isSocket ? .socket : $0.isPipe ? .pipe : .other
            } ?? .file
        let loader = path.map(Paths.isLoaderFile) == true && !writable
        files.close(fd)  // a number reused while still open (dup2 onto it): the old file is closed
        files.open(
            fd, OpenFile(kind: kind, path: path, writable: writable, loader: loader),
            closeOnExec: (flags ?? 0) & Linux.oCloexec != 0)
        let special = (flags ?? 0) & (Linux.oPath | Linux.oTmpfile) != 0
        if let path, !special, kind == .file || kind == .directory {
            let truncated = (flags ?? 0) & Linux.oTrunc != 0 && writable && !created
            changeLedger(&command, ctx) {
                $0.opened(
                    path, created: created, writable: writable, truncated: truncated, loader: loader,
                    directory: kind == .directory)
            }
        }
        var record = ctx.record(.file, created ? .create : .open)
        record.path = path
        record.fd = fd
        record.flags = flags.map(Self.openFlags) ?? (writable ? "write" : "read")
        record.loader = loader
        record.truncated = call.isPathTruncated(0)
        ctx.records.append(.activity(record))
    }

    /// sendfile, copy_file_range, splice: bytes read from one fd and written to another.
    func transfer(_ ctx: inout SyscallContext, files: FileTable, command: inout CommandState?) {
        let call = ctx.call
        guard call.ret > 0 else { return failure(&ctx, .file, .write, path: nil) }
        guard let output = ctx.info.fd.map(call.int), let input = ctx.arguments.input.map(call.int) else { return }
        let bytes = UInt64(call.ret)
        io.account(
            ctx.origin, file: files[input],
            totals: Event.IOTotals(bytesRead: bytes, bytesWritten: 0, reads: 1, writes: 0),
            command: &command)
        io.account(
            ctx.origin, file: files[output],
            totals: Event.IOTotals(bytesRead: 0, bytesWritten: bytes, reads: 0, writes: 1),
            command: &command)
        var record = ctx.record(.file, .write)
        record.fd = output
        record.path = files[output]?.path
        record.bytes = bytes
        ctx.records.append(.activity(record))
    }

    /// truncate by path; ftruncate and fallocate through an fd.
    func truncate(_ ctx: inout SyscallContext, files: FileTable, command: inout CommandState?) {
        let path: [UInt8]?
        if let fd = ctx.info.fd {
            path = files[ctx.call.int(fd)]?.path
        } else {
            path = resolved(ctx, files, dirfd: Linux.atFDCWD, slot: 0, followLast: true)
        }
        if ctx.call.ret == 0, let path { command?.changed(path, content: true, ctx.origin.confidence) }
        simple(&ctx, .file, .truncate, path: path)
    }

    /// unlink, unlinkat, rmdir.
    func remove(
        _ ctx: inout SyscallContext, files: inout FileTable, command: inout CommandState?,
        others: inout ProcessTree
    ) {
        let call = ctx.call
        let removeDir = ctx.arg(ctx.arguments.flags).map { $0 & Linux.atRemovedir != 0 } ?? false
        let directory = ctx.meaning == .rmdir || removeDir
        let path = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.dirfd), slot: 0)
        if call.ret == 0, let path {
            changeLedger(&command, ctx) { $0.removed(path, directory: directory) }
            command?.hardLinks.remove(path)
            detachOpenFiles(at: path, caller: &files, others: &others)
            // Removing a directory changes how no other name resolves: what
            // could take its place (a symlink, a renamed directory) says so
            // when it comes. A removed symlink does change names under it.
            if !directory { system.pathChanged(path) }
        }
        if call.errno == Linux.enoent, let path { changeLedger(&command, ctx) { $0.observed(path, exists: false) } }
        simple(&ctx, .file, directory ? .rmdir : .unlink, path: path)
    }

    /// mkdir, mkdirat, mknod, mknodat.
    func make(_ ctx: inout SyscallContext, files: FileTable, command: inout CommandState?) {
        let call = ctx.call
        let directory = ctx.meaning == .mkdir
        let path = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.dirfd), slot: 0)
        if call.ret == 0, let path {
            changeLedger(&command, ctx) { $0.created(path, directory: directory) }
            system.pathCreated(path)
        }
        if call.errno == Linux.eexist, let path { changeLedger(&command, ctx) { $0.observed(path, exists: true) } }
        simple(&ctx, .file, directory ? .mkdir : .mknod, path: path)
    }

    func renameOrLink(
        _ ctx: inout SyscallContext, files: inout FileTable, command: inout CommandState?,
        others: inout ProcessTree
    ) {
        let call = ctx.call
        let from = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.dirfd), slot: 0)
        let to = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.secondDirfd), slot: 1)
        let rename = ctx.meaning == .rename
        var record = ctx.record(.file, rename ? .rename : .link)
        record.from = from
        record.to = to
        record.truncated = call.anyPathTruncated
        if call.ret == 0, let from, let to {
            if rename {
                let flags = ctx.arg(ctx.arguments.flags) ?? 0
                let exchange = flags & Linux.renameExchange != 0
                let replaced: Bool? = exchange ? true : (flags & Linux.renameNoreplace != 0 ? false : nil)
                changeLedger(&command, ctx) { $0.renamed(from: from, to: to, replaced: replaced, exchange: exchange) }
                if !exchange { detachOpenFiles(at: to, caller: &files, others: &others) }
                command?.hardLinks.rename(from, to)
                renameOpenFiles(from: from, to: to, caller: &files, others: &others)
                system.pathChanged(from)
                system.pathChanged(to)
                system.pathCreated(to)
            } else {
                changeLedger(&command, ctx) { $0.created(to, directory: false) }
                command?.hardLinks.link(from, to)
                system.pathCreated(to)
            }
        }
        // EEXIST (RENAME_NOREPLACE, link): the target is there; mv tries this first.
        if call.errno == Linux.eexist, let to { changeLedger(&command, ctx) { $0.observed(to, exists: true) } }
        ctx.records.append(.activity(record))
    }

    func symlink(_ ctx: inout SyscallContext, files: FileTable, command: inout CommandState?) {
        let call = ctx.call
        let link = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.secondDirfd), slot: 1)
        if call.ret == 0, let link {
            changeLedger(&command, ctx) { $0.created(link, directory: false) }
            system.pathChanged(link)
            system.pathCreated(link)
        }
        if call.errno == Linux.eexist, let link { changeLedger(&command, ctx) { $0.observed(link, exists: true) } }
        var record = ctx.record(.file, .symlink)
        record.path = link
        record.to = call.paths.first
        ctx.records.append(.activity(record))
    }

    /// chmod, chown, utime and xattr calls, by path or through an fd.
    func changeMetadata(_ ctx: inout SyscallContext, files: FileTable, command: inout CommandState?) {
        let action: ActivityAction
        switch ctx.meaning {
        case .chmod: action = .chmod
        case .chown: action = .chown
        case .utime: action = .utime
        default: action = .xattr
        }
        let path = metadataTarget(ctx, files)
        if ctx.call.ret == 0, let path { command?.changed(path, content: false, ctx.origin.confidence) }
        var record = ctx.record(.file, action)
        record.path = path
        if let mode = ctx.arguments.mode { record.mode = UInt32(truncatingIfNeeded: ctx.call.arg(mode)) }
        ctx.records.append(.activity(record))
    }

    /// After a rename, open fds and working directories that named the old
    /// path (or a path under it) name the new one: in every other process in
    /// the tree, and in the caller's `files`.
    private func renameOpenFiles(from: [UInt8], to: [UInt8], caller files: inout FileTable, others: inout ProcessTree) {
        others.updateFiles { $0.renamePaths(from: from, to: to) }
        files.renamePaths(from: from, to: to)
    }

    /// The name was removed or renamed over: files still open under it no
    /// longer have that name, so writes through them change nothing listed.
    private func detachOpenFiles(at path: [UInt8], caller files: inout FileTable, others: inout ProcessTree) {
        others.updateFiles { $0.detach(at: path) }
        files.detach(at: path)
    }

    /// Applies `change` to the ledger the call's origin names, of `command`.
    private func changeLedger(
        _ command: inout CommandState?, _ ctx: SyscallContext, _ change: (inout FileLedger) -> Void
    ) {
        command?.updateLedger(ctx.origin.confidence, change)
    }

    /// The absolute path a syscall argument names. Symlinks in the directory
    /// part, and in the last component when the call follows it, are resolved
    /// through the file system as it is now; where that fails, `..` is taken lexically.
    /// `/proc/self` is the caller's, not the monitor's, and the caller's
    /// `/proc/PID/fd/N` is the file its descriptor N holds at the call.
    /// Under a changed root (a container) the monitor cannot see the caller's
    /// `/proc`, and leaves it be.
    func resolved(_ ctx: SyscallContext, _ files: FileTable, dirfd: Int32, slot: Int, followLast: Bool = false)
        -> [UInt8]?
    {
        guard slot < ctx.call.paths.count else { return nil }
        let path = ctx.call.paths[slot]
        var joined = path
        if Paths.isAbsolute(path), let root = files.root {
            joined = root + path
        } else if !Paths.isAbsolute(path) {
            let base = dirfd == Linux.atFDCWD ? files.cwd : files[dirfd]?.path
            guard let base else { return path.isEmpty ? nil : path }  // relative to something unknown: shown as given
            if path.isEmpty { return base }
            joined = base + [Paths.slash] + path
        }
        if files.root == nil {
            joined = Paths.procSelf(joined, pid: ctx.origin.pid, tid: ctx.origin.tid)
            if let link = Paths.descriptorLink(joined, pid: ctx.origin.pid), followLast || !link.rest.isEmpty,
                let target = files[link.fd]?.path
            {
                if link.rest.isEmpty { return target }
                joined = target + link.rest
            }
        }
        return system.canonical(joined, followLast: followLast) ?? Paths.normalize(joined)
    }

    /// chmod/chown/utime/xattr: a path, or the fd itself (f* calls, utimensat with a NULL path).
    private func metadataTarget(_ ctx: SyscallContext, _ files: FileTable) -> [UInt8]? {
        if let fd = ctx.info.fd { return files[ctx.call.int(fd)]?.path }
        let dirfd = ctx.dirfd(ctx.arguments.dirfd)
        if ctx.arguments.emptyPathMeansDirfd && (ctx.call.paths.first ?? []).isEmpty { return files[dirfd]?.path }
        let noFollow =
            ctx.arguments.noFollow
            || ctx.arg(ctx.arguments.flags).map { $0 & Linux.atSymlinkNofollow != 0 } ?? false
        return resolved(ctx, files, dirfd: dirfd, slot: 0, followLast: !noFollow)
    }

    func simple(
        _ ctx: inout SyscallContext, _ category: ActivityRecord.Category, _ action: ActivityAction,
        path: [UInt8]?
    ) {
        var record = ctx.record(category, action)
        record.path = path
        record.truncated = ctx.call.isPathTruncated(0)
        ctx.records.append(.activity(record))
    }

    private func failure(
        _ ctx: inout SyscallContext, _ category: ActivityRecord.Category, _ action: ActivityAction,
        path: [UInt8]?
    ) {
        guard ctx.call.errno != nil else { return }
        simple(&ctx, category, action, path: path)
    }

    /// Every open's flags as names: a program opens with few sets of flags,
    /// so each set is spelled once. Only the bits that have names are kept,
    /// which bounds the sets (4,096).
    static func openFlags(_ flags: UInt64) -> String {
        let named = flags & namedBits
        if let names = spelledFlags.withLock({ $0[named] }) { return names }
        let names = spelled(named)
        spelledFlags.withLock { $0[named] = names }
        return names
    }

    private static let namedBits = flagBits.reduce(UInt64(3)) { $0 | $1.0 }

    private static let spelledFlags = Mutex<[UInt64: String]>([:])

    private static func spelled(_ flags: UInt64) -> String {
        var names = accessModes[Int(flags & 3)]
        for (bit, name) in flagBits where flags & bit == bit {
            names += "|"
            names += name
        }
        return names
    }

    private static let accessModes = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"]
    private static let flagBits: [(UInt64, String)] = [
        (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"),
        (0o4000, "O_NONBLOCK"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
        (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"), (0o20000000, "O_TMPFILE"),
    ]
}
