import Foundation
import Glibc
import Testing

/// Real servers from Debian's packages (Apache with mod_cgid, nginx with
/// php-fpm, a JDK HTTP server on a thread pool, MariaDB, memcached), started
/// by `Fixtures/servers/servers.py` on private ports and sockets with their own
/// configuration. One watched client makes ten requests under the monitor
/// while three unwatched clients of the same server make theirs. The watched
/// command must get its own files (precision ≥ 0.99, recall ≥ 0.95), none of
/// the other clients', and only the server's processes as daemons.
///
/// A suite of its own (for `--filter RealServerTests`) nested in the
/// serialized `IntegrationTests`, so it never runs alongside the other probe tests.
extension IntegrationTests {
    @Suite struct RealServerTests {
        init() throws {
            try #require(geteuid() == 0, "the real server tests load BPF programs and must run as root")
        }

        /// The servers, as `servers.py` names them. `java` listens on the JDK's
        /// default dual-stack socket, where IPv4 clients arrive v4-mapped;
        /// `java-ipv4` is the same server on an IPv4 socket.
        static let servers = ["apache", "nginx-php", "java", "java-ipv4", "mariadb", "memcached"]

        static let requests = 10
        static let noise = 3

        @Test(arguments: servers)
        func watchedClientAmongOthers(_ server: String) throws {
            let scenario = try RealServerScenario(server, requests: Self.requests, noise: Self.noise)
            let run = scenario.watched
            try #require(!run.timedOut && run.status == 0, "the watched client must succeed: \(run)")
            try #require(
                Set(scenario.truthPresent) == Set(scenario.truth), "the server made the watched client's files")
            #expect(scenario.noise.allSatisfy { $0 > 0 }, "every noise client was served: \(scenario.noise)")
            #expect(!scenario.stopTimedOut, "the server stopped on SIGTERM")

            let objects = try run.json()
            let summary = try #require(
                objects.ofType("summary").first { $0.int("command") == 1 }, "a summary of command 1: \(run)")
            #expect(objects.lostTotal == 0, "events lost: \(objects.ofType("lost"))")

            let files = summary["files"] as? [String: Any] ?? [:]
            let attributed = Set(
                ["created", "modified", "temporary", "ambiguous"].flatMap { files[$0] as? [String] ?? [] }
                    .filter { $0.hasPrefix(scenario.files + "/") })
            let truth = Set(scenario.truth)
            let right = attributed.intersection(truth).count
            let precision = attributed.isEmpty ? (truth.isEmpty ? 1 : 0) : Double(right) / Double(attributed.count)
            let recall = truth.isEmpty ? 1 : Double(right) / Double(truth.count)
            let wrong = attributed.subtracting(truth).map { ($0 as NSString).lastPathComponent }.sorted()
            let missed = truth.subtracting(attributed).map { ($0 as NSString).lastPathComponent }.sorted()
            let detail = "precision \(precision), recall \(recall); not the command's: \(wrong); missed: \(missed)"
            #expect(precision >= 0.99, "\(detail)")
            #expect(recall >= 0.95, "\(detail)")
            #expect(attributed.isDisjoint(with: scenario.noisePaths), "no other client's file: \(detail)")

            // The daemons: the server's processes, never a client.
            let daemons = (summary["daemons"] as? [[String: Any]] ?? []).compactMap { $0.int("pid") }
            let serverPids = scenario.serverPids
            #expect(
                !daemons.isEmpty && !Set(daemons).isDisjoint(with: serverPids), "the server is a daemon: \(daemons)")
            #expect(
                Set(daemons).isSubset(of: serverPids),
                "only the server's processes are daemons: \(daemons), server: \(serverPids.sorted())")
        }
    }
}

/// One run of `Fixtures/servers/servers.py run SPEC`: a real server, its noise
/// clients and the watched client under `ebpf-monitor --format json`, all
/// stopped before it returns. Everything lives in a fresh directory on
/// /dev/shm, removed on deinit.
final class RealServerScenario {
    let root: String
    /// Where the requests make their files.
    let files: String
    /// The paths the watched client's requests make, and those that existed when it ended.
    let truth: [String]
    let truthPresent: [String]
    /// The paths the noise clients' requests made.
    let noisePaths: Set<String>
    /// Requests served to each noise client.
    let noise: [Int]
    /// The server's processes, before and after the watched client ran.
    let serverPids: Set<Int>
    let watched: Finished
    /// A server process that did not end on SIGTERM in time.
    let stopTimedOut: Bool

    private static let driver = Harness.packageRoot.appendingPathComponent(
        "Tests/IntegrationTests/Fixtures/servers/servers.py"
    ).path

    init(_ server: String, requests: Int, noise noiseClients: Int) throws {
        var template = Array("/dev/shm/ebpf-monitor-servers-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp on /dev/shm: \(errno)") }
        root = String(cString: made)
        chmod(root, 0o755)
        do {
            let spec: [String: Any] = [
                "workdir": root, "server": server, "requests": requests, "noise": noiseClients,
                "monitor": try Harness.monitorBinary(), "monitor_args": ["--format", "json"],
            ]
            let text = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
            let argv = ["/usr/bin/python3", "-B", Self.driver, "run", text]
            let run = try Started(argv.map { Array($0.utf8) }, directory: root, name: "servers").wait(timeout: 300)
            guard !run.timedOut, run.status == 0,
                let report = try? JSONSerialization.jsonObject(with: Data(run.stdout)) as? [String: Any]
            else { throw HarnessError("the server driver failed: \(run)") }
            files = try Self.field(report, "files")
            truth = try Self.field(report, "truth")
            truthPresent = try Self.field(report, "truth_present")
            noisePaths = Set(try Self.field(report, "noise_paths") as [String])
            noise = (try Self.field(report, "noise") as [[String: Any]]).map { $0.int("requests") ?? 0 }
            let before: [String: Any] = try Self.field(report, "pids_before")
            let after: [String: Any] = try Self.field(report, "pids_after")
            serverPids = Set(before.keys.compactMap { Int($0) } + after.keys.compactMap { Int($0) })
            let ended: [String: Any] = try Self.field(report, "watched")
            watched = Finished(
                pid: Int32(ended.int("pid") ?? 0), status: Int32(ended.int("status") ?? -1),
                stdout: Harness.read(try Self.field(ended, "stdout")),
                stderr: String(decoding: Harness.read(try Self.field(ended, "stderr")), as: UTF8.self),
                timedOut: (ended["timed_out"] as? Bool) ?? true, leftovers: (ended["leftovers"] as? Bool) ?? false,
                seconds: (ended["seconds"] as? NSNumber)?.doubleValue ?? 0)
            stopTimedOut = (try Self.field(report, "stops") as [[String: Any]]).contains {
                ($0["timed_out"] as? Bool) ?? true
            }
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    private static func field<T>(_ object: [String: Any], _ key: String) throws -> T {
        guard let value = object[key] as? T else {
            throw HarnessError("the server driver's report has no \(key) (\(T.self)): \(object.keys.sorted())")
        }
        return value
    }
}
