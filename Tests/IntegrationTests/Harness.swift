import Foundation
import Glibc
import Testing

/// Runs the real `ebpf-monitor` binary and collects what it printed. Every
/// child is started in its own process group, so a timeout kills the monitor
/// and everything it launched, and nothing outlives a test.
enum Harness {
    /// The package root, from this file's place in `Tests/IntegrationTests/`.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary from the build directory these tests were built in: next to
    /// the running test bundle, else `<root>/.build/debug`.
    static func monitorBinary() throws -> String {
        var directories: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        let bundle = Bundle.main.bundleURL
        directories += [bundle, bundle.deletingLastPathComponent()]
        if let testBundle = Bundle.allBundles.first(where: { $0.bundlePath.hasSuffix(".xctest") }) {
            directories += [testBundle.bundleURL.deletingLastPathComponent()]
        }
        directories.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in directories {
            let candidate = directory.appendingPathComponent("ebpf-monitor").path
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw HarnessError("ebpf-monitor binary not found in \(directories.map(\.path))")
    }

    /// A fresh directory under /tmp, world-readable so that an unprivileged run can use it.
    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/ebpf-monitor-integ-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp: \(errno)") }
        let path = String(cString: made)
        chmod(path, 0o755)
        return path
    }

    /// Runs a program to completion (for set-up steps such as compiling a fixture).
    @discardableResult
    static func runTool(_ arguments: [String], timeout: Double = 60) throws -> Finished {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let started = try Started(arguments.map { Array($0.utf8) }, directory: directory)
        return started.wait(timeout: timeout)
    }

    /// Runs the monitor with `arguments` and waits for it to exit by itself.
    static func monitor(_ arguments: [String], timeout: Double = 30, prefix: [String] = []) throws -> Finished {
        try monitor(bytes: arguments.map { Array($0.utf8) }, timeout: timeout, prefix: prefix)
    }

    /// The same with raw argument bytes, for arguments that are not valid UTF-8.
    static func monitor(bytes arguments: [[UInt8]], timeout: Double = 30, prefix: [String] = []) throws -> Finished {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let argv = prefix.map { Array($0.utf8) } + [Array(try monitorBinary().utf8)] + arguments
        return try Started(argv, directory: directory).wait(timeout: timeout)
    }

    /// Starts the monitor and returns at once, for tests that interact with it while it runs.
    static func startMonitor(_ arguments: [String], directory: String) throws -> Started {
        try Started([Array(try monitorBinary().utf8)] + arguments.map { Array($0.utf8) }, directory: directory)
    }

    /// How long a test waits for the monitor's `ready` line: generous, since
    /// start-up (compiling and verifying the BPF programs) is measured by
    /// `make bench`, not by tests, and slows on a loaded machine.
    static let readyTimeout = 60.0

    /// Waits for the monitor's `ready` line; stops early when it reports an
    /// error or exits. True when something happened in time.
    static func waitForReady(_ monitor: Started, timeout: Double = readyTimeout) -> Bool {
        waitUntil(timeout: timeout) {
            monitor.stderr.contains("ebpf-monitor: ready ") || monitor.stderr.contains("error")
                || kill(monitor.pid, 0) != 0
        }
    }

    /// A pipe the test holds the writing end of, to release a process it
    /// started with the reading end as stdin. Neither end leaks into other
    /// processes the test starts.
    static func holdingPipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw HarnessError("pipe: errno \(errno)") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Polls `condition` until it holds or `timeout` seconds pass. Used to wait
    /// for a line the monitor prints, never as a fixed delay.
    static func waitUntil(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = monotonic() + timeout
        while true {
            if try condition() { return true }
            if monotonic() > deadline { return false }
            usleep(5_000)
        }
    }

    static func monotonic() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    static func read(_ path: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return [UInt8](data)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A running child in its own process group, stdout and stderr going to files.
final class Started {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private var reaped: Finished?

    /// `stdin`: a descriptor to give the child as fd 0, else /dev/null.
    init(_ argv: [[UInt8]], directory: String, stdin: Int32? = nil, name: String = "monitor") throws {
        stdoutPath = directory + "/\(name).stdout"
        stderrPath = directory + "/\(name).stderr"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, number)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let cArguments: [UnsafeMutablePointer<CChar>?] =
            argv.map { bytes in
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
                for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
                buffer[bytes.count] = 0
                return buffer
            } + [nil]
        defer { cArguments.forEach { $0?.deallocate() } }
        var child: pid_t = 0
        let result = posix_spawn(&child, cArguments[0]!, &actions, &attributes, cArguments, environ)
        guard result == 0 else {
            throw HarnessError(
                "posix_spawn \(String(decoding: argv[0], as: UTF8.self)): \(String(cString: strerror(result)))")
        }
        pid = child
    }

    deinit { _ = kill() }

    var stdout: [UInt8] { Harness.read(stdoutPath) }
    var stderr: String { String(decoding: Harness.read(stderrPath), as: UTF8.self) }

    /// The JSON objects printed so far; a line still being written is left out.
    func jsonSoFar() -> [[String: Any]] {
        var bytes = stdout
        guard let lastNewline = bytes.lastIndex(of: 0x0A) else { return [] }
        bytes.removeSubrange((lastNewline + 1)...)
        return (try? JSONLines.parse(bytes)) ?? []
    }

    /// Waits for exit; after `timeout` seconds the whole process group is killed.
    func wait(timeout: Double) -> Finished {
        if let reaped { return reaped }
        let started = Harness.monotonic()
        var raw: Int32 = 0
        let timedOut = !Harness.waitUntil(timeout: timeout) { waitpid(pid, &raw, WNOHANG) == pid }
        if timedOut {
            Glibc.kill(-pid, SIGKILL)
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        }
        // Anything still in the group outlived the monitor: note it, then end it.
        let leftovers = Glibc.kill(-pid, 0) == 0
        if leftovers { Glibc.kill(-pid, SIGKILL) }
        let signal = raw & 0x7f
        let status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        let finished = Finished(
            pid: pid, status: status, stdout: stdout, stderr: stderr, timedOut: timedOut,
            leftovers: leftovers, seconds: Harness.monotonic() - started)
        reaped = finished
        return finished
    }

    /// Kills the group and reaps, if not done yet. For clean-up paths.
    @discardableResult
    func kill() -> Finished {
        if let reaped { return reaped }
        Glibc.kill(-pid, SIGKILL)
        return wait(timeout: 10)
    }
}

/// A child that has exited.
struct Finished: CustomStringConvertible {
    let pid: pid_t
    /// Shell-style: the exit code, or 128 + the signal.
    let status: Int32
    let stdout: [UInt8]
    let stderr: String
    let timedOut: Bool
    /// Processes of the child's group were still alive when it exited.
    let leftovers: Bool
    let seconds: Double

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }

    func json() throws -> [[String: Any]] { try JSONLines.parse(stdout) }

    var description: String {
        "status \(status)\(timedOut ? " (TIMED OUT)" : "")\n--- stderr ---\n\(stderr)\n--- stdout (first 4 KiB) ---\n"
            + String(decoding: stdout.prefix(4096), as: UTF8.self)
    }
}

enum JSONLines {
    /// One object per line; any line that is not a JSON object is an error naming it.
    static func parse(_ bytes: [UInt8]) throws -> [[String: Any]] {
        try bytes.split(separator: 0x0A).enumerated().map { index, line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw HarnessError("line \(index + 1) is not a JSON object: \(String(decoding: line, as: UTF8.self))")
            }
            return object
        }
    }
}

/// Typed access to the loosely typed JSON objects.
extension Dictionary where Key == String, Value == Any {
    func string(_ key: String) -> String? { self[key] as? String }
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
    func strings(_ key: String) -> [String]? { self[key] as? [String] }
    var type: String? { string("type") }
    var action: String? { string("action") }
    var isEvent: Bool { type == "event" }
}

extension Array where Element == [String: Any] {
    func events(_ action: String) -> [[String: Any]] { filter { $0.isEvent && $0.action == action } }
    func ofType(_ type: String) -> [[String: Any]] { filter { $0.type == type } }
    /// Sum of every `lost` object's count.
    var lostTotal: Int { ofType("lost").reduce(0) { $0 + ($1.int("count") ?? 0) } }
    /// Sum of the `lost` objects' counts for one place (`fork`, `exec`, `exit`, `watch_map_full`, `decode`).
    func lost(at place: String) -> Int {
        ofType("lost").reduce(0) { $0 + ((($1["where"] as? [String: Any])?[place] as? NSNumber)?.intValue ?? 0) }
    }
}

/// The C fixture, compiled with `cc` into a temporary directory.
enum Fixture {
    static func compile(into directory: String) throws -> String {
        let source = Harness.packageRoot.appendingPathComponent("Tests/IntegrationTests/Fixtures/tree.c").path
        let output = directory + "/tree"
        let result = try Harness.runTool(["/usr/bin/cc", "-Wall", "-Werror", "-O1", "-pthread", "-o", output, source])
        guard result.status == 0 else { throw HarnessError("cc failed: \(result)") }
        return output
    }

    /// The fixture's report: "role id parent" lines.
    static func report(_ path: String) -> [(role: String, id: Int, parent: Int)] {
        String(decoding: Harness.read(path), as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 3, let id = Int(parts[1]), let parent = Int(parts[2]) else { return nil }
            return (String(parts[0]), id, parent)
        }
    }
}

/// The suite: every test runs the real binary against real probes, one at a time.
@Suite(.serialized) struct IntegrationTests {
    init() throws {
        try #require(geteuid() == 0, "the integration tests load BPF programs and must run as root")
    }
}
