import BPFSources
import CSockDiag
import Foundation
import Kernel
import Monitor

/// Answers the tracker's questions from the kernel (fd totals) and from
/// sock_diag and /proc (socket addresses and peers).
final class SessionQueries: SystemQueries {
    private let tracer: Tracer
    private let peers = PeerResolver()
    /// Directory -> its real path, until a name on the way changes.
    private var realDirectories: [PathKey: [UInt8]] = [:]
    /// Every path those resolutions pass through (keys, values and their
    /// ancestors): a name changed anywhere else leaves them all valid.
    private var resolvedThrough = Set<PathKey>()
    /// Directories that could not be resolved (gone by the time their events
    /// are read), until a name is made: one failed realpath each, not one per file.
    private var unresolvable = Set<PathKey>()
    private var goneSockets = Set<UInt64>()
    private var listeners: [[UInt8]: (peer: SocketPeer?, at: UInt64)] = [:]

    init(tracer: Tracer) { self.tracer = tracer }

    func takeIOTotals(pid: Int32, fds: [Int32], generations: ClosedRange<UInt32>) -> [Int32: Event.IOTotals] {
        tracer.takeIOTotals(pid: pid, fds: fds, generations: generations).mapValues(Event.IOTotals.init)
    }

    func socket(inode: UInt64) -> SocketState? { socket(inode: inode, family: "unknown") }

    func socket(inode: UInt64, family: String) -> SocketState? {
        // Socket inode numbers are not reused soon: a socket found gone stays gone.
        guard !goneSockets.contains(inode) else { return nil }
        let unixOnly = family == "unix"
        guard let endpoint = peers.endpoint(ofSocketInode: inode, unixOnly: unixOnly) else {
            if goneSockets.count > 65_536 { goneSockets.removeAll() }
            goneSockets.insert(inode)
            return nil
        }
        let peer = peers.peer(ofSocketInode: inode, unixOnly: endpoint.family == "unix").map {
            SocketPeer(pid: $0.pid, comm: $0.comm)
        }
        return SocketState(
            family: endpoint.family, type: endpoint.sockType, inode: inode,
            local: endpoint.local.isEmpty ? nil : endpoint.local,
            remote: endpoint.remote.isEmpty ? nil : endpoint.remote, peer: peer)
    }

    func mountedRoot(of pid: Int32) -> [UInt8]? { ProcScan.mountedRoot(of: pid) }

    func process(_ pid: Int32) -> ProcessSnapshot? {
        guard let process = ProcScan.read(pid) else { return nil }
        return ProcessSnapshot(ppid: process.ppid, comm: process.comm, argv: process.argv, files: files(of: pid))
    }

    /// Cached for a second: a client that connects again and again asks the same.
    func listener(sockaddr: [UInt8]) -> SocketPeer? {
        let now = Session.now(CLOCK_MONOTONIC)
        if let known = listeners[sockaddr], now - known.at < 1_000_000_000 { return known.peer }
        let peer = peers.listener(atSockaddr: sockaddr).map { SocketPeer(pid: $0.pid, comm: $0.comm) }
        if listeners.count > 1024 { listeners.removeAll() }
        listeners[sockaddr] = (peer, now)
        return peer
    }

    func canonical(_ path: [UInt8], followLast: Bool) -> [UInt8]? {
        guard let slash = path.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        let directory = slash == 0 ? [UInt8(ascii: "/")] : Array(path[..<slash])
        let name = Array(path[(slash + 1)...])
        let key = PathKey(directory)
        if name.isEmpty || name == Array(".".utf8) || name == Array("..".utf8) {
            // A resolved directory holds no symlink, so its `..` is its lexical parent
            // (`rm -r` climbs back out of each directory it emptied that way).
            guard !name.isEmpty, let real = realDirectories[key] else { return Self.realPath(path) }
            guard name.count == 2 else { return real }
            guard let up = real.lastIndex(of: UInt8(ascii: "/")), up > 0 else { return [UInt8(ascii: "/")] }
            return Array(real[..<up])
        }
        guard !unresolvable.contains(key) else { return nil }
        let known = realDirectories[key]
        guard let real = known ?? fromParent(directory) ?? Self.realPath(directory) else {
            if unresolvable.count > 4096 { unresolvable.removeAll() }
            unresolvable.insert(key)
            return nil
        }
        if known == nil { remember(key, real) }
        let full = (real == [UInt8(ascii: "/")] ? [] : real) + [UInt8(ascii: "/")] + name
        guard followLast else { return full }
        var info = stat()
        let isLink = Self.withCPath(full) { lstat($0, &info) } == 0 && info.st_mode & S_IFMT == S_IFLNK
        return isLink ? Self.realPath(full) ?? full : full
    }

    func pathChanged(_ path: [UInt8]) {
        if resolvedThrough.contains(PathKey(path)) { forgetResolutions() }
    }

    func pathCreated(_ path: [UInt8]) {
        if !unresolvable.isEmpty { unresolvable.removeAll() }
    }

    /// The real path of `directory` from its parent's resolution, when that is
    /// known and its last name is a directory, not a symlink: one lstat where
    /// realpath(3) would look at every name on the way (a new directory's files
    /// come in right after it is made). Nil when it cannot be had that way.
    private func fromParent(_ directory: [UInt8]) -> [UInt8]? {
        guard let slash = directory.lastIndex(of: UInt8(ascii: "/")), slash > 0 else { return nil }
        let name = directory[(slash + 1)...]
        if name.isEmpty || name.elementsEqual(".".utf8) || name.elementsEqual("..".utf8) { return nil }
        guard let parent = realDirectories[PathKey(Array(directory[..<slash]))] else { return nil }
        let real = (parent == [UInt8(ascii: "/")] ? [] : parent) + [UInt8(ascii: "/")] + name
        var info = stat()
        guard Self.withCPath(real, { lstat($0, &info) }) == 0, info.st_mode & S_IFMT == S_IFDIR else { return nil }
        return real
    }

    private func remember(_ directory: PathKey, _ real: [UInt8]) {
        if realDirectories.count > 4096 { forgetResolutions() }
        realDirectories[directory] = real
        for path in [directory.bytes, real] {
            var ancestor = path[...]
            while !ancestor.isEmpty, resolvedThrough.insert(PathKey(Array(ancestor))).inserted {
                ancestor = ancestor[..<(ancestor.lastIndex(of: UInt8(ascii: "/")) ?? ancestor.startIndex)]
            }
        }
    }

    private func forgetResolutions() {
        realDirectories.removeAll()
        resolvedThrough.removeAll()
    }

    /// realpath(3) on bytes: names need not be UTF-8.
    private static func realPath(_ path: [UInt8]) -> [UInt8]? {
        guard let resolved = withCPath(path, { realpath($0, nil) }) else { return nil }
        defer { free(resolved) }
        return resolved.withMemoryRebound(to: UInt8.self, capacity: strlen(resolved)) {
            Array(UnsafeBufferPointer(start: $0, count: strlen(resolved)))
        }
    }

    private static func withCPath<T>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
        (path + [0]).withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count, body)
        }
    }

    /// A running process's working directory and descriptors, from /proc:
    /// for processes that were there before the probes.
    func files(of pid: Int32) -> FileTable {
        var table = FileTable(
            cwd: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")).map { Array($0.utf8) }
        )
        let directory = "/proc/\(pid)/fd"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let fd = Int32(name),
                let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)")
            else { continue }
            let writable = ProcScan.fdFlags(pid: pid, fd: fd).map { $0 & 3 != 0 } ?? false
            let inode = UInt64(sockdiag_socket_link_inode(target, target.utf8.count))
            if inode != 0 {
                let socket = socket(inode: inode) ?? SocketState(family: "unknown", type: "unknown", inode: inode)
                table.open(fd, OpenFile(kind: .socket, writable: true, socket: socket))
            } else if target.hasPrefix("pipe:[") {
                table.open(fd, OpenFile(kind: .pipe, writable: writable))
            } else if target.hasPrefix("/") {
                var info = stat()
                let type = stat("\(directory)/\(name)", &info) == 0 ? info.st_mode & S_IFMT : 0
                let kind: OpenFile.Kind = type == S_IFREG ? .file : type == S_IFDIR ? .directory : .other
                table.open(fd, OpenFile(kind: kind, path: Array(target.utf8), writable: writable))
            } else {
                table.open(fd, OpenFile(kind: .other, writable: writable))
            }
        }
        return table
    }
}
