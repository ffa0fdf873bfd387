import Foundation
import Glibc
import Testing

/// The fixture daemons of `Fixtures/daemons/` (protocol and options in
/// `daemon.h`), for the attribution tests of issue 4. Each design is a small C
/// server (golock: Go); a request `REQ <name>` makes it create `<files>/<name>`, whose
/// content names the task that did the work ("<name> pid P tid T"), so the
/// ground truth is known: which files a client caused, and which process
/// wrote each. bench/attribution.py drives the five C designs.
enum DaemonDesign: String, Sendable, CustomTestStringConvertible {
    case threadpool, forking, prefork, eventloop, chain
    /// A Go daemon (`golock.go`) for the goroutine rules; not one of the five designs.
    case golock

    /// The five server designs of the scenario suite.
    static let designs: [DaemonDesign] = [.threadpool, .forking, .prefork, .eventloop, .chain]

    /// The programs to compile; the last one is the one clients connect to.
    var programs: [String] { self == .chain ? ["back", "front"] : [rawValue] }

    var testDescription: String { rawValue }
}

enum DaemonTransport: String, Sendable {
    case unix, tcp
}

/// A fresh directory on /dev/shm: the compiled fixtures in `bin/`, the files the
/// daemon creates in `files/`, sockets and logs at the top. Removed on deinit.
final class DaemonWorkspace {
    let root: String
    let bin: String
    let files: String

    init(_ design: DaemonDesign) throws {
        var template = Array("/dev/shm/ebpf-monitor-daemons-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp on /dev/shm: \(errno)") }
        root = String(cString: made)
        chmod(root, 0o755)
        bin = root + "/bin"
        files = root + "/files"
        do {
            for directory in [bin, files] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            }
            let sources = Harness.packageRoot.appendingPathComponent("Tests/IntegrationTests/Fixtures/daemons").path
            for program in design.programs + ["client"] {
                let compile = program == "golock"
                    ? ["/usr/bin/env", "GOCACHE=\(root)/gocache", "GO111MODULE=off", "/usr/bin/go", "build",
                       "-o", bin + "/" + program, sources + "/golock.go"]
                    : ["/usr/bin/cc", "-std=c11", "-Wall", "-Werror", "-O2", "-pthread",
                       "-o", bin + "/" + program, sources + "/\(program).c"]
                let built = try Harness.runTool(compile, timeout: 120)
                guard built.status == 0 else { throw HarnessError("building \(program) failed: \(built)") }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// The names in `files/` that start with `prefix`.
    func names(prefixed prefix: String) -> Set<String> {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: files)) ?? []
        return Set(all.filter { $0.hasPrefix(prefix) })
    }

    /// The task that created `files/<name>`, from the line the daemon wrote into it.
    func writer(of name: String) -> (pid: Int, tid: Int)? {
        let words = String(decoding: Harness.read(files + "/" + name), as: UTF8.self)
            .split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard words.count == 5, words[1] == "pid", words[3] == "tid", let pid = Int(words[2]), let tid = Int(words[4])
        else { return nil }
        return (pid, tid)
    }
}

/// One design's daemons, listening (chain: back, then front, which connects to
/// back once, now, before any monitor runs).
final class FixtureDaemon {
    struct Server {
        let program: String
        let started: Started
        /// The unix socket path, or the TCP port.
        let address: String
        var pid: Int { Int(started.pid) }
    }

    let design: DaemonDesign
    let transport: DaemonTransport
    private(set) var processes: [Server] = []

    /// `options` go to every program of the design, after the common ones.
    init(_ design: DaemonDesign, in workspace: DaemonWorkspace, transport: DaemonTransport = .unix,
         options extra: [String] = []) throws {
        self.design = design
        self.transport = transport
        for program in design.programs {
            var options = ["--dir", workspace.files] + extra
            if program == "front", let back = processes.last {
                options = (transport == .unix ? ["--back-unix", back.address] : ["--back-tcp", back.address]) + extra
            }
            try start(program, options: options, workspace: workspace)
        }
    }

    deinit {
        for process in processes.reversed() { process.started.kill() }
    }

    private func start(_ program: String, options: [String], workspace: DaemonWorkspace) throws {
        let listen = transport == .unix ? ["--unix", workspace.root + "/\(program).sock"] : ["--tcp", "0"]
        let started = try Started(([workspace.bin + "/" + program] + listen + options).map { Array($0.utf8) },
                                  directory: workspace.root, name: program)
        var readyLine: Substring?
        let ready = Harness.waitUntil(timeout: 10) {
            readyLine = String(decoding: started.stdout, as: UTF8.self).split(separator: "\n")
                .first { $0 == "ready" || $0.hasPrefix("ready ") }
            return readyLine != nil || Glibc.kill(started.pid, 0) != 0
        }
        guard ready, let readyLine else {
            let finished = started.kill()
            throw HarnessError("\(program) did not get ready: \(finished)")
        }
        let address = transport == .unix ? listen[1] : String(readyLine.dropFirst("ready ".count))
        processes.append(Server(program: program, started: started, address: address))
    }

    /// The daemon the clients talk to (front for the chain).
    var entry: Server { processes[processes.count - 1] }

    /// The pids of the daemon processes started (not their forked children).
    var pids: Set<Int> { Set(processes.map(\.pid)) }

    /// `--unix PATH` or `--tcp PORT`, for the client.
    var clientFlags: [String] { transport == .unix ? ["--unix", entry.address] : ["--tcp", entry.address] }

    /// SIGTERM, in reverse order of start: each must exit 0 by itself. The
    /// processes stay listed, for the checks that follow.
    func stop() -> [(program: String, finished: Finished)] {
        processes.reversed().map { process in
            Glibc.kill(process.started.pid, SIGTERM)
            return (process.program, process.started.wait(timeout: 10))
        }
    }
}

/// Unwatched clients of a daemon, repeating rounds of requests (prefix
/// `noise<j>`) until stopped, started before the watched command.
final class NoiseClients {
    let started: [Started]

    init(_ count: Int, of daemon: FixtureDaemon, in workspace: DaemonWorkspace) throws {
        var started: [Started] = []
        for index in 1...count {
            let argv = [workspace.bin + "/client"] + daemon.clientFlags
                + ["--prefix", "noise\(index)", "--count", "10", "--connections", "2", "--forever"]
            started.append(try Started(argv.map { Array($0.utf8) }, directory: workspace.root, name: "noise\(index)"))
        }
        self.started = started
        // Each has been served at least once before the watched command starts.
        let running = Harness.waitUntil(timeout: 10) {
            (1...count).allSatisfy { FileManager.default.fileExists(atPath: workspace.files + "/noise\($0)-1") }
        }
        if !running {
            let states = started.map { $0.kill().description }
            throw HarnessError("noise clients made no request: \(states)")
        }
    }

    deinit { started.forEach { $0.kill() } }

    /// SIGTERM: each stops after the request in flight and exits 0.
    func stop() -> [Finished] {
        started.map { client in
            Glibc.kill(client.pid, SIGTERM)
            return client.wait(timeout: 10)
        }
    }
}

/// A watched client's run under the monitor, scored against the files its
/// requests made.
struct AttributionRun {
    let run: Finished
    let objects: [[String: Any]]
    /// The summary of command 1.
    let summary: [String: Any]
    /// The watched client's files (`files/watched-<i>`): the ground truth.
    let truth: Set<String>
    /// The paths under `files/` in the summary's created, modified and temporary buckets.
    let attributed: Set<String>

    static let buckets = ["created", "modified", "temporary"]

    /// Runs `client --prefix watched --count requests --connections connections`
    /// under `ebpf-monitor --format json`. The client, and so the monitor, must
    /// exit 0 and the client's files must all be there; the attribution itself
    /// is left to the caller to judge.
    init(of daemon: FixtureDaemon, in workspace: DaemonWorkspace, requests: Int, connections: Int = 2,
         sourceLocation: SourceLocation = #_sourceLocation) throws {
        let client = [workspace.bin + "/client"] + daemon.clientFlags
            + ["--prefix", "watched", "--count", String(requests), "--connections", String(connections)]
        run = try Harness.monitor(["--format", "json", "--"] + client, timeout: 60)
        try #require(!run.timedOut && run.status == 0, "the watched client must succeed: \(run)", sourceLocation: sourceLocation)
        let expected = Set((1...requests).map { "watched-\($0)" })
        try #require(workspace.names(prefixed: "watched-") == expected, "the daemon made the client's files",
                     sourceLocation: sourceLocation)
        truth = Set(expected.map { workspace.files + "/" + $0 })
        objects = try run.json()
        summary = try #require(objects.ofType("summary").first { $0.int("command") == 1 }, "a summary of command 1: \(run)",
                               sourceLocation: sourceLocation)
        let files = summary["files"] as? [String: Any] ?? [:]
        attributed = Set(Self.buckets.flatMap { files[$0] as? [String] ?? [] }.filter { $0.hasPrefix(workspace.files + "/") })
    }

    var precision: Double {
        attributed.isEmpty ? (truth.isEmpty ? 1 : 0) : Double(attributed.intersection(truth).count) / Double(attributed.count)
    }

    var recall: Double { truth.isEmpty ? 1 : Double(attributed.intersection(truth).count) / Double(truth.count) }

    /// For messages: what was attributed wrongly and what was missed, by file name.
    var misattribution: String {
        let extra = attributed.subtracting(truth).map { ($0 as NSString).lastPathComponent }.sorted()
        let missed = truth.subtracting(attributed).map { ($0 as NSString).lastPathComponent }.sorted()
        return "precision \(precision), recall \(recall); not the command's: \(extra.prefix(20)); missed: \(missed.prefix(20))"
    }

    /// The summary's `daemons` entries.
    var daemons: [[String: Any]] { summary["daemons"] as? [[String: Any]] ?? [] }

    /// The summary's `processes` entries.
    var processes: [[String: Any]] { summary["processes"] as? [[String: Any]] ?? [] }

    /// The file events of command 1 on `path`.
    func fileEvents(_ path: String) -> [[String: Any]] {
        objects.filter { $0.isEvent && $0.string("category") == "file" && $0.string("path") == path && $0.int("command") == 1 }
    }
}

extension Dictionary where Key == String, Value == Any {
    /// `pid` of a nested object such as a daemon event's `daemon`.
    func nestedPid(_ key: String) -> Int? { ((self[key] as? [String: Any])?["pid"] as? NSNumber)?.intValue }

    /// An array of integers such as a daemon event's `via`.
    func integers(_ key: String) -> [Int]? { (self[key] as? [NSNumber])?.map(\.intValue) }
}
