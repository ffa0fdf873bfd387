/// Turns syscall events into file and network records, keeps each process's
/// descriptor table and working directory, and feeds the command's ledger.
extension Tracker {
    static let atFDCWD: Int32 = -100
    static let oCreat: UInt64 = 0o100, oTrunc: UInt64 = 0o1000, oCloexec: UInt64 = 0o2000000
    private static let oAccmode: UInt64 = 3, oPath: UInt64 = 0o10000000, oTmpfile: UInt64 = 0o20000000
    private static let oNofollow: UInt64 = 0o400000, oExcl: UInt64 = 0o200
    private static let eexist: Int32 = 17
    private static let cloneNewns: UInt64 = 0x20000

    /// PID of a `/proc/PID/ns/mnt` path.
    static func mountNamespaceOwner(_ path: [UInt8]) -> Int32? {
        let parts = path.split(separator: Paths.slash)
        guard parts.count == 4, parts[0].elementsEqual("proc".utf8), parts[2].elementsEqual("ns".utf8),
              parts[3].elementsEqual("mnt".utf8), let pid = Int32(String(decoding: parts[1], as: UTF8.self)) else { return nil }
        return pid
    }

    mutating func handleSyscall(_ event: Event, _ call: Event.Syscall) -> [Record] {
        guard let info = SyscallTable.byNumber[call.nr] else { return [] }
        var state = process(for: event)
        state.files = FileTable()  // read through files(_:): a copy kept here would make each change copy the table whole
        var out = Output(clock: clock, event: event, state: state, call: call, info: info)
        // Work that may have been another client's goes to a ledger of its own.
        let ambiguous = state.daemon?.ambiguous == true && commands[state.command] != nil
        if ambiguous { commands[state.command]!.swapLedgers() }
        interpret(&out)
        if ambiguous { commands[state.command]!.swapLedgers() }
        return out.records
    }

    /// The descriptor table and directories of the process making the call, as they are now.
    func files(_ out: Output) -> FileTable { live[out.event.pid]?.files ?? FileTable() }

    /// The record under construction and where it goes. `state.files` is
    /// empty for syscalls: see files(_:).
    struct Output {
        let clock: WallClock
        let event: Event
        let state: LiveProcess
        let call: Event.Syscall
        let info: SyscallInfo
        var records: [Record] = []

        func record(_ category: ActivityRecord.Category, _ action: String) -> ActivityRecord {
            var record = ActivityRecord(
                time: clock.wall(event.ktime), command: state.command, pid: event.pid, tid: event.tid,
                ppid: state.ppid, comm: event.comm, category: category, action: action)
            if let errno = call.errno { record.error = Errno.name(errno) }
            record.daemon = state.daemon
            return record
        }
    }

    private mutating func interpret(_ out: inout Output) {
        let call = out.call
        let pid = out.event.pid
        if out.info.summed { return readWrite(&out) }
        switch out.info.meaning {
        case .open: open(&out)
        case .close:
            let fd = call.int(0)
            if call.ret == 0, let file = live[pid]?.files[fd] {
                let totals = live[pid]?.files.takeCarried(fd, adding: call.io)
                live[pid]?.files.close(fd)
                reportIO(&out, fd: fd, file: file, totals: totals, closing: true)
            }
        case .closeRange:
            guard call.ret == 0 else { return }
            let first = call.arg(0), last = call.arg(1)
            let fds = (live[pid]?.files.openDescriptors ?? []).filter { UInt64($0) >= first && UInt64($0) <= last }
            if call.arg(2) & 4 != 0 {  // CLOSE_RANGE_CLOEXEC only marks them
                for fd in fds { live[pid]?.files.setCloseOnExec(fd, true) }
                return
            }
            var closed: [Int32: OpenFile] = [:]
            for fd in fds { closed[fd] = live[pid]?.files[fd] }
            out.records += endGeneration(out.event, state: out.state, closed: closed)
            for fd in fds { live[pid]?.files.close(fd) }
        case .read, .write:
            readWrite(&out)
        case .transfer:
            guard call.ret > 0 else { return failure(&out, .file, "write", path: nil) }
            let (input, output) = out.info.name == "sendfile" ? (call.int(1), call.int(0)) : (call.int(0), call.int(2))
            let bytes = UInt64(call.ret)
            account(&out, file: files(out)[input],
                                totals: Event.IOTotals(bytesRead: bytes, bytesWritten: 0, reads: 1, writes: 0))
            account(&out, file: files(out)[output],
                                totals: Event.IOTotals(bytesRead: 0, bytesWritten: bytes, reads: 0, writes: 1))
            var record = out.record(.file, "write")
            record.fd = output
            record.path = files(out)[output]?.path
            record.bytes = bytes
            out.records.append(.activity(record))
        case .truncate:
            let path = out.info.name == "truncate" ? resolved(out, dirfd: Self.atFDCWD, slot: 0, followLast: true)
                : files(out)[call.int(0)]?.path
            if call.ret == 0, let path { changed(path, command: out.state.command, content: true) }
            simple(&out, .file, "truncate", path: path)
        case .unlink, .rmdir:
            let directory = out.info.meaning == .rmdir || (out.info.name == "unlinkat" && call.arg(2) & 0x200 != 0)
            let path = resolved(out, dirfd: out.info.name == "unlinkat" ? call.int(0) : Self.atFDCWD, slot: 0)
            if call.ret == 0, let path {
                commands[out.state.command]?.ledger.removed(path, directory: directory)
                commands[out.state.command]?.hardLinks.remove(path)
                detachOpenFiles(at: path)
                system.pathChanged(path)
            }
            if call.errno == 2, let path { commands[out.state.command]?.ledger.observed(path, exists: false) }
            simple(&out, .file, directory ? "rmdir" : "unlink", path: path)
        case .mkdir, .mknod:
            let atCall = out.info.name.hasSuffix("at")
            let path = resolved(out, dirfd: atCall ? call.int(0) : Self.atFDCWD, slot: 0)
            if call.ret == 0, let path {
                commands[out.state.command]?.ledger.created(path, directory: out.info.meaning == .mkdir)
                system.pathCreated(path)
            }
            if call.errno == Self.eexist, let path { commands[out.state.command]?.ledger.observed(path, exists: true) }
            simple(&out, .file, out.info.meaning == .mkdir ? "mkdir" : "mknod", path: path)
        case .rename, .link:
            let atCall = out.info.name != "rename" && out.info.name != "link"
            let from = resolved(out, dirfd: atCall ? call.int(0) : Self.atFDCWD, slot: 0)
            let to = resolved(out, dirfd: atCall ? call.int(2) : Self.atFDCWD, slot: 1)
            var record = out.record(.file, out.info.meaning == .rename ? "rename" : "link")
            record.from = from
            record.to = to
            record.truncated = call.pathTruncated.contains(true)
            if call.ret == 0, let from, let to {
                if out.info.meaning == .rename {
                    let flags = out.info.name == "renameat2" ? call.arg(4) : 0
                    let exchange = flags & 2 != 0
                    let replaced: Bool? = exchange ? true : (flags & 1 != 0 ? false : nil)
                    commands[out.state.command]?.ledger.renamed(from: from, to: to, replaced: replaced, exchange: exchange)
                    if !exchange { detachOpenFiles(at: to) }
                    commands[out.state.command]?.hardLinks.rename(from, to)
                    renameOpenFiles(from: from, to: to)
                    system.pathChanged(from)
                    system.pathChanged(to)
                    system.pathCreated(to)
                } else {
                    commands[out.state.command]?.ledger.created(to, directory: false)
                    commands[out.state.command]?.hardLinks.link(from, to)
                    system.pathCreated(to)
                }
            }
            // EEXIST (RENAME_NOREPLACE, link): the target is there; mv tries this first.
            if call.errno == Self.eexist, let to { commands[out.state.command]?.ledger.observed(to, exists: true) }
            out.records.append(.activity(record))
        case .symlink:
            let link = resolved(out, dirfd: out.info.name == "symlinkat" ? call.int(1) : Self.atFDCWD, slot: 1)
            if call.ret == 0, let link {
                commands[out.state.command]?.ledger.created(link, directory: false)
                system.pathChanged(link)
                system.pathCreated(link)
            }
            if call.errno == Self.eexist, let link { commands[out.state.command]?.ledger.observed(link, exists: true) }
            var record = out.record(.file, "symlink")
            record.path = link
            record.to = call.paths.first
            out.records.append(.activity(record))
        case .chmod, .chown, .utime, .xattr:
            let action = out.info.meaning == .chmod ? "chmod" : out.info.meaning == .chown ? "chown"
                : out.info.meaning == .utime ? "utime" : "xattr"
            let path = metadataTarget(out)
            if call.ret == 0, let path { changed(path, command: out.state.command, content: false) }
            var record = out.record(.file, action)
            record.path = path
            if out.info.meaning == .chmod {
                record.mode = UInt32(truncatingIfNeeded: call.arg(out.info.name == "fchmodat" || out.info.name == "fchmodat2" ? 2 : 1))
            }
            out.records.append(.activity(record))
        case .mount, .umount:
            simple(&out, .file, out.info.meaning == .mount ? "mount" : "umount",
                   path: out.info.meaning == .mount ? resolved(out, dirfd: Self.atFDCWD, slot: 1) : resolved(out, dirfd: Self.atFDCWD, slot: 0))
        case .chdir:
            if call.ret == 0, let path = resolved(out, dirfd: Self.atFDCWD, slot: 0, followLast: true) { live[pid]?.files.cwd = path }
        case .fchdir:
            if call.ret == 0, let path = files(out)[call.int(0)]?.path { live[pid]?.files.cwd = path }
        case .changeRoot:
            // runc: chdir(rootfs); pivot_root(".", "."); chdir("/"). The new root as the host names it.
            if call.ret == 0, let path = resolved(out, dirfd: Self.atFDCWD, slot: 0, followLast: true) {
                live[pid]?.files.root = path == [Paths.slash] ? nil : path
            }
        case .joinNamespace:
            // runc exec, nsenter: setns on /proc/PID/ns/mnt takes PID's root, as the host names it.
            guard call.ret == 0, call.arg(1) == 0 || call.arg(1) & Self.cloneNewns != 0,
                  let path = files(out)[call.int(0)]?.path, let target = Self.mountNamespaceOwner(path) else { return }
            let root = system.mountedRoot(of: target)
            live[pid]?.files.root = root
        case .dup:
            guard call.ret >= 0 else { return }
            let new = Int32(truncatingIfNeeded: call.ret)
            if let replaced = live[pid]?.files[new], call.int(0) != new {
                // dup2 onto an open fd closes it; the kernel put its totals on this record.
                let totals = live[pid]?.files.takeCarried(new, adding: call.io)
                reportIO(&out, fd: new, file: replaced, totals: totals, closing: true)
            }
            replaceDescriptor(&out, new)
            let cloexec = out.info.name == "dup3" && call.arg(2) & Self.oCloexec != 0
            live[pid]?.files.duplicate(call.int(0), to: new, closeOnExec: cloexec)
        case .fcntl:
            let command = call.arg(1)
            if (command == 0 || command == 1030), call.ret >= 0 {  // F_DUPFD, F_DUPFD_CLOEXEC
                live[pid]?.files.duplicate(call.int(0), to: Int32(truncatingIfNeeded: call.ret), closeOnExec: command == 1030)
            } else if command == 2, call.ret == 0 {  // F_SETFD
                live[pid]?.files.setCloseOnExec(call.int(0), call.arg(2) & 1 != 0)
            }
        case .pipe:
            guard call.ret == 0, let (read, write) = SocketAddress.fdPair(call.sockaddr) else { return }
            let cloexec = out.info.name == "pipe2" && call.arg(1) & Self.oCloexec != 0
            live[pid]?.files.open(read, OpenFile(kind: .pipe), closeOnExec: cloexec)
            live[pid]?.files.open(write, OpenFile(kind: .pipe, writable: true), closeOnExec: cloexec)
        case .socket, .socketpair, .connect, .bind, .listen, .accept, .send, .recv, .shutdown:
            network(&out)
        case .kill:
            let signal = out.info.name == "tgkill" ? call.int(2) : call.int(1)
            guard signal != 0 else { return }  // an existence check, not a signal
            var record = out.record(.process, "signal")
            record.target = out.info.name == "tgkill" ? call.int(1) : call.int(0)
            record.signal = signal
            out.records.append(.activity(record))
        }
    }

    // MARK: - Files

    /// A read or write summed in the kernel: it arrives alone only when it
    /// failed, or with --io.
    private mutating func readWrite(_ out: inout Output) {
        let call = out.call
        let fd = call.int(0)
        let reading = out.info.meaning == .read || out.info.meaning == .recv
        var record = out.record(.file, reading ? "read" : "write")
        record.fd = fd
        let file = files(out)[fd]
        if let socket = file?.socket {
            record.category = .network
            record.action = reading ? "recv" : "send"
            record.socket = socket
        }
        record.path = file?.path
        if call.ret >= 0 {
            record.bytes = UInt64(call.ret)
            let totals = reading
                ? Event.IOTotals(bytesRead: UInt64(call.ret), bytesWritten: 0, reads: 1, writes: 0)
                : Event.IOTotals(bytesRead: 0, bytesWritten: UInt64(call.ret), reads: 0, writes: 1)
            account(&out, file: file, totals: totals)
        }
        out.records.append(.activity(record))
    }

    private mutating func open(_ out: inout Output) {
        let call = out.call
        let name = out.info.name
        let dirfd = name == "openat" || name == "openat2" ? call.int(0) : Self.atFDCWD
        let flags: UInt64? = name == "openat" ? call.arg(2) : name == "open" ? call.arg(1)
            : name == "creat" ? Self.oCreat | Self.oTrunc | 1 : nil
        let path = resolved(out, dirfd: dirfd, slot: 0, followLast: (flags ?? 0) & Self.oNofollow == 0)
        let command = out.state.command
        guard call.ret >= 0 else {
            // ENOENT says nothing certain (a dangling symlink gives it too); EEXIST of O_CREAT|O_EXCL does.
            if call.errno == Self.eexist, let path { commands[command]?.ledger.observed(path, exists: true) }
            var record = out.record(.file, "open")
            record.path = path
            record.flags = flags.map(Self.openFlags)
            record.truncated = call.pathTruncated.first ?? false
            out.records.append(.activity(record))
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
        replaceDescriptor(&out, fd)
        live[out.event.pid]?.files.open(fd, OpenFile(kind: kind, path: path, writable: writable, loader: loader),
                                        closeOnExec: (flags ?? 0) & Self.oCloexec != 0)
        let special = (flags ?? 0) & (Self.oPath | Self.oTmpfile) != 0
        if let path, !special, kind == .file || kind == .directory {
            let truncated = (flags ?? 0) & Self.oTrunc != 0 && writable && !created
            commands[command]?.ledger.opened(path, created: created, writable: writable, truncated: truncated,
                                             loader: loader, directory: kind == .directory)
        }
        var record = out.record(.file, created ? "create" : "open")
        record.path = path
        record.fd = fd
        record.flags = flags.map(Self.openFlags) ?? (writable ? "write" : "read")
        record.loader = loader
        record.truncated = call.pathTruncated.first ?? false
        out.records.append(.activity(record))
    }

    /// An fd number reused while still open (dup2 onto it): the old file is closed.
    mutating func replaceDescriptor(_ out: inout Output, _ fd: Int32) {
        live[out.event.pid]?.files.close(fd)
    }

    /// exec or close_range ended the process's io generation: its totals are
    /// final. Those of `closed` fds are reported; the rest are carried to their close.
    /// `kernelHoldsIO` false: the kernel said it holds no totals for the process, so none are looked up.
    mutating func endGeneration(_ event: Event, state: LiveProcess, closed: [Int32: OpenFile],
                                kernelHoldsIO: Bool = true) -> [Record] {
        let pid = event.pid
        guard let generation = live[pid]?.files.ioGeneration else { return [] }
        let open = live[pid]?.files.openDescriptors ?? []
        let taken = kernelHoldsIO ? system.takeIOTotals(pid: pid, fds: open + closed.keys, generations: generation...generation) : [:]
        live[pid]?.files.ioGeneration = generation + 1
        var out = Output(clock: clock, event: event, state: state, call: Event.Syscall(nr: -1, ret: 0, args: []),
                         info: SyscallTable.close)
        for (fd, totals) in taken where closed[fd] == nil { live[pid]?.files.carry(fd, totals) }
        for (fd, file) in closed.sorted(by: { $0.key < $1.key }) {
            let totals = live[pid]?.files.takeCarried(fd, adding: taken[fd])
            reportIO(&out, fd: fd, file: file, totals: totals, closing: true)
        }
        return out.records
    }

    /// At the end of a process, or of the trace: everything left, for every fd still open.
    mutating func flushIO(pid: Int32, tid: Int32, state: LiveProcess, ktime: UInt64, kernelHoldsIO: Bool = true) -> [Record] {
        let taken = !kernelHoldsIO ? [:] : system.takeIOTotals(pid: pid, fds: state.files.openDescriptors,
                                        generations: 0...(live[pid]?.files.ioGeneration ?? state.files.ioGeneration))
        let event = Event(ktime: ktime, pid: pid, tid: tid, comm: state.comm, body: .exit(.init(code: 0, groupDead: false, parentPid: 0)))
        var out = Output(clock: clock, event: event, state: state, call: Event.Syscall(nr: -1, ret: 0, args: []),
                         info: SyscallTable.close)
        for fd in state.files.openDescriptors {
            guard let file = live[pid]?.files[fd] ?? state.files[fd] else { continue }
            let totals = live[pid]?.files.takeCarried(fd, adding: taken[fd]) ?? taken[fd]
            reportIO(&out, fd: fd, file: file, totals: totals, closing: false)
        }
        return out.records
    }

    private mutating func reportIO(_ out: inout Output, fd: Int32, file: OpenFile, totals: Event.IOTotals?, closing: Bool) {
        if let totals { account(&out, file: file, totals: totals) }
        // Pipes and nameless descriptors carry no data object of their own.
        guard file.kind != .pipe, file.path != nil || file.socket != nil else { return }
        for (bytes, calls, reading) in [(totals?.bytesRead ?? 0, totals?.reads ?? 0, true),
                                        (totals?.bytesWritten ?? 0, totals?.writes ?? 0, false)] where calls > 0 {
            var record = out.record(file.socket == nil ? .file : .network,
                                    file.socket == nil ? (reading ? "read" : "write") : (reading ? "recv" : "send"))
            record.error = nil
            record.fd = fd
            record.path = file.path
            record.bytes = bytes
            record.calls = calls
            record.socket = file.socket
            record.loader = file.loader
            out.records.append(.activity(record))
        }
        // Attribute changes made through the fd, kept by the kernel until now.
        let metadata = totals?.metadata ?? 0
        for (bit, action) in [(UInt32(1), "chmod"), (2, "chown"), (4, "utime"), (8, "xattr")] where metadata & bit != 0 {
            var record = out.record(.file, action)
            record.error = nil
            record.fd = fd
            record.path = file.path
            if bit == 1 { record.mode = totals?.mode }
            out.records.append(.activity(record))
        }
        if metadata != 0, let path = file.path, !file.unlinked, file.kind == .file || file.kind == .directory {
            changed(path, command: out.state.command, content: false)
        }
        if closing, var socket = file.socket {
            var record = out.record(.network, "close")
            record.fd = fd
            if socket.peer == nil, let inode = socket.inode { socket.peer = system.socket(inode: inode, family: socket.family)?.peer }
            record.socket = socket
            out.records.append(.activity(record))
        }
    }

    /// Feeds bytes moved through `file` to the ledger or the command's endpoints.
    private mutating func account(_ out: inout Output, file: OpenFile?, totals: Event.IOTotals) {
        guard let file, commands[out.state.command] != nil else { return }
        if let socket = file.socket {
            let index = endpoint(for: socket, command: out.state.command)
            commands[out.state.command]!.network[index].bytesSent += totals.bytesWritten
            commands[out.state.command]!.network[index].bytesReceived += totals.bytesRead
        } else if let path = file.path, file.kind == .file, !file.unlinked {
            if totals.bytesWritten > 0 { changed(path, command: out.state.command, content: true) }
            if totals.bytesRead > 0 { commands[out.state.command]!.ledger.read(path) }
        }
    }

    /// Content or attributes of a file changed: the same holds for every hard
    /// link to it the command made, since they are one file.
    private mutating func changed(_ path: [UInt8], command: Int, content: Bool) {
        guard commands[command] != nil else { return }
        for name in [path] + commands[command]!.hardLinks.others(of: path) {
            if content { commands[command]!.ledger.wrote(name) } else { commands[command]!.ledger.changedMetadata(name) }
        }
    }

    /// After a rename, open fds and working directories that named the old
    /// path (or a path under it) name the new one.
    private mutating func renameOpenFiles(from: [UInt8], to: [UInt8]) {
        func moved(_ path: [UInt8]) -> [UInt8]? {
            guard path.starts(with: from), path.count == from.count || path[from.count] == Paths.slash else { return nil }
            return to + path[from.count...]
        }
        for pid in live.keys {
            if let cwd = live[pid]!.files.cwd, let new = moved(cwd) { live[pid]!.files.cwd = new }
            for (fd, file) in live[pid]!.files.files {  // (a copy: the loop may update the table)
                guard let path = file.path, let new = moved(path) else { continue }
                live[pid]!.files.update(fd) { $0.path = new }
            }
        }
    }

    /// The name was removed or renamed over: files still open under it no
    /// longer have that name, so writes through them change nothing listed.
    private mutating func detachOpenFiles(at path: [UInt8]) {
        for pid in live.keys {
            for (fd, file) in live[pid]!.files.files where file.path == path {
                live[pid]!.files.update(fd) { $0.unlinked = true }
            }
        }
    }

    /// The absolute path a syscall argument names. Symlinks in the directory
    /// part, and in the last component when the call follows it, are resolved
    /// through the file system as it is now; where that fails, `..` is taken lexically.
    private func resolved(_ out: Output, dirfd: Int32, slot: Int, followLast: Bool = false) -> [UInt8]? {
        guard slot < out.call.paths.count else { return nil }
        let path = out.call.paths[slot]
        var joined = path
        let table = files(out)
        if Paths.isAbsolute(path), let root = table.root {
            joined = root + path
        } else if !Paths.isAbsolute(path) {
            let base = dirfd == Self.atFDCWD ? table.cwd : table[dirfd]?.path
            guard let base else { return path.isEmpty ? nil : path }  // relative to something unknown: shown as given
            if path.isEmpty { return base }
            joined = base + [Paths.slash] + path
        }
        return system.canonical(joined, followLast: followLast) ?? Paths.normalize(joined)
    }

    /// chmod/chown/utime/xattr: a path, or the fd itself (f* calls, utimensat with a NULL path).
    private func metadataTarget(_ out: Output) -> [UInt8]? {
        let name = out.info.name
        if name.hasPrefix("f") && !name.hasSuffix("at") && !name.hasSuffix("at2") {
            return files(out)[out.call.int(0)]?.path
        }
        let dirfd = name.hasSuffix("at") || name.hasSuffix("at2") || name == "utimensat" ? out.call.int(0) : Self.atFDCWD
        if name == "utimensat" && (out.call.paths.first ?? []).isEmpty { return files(out)[dirfd]?.path }
        let noFollow = name.hasPrefix("l") || (name == "fchownat" && out.call.arg(4) & 0x100 != 0)
            || (name == "utimensat" && out.call.arg(3) & 0x100 != 0)  // AT_SYMLINK_NOFOLLOW
        return resolved(out, dirfd: dirfd, slot: 0, followLast: !noFollow)
    }

    private func simple(_ out: inout Output, _ category: ActivityRecord.Category, _ action: String, path: [UInt8]?) {
        var record = out.record(category, action)
        record.path = path
        record.truncated = out.call.pathTruncated.first ?? false
        out.records.append(.activity(record))
    }

    private func failure(_ out: inout Output, _ category: ActivityRecord.Category, _ action: String, path: [UInt8]?) {
        guard out.call.errno != nil else { return }
        simple(&out, category, action, path: path)
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
