import BPFSources

/// One decoded kernel record. Names stay raw bytes: a filename or comm may
/// hold any byte but NUL, and only the sinks decide how to show them.
public struct Event: Equatable, Sendable {
    /// CLOCK_MONOTONIC nanoseconds, from bpf_ktime_get_ns().
    public var ktime: UInt64
    public var cpu: UInt32
    public var pid: Int32
    public var tid: Int32
    public var comm: [UInt8]
    public var body: Body
    /// Whom the work is for, as the kernel tagged it.
    public var attribution = Attribution()

    public enum Body: Equatable, Sendable {
        case fork(Fork)
        case exec(Exec)
        case exit(Exit)
        case syscall(Syscall)
        case peer(Peer)
    }

    /// The kernel's tag: the pid of the first process of the command the
    /// work is for (see "Attribution" in bpf/events.h).
    public struct Attribution: Equatable, Sendable {
        public var tag: Int32 = 0
        /// Ambiguous work may be for this command instead.
        public var alsoTag: Int32 = 0
        /// Done by a daemon for the command, not by the command's own processes.
        public var daemon = false
        public var ambiguous = false

        public init(tag: Int32 = 0, alsoTag: Int32 = 0, daemon: Bool = false, ambiguous: Bool = false) {
            self.tag = tag
            self.alsoTag = alsoTag
            self.daemon = daemon
            self.ambiguous = ambiguous
        }
    }

    /// A process outside the tree read what a watched task (the writer) sent.
    public struct Peer: Equatable, Sendable {
        public var writerPid: Int32
        public var writerTid: Int32
        /// Socket or pipe inodes at both ends.
        public var writerInode: UInt64
        public var readerInode: UInt64
        public var readerFD: Int32
        /// The reader's process was no daemon before this read: whatever was
        /// known of an earlier process at its pid is not its.
        public var newDaemon: Bool

        public init(
            writerPid: Int32, writerTid: Int32, writerInode: UInt64, readerInode: UInt64, readerFD: Int32,
            newDaemon: Bool = false
        ) {
            self.writerPid = writerPid
            self.writerTid = writerTid
            self.writerInode = writerInode
            self.readerInode = readerInode
            self.readerFD = readerFD
            self.newDaemon = newDaemon
        }
    }

    /// A traced syscall, as it returned: arguments, result and the user
    /// memory they pointed to (paths, a socket address or an fd pair).
    public struct Syscall: Equatable, Sendable {
        public var nr: Int
        public var ret: Int64
        /// The six arguments, in a vector so that they are stored inline: no
        /// allocation per event, nothing to retain when an event is copied.
        public var args: SIMD8<UInt64>
        public var paths: [[UInt8]]
        /// Bit N: path N was cut at the kernel's limit.
        private var truncatedPaths: UInt8
        /// A sockaddr, or the int[2] of pipe and socketpair.
        public var sockaddr: [UInt8]
        /// The file behind the fd the call used or returned.
        public var file: FileInfo?
        /// close, dup2: what went through the fd that closed, in this io generation.
        public var io: IOTotals?

        public init(
            nr: Int, ret: Int64, args: [UInt64], paths: [[UInt8]] = [], pathTruncated: [Bool] = [],
            sockaddr: [UInt8] = [], file: FileInfo? = nil, io: IOTotals? = nil
        ) {
            self.nr = nr
            self.ret = ret
            self.args = SIMD8()
            for (index, value) in args.prefix(6).enumerated() { self.args[index] = value }
            self.paths = paths
            truncatedPaths = 0
            for (slot, truncated) in pathTruncated.prefix(paths.count).enumerated() where truncated {
                truncatedPaths |= 1 << slot
            }
            self.sockaddr = sockaddr
            self.file = file
            self.io = io
        }

        /// As the decoder makes it: `truncatedPaths` bit N for path N.
        init(
            nr: Int, ret: Int64, args: SIMD8<UInt64>, paths: [[UInt8]], truncatedPaths: UInt8,
            sockaddr: [UInt8], file: FileInfo?, io: IOTotals?
        ) {
            self.nr = nr
            self.ret = ret
            self.args = args
            self.paths = paths
            self.truncatedPaths = truncatedPaths
            self.sockaddr = sockaddr
            self.file = file
            self.io = io
        }

        /// The errno of a failed call.
        public var errno: Int32? { ret < 0 && ret >= -4095 ? Int32(-ret) : nil }
        public func arg(_ index: Int) -> UInt64 { args[index] }
        public func isPathTruncated(_ slot: Int) -> Bool { truncatedPaths & (1 << slot) != 0 }
        public var anyPathTruncated: Bool { truncatedPaths != 0 }
        /// An argument as the C int it is, e.g. an fd or AT_FDCWD.
        public func int(_ index: Int) -> Int32 { Int32(truncatingIfNeeded: args[index]) }
    }

    public struct FileInfo: Equatable, Sendable {
        public var inode: UInt64
        /// file->f_mode: FMODE_READ 0x1, FMODE_WRITE 0x2, FMODE_CREATED.
        public var mode: UInt32
        public var device: UInt32
        /// The inode's i_mode: file type and permission bits, as st_mode.
        public var inodeMode: UInt16

        public init(inode: UInt64, mode: UInt32, device: UInt32, inodeMode: UInt16 = 0) {
            self.inode = inode
            self.mode = mode
            self.device = device
            self.inodeMode = inodeMode
        }

        static let fmodeRead: UInt32 = 0x1
        static let fmodeWrite: UInt32 = 0x2
        /// Set by the kernel when this open created the file. Same bit from 4.19 to 6.18.
        static let fmodeCreated: UInt32 = 0x100000

        public var readable: Bool { mode & Self.fmodeRead != 0 }
        public var writable: Bool { mode & Self.fmodeWrite != 0 }
        public var created: Bool { mode & Self.fmodeCreated != 0 }
        public var isDirectory: Bool { inodeMode & 0o170000 == 0o040000 }
        public var isSocket: Bool { inodeMode & 0o170000 == 0o140000 }
        public var isPipe: Bool { inodeMode & 0o170000 == 0o010000 }
        public var isRegular: Bool { inodeMode & 0o170000 == 0o100000 }
    }

    public struct IOTotals: Equatable, Sendable {
        public var bytesRead: UInt64
        public var bytesWritten: UInt64
        public var reads: UInt32
        public var writes: UInt32
        /// fchmod, fchown, futimens, fsetxattr through the fd: `enum fd_metadata` bits.
        public var metadata: UInt32
        /// The mode of the last fchmod.
        public var mode: UInt32

        public init(
            bytesRead: UInt64, bytesWritten: UInt64, reads: UInt32, writes: UInt32,
            metadata: UInt32 = 0, mode: UInt32 = 0
        ) {
            self.bytesRead = bytesRead
            self.bytesWritten = bytesWritten
            self.reads = reads
            self.writes = writes
            self.metadata = metadata
            self.mode = mode
        }

        public var isEmpty: Bool { reads == 0 && writes == 0 && metadata == 0 }

        public static func + (a: IOTotals, b: IOTotals) -> IOTotals {
            IOTotals(
                bytesRead: a.bytesRead + b.bytesRead, bytesWritten: a.bytesWritten + b.bytesWritten,
                reads: a.reads + b.reads, writes: a.writes + b.writes, metadata: a.metadata | b.metadata,
                mode: b.metadata & UInt32(FD_METADATA_MODE.rawValue) != 0 ? b.mode : a.mode)
        }
    }

    public struct Fork: Equatable, Sendable {
        public var childPid: Int32
        public var childTid: Int32
        /// The child's parent process: the caller's parent under CLONE_PARENT.
        public var parentPid: Int32
        public var isThread: Bool
        /// The watch map was full: the child runs unwatched.
        public var unfollowed: Bool
        public var cloneFlags: UInt64
        /// The kernel's tag for the child's command: a new command's own when
        /// the fork starts one (a child of the `--pid` root).
        public var childTag: Int32

        /// `childTag` nil: the child's pid, as for a command user space starts.
        public init(
            childPid: Int32, childTid: Int32, parentPid: Int32, isThread: Bool,
            unfollowed: Bool = false, cloneFlags: UInt64 = 0, childTag: Int32? = nil
        ) {
            self.childPid = childPid
            self.childTid = childTid
            self.parentPid = parentPid
            self.isThread = isThread
            self.unfollowed = unfollowed
            self.cloneFlags = cloneFlags
            self.childTag = childTag ?? childPid
        }
    }

    public struct Exec: Equatable, Sendable {
        public var filename: [UInt8]
        public var argv: [[UInt8]]
        /// The tid that called exec; it differs from the event's tid when a
        /// non-leader thread exec'd and took over the process id.
        public var oldTid: Int32
        public var filenameTruncated: Bool
        public var argvTruncated: Bool
        /// Read and write totals the kernel holds for the process; nil when unknown.
        public var ioEntries: Int32?

        public init(
            filename: [UInt8], argv: [[UInt8]], oldTid: Int32,
            filenameTruncated: Bool = false, argvTruncated: Bool = false, ioEntries: Int32? = nil
        ) {
            self.filename = filename
            self.argv = argv
            self.oldTid = oldTid
            self.filenameTruncated = filenameTruncated
            self.argvTruncated = argvTruncated
            self.ioEntries = ioEntries
        }
    }

    public struct Exit: Equatable, Sendable {
        /// The kernel's task->exit_code: status << 8, or the signal number.
        public var code: UInt32
        /// Last thread of its process: the process is gone.
        public var groupDead: Bool
        /// Real parent at exit: differs from the fork-time parent after reparenting.
        public var parentPid: Int32
        /// Read and write totals the kernel holds for the process; nil when unknown.
        public var ioEntries: Int32?

        public init(code: UInt32, groupDead: Bool, parentPid: Int32, ioEntries: Int32? = nil) {
            self.code = code
            self.groupDead = groupDead
            self.parentPid = parentPid
            self.ioEntries = ioEntries
        }

        public var status: Termination { Termination(kernelCode: code) }
    }

    public init(
        ktime: UInt64, cpu: UInt32 = 0, pid: Int32, tid: Int32, comm: [UInt8], body: Body,
        attribution: Attribution = Attribution()
    ) {
        self.ktime = ktime
        self.cpu = cpu
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.body = body
        self.attribution = attribution
    }
}

/// How a process ended, as wait(2) would report it.
public enum Termination: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32, coreDumped: Bool)

    public init(kernelCode code: UInt32) {
        let signal = Int32(code & 0x7f)
        self = signal == 0 ? .exited(Int32((code >> 8) & 0xff)) : .signaled(signal, coreDumped: code & 0x80 != 0)
    }

    /// The shell's convention: the status, or 128 + the signal.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let status): return status
        case .signaled(let signal, _): return 128 + signal
        }
    }
}
