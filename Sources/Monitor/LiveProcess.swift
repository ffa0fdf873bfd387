/// A process the tracker follows: the command it belongs to, its entry in
/// that command's process list, and the descriptor table its syscalls act on.
struct LiveProcess {
    var command: Int
    /// Index in the command's process list; nil for a daemon, which is no process of any command.
    var entry: Int?
    var ppid: Int32
    var comm: [UInt8]
    var argv: [[UInt8]]
    var threads: Set<Int32>
    var files: FileTable
    /// Forked by a daemon for the command; for a daemon itself, whom it works for now.
    var daemon: DaemonScope? = nil

    /// Which of its command's ledgers the process's file changes go to.
    var confidence: Confidence { daemon?.ambiguous == true ? .ambiguous : .certain }
}
