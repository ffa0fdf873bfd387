/// What the tracker needs to ask outside the event stream: read and write
/// totals the kernel still holds, and who is at the other end of a socket.
/// The session answers from the kernel and /proc; tests answer from tables.
public protocol SystemQueries {
    /// Removes and returns the totals held for `pid`'s `fds` in `generations`,
    /// per fd. See `struct io_key` in bpf/events.h.
    func takeIOTotals(pid: Int32, fds: [Int32], generations: ClosedRange<UInt32>) -> [Int32: Event.IOTotals]
    /// The addresses of the socket with this inode and the process at its other end.
    func socket(inode: UInt64) -> SocketState?
    /// The same, when the socket's family ("unix", "inet", "inet6") is known:
    /// a unix socket that is gone then costs no dump of every TCP socket.
    func socket(inode: UInt64, family: String) -> SocketState?
    /// The process listening at a `struct sockaddr`: the server of a
    /// connection that closed before the trace was read.
    func listener(sockaddr: [UInt8]) -> SocketPeer?
    /// `path` with symlinks and `..` resolved as the kernel would, through the
    /// file system as it is now (the last component only when `followLast`);
    /// nil when that cannot be done (a directory on the way is gone).
    func canonical(_ path: [UInt8], followLast: Bool) -> [UInt8]?
    /// The name `path` was removed, renamed, replaced or made a symlink:
    /// forget cached resolutions that pass through it.
    func pathChanged(_ path: [UInt8])
    /// A name was made (mkdir, rename, link, symlink): paths that could not
    /// be resolved may resolve now.
    func pathCreated(_ path: [UInt8])
    /// A process outside the tree that became a daemon, read from /proc.
    func process(_ pid: Int32) -> ProcessSnapshot?
    /// Where `pid`'s root directory is mounted, as the monitor's own mount
    /// namespace names it (a container's root file system); nil when it is
    /// "/" or cannot be found.
    func mountedRoot(of pid: Int32) -> [UInt8]?
}

public struct ProcessSnapshot: Sendable {
    public var ppid: Int32
    public var comm: [UInt8]
    public var argv: [[UInt8]]
    public var files: FileTable

    public init(ppid: Int32, comm: [UInt8], argv: [[UInt8]], files: FileTable) {
        self.ppid = ppid
        self.comm = comm
        self.argv = argv
        self.files = files
    }
}

extension SystemQueries {
    public func socket(inode: UInt64, family: String) -> SocketState? { socket(inode: inode) }
    public func listener(sockaddr: [UInt8]) -> SocketPeer? { nil }
    public func canonical(_ path: [UInt8], followLast: Bool) -> [UInt8]? { nil }
    public func pathChanged(_ path: [UInt8]) {}
    public func pathCreated(_ path: [UInt8]) {}
    public func process(_ pid: Int32) -> ProcessSnapshot? { nil }
    public func mountedRoot(of pid: Int32) -> [UInt8]? { nil }
}

/// Knows nothing: for a tracker fed only process events.
public struct NoSystemQueries: SystemQueries {
    public init() {}
    public func takeIOTotals(pid: Int32, fds: [Int32], generations: ClosedRange<UInt32>) -> [Int32: Event.IOTotals] {
        [:]
    }
    public func socket(inode: UInt64) -> SocketState? { nil }
}
