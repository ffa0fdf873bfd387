/// What the tracker hands to the sinks: the model's view of the stream,
/// independent of how it is printed.
public enum Record: Equatable, Sendable {
    case process(ProcessRecord)
    /// A file or network operation, or a signal sent.
    case activity(ActivityRecord)
    case lost(LostRecord)
    case summary(CommandSummary)
    case status(StatusRecord)
}

/// The operation a `ProcessRecord` reports. Raw values are the output's `action` names.
public enum ProcessAction: String, Sendable {
    case fork, thread, exec, exit
    case threadExit = "thread_exit"
}

/// The operation an `ActivityRecord` reports. Raw values are the output's `action` names.
public enum ActivityAction: String, Sendable {
    case open, create, read, write, truncate, unlink, rmdir, mkdir, mknod, rename, link, symlink
    case chmod, chown, utime, xattr, mount, umount
    case socket, connect, bind, listen, accept, send, recv, close, peer
    /// kill, tkill, tgkill.
    case signal
}

public struct ProcessRecord: Equatable, Sendable {
    public var time: UInt64  // wall clock, ns since the epoch
    public var command: Int
    public var pid: Int32
    public var tid: Int32
    public var ppid: Int32
    public var comm: [UInt8]
    public var action: ProcessAction
    public var child: Int32? = nil
    public var path: [UInt8]? = nil
    public var argv: [[UInt8]]? = nil
    public var termination: Termination? = nil
    public var truncated = false
    /// fork: the child could not be followed (watch map full).
    public var unfollowed = false
    /// exit: the process is gone but its exit event was lost, so its status is unknown.
    public var statusUnknown = false
    /// Set when a daemon did this for the command.
    public var daemon: DaemonScope? = nil

    public init(time: UInt64, command: Int, pid: Int32, tid: Int32, ppid: Int32, comm: [UInt8], action: ProcessAction) {
        self.time = time
        self.command = command
        self.pid = pid
        self.tid = tid
        self.ppid = ppid
        self.comm = comm
        self.action = action
    }
}

/// A file, network or signal operation by a watched process.
public struct ActivityRecord: Equatable, Sendable {
    public enum Category: String, Sendable {
        case file, network, process
    }

    public var time: UInt64
    public var command: Int
    public var pid: Int32
    public var tid: Int32
    public var ppid: Int32
    public var comm: [UInt8]
    public var category: Category
    public var action: ActivityAction
    public var path: [UInt8]? = nil
    public var from: [UInt8]? = nil
    public var to: [UInt8]? = nil
    public var fd: Int32? = nil
    public var bytes: UInt64? = nil
    /// Calls summed into `bytes`.
    public var calls: UInt32? = nil
    /// The errno name of a failed call.
    public var error: String? = nil
    public var flags: String? = nil
    public var mode: UInt32? = nil
    public var truncated = false
    public var loader = false
    public var socket: SocketState? = nil
    /// kill: the target and the signal.
    public var target: Int32? = nil
    public var signal: Int32? = nil
    /// Set when a daemon did this for the command.
    public var daemon: DaemonScope? = nil

    public init(
        time: UInt64, command: Int, pid: Int32, tid: Int32, ppid: Int32, comm: [UInt8],
        category: Category, action: ActivityAction
    ) {
        self.time = time
        self.command = command
        self.pid = pid
        self.tid = tid
        self.ppid = ppid
        self.comm = comm
        self.category = category
        self.action = action
    }
}

/// Work a daemon did for a command: which daemon, how the command reached
/// it, and whether another command's work was mixed in.
public struct DaemonScope: Equatable, Sendable {
    /// The daemon that did the work, or that forked the process doing it.
    public var pid: Int32
    public var comm: [UInt8]
    /// Pids from the command's process to here.
    public var via: [Int32]
    /// Another command's requests were mixed in: credited to both.
    public var ambiguous: Bool

    public init(pid: Int32, comm: [UInt8], via: [Int32], ambiguous: Bool = false) {
        self.pid = pid
        self.comm = comm
        self.via = via
        self.ambiguous = ambiguous
    }
}

/// A daemon that worked for a command, for the summary.
public struct DaemonEntry: Equatable, Sendable {
    public var pid: Int32
    public var comm: [UInt8]
    /// How the request reached it: "unix:/var/run/docker.sock", "tcp:127.0.0.1:80", "socketpair", "pipe".
    public var address: String
    public var via: [Int32]

    public init(pid: Int32, comm: [UInt8], address: String, via: [Int32]) {
        self.pid = pid
        self.comm = comm
        self.address = address
        self.via = via
    }
}

/// One network endpoint the command used, for the summary.
public struct NetworkEndpoint: Equatable, Sendable {
    public var family: String
    public var type: String
    public var local: String?
    public var remote: String?
    public var peer: SocketPeer?
    public var bytesSent: UInt64
    public var bytesReceived: UInt64

    public init(
        family: String, type: String, local: String?, remote: String?, peer: SocketPeer?,
        bytesSent: UInt64 = 0, bytesReceived: UInt64 = 0
    ) {
        self.family = family
        self.type = type
        self.local = local
        self.remote = remote
        self.peer = peer
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
    }
}

public struct LostRecord: Equatable, Sendable {
    public var time: UInt64
    /// Where: "fork", "exec", "exit", "watch_map_full", "decode".
    public var counts: [String: UInt64]
    public var total: UInt64

    public init(time: UInt64, counts: [String: UInt64], total: UInt64) {
        self.time = time
        self.counts = counts
        self.total = total
    }
}

public struct StatusRecord: Equatable, Sendable {
    public var time: UInt64
    public var message: String
    public var fields: [String: String]

    public init(time: UInt64, message: String, fields: [String: String] = [:]) {
        self.time = time
        self.message = message
        self.fields = fields
    }
}

/// One command's end-of-life report.
public struct CommandSummary: Equatable, Sendable {
    public struct Process: Equatable, Sendable {
        public var pid: Int32
        public var ppid: Int32
        public var comm: [UInt8]
        public var argv: [[UInt8]]
        public var termination: Termination?
        /// The process is gone. With no termination, its exit event was lost.
        public var ended: Bool
        /// Forked by a daemon for the command (runc, a container's processes).
        public var daemon: DaemonScope? = nil

        public init(
            pid: Int32, ppid: Int32, comm: [UInt8], argv: [[UInt8]], termination: Termination? = nil,
            ended: Bool? = nil
        ) {
            self.pid = pid
            self.ppid = ppid
            self.comm = comm
            self.argv = argv
            self.termination = termination
            self.ended = ended ?? (termination != nil)
        }
    }

    public var command: Int
    public var pid: Int32
    public var argv: [[UInt8]]
    public var termination: Termination?
    public var start: UInt64
    public var end: UInt64
    public var processes: [Process]
    public var threads: Int
    public var lostEvents: UInt64
    /// Net effect on the file system.
    public var files = FileSummary()
    public var network: [NetworkEndpoint] = []
    public var daemons: [DaemonEntry] = []
    /// Calls daemons made while the command ran that no watched command asked for.
    public var unattributed: UInt64 = 0

    /// The command's first process, whose end is the command's status.
    public var leader: Process? { processes.first { $0.pid == pid } }

    public init(
        command: Int, pid: Int32, argv: [[UInt8]], termination: Termination?, start: UInt64, end: UInt64,
        processes: [Process], threads: Int, lostEvents: UInt64
    ) {
        self.command = command
        self.pid = pid
        self.argv = argv
        self.termination = termination
        self.start = start
        self.end = end
        self.processes = processes
        self.threads = threads
        self.lostEvents = lostEvents
    }
}
