import BPFSources

/// What one open file descriptor refers to, as far as the trace knows.
public struct OpenFile: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case file, directory, socket, pipe, other
    }

    public var kind: Kind
    /// Absolute path, for files and directories.
    public var path: [UInt8]?
    public var writable = false
    /// Opened by the dynamic loader (shared library, locale data).
    public var loader = false
    /// Its name was removed or renamed over since it was opened.
    public var unlinked = false
    public var socket: SocketState?

    public init(
        kind: Kind, path: [UInt8]? = nil, writable: Bool = false, loader: Bool = false, socket: SocketState? = nil
    ) {
        self.kind = kind
        self.path = path
        self.writable = writable
        self.loader = loader
        self.socket = socket
    }
}

/// A socket's addresses and the process at the other end.
public struct SocketState: Equatable, Sendable {
    public var family: String
    public var type: String
    public var inode: UInt64?
    public var local: String?
    public var remote: String?
    public var peer: SocketPeer?

    public init(
        family: String, type: String, inode: UInt64? = nil, local: String? = nil, remote: String? = nil,
        peer: SocketPeer? = nil
    ) {
        self.family = family
        self.type = type
        self.inode = inode
        self.local = local
        self.remote = remote
        self.peer = peer
    }
}

public struct SocketPeer: Equatable, Sendable {
    public var pid: Int32
    public var comm: [UInt8]

    public init(pid: Int32, comm: [UInt8]) {
        self.pid = pid
        self.comm = comm
    }
}

/// One process's descriptor table and working directory. Copied on fork;
/// close-on-exec entries go at exec.
public struct FileTable: Equatable, Sendable {
    public var cwd: [UInt8]?
    /// After chroot or pivot_root (a container's processes): where "/" is, as
    /// the host names it. Paths are kept as the host names them.
    public var root: [UInt8]? = nil
    public private(set) var files: [Int32: OpenFile] = [:]
    private var closeOnExec: Set<Int32> = []
    /// The kernel's io generation for this process (see `struct io_key`): it
    /// grows at exec and close_range.
    public var ioGeneration = UInt32(IO_GENERATION_FIRST)
    /// Totals collected from an older generation for fds still open, added
    /// when they close.
    private var carried: [Int32: Event.IOTotals] = [:]

    public init(cwd: [UInt8]? = nil) { self.cwd = cwd }

    public subscript(fd: Int32) -> OpenFile? { files[fd] }

    public mutating func open(_ fd: Int32, _ file: OpenFile, closeOnExec cloexec: Bool = false) {
        files[fd] = file
        if cloexec { closeOnExec.insert(fd) } else { closeOnExec.remove(fd) }
    }

    @discardableResult
    public mutating func close(_ fd: Int32) -> OpenFile? {
        closeOnExec.remove(fd)
        carried[fd] = nil
        return files.removeValue(forKey: fd)
    }

    public mutating func carry(_ fd: Int32, _ totals: Event.IOTotals) {
        carried[fd] = carried[fd].map { $0 + totals } ?? totals
    }

    /// `totals` plus what was carried for `fd`, which is cleared.
    public mutating func takeCarried(_ fd: Int32, adding totals: Event.IOTotals?) -> Event.IOTotals? {
        guard let old = carried.removeValue(forKey: fd) else { return totals }
        return totals.map { $0 + old } ?? old
    }

    public mutating func update(_ fd: Int32, _ change: (inout OpenFile) -> Void) {
        guard var file = files[fd] else { return }
        change(&file)
        files[fd] = file
    }

    /// dup2/dup3/F_DUPFD: the new fd shares the old one's file; close-on-exec is per fd.
    public mutating func duplicate(_ old: Int32, to new: Int32, closeOnExec cloexec: Bool) {
        guard let file = files[old] else {
            close(new)
            return
        }
        open(new, file, closeOnExec: cloexec)
    }

    public mutating func setCloseOnExec(_ fd: Int32, _ on: Bool) {
        guard files[fd] != nil else { return }
        if on { closeOnExec.insert(fd) } else { closeOnExec.remove(fd) }
    }

    /// The table a forked child starts with: the same descriptors, in the
    /// first io generation, as the kernel starts a new process (see `child_watch`).
    /// Totals carried for the parent's fds stay the parent's.
    public func forked() -> FileTable {
        var child = self
        child.ioGeneration = UInt32(IO_GENERATION_FIRST)
        child.carried = [:]
        return child
    }

    /// The fds exec closes, removed from the table.
    public mutating func exec() -> [Int32: OpenFile] {
        var closed: [Int32: OpenFile] = [:]
        for fd in closeOnExec { closed[fd] = files.removeValue(forKey: fd) }  // carried totals stay for takeCarried
        closeOnExec = []
        return closed
    }

    public var openDescriptors: [Int32] { files.keys.sorted() }

    /// After a rename: the working directory and open files that named `from`,
    /// or a path under it, name the same place under `to`.
    mutating func renamePaths(from: [UInt8], to: [UInt8]) {
        func moved(_ path: [UInt8]) -> [UInt8]? {
            guard path.starts(with: from), path.count == from.count || path[from.count] == Paths.slash else {
                return nil
            }
            return to + path[from.count...]
        }
        if let cwd, let new = moved(cwd) { self.cwd = new }
        for (fd, file) in files {  // (a copy: the loop updates the table)
            guard let path = file.path, let new = moved(path) else { continue }
            update(fd) { $0.path = new }
        }
    }

    /// The name was removed or renamed over: files still open under it no
    /// longer have that name.
    mutating func detach(at path: [UInt8]) {
        for (fd, file) in files where file.path == path {
            update(fd) { $0.unlinked = true }
        }
    }

    /// The sockets open in the table.
    public var sockets: [SocketState] { files.values.compactMap(\.socket) }
}
