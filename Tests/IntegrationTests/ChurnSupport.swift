import Foundation
import Glibc
import Testing

/// Fixture daemons and clients (Fixtures/daemons/) that a test starts, kills
/// and restarts one at a time while the monitor runs, where DaemonScenario's
/// driver runs one fixed scenario. Everything lives in a fresh directory on
/// /dev/shm: the compiled programs in `bin/` (with `at-pid`), the daemons'
/// files in `files/`, sockets and logs at the top. On deinit every process
/// it started is killed and the directory removed.
final class FixtureWorkspace {
    let root: String
    var files: String { root + "/files" }
    private var started: [Started] = []
    private var count = 0

    /// Builds `programs` (fixture daemons), the client and `at-pid`.
    init(programs: [String]) throws {
        var template = Array("/dev/shm/ebpf-monitor-churn-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp on /dev/shm: \(errno)") }
        root = String(cString: made)
        chmod(root, 0o755)
        do {
            for directory in [root + "/bin", files] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            }
            let fixtures = Harness.packageRoot.appendingPathComponent("Tests/IntegrationTests/Fixtures").path
            var sources = programs.map { (name: $0, path: "\(fixtures)/daemons/\($0).c") }
            sources += [("client", "\(fixtures)/daemons/client.c"), ("at-pid", "\(fixtures)/at-pid.c")]
            for (name, path) in sources {
                let built = try Harness.runTool(
                    ["/usr/bin/cc", "-std=c11", "-Wall", "-Werror", "-O2", "-pthread", "-o", program(name), path])
                guard built.status == 0 else { throw HarnessError("building \(name) failed: \(built)") }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    deinit {
        for process in started.reversed() { process.kill() }
        try? FileManager.default.removeItem(atPath: root)
    }

    func program(_ name: String) -> String { root + "/bin/" + name }

    /// A fixture daemon serving the unix socket `root/<socket>`, creating its
    /// files in `files/`, once it has printed `ready`; with `pid`, run by
    /// `at-pid` as that pid. Returns it with the daemon's pid.
    func startDaemon(_ name: String, socket: String, pid: Int32? = nil) throws -> (Started, Int32) {
        var argv = [program(name), "--unix", root + "/" + socket, "--dir", files]
        if let pid { argv = [program("at-pid"), "\(pid)"] + argv }
        let daemon = try start(argv, name: name)
        guard Harness.waitUntil(timeout: 10, { daemon.stdout.starts(with: Array("ready\n".utf8)) }) else {
            throw HarnessError("\(name) did not get ready: \(daemon.kill())")
        }
        return (daemon, pid ?? daemon.pid)
    }

    /// An unwatched client of the daemon at `root/<socket>` that repeats its
    /// requests (`prefix`-1 .. -4, over two connections) until it is stopped
    /// or the daemon goes, once it has been served.
    func startNoise(prefix: String, socket: String) throws -> Started {
        let client = try start(
            [
                program("client"), "--unix", root + "/" + socket, "--prefix", prefix, "--count", "4",
                "--connections", "2", "--delay-us", "2000", "--forever",
            ], name: prefix)
        guard Harness.waitUntil(timeout: 10, { access(files + "/\(prefix)-1", F_OK) == 0 }) else {
            throw HarnessError("noise client \(prefix) was not served: \(client.kill())")
        }
        return client
    }

    /// The command line of a client that makes `count` requests, `prefix`-1 .. -count.
    func client(prefix: String, socket: String, count: Int) -> [String] {
        [program("client"), "--unix", root + "/" + socket, "--prefix", prefix, "--count", "\(count)"]
    }

    /// The names in `files/` that start with `prefix`.
    func names(prefixed prefix: String) -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: files)) ?? []).filter { $0.hasPrefix(prefix) })
    }

    /// The pid of the process that created `files/<name>`, from the line it wrote into it.
    func writer(of name: String) -> Int? {
        let words = String(decoding: Harness.read(files + "/" + name), as: UTF8.self).split(separator: " ")
        return words.count == 5 && words[1] == "pid" ? Int(words[2]) : nil
    }

    /// Starts `argv` in a process group of its own, killed on deinit.
    func start(_ argv: [String], name: String) throws -> Started {
        count += 1
        let process = try Started(argv.map { Array($0.utf8) }, directory: root, name: "\(name)-\(count)")
        started.append(process)
        return process
    }
}

/// A non-interactive bash that reads its commands from a pipe the test
/// holds, with the monitor attached to it by `--pid`: each line fed is a
/// command of its own. Both are killed on deinit.
final class WatchedShell {
    let bash: Started
    let monitor: Started
    private var input: Int32

    init(directory: String) throws {
        let fds = try Harness.holdingPipe()
        input = fds.write
        do {
            bash = try Started([Array("/bin/bash".utf8)], directory: directory, stdin: fds.read, name: "bash")
        } catch {
            close(fds.read)
            close(fds.write)
            throw error
        }
        close(fds.read)
        do {
            monitor = try Harness.startMonitor(["--pid=\(bash.pid)", "--format", "json"], directory: directory)
        } catch {
            bash.kill()
            close(input)
            throw error
        }
        guard Harness.waitForReady(monitor), monitor.stderr.contains("ebpf-monitor: ready ") else {
            throw HarnessError("no ready line: \(monitor.stderr)")
        }
    }

    deinit {
        if input >= 0 { close(input) }
        monitor.kill()
        bash.kill()
    }

    func feed(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        guard input >= 0, write(input, bytes, bytes.count) == bytes.count else {
            throw HarnessError("write to bash: errno \(errno)")
        }
    }

    /// The summary of the command that exec'd `argv`, once the monitor has printed it.
    func waitForSummary(argv: [String], timeout: Double = 20) -> [String: Any]? {
        var summary: [String: Any]?
        _ = Harness.waitUntil(timeout: timeout) {
            summary = monitor.jsonSoFar().ofType("summary").first { $0.strings("argv") == argv }
            return summary != nil
        }
        return summary
    }

    /// EOF on the shell's input: bash exits, then the monitor. Returns the
    /// monitor's run and its objects.
    func finish(timeout: Double = 20) throws -> (Finished, [[String: Any]]) {
        close(input)
        input = -1
        let run = monitor.wait(timeout: timeout)
        _ = bash.wait(timeout: 10)
        do { return (run, try run.json()) } catch { throw HarnessError("\(error); \(run)") }
    }
}

extension Array where Element == [String: Any] {
    /// The daemon-scope events of daemon `pid`.
    func daemonEvents(of pid: Int) -> [[String: Any]] {
        filter { $0.isEvent && $0.string("scope") == "daemon" && $0.nestedPid("daemon") == pid }
    }

    /// The file events whose path is in `directory`.
    func fileEvents(in directory: String) -> [[String: Any]] {
        filter {
            $0.isEvent && $0.string("category") == "file" && ($0.string("path") ?? "").hasPrefix(directory + "/")
        }
    }
}
