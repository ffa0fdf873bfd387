import ArgumentParser
import Foundation
import Kernel
import Monitor
import Session

/// Seconds since boot when this process started, read before anything else.
private let startedAt: Double = {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}()

@main
struct EbpfMonitor: ParsableCommand {
    /// Errors are one line, `ebpf-monitor: error: ...`, with a distinct status (README).
    static func main() {
        _ = startedAt
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let status as ExitCode {
            Foundation.exit(status.rawValue)
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }  // --help, --version
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            fail(message + " (see --help)", code.rawValue)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "ebpf-monitor",
        abstract: "Trace every process a command or a shell starts, live, with eBPF.",
        discussion: """
            Watch a shell and each command typed into it:    ebpf-monitor --pid=$$
            Run a command under watch, exit with its status: ebpf-monitor -- make -j4

            --only and --changes combine: ebpf-monitor --only files --changes -- make
            Summaries, lost-event lines and status lines always print.
            """)

    @Option(
        name: .long, help: "Watch this process, its existing descendants and everything they start.",
        completion: .shellCommand("ps -e -o pid="))
    var pid: Int32?

    @Option(name: .long, help: "Output format: text (columns, for people) or json (JSON Lines, for scripts).")
    var format: OutputFormat = .text

    @Option(name: .long, help: "Write the trace to this file instead of standard output.", completion: .file())
    var output: String?

    @OptionGroup var report: ReportOption

    @Option(
        name: .customLong("fork-probe"),
        help: "How forks are followed: auto, kprobe (copy_process) or tracepoint (task:task_newtask).")
    var forkProbe: ForkProbeChoice = .auto

    @Option(
        name: .long,
        help: "Where the kernel puts records: auto, ring (one ring buffer, Linux 5.8) or perf (a buffer per CPU).")
    var buffer: BufferChoice = .auto

    @Option(
        name: .customLong("task-state"),
        help: "Where per-thread state lives: auto, storage (task storage, Linux 5.15) or maps (hashes by thread id).")
    var taskState: TaskStateChoice = .auto

    @Option(
        name: .customLong("datagram-probe"),
        help: """
            How a datagram is seen landing in its reader's socket: auto, tracepoint (sock:sk_data_ready, \
            Linux 6.6), kprobe (sock_def_readable) or none (only a command's named unix sockets are followed).
            """)
    var datagramProbe: DatagramProbeChoice = .auto

    @Option(
        name: .customLong("buffer-pages"),
        help: "Kernel buffer size in 4 KiB pages, a power of two, shared among the CPUs with --buffer perf.")
    var bufferPages = 8192

    @Option(
        name: .customLong("max-tasks"),
        help: "Most threads watched at once; children beyond it are reported as not followed.")
    var maxTasks = 65_536

    @Flag(name: .long, help: "Show every read and write call, instead of one total per file when it is closed.")
    var io = false

    @Flag(name: .long, help: "Print text times in UTC instead of local time.")
    var utc = false

    @Flag(
        name: [.customLong("summary-only"), .customShort("q")],
        help: "Print only the command summaries and lost-event lines: no event lines.")
    var summaryOnly = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Print only events of these classes: files, net, proc (also file, network, process), comma-separated.",
            valueName: "classes"),
        completion: .list(["files", "net", "proc"]))
    var only: String?

    @Flag(
        name: .long,
        help: """
            Print only events that change state: files created, written, truncated, deleted, renamed, \
            linked or changed in mode, owner or times; forks, execs and exits; connect, bind, listen, accept, \
            peer and signals. Not opens for reading, reads, sends and receives (data flow), or failed calls.
            """)
    var changes = false

    @Flag(
        name: [.customShort("v"), .long],
        help: "List every file the dynamic loader read in the text summary, instead of counting them.")
    var verbose = false

    @Flag(
        inversion: .prefixedNo,
        help: """
            Mask passwords, tokens and keys in command lines and paths (README, "Secrets"). \
            On by default when the trace or the report goes to a file.
            """)
    var redact: Bool?

    @Argument(parsing: .postTerminator, help: "The command to run under watch, after --.")
    var command: [String] = []

    func validate() throws {
        if pid != nil && !command.isEmpty { throw ValidationError("--pid and -- CMD exclude each other") }
        if let pid, pid <= 0 { throw ValidationError("--pid must be a positive process id") }
        if bufferPages <= 0 || bufferPages & (bufferPages - 1) != 0 || bufferPages > 1 << 18 {
            throw ValidationError("--buffer-pages must be a power of two from 1 to 262144")
        }
        if maxTasks < 1 || maxTasks > 1 << 22 { throw ValidationError("--max-tasks must be from 1 to 4194304") }
        if case .failure(let unknown) = onlyClasses {
            throw ValidationError("--only: unknown event class '\(unknown.name)': use files, net or proc")
        }
        if summaryOnly && (only != nil || changes) {
            throw ValidationError("--summary-only prints no events, so it excludes --only and --changes")
        }
    }

    /// The classes `--only` names; success with nil when it is absent.
    private var onlyClasses: Result<Set<EventFilter.Class>?, EventFilter.UnknownClass> {
        guard let only else { return .success(nil) }
        return EventFilter.Class.parse(only).map { $0 }
    }

    mutating func run() throws {
        if pid == nil && command.isEmpty { throw ValidationError("give --pid=N or -- CMD [ARGS...]") }
        let stream: FileStream
        if let output {
            do {
                stream = FileStream(fd: try OutputFile.open(output), ownsDescriptor: true)
            } catch {
                Self.fail(error.description, error.exitCode)
            }
        } else {
            stream = FileStream(fd: STDOUT_FILENO)
        }
        let reportSink = try report.open()
        let diagnostics = FileStream(fd: STDERR_FILENO)
        var options = Session.Options(
            target: pid.map { .pid($0) } ?? .command(exactly: command),
            forkProbe: forkProbe.probe, startedAt: startedAt)
        options.limits.buffer = buffer.kind
        options.limits.taskState = taskState.kind
        options.limits.dataReadyProbe = datagramProbe.probe
        options.limits.ringBufferPages = bufferPages
        options.limits.watchedTasks = maxTasks
        options.limits.ioEveryCall = io
        let filter = EventFilter(
            summaryOnly: summaryOnly, classes: try onlyClasses.get(), changesOnly: changes)
        let trace = makeSink(format, stream: stream, utc: utc, filter: filter, listLoaded: verbose)
        // (The report gets every record: the detail levels pick what the trace shows.)
        var sink = ReportOption.sink(trace, report: reportSink)
        if redact ?? (output != nil || report.path != nil) { sink = RedactingSink(sink) }
        let session = Session(options: options, sink: sink, diagnostics: diagnostics)
        let status: Int32
        do {
            status = try session.run()
        } catch let error as KernelError {
            Self.fail(error.description, error.exitCode)
        } catch let error as SessionError {
            Self.fail(error.description, error.exitCode)
        }
        stream.flush()
        try report.finish(reportSink)
        throw ExitCode(status)
    }

    private static func fail(_ message: String, _ code: Int32) -> Never {
        FileHandle.standardError.write(Data("ebpf-monitor: error: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

enum ForkProbeChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, kprobe, tracepoint

    var probe: ForkProbe? {
        switch self {
        case .auto: return nil
        case .kprobe: return .kprobe
        case .tracepoint: return .tracepoint
        }
    }
}

enum BufferChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, ring, perf

    var kind: EventBufferKind? { EventBufferKind(rawValue: rawValue) }
}

enum TaskStateChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, storage, maps

    var kind: TaskStateKind? { TaskStateKind(rawValue: rawValue) }
}

enum DatagramProbeChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, tracepoint, kprobe, none

    var probe: DataReadyProbe? { self == .auto ? nil : DataReadyProbe(rawValue: rawValue) }
}

extension OutputFormat: ExpressibleByArgument {}
