import Foundation
import Glibc
import Kernel
import Testing

extension IntegrationTests {
    /// Ctrl-C on `--pid`: the monitor stops at once, cleanly, with totals,
    /// and leaves the watched process alone.
    @Test func interruptStopsPidMode() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sleeper = try Started([Array("/bin/sleep".utf8), Array("30".utf8)], directory: directory, name: "sleep")
        defer { sleeper.kill() }
        let exec = Harness.waitUntil(timeout: 5) {
            Harness.read("/proc/\(sleeper.pid)/cmdline").starts(with: Array("/bin/sleep\0".utf8))
        }
        try #require(exec)

        let monitor = try Harness.startMonitor(["--pid=\(sleeper.pid)", "--format", "json"], directory: directory)
        defer { monitor.kill() }
        try #require(
            Harness.waitUntil(timeout: Harness.readyTimeout) { monitor.stderr.contains("ebpf-monitor: ready ") },
            "\(monitor.stderr)")
        kill(monitor.pid, SIGINT)
        let run = monitor.wait(timeout: 10)
        #expect(!run.timedOut, "SIGINT did not stop the monitor: \(run)")
        #expect(run.status == 0, "\(run)")
        #expect(kill(sleeper.pid, 0) == 0, "the watched process must survive the monitor's Ctrl-C")
        let objects = try run.json()
        #expect(objects.last?.type == "status" && objects.last?.string("message") == "end", "totals at the end: \(run)")
        #expect(run.stderrLines.last?.hasPrefix("ebpf-monitor: end ") == true, "\(run.stderr)")
        let summary = objects.ofType("summary").first { $0.int("pid") == Int(sleeper.pid) }
        #expect(summary?.int("command") == 0, "the still-running root is summarised as command 0: \(run)")
        #expect(summary?["exit_code"] == nil && summary?["signal"] == nil, "it has not ended: \(summary ?? [:])")
    }

    /// SIGTERM on `-- CMD`: passed on to the command, which ends; the monitor
    /// reports it and exits with the command's status, 128 + SIGTERM.
    @Test func terminateIsPassedToCommand() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let monitor = try Harness.startMonitor(
            ["--format", "json", "--output", directory + "/trace.json", "--", "/bin/sleep", "30"],
            directory: directory)
        defer { monitor.kill() }
        try #require(
            Harness.waitUntil(timeout: Harness.readyTimeout) { monitor.stderr.contains("ebpf-monitor: ready ") },
            "\(monitor.stderr)")
        // Wait for the exec to be traced, so the signal meets sleep and not the gate.
        let traced = Harness.waitUntil(timeout: 10) {
            (try? JSONLines.parse(Harness.read(directory + "/trace.json")))?.events("exec").isEmpty == false
        }
        try #require(traced, "the exec never reached the --output file")
        kill(monitor.pid, SIGTERM)
        let run = monitor.wait(timeout: 10)
        #expect(!run.timedOut, "\(run)")
        #expect(run.status == 128 + SIGTERM, "\(run)")
        #expect(run.stdout.isEmpty, "--output sends the trace to the file, not stdout: \(run.stdoutText)")
        let objects = try JSONLines.parse(Harness.read(directory + "/trace.json"))
        let exit = objects.events("exit").first
        #expect(exit?.int("signal") == Int(SIGTERM), "\(objects)")
        let summary = objects.ofType("summary").first
        #expect(summary?.int("command") == 1 && summary?.int("signal") == Int(SIGTERM), "\(summary ?? [:])")
        #expect(objects.last?.string("message") == "end")
    }
}

extension IntegrationTests {
    /// When the monitor is killed, in what it holds.
    enum KillPoint: String, CaseIterable, Sendable {
        /// Some programs verified and attached, the rest still loading.
        case whileLoading = "while loading"
        /// Everything attached, the command running.
        case whileTracing = "while tracing"
    }

    /// `kill -9` of the monitor: the kernel drops every probe, program and map
    /// with the monitor's last descriptor, so none is left behind (bpftool
    /// and tracefs show none), and the command it launched runs on. That
    /// command holds no descriptor of the monitor's.
    @Test(arguments: KillPoint.allCases)
    func killedMonitorLeavesNothingBehind(at point: KillPoint) throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try KernelObjects.current()
        let descriptors = directory + "/fds"
        let monitor = try Harness.startMonitor(
            [
                "--format", "json", "--output", directory + "/trace.json", "--", "/bin/sh", "-c",
                "ls -l /proc/$$/fd > \"$1.part\"; mv \"$1.part\" \"$1\"; exec sleep 30", "sh", descriptors,
            ],
            directory: directory)
        defer { monitor.kill() }
        switch point {
        case .whileLoading:
            // The first programs are loaded a little after clang is done; the ready line comes after the last.
            let loading = try Harness.waitUntil(timeout: Harness.readyTimeout) {
                try !KernelObjects.current().programs.isSubset(of: before.programs) || monitor.stderr.contains("ready ")
            }
            try #require(loading && !monitor.stderr.contains("ready "), "killed too late: \(monitor.stderr)")
        case .whileTracing:
            try #require(Harness.waitForReady(monitor) && monitor.stderr.contains("ready "), "\(monitor.stderr)")
            try #require(Harness.waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: descriptors) })
            // The command holds none of the monitor's maps or programs: they would outlive it, and are a way in.
            let held = String(decoding: Harness.read(descriptors), as: UTF8.self)
            #expect(!held.contains("anon_inode:bpf"), "the command inherited BPF descriptors: \(held)")
        }
        kill(monitor.pid, SIGKILL)
        let run = monitor.wait(timeout: 10)
        #expect(run.status == 128 + SIGKILL, "\(run)")
        // Programs and maps are freed a moment after the process is gone (RCU,
        // and a deferred clear of the program array). bpftool opens each map by
        // id: on this kernel, a look in that moment left the program array
        // behind every time (empty, with no holder); a second later, never.
        Thread.sleep(forTimeInterval: 1)
        var after = try KernelObjects.current()
        _ = try Harness.waitUntil(timeout: 10) {
            after = try KernelObjects.current()
            return after.isPart(of: before)
        }
        #expect(after.isPart(of: before), "left behind after kill -9 \(point.rawValue): \(after), before: \(before)")
        // (The harness then ends what is left of the monitor's process group: the command.)
        #expect(run.leftovers == (point == .whileTracing), "the command outlives the monitor once started: \(run)")
        // The process that compiles part of the programs (SplitCompile) dies with the monitor.
        #expect(
            try Harness.waitUntil(timeout: 10) { Self.compileHelpers().isEmpty },
            "compile helpers left: \(Self.compileHelpers())")
    }

    /// A compile helper (SplitCompile) killed while it compiles: the monitor
    /// does not wait for maps or programs that will not come. It fails with
    /// the compile's status and says how the helper ended, and never starts
    /// the command.
    @Test func killedCompileHelperFailsTheStart() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let marker = directory + "/ran"
        let monitor = try Harness.startMonitor(["--", "/bin/touch", marker], directory: directory)
        defer { monitor.kill() }
        var helper: Int32?
        _ = try Harness.waitUntil(timeout: 10) {
            helper = Self.compileHelpers().first { Self.parent(of: $0) == monitor.pid }
            return helper != nil
        }
        let pid = try #require(helper, "no compile helper of the monitor's: \(monitor.stderr)")
        kill(pid, SIGKILL)
        let run = monitor.wait(timeout: Harness.readyTimeout)
        #expect(!run.timedOut, "\(run)")
        #expect(run.status == KernelError.compileFailed(diagnostics: "").exitCode, "\(run)")
        #expect(run.stderr.contains("part 2 of the programs ended with signal 9"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the command ran")
    }

    /// The pids of live compile helpers (SplitCompile), by their comm.
    static func compileHelpers() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            String(decoding: Harness.read("/proc/\(pid)/comm"), as: UTF8.self) == SplitCompile.name + "\n"
        }
    }

    /// The parent's pid, from /proc/pid/stat (after the comm, which may hold anything).
    static func parent(of pid: Int32) -> Int32? {
        let stat = String(decoding: Harness.read("/proc/\(pid)/stat"), as: UTF8.self)
        guard let end = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// The kernel objects this monitor makes, by id (bpftool, by their names)
    /// and probe event (tracefs). A monitor of an earlier test may still be
    /// freeing its own: what is left after must be a part of what was there before.
    struct KernelObjects: CustomStringConvertible {
        var programs = Set<Int>()
        var maps = Set<Int>()
        var probeEvents = Set<String>()

        static let programNames: Set = ["sys_enter", "sys_exit", "sched_waking", "tail__daemon_sy", "tail__daemon_ca"]
        static let mapNames: Set = ["watched", "maybe_watched", "channels", "command_ends", "tail_calls"]

        static func current() throws -> KernelObjects {
            var objects = KernelObjects()
            objects.programs = try ids("prog", named: programNames)
            objects.maps = try ids("map", named: mapNames)
            for file in ["kprobe_events", "uprobe_events"] {
                let events = String(decoding: Harness.read("/sys/kernel/tracing/" + file), as: UTF8.self)
                objects.probeEvents.formUnion(
                    events.split(separator: "\n").filter { $0.contains("ebpf_monitor") }.map(String.init))
            }
            return objects
        }

        func isPart(of other: KernelObjects) -> Bool {
            programs.isSubset(of: other.programs) && maps.isSubset(of: other.maps)
                && probeEvents.isSubset(of: other.probeEvents)
        }

        private static func ids(_ kind: String, named names: Set<String>) throws -> Set<Int> {
            let listed = try Harness.runTool(["/usr/sbin/bpftool", "-j", kind, "show"])
            guard listed.status == 0,
                let entries = try JSONSerialization.jsonObject(with: Data(listed.stdout)) as? [[String: Any]]
            else { throw HarnessError("bpftool \(kind) show: \(listed)") }
            return Set(entries.filter { names.contains($0["name"] as? String ?? "") }.compactMap { $0["id"] as? Int })
        }

        var description: String {
            "programs \(programs.sorted()), maps \(maps.sorted()), probe events \(probeEvents.sorted())"
        }
    }
}

extension IntegrationTests {
    /// The monitor stopped (SIGSTOP) for 10 s while its command runs 3,000
    /// execs into a 64 KiB buffer: the buffer overflows, the loss is counted
    /// and shown, and once it runs again the command's summary still comes,
    /// saying what was lost.
    @Test func pausedMonitorCountsWhatOverflowed() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let monitor = try Harness.startMonitor(
            [
                "--format", "json", "--buffer-pages", "16", "--", "/bin/sh", "-c",
                "sleep 1; i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done",
            ],
            directory: directory)
        defer { monitor.kill() }
        try #require(Harness.waitForReady(monitor) && monitor.stderr.contains("ready "), "\(monitor.stderr)")
        kill(monitor.pid, SIGSTOP)
        Thread.sleep(forTimeInterval: 10)
        kill(monitor.pid, SIGCONT)
        let run = monitor.wait(timeout: 120)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let objects = try run.json()
        let lost = objects.ofType("lost").compactMap { $0.int("count") }.reduce(0, +)
        #expect(lost > 0, "a 64 KiB buffer left alone for 10 s must overflow: \(objects.ofType("lost"))")
        let summary = objects.ofType("summary").first { $0.int("command") == 1 }
        #expect(summary != nil, "the summary still comes")
        #expect((summary?.int("lost_events") ?? 0) > 0, "and says the trace is incomplete: \(summary ?? [:])")
        #expect(run.stderrLines.last?.hasPrefix("ebpf-monitor: end ") == true, "\(run.stderr)")
    }
}
