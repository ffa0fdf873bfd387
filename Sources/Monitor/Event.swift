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

    public enum Body: Equatable, Sendable {
        case fork(Fork)
        case exec(Exec)
        case exit(Exit)
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

        public init(childPid: Int32, childTid: Int32, parentPid: Int32, isThread: Bool,
                    unfollowed: Bool = false, cloneFlags: UInt64 = 0) {
            self.childPid = childPid
            self.childTid = childTid
            self.parentPid = parentPid
            self.isThread = isThread
            self.unfollowed = unfollowed
            self.cloneFlags = cloneFlags
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

        public init(filename: [UInt8], argv: [[UInt8]], oldTid: Int32,
                    filenameTruncated: Bool = false, argvTruncated: Bool = false) {
            self.filename = filename
            self.argv = argv
            self.oldTid = oldTid
            self.filenameTruncated = filenameTruncated
            self.argvTruncated = argvTruncated
        }
    }

    public struct Exit: Equatable, Sendable {
        /// The kernel's task->exit_code: status << 8, or the signal number.
        public var code: UInt32
        /// Last thread of its process: the process is gone.
        public var groupDead: Bool
        /// Real parent at exit: differs from the fork-time parent after reparenting.
        public var parentPid: Int32

        public init(code: UInt32, groupDead: Bool, parentPid: Int32) {
            self.code = code
            self.groupDead = groupDead
            self.parentPid = parentPid
        }

        public var status: Termination { Termination(kernelCode: code) }
    }

    public init(ktime: UInt64, cpu: UInt32 = 0, pid: Int32, tid: Int32, comm: [UInt8], body: Body) {
        self.ktime = ktime
        self.cpu = cpu
        self.pid = pid
        self.tid = tid
        self.comm = comm
        self.body = body
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
