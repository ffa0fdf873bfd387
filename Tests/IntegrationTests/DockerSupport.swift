import Foundation
import Glibc
import Testing

/// Docker for the integration tests: the daemon that `scripts/docker.sh
/// start` (run by `make test` through `scripts/with-docker.sh`) brought up,
/// the busybox image it imported, and helpers to name, run and clean up.
///
/// The client is Debian's `/usr/bin/docker`, which matches its `dockerd`
/// (20.10, API 1.41). A newer client in `/usr/local/bin` may shadow it on
/// PATH; it negotiates the API version down and works too, but the tests name
/// the Debian one so the client's behaviour is the daemon's own release.
enum DockerFixture {
    static let client = "/usr/bin/docker"
    static let image = "ebpf-monitor/busybox"
    /// Every container and volume a test makes starts with this, so
    /// `scripts/docker.sh stop` can remove whatever a failed test left.
    static let prefix = "ebpf-monitor-test"

    /// A name no other run uses: `ebpf-monitor-test-<tag>-<16 hex digits>`.
    static func uniqueName(_ tag: String) -> String {
        prefix + "-" + tag + "-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// Runs the client, unwatched, to completion.
    @discardableResult
    static func run(_ arguments: [String], timeout: Double = 60) throws -> Finished {
        try Harness.runTool([client] + arguments, timeout: timeout)
    }

    /// The daemon as the tests need it: up, with the image, and its pids and
    /// root directory. Fails (never skips) when Docker is not there: the
    /// Docker tests are part of the suite.
    static func require() throws -> DockerDaemons {
        guard access(client, X_OK) == 0 else {
            throw HarnessError("no \(client): run `sh scripts/docker.sh start` (make test does)")
        }
        let info = try run(["info", "--format", "{{.DockerRootDir}}"], timeout: 30)
        guard info.status == 0 else {
            throw HarnessError("dockerd does not answer; run `sh scripts/docker.sh start` (make test does): \(info)")
        }
        let inspect = try run(["image", "inspect", "--format", "{{.Id}}", image + ":latest"], timeout: 30)
        guard inspect.status == 0 else {
            throw HarnessError("no image \(image); `sh scripts/docker.sh start` imports it: \(inspect)")
        }
        let root = info.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let dockerd = pids(comm: "dockerd")
        let containerd = pids(comm: "containerd")
        guard !root.isEmpty, !dockerd.isEmpty, !containerd.isEmpty else {
            throw HarnessError("root dir \(root), dockerd \(dockerd), containerd \(containerd)")
        }
        return DockerDaemons(root: root, dockerd: dockerd, containerd: containerd)
    }

    /// Removes the volumes whose names start with `namePrefix`; clean-up, errors ignored.
    static func removeVolumes(prefixed namePrefix: String) {
        guard let listed = try? run(["volume", "ls", "-q", "--filter", "name=" + namePrefix], timeout: 30) else {
            return
        }
        let names = listed.stdoutText.split(separator: "\n").map(String.init).filter { $0.hasPrefix(namePrefix) }
        if !names.isEmpty { _ = try? run(["volume", "rm", "-f"] + names, timeout: 30) }
    }

    /// Pids of the processes whose comm is `comm` exactly.
    static func pids(comm: String) -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int($0) }.filter { pid in
            String(decoding: Harness.read("/proc/\(pid)/comm"), as: UTF8.self)
                .trimmingCharacters(in: .newlines) == comm
        }.sorted()
    }
}

/// What `DockerFixture.require()` found.
struct DockerDaemons {
    /// `DockerRootDir`, normally /var/lib/docker.
    let root: String
    let dockerd: [Int]
    let containerd: [Int]

    /// The directories dockerd makes for a volume.
    func volumeDirectories(_ name: String) -> [String] {
        let directory = root + "/volumes/" + name
        return [directory, directory + "/_data"]
    }
}

/// An unwatched client that runs docker commands in a loop until stopped:
/// `volume create` and `volume rm` of `<prefix>-N`, then
/// `run --rm IMAGE touch /noise`. It prints `round N` after each round.
final class DockerNoise {
    let prefix: String
    private let directory: String
    private let stopFile: String
    private let started: Started
    private var stopped = false

    init() throws {
        prefix = DockerFixture.uniqueName("noise")
        directory = try Harness.temporaryDirectory()
        stopFile = directory + "/stop"
        let script = """
            i=0
            while [ ! -e "$1" ]; do
                i=$((i + 1))
                if "$2" volume create "$3-$i" >/dev/null && "$2" volume rm "$3-$i" >/dev/null &&
                    "$2" run --rm "$4" touch /noise; then
                    echo "round $i"
                else
                    echo "failed $i"
                fi
            done
            echo stopped
            """
        started = try Started(
            ["/bin/sh", "-c", script, "noise", stopFile, DockerFixture.client, prefix, DockerFixture.image]
                .map { Array($0.utf8) }, directory: directory, name: "noise")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Rounds completed so far.
    var rounds: Int {
        String(decoding: started.stdout, as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("round ") }.count
    }

    /// Waits until `count` rounds are done (the loop runs, the image works).
    func waitForRounds(_ count: Int, timeout: Double = 60) throws {
        let done = Harness.waitUntil(timeout: timeout) { rounds >= count || kill(started.pid, 0) != 0 }
        guard done, rounds >= count else {
            throw HarnessError("noise client did \(rounds) rounds: \(started.stderr)")
        }
    }

    /// Ends the loop after its current round, so no request is cut off half
    /// way, then removes any volume it left.
    func stop() {
        if stopped { return }
        stopped = true
        if FileManager.default.createFile(atPath: stopFile, contents: nil) {
            _ = started.wait(timeout: 60)
        }
        started.kill()
        DockerFixture.removeVolumes(prefixed: prefix)
    }
}

/// The summary fields the Docker tests read (the `summary` object of the JSON output).
extension Dictionary where Key == String, Value == Any {
    /// `files.<bucket>` of a summary.
    func summaryFiles(_ bucket: String) -> [String] {
        ((self["files"] as? [String: Any])?[bucket] as? [String]) ?? []
    }

    /// `directories.<bucket>` of a summary.
    func summaryDirectories(_ bucket: String) -> [String] {
        ((self["directories"] as? [String: Any])?[bucket] as? [String]) ?? []
    }

    /// `processes` of a summary.
    var summaryProcesses: [[String: Any]] { (self["processes"] as? [[String: Any]]) ?? [] }

    /// `daemons` of a summary.
    var summaryDaemons: [[String: Any]] { (self["daemons"] as? [[String: Any]]) ?? [] }

    /// `daemon` of a daemon-scope event: `{pid, comm}`.
    var eventDaemon: [String: Any]? { self["daemon"] as? [String: Any] }

    /// Every string anywhere in the object, nested ones included: for "this
    /// name must not appear anywhere" checks.
    var allStrings: [String] {
        func collect(_ value: Any) -> [String] {
            switch value {
            case let string as String: return [string]
            case let array as [Any]: return array.flatMap(collect)
            case let object as [String: Any]: return object.values.flatMap(collect)
            default: return []
            }
        }
        return collect(self)
    }
}
