import Foundation
import Glibc
import Testing

/// The fixture daemons of `Fixtures/daemons/` (protocol and options in
/// `daemon.h`). Each design is a small C server (golock: Go); a request
/// `REQ <name>` makes it create `<files>/<name>`, whose content names the task
/// that did the work ("<name> pid P tid T"), so the ground truth is known:
/// which files a client caused, and which process wrote each.
enum DaemonDesign: String, Sendable, CustomTestStringConvertible {
    case threadpool, forking, prefork, eventloop, chain
    /// A Go daemon (`golock.go`) for the goroutine rules; not one of the five designs.
    case golock
    /// The designs of the runtimes real daemons are built on (RuntimeAttributionTests).
    case datagram, selfwake, pooleventfd, poolpipe, broker, batching, threadcache

    /// The five server designs of the scenario suite.
    static let designs: [DaemonDesign] = [.threadpool, .forking, .prefork, .eventloop, .chain]

    /// Datagrams, a loop that wakes itself, pools that complete through a
    /// wake-up of the loop, a broker in front of a service, a batching queue,
    /// a cache of threads that greet each client.
    static let runtimeDesigns: [DaemonDesign] = [
        .datagram, .selfwake, .pooleventfd, .poolpipe, .broker, .batching, .threadcache,
    ]

    var testDescription: String { rawValue }
}

/// How clients reach the daemon: a unix socket (a datagram socket for the
/// datagram design), TCP, or UDP (the datagram design only), on 127.0.0.1.
enum DaemonTransport: String, Sendable {
    case unix, tcp, udp
}

/// One scenario, run by the fixture driver (`Fixtures/daemons/driver.py`, which
/// bench/attribution.py runs too): it builds the design, starts its daemons and
/// `noise` unwatched noise clients, runs one watched client (`client --prefix
/// watched`) under `ebpf-monitor --format json`, then stops the noise clients
/// and the daemons with SIGTERM, and reports what each did. The checks are the
/// tests'. Everything lives in a fresh directory on /dev/shm, removed on deinit.
final class DaemonScenario {
    struct Server {
        let program: String
        let pid: Int
        /// The unix socket path, or the TCP port.
        let address: String
    }

    let design: DaemonDesign
    let transport: DaemonTransport
    let requests: Int
    /// The workspace: sockets and logs at the top, the compiled fixtures in `bin/`.
    let root: String
    /// Where the daemons create their files.
    let files: String
    /// The daemon processes started, in order of start (chain: back, then front).
    let servers: [Server]
    /// The monitor's run of the watched client.
    let watched: Finished
    /// Each noise client's end after SIGTERM.
    let noise: [Finished]
    /// Each daemon's end after SIGTERM, in reverse order of start.
    let stops: [(program: String, finished: Finished)]
    private let namesWhenWatchedEnded: Set<String>
    private let writers: [String: (pid: Int, tid: Int)]

    /// `options` go to every program of the design, after the common ones;
    /// `clientOptions` to every client, the watched one and the noise, and
    /// `watchedOptions` after them to the watched one;
    /// `monitorOptions` to the monitor, after `--format json`.
    init(
        _ design: DaemonDesign, transport: DaemonTransport = .unix, options: [String] = [], noise noiseClients: Int = 0,
        requests: Int, connections: Int = 2, clientOptions: [String] = [], watchedOptions: [String] = [],
        monitorOptions: [String] = []
    ) throws {
        self.design = design
        self.transport = transport
        self.requests = requests
        var template = Array("/dev/shm/ebpf-monitor-daemons-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp on /dev/shm: \(errno)") }
        root = String(cString: made)
        chmod(root, 0o755)
        do {
            let spec: [String: Any] = [
                "workdir": root, "design": design.rawValue, "transport": transport.rawValue, "daemon_options": options,
                "noise": noiseClients, "requests": requests, "connections": connections,
                "client_options": clientOptions, "watched_options": watchedOptions,
                "monitor": try Harness.monitorBinary(), "monitor_args": ["--format", "json"] + monitorOptions,
            ]
            let report = try Self.drive(spec, in: root)
            files = try Self.field(report, "files")
            servers = try (Self.field(report, "daemons") as [[String: Any]]).map {
                Server(
                    program: try Self.field($0, "program"), pid: try Self.number($0, "pid").intValue,
                    address: try Self.field($0, "address"))
            }
            watched = try Self.finished(try Self.field(report, "watched"))
            noise = try (Self.field(report, "noise") as [[String: Any]]).map(Self.finished)
            stops = try (Self.field(report, "daemon_stops") as [[String: Any]]).map {
                (try Self.field($0, "name"), try Self.finished($0))
            }
            namesWhenWatchedEnded = Set(try Self.field(report, "names_after_watched") as [String])
            let written: [String: Any] = try Self.field(report, "writers")
            writers = written.compactMapValues { value in
                (value as? [NSNumber]).flatMap { $0.count == 2 ? ($0[0].intValue, $0[1].intValue) : nil }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// The daemon the clients talk to (front for the chain).
    var entry: Server { servers[servers.count - 1] }

    /// The pids of the daemon processes started (not their forked children).
    var pids: Set<Int> { Set(servers.map(\.pid)) }

    /// The names in `files/` that start with `prefix`, as they were when the watched client had ended.
    func namesWhenWatchedEnded(prefixed prefix: String) -> Set<String> {
        namesWhenWatchedEnded.filter { $0.hasPrefix(prefix) }
    }

    /// The names in `files/` that start with `prefix`, once every daemon had stopped.
    func namesAtEnd(prefixed prefix: String) -> Set<String> { Set(writers.keys.filter { $0.hasPrefix(prefix) }) }

    /// The task that created `files/<name>`, from the line the daemon wrote into it.
    func writer(of name: String) -> (pid: Int, tid: Int)? { writers[name] ?? nil }

    // MARK: - The driver

    private static let driver = Harness.packageRoot.appendingPathComponent(
        "Tests/IntegrationTests/Fixtures/daemons/driver.py"
    ).path

    /// Runs `driver.py scenario SPEC` and returns the JSON object it prints.
    private static func drive(_ spec: [String: Any], in directory: String) throws -> [String: Any] {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
        let argv = ["/usr/bin/python3", "-B", driver, "scenario", text]
        let run = try Started(argv.map { Array($0.utf8) }, directory: directory, name: "driver").wait(timeout: 600)
        guard !run.timedOut, run.status == 0 else { throw HarnessError("the fixture driver failed: \(run)") }
        guard let report = try? JSONSerialization.jsonObject(with: Data(run.stdout)) as? [String: Any] else {
            throw HarnessError("the fixture driver printed no JSON object: \(run)")
        }
        return report
    }

    private static func field<T>(_ object: [String: Any], _ key: String) throws -> T {
        guard let value = object[key] as? T else {
            throw HarnessError("the fixture driver's report has no \(key) (\(T.self)): \(object)")
        }
        return value
    }

    private static func number(_ object: [String: Any], _ key: String) throws -> NSNumber { try field(object, key) }

    /// A child's end as the driver reports it, with its output read from the files it names.
    private static func finished(_ ended: [String: Any]) throws -> Finished {
        Finished(
            pid: try number(ended, "pid").int32Value, status: try number(ended, "status").int32Value,
            stdout: Harness.read(try field(ended, "stdout")),
            stderr: String(decoding: Harness.read(try field(ended, "stderr")), as: UTF8.self),
            timedOut: try number(ended, "timed_out").boolValue, leftovers: try number(ended, "leftovers").boolValue,
            seconds: try number(ended, "seconds").doubleValue)
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
    /// The paths under `files/` in the summary's ambiguous bucket: perhaps the command's, perhaps another's.
    let ambiguous: Set<String>

    static let buckets = ["created", "modified", "temporary"]

    /// The watched client (`client --prefix watched --count requests`), and so
    /// the monitor, must have exited 0 and the client's files must all be
    /// there; the attribution itself is left to the caller to judge.
    init(_ scenario: DaemonScenario, sourceLocation: SourceLocation = #_sourceLocation) throws {
        run = scenario.watched
        try #require(
            !run.timedOut && run.status == 0, "the watched client must succeed: \(run)", sourceLocation: sourceLocation)
        let expected = Set((1...scenario.requests).map { "watched-\($0)" })
        try #require(
            scenario.namesWhenWatchedEnded(prefixed: "watched-") == expected, "the daemon made the client's files",
            sourceLocation: sourceLocation)
        truth = Set(expected.map { scenario.files + "/" + $0 })
        objects = try run.json()
        summary = try #require(
            objects.ofType("summary").first { $0.int("command") == 1 }, "a summary of command 1: \(run)",
            sourceLocation: sourceLocation)
        let files = summary["files"] as? [String: Any] ?? [:]
        attributed = Set(
            Self.buckets.flatMap { files[$0] as? [String] ?? [] }.filter { $0.hasPrefix(scenario.files + "/") })
        ambiguous = Set((files["ambiguous"] as? [String] ?? []).filter { $0.hasPrefix(scenario.files + "/") })
    }

    var precision: Double {
        attributed.isEmpty
            ? (truth.isEmpty ? 1 : 0) : Double(attributed.intersection(truth).count) / Double(attributed.count)
    }

    var recall: Double { truth.isEmpty ? 1 : Double(attributed.intersection(truth).count) / Double(truth.count) }

    /// For messages: what was attributed wrongly and what was missed, by file name.
    var misattribution: String {
        let extra = attributed.subtracting(truth).map { ($0 as NSString).lastPathComponent }.sorted()
        let missed = truth.subtracting(attributed).map { ($0 as NSString).lastPathComponent }.sorted()
        return
            "precision \(precision), recall \(recall); not the command's: \(extra.prefix(20)); missed: \(missed.prefix(20))"
    }

    /// The summary's `daemons` entries.
    var daemons: [[String: Any]] { summary["daemons"] as? [[String: Any]] ?? [] }

    /// The summary's `processes` entries.
    var processes: [[String: Any]] { summary["processes"] as? [[String: Any]] ?? [] }

    /// The file events of command 1 on `path`.
    func fileEvents(_ path: String) -> [[String: Any]] {
        objects.filter {
            $0.isEvent && $0.string("category") == "file" && $0.string("path") == path && $0.int("command") == 1
        }
    }
}

extension Dictionary where Key == String, Value == Any {
    /// `pid` of a nested object such as a daemon event's `daemon`.
    func nestedPid(_ key: String) -> Int? { ((self[key] as? [String: Any])?["pid"] as? NSNumber)?.intValue }

    /// An array of integers such as a daemon event's `via`.
    func integers(_ key: String) -> [Int]? { (self[key] as? [NSNumber])?.map(\.intValue) }
}
