import Foundation
import Glibc
import Testing

/// Pids handed out again while the monitor runs: a watched process's pid
/// taken by a process outside the tree, a dead daemon's pid taken by a
/// process outside the tree and by a watched one, and an ended command's pid
/// taken by the next command of a `--pid` session. The pid is placed with `at-pid` (clone3 with set_tid:
/// no other fork can take it) or, for a shell's own fork, through
/// /proc/sys/kernel/ns_last_pid, which any fork on the machine can race:
/// that is retried, and a test fails when the pid could not be placed.
extension IntegrationTests {
    @Suite struct ReusedPidTests {
        /// A watched child ends, and a process outside the tree is started at
        /// its pid while the command still runs; it creates, renames and
        /// removes files, makes a directory and runs a program. None of it is
        /// in the trace: the pid's events are the watched child's, all before
        /// its exit, no process is adopted, and the command's summary lists
        /// only its own files and the child once.
        @Test func unwatchedProcessTakesAWatchedPid() throws {
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let workspace = try FixtureWorkspace(programs: [])
            let gate = try Gate(directory + "/gate")
            let script = """
                /bin/sh -c 'echo $$ > \(directory)/child.pid; echo child > \(directory)/own-1'
                read -r _ < \(gate.path)
                echo end > \(directory)/own-2
                """
            let monitor = try Harness.startMonitor(
                ["--format", "json", "--", "/bin/sh", "-c", script], directory: directory)
            defer { monitor.kill() }

            // The child has exited, the monitor has said so, and its pid is free.
            var child: Int32 = 0
            let ended = Harness.waitUntil(timeout: Harness.readyTimeout + 10) {
                guard let pid = Self.number(in: directory + "/child.pid") else { return false }
                child = pid
                return monitor.jsonSoFar().events("exit").contains { $0.int("pid") == Int(pid) }
                    && access("/proc/\(pid)", F_OK) != 0
            }
            try #require(ended, "the watched child's exit never showed: \(monitor.stderr)")
            let stranger = """
                echo $$ > \(directory)/stranger-1; mkdir \(directory)/stranger-dir
                echo x > \(directory)/stranger-dir/file; mv \(directory)/stranger-1 \(directory)/stranger-2
                rm \(directory)/stranger-dir/file; /bin/true
                """
            let placed = try Harness.runTool([workspace.program("at-pid"), "\(child)", "/bin/sh", "-c", stranger])
            try #require(placed.status == 0, "at-pid could not start a process at \(child): \(placed)")
            try #require(Self.number(in: directory + "/stranger-2") == child, "the stranger ran at \(child)")
            try gate.open()

            let run = monitor.wait(timeout: 30)
            #expect(!run.timedOut && run.status == 0, "\(run)")
            let objects = try run.json()
            #expect(objects.lostTotal == 0, "\(objects.ofType("lost"))")
            let mentions = objects.filter { $0.allStrings.contains { $0.contains("stranger") } }
            #expect(mentions.isEmpty, "the stranger's work is in the trace: \(mentions.prefix(5))")
            let exit = try #require(
                objects.firstIndex { $0.isEvent && $0.action == "exit" && $0.int("pid") == Int(child) })
            let later = objects[(exit + 1)...].filter { $0.isEvent && $0.int("pid") == Int(child) }
            #expect(later.isEmpty, "events of pid \(child) after the watched child's exit: \(later.prefix(5))")
            #expect(objects.last?.int("adopted") == 0, "a process was adopted: \(objects.last ?? [:])")

            let summary = try #require(objects.ofType("summary").first)
            let created = Set(summary.summaryFiles("created").filter { $0.hasPrefix(directory + "/") })
            let own = ["child.pid", "own-1", "own-2"].map { directory + "/" + $0 }
            #expect(created == Set(own), "created: \(created.sorted())")
            #expect(summary.summaryDirectories("created").isEmpty, "\(summary.summaryDirectories("created"))")
            let entries = summary.summaryProcesses.filter { $0.int("pid") == Int(child) }
            #expect(entries.count == 1, "pid \(child) in the summary: \(entries)")
        }

        /// A daemon that served the command is killed, and a process outside
        /// the tree is started at its pid while the command still runs; it
        /// creates and removes 200 files. None of it is in the trace, and
        /// its calls (some 1,600 traced ones) are not counted as the
        /// daemon's unattributed work: the process at the pid is no daemon.
        @Test func unwatchedProcessTakesADeadDaemonsPid() throws {
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let workspace = try FixtureWorkspace(programs: ["eventloop"])
            let (daemon, dead) = try workspace.startDaemon("eventloop", socket: "daemon.sock")
            let gate = try Gate(directory + "/gate")
            let one = workspace.client(prefix: "one", socket: "daemon.sock", count: 3).joined(separator: " ")
            let monitor = try Harness.startMonitor(
                ["--format", "json", "--", "/bin/sh", "-c", "\(one); read -r _ < \(gate.path)"], directory: directory)
            defer { monitor.kill() }
            let served = Harness.waitUntil(timeout: Harness.readyTimeout + 10) {
                workspace.names(prefixed: "one-").count == 3
            }
            try #require(served, "the daemon never served the command: \(monitor.stderr)")
            kill(dead, SIGKILL)
            #expect(daemon.wait(timeout: 10).status == 128 + SIGKILL)
            let stranger = """
                echo $$ > \(directory)/stranger-0
                for i in $(seq 200); do echo x > \(directory)/stranger-$i; done; rm \(directory)/stranger-*[0-9]
                """
            let placed = try Harness.runTool([workspace.program("at-pid"), "\(dead)", "/bin/sh", "-c", stranger])
            try #require(placed.status == 0, "at-pid could not start a process at \(dead): \(placed)")
            try gate.open()

            let run = monitor.wait(timeout: 30)
            #expect(!run.timedOut && run.status == 0, "\(run)")
            let objects = try run.json()
            let mentions = objects.filter { $0.allStrings.contains { $0.contains("stranger") } }
            #expect(mentions.isEmpty, "the stranger's work is in the trace: \(mentions.prefix(5))")
            let end = try #require(objects.last)
            #expect(
                end.int("daemon_unattributed").map { $0 < 200 } ?? false,
                "the stranger's calls counted as the dead daemon's: \(end)")
            #expect(end.int("adopted") == 0, "a process was adopted: \(end)")
            let summary = try #require(objects.ofType("summary").first)
            #expect(summary.summaryDaemons.map { $0.int("pid") } == [Int(dead)])
        }

        /// A daemon that served the command is killed, and the command's next
        /// child is started at the daemon's pid (by `at-pid`, itself in the
        /// tree); the child creates a file and asks a new daemon for files.
        /// The child is the command's own process (scope command), its file
        /// is the command's own, and the dead daemon is credited with its
        /// files only, the new daemon with its own.
        @Test func watchedChildTakesADeadDaemonsPid() throws {
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let workspace = try FixtureWorkspace(programs: ["eventloop"])
            let (first, dead) = try workspace.startDaemon("eventloop", socket: "first.sock")
            let gate = try Gate(directory + "/gate")
            let one = workspace.client(prefix: "one", socket: "first.sock", count: 3).joined(separator: " ")
            let two = workspace.client(prefix: "two", socket: "second.sock", count: 3).joined(separator: " ")
            let script = """
                \(one)
                read -r pid < \(gate.path)
                \(workspace.program("at-pid")) "$pid" /bin/sh -c 'echo $$ > \(directory)/mine; \(two)'
                """
            let monitor = try Harness.startMonitor(
                ["--format", "json", "--", "/bin/sh", "-c", script], directory: directory)
            defer { monitor.kill() }
            let served = Harness.waitUntil(timeout: Harness.readyTimeout + 10) {
                workspace.names(prefixed: "one-").count == 3
            }
            try #require(served, "the first daemon never served the command: \(monitor.stderr)")
            kill(dead, SIGKILL)
            #expect(first.wait(timeout: 10).status == 128 + SIGKILL)
            let (_, second) = try workspace.startDaemon("eventloop", socket: "second.sock")
            try gate.open(line: "\(dead)")

            let run = monitor.wait(timeout: 30)
            #expect(!run.timedOut && run.status == 0, "at-pid exits 75 when the pid is taken: \(run)")
            try #require(Self.number(in: directory + "/mine") == dead, "the child ran at \(dead)")
            let objects = try run.json()
            #expect(objects.lostTotal == 0, "\(objects.ofType("lost"))")
            let summary = try #require(objects.ofType("summary").first)
            let daemons = summary.summaryDaemons.map { $0.int("pid") ?? -1 }
            #expect(daemons == [Int(dead), Int(second)], "the daemons, in order: \(summary.summaryDaemons)")
            let entry = summary.summaryProcesses.filter { $0.int("pid") == Int(dead) }
            #expect(
                entry.count == 1 && entry.first?.string("scope") == "command"
                    && entry.first?.strings("argv")?.first == "/bin/sh",
                "the child at \(dead) in the summary: \(entry)")
            #expect(summary.summaryFiles("created").contains(directory + "/mine"))

            // The dead daemon's work: the first files only. The child's: the command's own.
            for event in objects.filter({ $0.isEvent && $0.int("pid") == Int(dead) }) {
                let path = event.string("path") ?? ""
                if event.string("scope") == "daemon" {
                    #expect(path.hasPrefix(workspace.files + "/one-"), "daemon work of \(dead): \(event)")
                } else {
                    #expect(
                        !path.hasPrefix(workspace.files + "/"), "the child at \(dead) made a daemon's file: \(event)")
                    #expect(event["daemon"] == nil && event.string("comm") != "eventloop", "\(event)")
                }
            }
            for (prefix, daemon) in [("one", dead), ("two", second)] {
                let paths = Set((1...3).map { "\(workspace.files)/\(prefix)-\($0)" })
                #expect(paths.isSubset(of: summary.summaryFiles("created")), "the \(prefix) files are the command's")
                for event in objects.fileEvents(in: workspace.files) where paths.contains(event.string("path") ?? "") {
                    #expect(
                        event.string("scope") == "daemon" && event.nestedPid("daemon") == Int(daemon),
                        "\(prefix) files are \(daemon)'s: \(event)")
                }
            }
        }

        /// `--pid` on a shell: its first command asks an event-loop daemon for
        /// files, and the thread that served it keeps the command's tag while
        /// it waits for the next client. The shell's next command
        /// is started at the first one's pid (through ns_last_pid) and talks
        /// to no daemon; meanwhile an unwatched client connects to the daemon
        /// and asks for files. Nothing of the daemon is the second command's:
        /// no daemon, no files, no daemon-side event.
        @Test func nextCommandTakesAnEndedCommandsPid() throws {
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let workspace = try FixtureWorkspace(programs: ["eventloop"])
            let (_, daemon) = try workspace.startDaemon("eventloop", socket: "daemon.sock")
            let shell = try WatchedShell(directory: directory)

            let one = workspace.client(prefix: "one", socket: "daemon.sock", count: 3)
            try shell.feed(one.joined(separator: " "))
            let first = try #require(shell.waitForSummary(argv: one), "no summary of the first command")
            let leader = try #require(first.int("pid"))

            // The next command at the first one's pid: bash writes ns_last_pid, then forks.
            var placed: (gate: Gate, argv: [String])?
            for attempt in 1...5 where placed == nil {
                let gate = try Gate(directory + "/gate-\(attempt)")
                let pidFile = directory + "/leader-\(attempt)"
                let argv = ["/bin/sh", "-c", "echo $$ > \(pidFile); read -r _ < \(gate.path)"]
                let lock = try LastPidLock()
                try shell.feed("echo \(leader - 1) > /proc/sys/kernel/ns_last_pid; '\(argv.joined(separator: "' '"))'")
                let started = Harness.waitUntil(timeout: 10) { Self.number(in: pidFile) != nil }
                lock.release()
                try #require(started, "the shell did not start attempt \(attempt)")
                if Self.number(in: pidFile) == Int32(leader) { placed = (gate, argv) } else { try gate.open() }
            }
            let (gate, argv) = try #require(placed, "pid \(leader) could not be placed in 5 attempts (forks race)")
            let seen = Harness.waitUntil(timeout: 10) {
                shell.monitor.jsonSoFar().events("exec").contains { $0.strings("argv") == argv }
            }
            try #require(seen, "the second command's exec never showed")
            let stranger = try Harness.runTool(workspace.client(prefix: "stranger", socket: "daemon.sock", count: 3))
            try #require(stranger.status == 0, "the unwatched client: \(stranger)")
            try gate.open()
            try #require(shell.waitForSummary(argv: argv) != nil, "no summary of the second command")
            let (run, objects) = try shell.finish()
            #expect(!run.timedOut && run.status == 0, "\(run)")

            let second = try #require(objects.ofType("summary").first { $0.strings("argv") == argv })
            let number = try #require(second.int("command"))
            #expect(second.int("pid") == leader)
            #expect(second.summaryDaemons.isEmpty, "the second command reached no daemon: \(second.summaryDaemons)")
            let daemonFiles = second.summaryFiles("created").filter { $0.hasPrefix(workspace.files + "/") }
            #expect(daemonFiles.isEmpty, "the daemon's files credited to the second command: \(daemonFiles)")
            let credited = objects.filter {
                $0.isEvent && $0.int("command") == number && $0.string("scope") == "daemon"
            }
            #expect(credited.isEmpty, "daemon work credited to the second command: \(credited.prefix(5))")
            let strangers = objects.filter { $0.allStrings.contains { $0.contains("stranger") } }
            #expect(strangers.isEmpty, "the unwatched client's files: \(strangers.prefix(5))")
            #expect(
                first.summaryDaemons.map { $0.int("pid") } == [Int(daemon)]
                    && Set(first.summaryFiles("created")) == Set((1...3).map { "\(workspace.files)/one-\($0)" }),
                "the first command: \(first)")
        }

        /// The integer a file holds (a pid a script wrote), or nil.
        static func number(in path: String) -> Int32? {
            Int32(String(decoding: Harness.read(path), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}

/// A FIFO a script waits on (`read -r _ < FIFO`) until the test opens it.
final class Gate {
    let path: String
    private var opened = false

    init(_ path: String) throws {
        guard mkfifo(path, 0o600) == 0 else { throw HarnessError("mkfifo \(path): errno \(errno)") }
        self.path = path
    }

    /// Lets the script on: writes `line` to the FIFO. Waits at most
    /// `timeout` seconds for the script to be reading it.
    func open(line: String = "go", timeout: Double = 10) throws {
        guard !opened else { return }
        opened = true
        var fd: Int32 = -1
        _ = Harness.waitUntil(timeout: timeout) {
            fd = Glibc.open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            return fd >= 0
        }
        guard fd >= 0 else { throw HarnessError("no one reads \(path)") }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw HarnessError("write \(path): errno \(errno)") }
    }

    /// A script still waiting is let go, so that nothing hangs on a failed test.
    deinit { try? open(timeout: 0) }
}

/// The lock that programs placing pids through /proc/sys/kernel/ns_last_pid
/// take on that file (CRIU does): held from the write to the fork that
/// takes the pid, so that two such programs do not undo each other.
final class LastPidLock {
    private var fd: Int32

    init() throws {
        fd = open("/proc/sys/kernel/ns_last_pid", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError("open ns_last_pid: errno \(errno)") }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw HarnessError("flock ns_last_pid: errno \(errno)")
        }
    }

    func release() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
    }

    deinit { release() }
}
