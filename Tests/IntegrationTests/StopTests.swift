import Foundation
import Glibc
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
