/// File syscalls: absolute paths from the working directory and dirfds, the
/// descriptor table entries opens make, and the changes the command's ledger
/// records.
extension Tracker {
    /// A read or write summed in the kernel: it arrives alone only when it
    /// failed, or with --io.
    mutating func readWrite(_ ctx: inout SyscallContext, files: FileTable) {
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
            let totals = reading
                ? Event.IOTotals(bytesRead: UInt64(call.ret), bytesWritten: 0, reads: 1, writes: 0)
                : Event.IOTotals(bytesRead: 0, bytesWritten: UInt64(call.ret), reads: 0, writes: 1)
            account(ctx.origin, file: file, totals: totals)
        }
        ctx.records.append(.activity(record))
    }

    mutating func open(_ ctx: inout SyscallContext, files: inout FileTable) {
        let call = ctx.call
        let flags: UInt64? = ctx.arg(ctx.arguments.flags) ?? ctx.arguments.impliedFlags
        let path = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.dirfd), slot: 0,
                            followLast: (flags ?? 0) & Self.oNofollow == 0)
        guard call.ret >= 0 else {
            // ENOENT says nothing certain (a dangling symlink gives it too); EEXIST of O_CREAT|O_EXCL does.
            if call.errno == Self.eexist, let path { updateLedger(ctx.origin) { $0.observed(path, exists: true) } }
            var record = ctx.record(.file, .open)
            record.path = path
            record.flags = flags.map(Self.openFlags)
            record.truncated = call.pathTruncated.first ?? false
            ctx.records.append(.activity(record))
            return
        }
        let fd = Int32(truncatingIfNeeded: call.ret)
        let info = call.file
        let created = info?.created ?? false
        let writable = info?.writable ?? ((flags ?? 0) & Self.oAccmode != 0)
        let kind: OpenFile.Kind = info.map {
            $0.isDirectory ? .directory : $0.isRegular ? .file : $0.isSocket ? .socket : $0.isPipe ? .pipe : .other
        } ?? .file
        let loader = path.map(Paths.isLoaderFile) == true && !writable
        files.close(fd)  // a number reused while still open (dup2 onto it): the old file is closed
        files.open(fd, OpenFile(kind: kind, path: path, writable: writable, loader: loader),
                   closeOnExec: (flags ?? 0) & Self.oCloexec != 0)
        let special = (flags ?? 0) & (Self.oPath | Self.oTmpfile) != 0
        if let path, !special, kind == .file || kind == .directory {
            let truncated = (flags ?? 0) & Self.oTrunc != 0 && writable && !created
            updateLedger(ctx.origin) {
                $0.opened(path, created: created, writable: writable, truncated: truncated, loader: loader,
                          directory: kind == .directory)
            }
        }
        var record = ctx.record(.file, created ? .create : .open)
        record.path = path
        record.fd = fd
        record.flags = flags.map(Self.openFlags) ?? (writable ? "write" : "read")
        record.loader = loader
        record.truncated = call.pathTruncated.first ?? false
        ctx.records.append(.activity(record))
    }

    /// sendfile, copy_file_range, splice: bytes read from one fd and written to another.
    mutating func transfer(_ ctx: inout SyscallContext, files: FileTable) {
        let call = ctx.call
        guard call.ret > 0 else { return failure(&ctx, .file, .write, path: nil) }
        guard let output = ctx.info.fd.map(call.int), let input = ctx.arguments.input.map(call.int) else { return }
        let bytes = UInt64(call.ret)
        account(ctx.origin, file: files[input], totals: Event.IOTotals(bytesRead: bytes, bytesWritten: 0, reads: 1, writes: 0))
        account(ctx.origin, file: files[output], totals: Event.IOTotals(bytesRead: 0, bytesWritten: bytes, reads: 0, writes: 1))
        var record = ctx.record(.file, .write)
        record.fd = output
        record.path = files[output]?.path
        record.bytes = bytes
        ctx.records.append(.activity(record))
    }

    /// truncate by path; ftruncate and fallocate through an fd.
    mutating func truncate(_ ctx: inout SyscallContext, files: FileTable) {
        let path: [UInt8]?
        if let fd = ctx.info.fd {
            path = files[ctx.call.int(fd)]?.path
        } else {
            path = resolved(ctx, files, dirfd: Self.atFDCWD, slot: 0, followLast: true)
        }
        if ctx.call.ret == 0, let path { changed(path, ctx.origin, content: true) }
        simple(&ctx, .file, .truncate, path: path)
    }

    /// unlink, unlinkat, rmdir.
    mutating func remove(_ ctx: inout SyscallContext, files: inout FileTable) {
        let call = ctx.call
        let removeDir = ctx.arg(ctx.arguments.flags).map { $0 & Self.atRemovedir != 0 } ?? false
        let directory = ctx.meaning == .rmdir || removeDir
        let path = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.dirfd), slot: 0)
        if call.ret == 0, let path {
            updateLedger(ctx.origin) { $0.removed(path, directory: directory) }
            commands[ctx.command]?.hardLinks.remove(path)
            detachOpenFiles(at: path, caller: &files)
            system.pathChanged(path)
        }
        if call.errno == Self.enoent, let path { updateLedger(ctx.origin) { $0.observed(path, exists: false) } }
        simple(&ctx, .file, directory ? .rmdir : .unlink, path: path)
    }

    /// mkdir, mkdirat, mknod, mknodat.
    mutating func make(_ ctx: inout SyscallContext, files: FileTable) {
        let call = ctx.call
        let directory = ctx.meaning == .mkdir
        let path = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.dirfd), slot: 0)
        if call.ret == 0, let path {
            updateLedger(ctx.origin) { $0.created(path, directory: directory) }
            system.pathCreated(path)
        }
        if call.errno == Self.eexist, let path { updateLedger(ctx.origin) { $0.observed(path, exists: true) } }
        simple(&ctx, .file, directory ? .mkdir : .mknod, path: path)
    }

    mutating func renameOrLink(_ ctx: inout SyscallContext, files: inout FileTable) {
        let call = ctx.call
        let from = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.dirfd), slot: 0)
        let to = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.secondDirfd), slot: 1)
        let rename = ctx.meaning == .rename
        var record = ctx.record(.file, rename ? .rename : .link)
        record.from = from
        record.to = to
        record.truncated = call.pathTruncated.contains(true)
        if call.ret == 0, let from, let to {
            if rename {
                let flags = ctx.arg(ctx.arguments.flags) ?? 0
                let exchange = flags & Self.renameExchange != 0
                let replaced: Bool? = exchange ? true : (flags & Self.renameNoreplace != 0 ? false : nil)
                updateLedger(ctx.origin) { $0.renamed(from: from, to: to, replaced: replaced, exchange: exchange) }
                if !exchange { detachOpenFiles(at: to, caller: &files) }
                commands[ctx.command]?.hardLinks.rename(from, to)
                renameOpenFiles(from: from, to: to, caller: &files)
                system.pathChanged(from)
                system.pathChanged(to)
                system.pathCreated(to)
            } else {
                updateLedger(ctx.origin) { $0.created(to, directory: false) }
                commands[ctx.command]?.hardLinks.link(from, to)
                system.pathCreated(to)
            }
        }
        // EEXIST (RENAME_NOREPLACE, link): the target is there; mv tries this first.
        if call.errno == Self.eexist, let to { updateLedger(ctx.origin) { $0.observed(to, exists: true) } }
        ctx.records.append(.activity(record))
    }

    mutating func symlink(_ ctx: inout SyscallContext, files: FileTable) {
        let call = ctx.call
        let link = resolved(ctx, files, dirfd: ctx.dirfd(ctx.arguments.secondDirfd), slot: 1)
        if call.ret == 0, let link {
            updateLedger(ctx.origin) { $0.created(link, directory: false) }
            system.pathChanged(link)
            system.pathCreated(link)
        }
        if call.errno == Self.eexist, let link { updateLedger(ctx.origin) { $0.observed(link, exists: true) } }
        var record = ctx.record(.file, .symlink)
        record.path = link
        record.to = call.paths.first
        ctx.records.append(.activity(record))
    }

    /// chmod, chown, utime and xattr calls, by path or through an fd.
    mutating func changeMetadata(_ ctx: inout SyscallContext, files: FileTable) {
        let action: ActivityAction
        switch ctx.meaning {
        case .chmod: action = .chmod
        case .chown: action = .chown
        case .utime: action = .utime
        default: action = .xattr
        }
        let path = metadataTarget(ctx, files)
        if ctx.call.ret == 0, let path { changed(path, ctx.origin, content: false) }
        var record = ctx.record(.file, action)
        record.path = path
        if let mode = ctx.arguments.mode { record.mode = UInt32(truncatingIfNeeded: ctx.call.arg(mode)) }
        ctx.records.append(.activity(record))
    }

    /// The absolute path a syscall argument names. Symlinks in the directory
    /// part, and in the last component when the call follows it, are resolved
    /// through the file system as it is now; where that fails, `..` is taken lexically.
    func resolved(_ ctx: SyscallContext, _ files: FileTable, dirfd: Int32, slot: Int, followLast: Bool = false) -> [UInt8]? {
        guard slot < ctx.call.paths.count else { return nil }
        let path = ctx.call.paths[slot]
        var joined = path
        if Paths.isAbsolute(path), let root = files.root {
            joined = root + path
        } else if !Paths.isAbsolute(path) {
            let base = dirfd == Self.atFDCWD ? files.cwd : files[dirfd]?.path
            guard let base else { return path.isEmpty ? nil : path }  // relative to something unknown: shown as given
            if path.isEmpty { return base }
            joined = base + [Paths.slash] + path
        }
        return system.canonical(joined, followLast: followLast) ?? Paths.normalize(joined)
    }

    /// chmod/chown/utime/xattr: a path, or the fd itself (f* calls, utimensat with a NULL path).
    private func metadataTarget(_ ctx: SyscallContext, _ files: FileTable) -> [UInt8]? {
        if let fd = ctx.info.fd { return files[ctx.call.int(fd)]?.path }
        let dirfd = ctx.dirfd(ctx.arguments.dirfd)
        if ctx.arguments.emptyPathMeansDirfd && (ctx.call.paths.first ?? []).isEmpty { return files[dirfd]?.path }
        let noFollow = ctx.arguments.noFollow
            || ctx.arg(ctx.arguments.flags).map { $0 & Self.atSymlinkNofollow != 0 } ?? false
        return resolved(ctx, files, dirfd: dirfd, slot: 0, followLast: !noFollow)
    }

    func simple(_ ctx: inout SyscallContext, _ category: ActivityRecord.Category, _ action: ActivityAction,
                path: [UInt8]?) {
        var record = ctx.record(category, action)
        record.path = path
        record.truncated = ctx.call.pathTruncated.first ?? false
        ctx.records.append(.activity(record))
    }

    private func failure(_ ctx: inout SyscallContext, _ category: ActivityRecord.Category, _ action: ActivityAction,
                         path: [UInt8]?) {
        guard ctx.call.errno != nil else { return }
        simple(&ctx, category, action, path: path)
    }

    static func openFlags(_ flags: UInt64) -> String {
        var names = [["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"][Int(flags & 3)]]
        let bits: [(UInt64, String)] = [(0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"),
                                        (0o4000, "O_NONBLOCK"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"),
                                        (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"), (0o20000000, "O_TMPFILE")]
        for (bit, name) in bits where flags & bit == bit { names.append(name) }
        return names.joined(separator: "|")
    }
}
