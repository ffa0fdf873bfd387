import Foundation
import Glibc
import Testing

extension IntegrationTests {
    /// A target that dies at once: the monitor still reports its exec and end,
    /// writes a summary, and exits with the shell-style status (128+signal).
    @Test(
        arguments: [
            (["/bin/false"], 1, nil),
            (["/bin/sh", "-c", "kill -9 $$"], 137, Int(SIGKILL)),
            (["/bin/sh", "-c", "exit 42"], 42, nil),
        ] as [([String], Int32, Int?)])
    func targetThatDiesAtOnce(command: [String], status: Int32, signal: Int?) throws {
        let run = try Harness.monitor(["--format", "json", "--"] + command)
        try checkDeath(run, argv: command, status: status, signal: signal)
    }

    /// A compiled program that kills itself with a signal: 128 + the signal.
    @Test func targetKilledBySignal() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixture = try Fixture.compile(into: directory)
        let argv = [fixture, directory + "/report", "raise", "\(SIGUSR1)"]
        let run = try Harness.monitor(["--format", "json", "--"] + argv)
        try checkDeath(run, argv: argv, status: 128 + SIGUSR1, signal: Int(SIGUSR1))
    }

    private func checkDeath(
        _ run: Finished, argv: [String], status: Int32, signal: Int?,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(!run.timedOut, "\(run)", sourceLocation: sourceLocation)
        #expect(!run.leftovers, sourceLocation: sourceLocation)
        #expect(run.status == status, "the monitor's status: \(run)", sourceLocation: sourceLocation)
        let objects = try run.json()
        let exec = objects.events("exec").first
        #expect(exec?.strings("argv") == argv, "\(objects)", sourceLocation: sourceLocation)
        let pid = try #require(exec?.int("pid"), sourceLocation: sourceLocation)
        let exit = objects.events("exit").first { $0.int("pid") == pid }
        #expect(exit != nil, "no exit event: \(run)", sourceLocation: sourceLocation)
        let summaries = objects.ofType("summary")
        #expect(summaries.count == 1, "\(run)", sourceLocation: sourceLocation)
        let summary = summaries.first
        #expect(summary?.int("command") == 1 && summary?.int("pid") == pid, sourceLocation: sourceLocation)
        #expect(summary?.strings("argv") == argv, sourceLocation: sourceLocation)
        for object in [exit, summary] {
            if let signal {
                #expect(
                    object?.int("signal") == signal && object?["exit_code"] == nil, "\(object ?? [:])",
                    sourceLocation: sourceLocation)
            } else {
                #expect(
                    object?.int("exit_code") == Int(status) && object?["signal"] == nil, "\(object ?? [:])",
                    sourceLocation: sourceLocation)
            }
        }
        #expect(objects.last?.string("message") == "end", sourceLocation: sourceLocation)
        #expect(
            run.stderrLines.allSatisfy { $0.hasPrefix("ebpf-monitor: ") }, "\(run.stderr)",
            sourceLocation: sourceLocation)
    }
}
