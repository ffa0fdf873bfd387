import Foundation
import Glibc
import Testing

extension IntegrationTests {
    /// `--pid` on a running, non-interactive bash that already has a
    /// long-running child: the child is followed, each command fed to the
    /// shell afterwards starts the next command number, and the monitor ends
    /// by itself when the shell exits.
    @Test func pidOnShell() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // bash reads its commands from a pipe that the test holds.
        let fds = try Harness.holdingPipe()
        var shellInput: Int32 = fds.write
        defer { if shellInput >= 0 { close(shellInput) } }
        let bash = try Started([Array("/bin/bash".utf8)], directory: directory, stdin: fds.read, name: "bash")
        close(fds.read)
        defer { bash.kill() }
        func feed(_ line: String) throws {
            let bytes = Array((line + "\n").utf8)
            try #require(write(shellInput, bytes, bytes.count) == bytes.count, "write to bash: errno \(errno)")
        }

        // A long-running child, started (and exec'd) before the monitor attaches.
        try feed("sleep 30 &")
        try feed("echo \"background $!\"")
        var sleepPid: Int32 = 0
        let started = Harness.waitUntil(timeout: 10) {
            let out = String(decoding: bash.stdout, as: UTF8.self)
            guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix("background ") }),
                  let pid = Int32(line.dropFirst("background ".count)) else { return false }
            sleepPid = pid
            return Harness.read("/proc/\(pid)/cmdline").starts(with: Array("sleep\0".utf8))
        }
        try #require(started, "bash did not start the background sleep: \(bash.stderr)")

        let monitor = try Harness.startMonitor(["--pid=\(bash.pid)", "--format", "json"], directory: directory)
        defer { monitor.kill() }
        let ready = Harness.waitForReady(monitor, timeout: 15)
        try #require(ready && monitor.stderr.contains("ebpf-monitor: ready "), "no ready line: \(monitor.stderr)")
        let readyLine = monitor.stderr.split(separator: "\n").first { $0.hasPrefix("ebpf-monitor: ready ") } ?? ""
        #expect(readyLine.contains("fork_probe=tracepoint") && readyLine.contains("watching=2"), "\(readyLine)")
        // stderr's ready line can be read before stdout's JSON copy of it.
        _ = Harness.waitUntil(timeout: 5) { !monitor.jsonSoFar().isEmpty }
        let status = try #require(monitor.jsonSoFar().first, "no JSON status on stdout at ready")
        #expect(status.type == "status" && status.string("message") == "ready", "\(status)")
        #expect(status.int("watching") == 2, "bash and its sleep are watched: \(status)")

        /// Waits until the monitor has printed the exit of the process that exec'd `argv`.
        func waitForExit(of argv: [String]) -> Bool {
            Harness.waitUntil(timeout: 10) {
                let objects = monitor.jsonSoFar()
                guard let pid = objects.events("exec").first(where: { $0.strings("argv") == argv })?.int("pid") else { return false }
                return objects.events("exit").contains { $0.int("pid") == pid }
            }
        }
        try feed("/bin/echo one")
        #expect(waitForExit(of: ["/bin/echo", "one"]), "the first command's exit never showed: \(monitor.stdout.count) bytes")
        try feed("/bin/echo two")
        #expect(waitForExit(of: ["/bin/echo", "two"]), "the second command's exit never showed")

        // The pre-existing child is followed to its end.
        kill(sleepPid, SIGTERM)
        let sleepEnded = Harness.waitUntil(timeout: 10) {
            monitor.jsonSoFar().events("exit").contains { $0.int("pid") == Int(sleepPid) }
        }
        #expect(sleepEnded, "the exit of the pre-existing sleep \(sleepPid) never showed")

        // EOF on its input ends bash; the monitor then stops by itself.
        close(shellInput)
        shellInput = -1
        let run = monitor.wait(timeout: 15)
        #expect(!run.timedOut, "the monitor did not stop after the shell exited: \(run)")
        #expect(run.status == 0, "\(run)")
        let shell = bash.wait(timeout: 10)
        #expect(!shell.timedOut)
        #expect(String(decoding: shell.stdout, as: UTF8.self).hasSuffix("one\ntwo\n"), "bash output: \(shell.stdoutText)")

        let objects = try run.json()
        let events = objects.filter(\.isEvent)
        let execs = objects.events("exec")
        let one = try #require(execs.first { $0.strings("argv") == ["/bin/echo", "one"] }, "\(run)")
        let two = try #require(execs.first { $0.strings("argv") == ["/bin/echo", "two"] }, "\(run)")
        let shellPid = Int(bash.pid)

        // Pre-existing children of the root take command numbers first, in pid
        // order (Tracker.seed): the sleep is 1, so the fed commands are 2 and 3.
        #expect(one.int("command") == 2, "first fed command: \(one)")
        #expect(two.int("command") == 3, "second fed command: \(two)")
        #expect(one.int("ppid") == shellPid && two.int("ppid") == shellPid)
        #expect(one.string("path") == "/bin/echo")
        for (exec, number) in [(one, 2), (two, 3)] {
            let pid = exec.int("pid")
            let fork = objects.events("fork").first { $0.int("child") == pid }
            #expect(fork?.int("pid") == shellPid, "the shell's fork of \(pid ?? 0): \(fork ?? [:])")
            #expect(fork?.int("command") == number)
            let exit = objects.events("exit").first { $0.int("pid") == pid }
            #expect(exit?.int("command") == number && exit?.int("exit_code") == 0, "\(exit ?? [:])")
        }

        // The sleep: command 1, killed by SIGTERM.
        let sleepExit = try #require(objects.events("exit").first { $0.int("pid") == Int(sleepPid) })
        #expect(sleepExit.int("command") == 1, "\(sleepExit)")
        #expect(sleepExit.int("signal") == Int(SIGTERM), "\(sleepExit)")
        #expect(sleepExit.int("ppid") == shellPid)
        #expect(sleepExit.string("comm") == "sleep")

        // The shell itself is command 0, and it exits with the last command's status.
        let shellExit = try #require(objects.events("exit").first { $0.int("pid") == shellPid })
        #expect(shellExit.int("command") == 0 && shellExit.int("exit_code") == 0, "\(shellExit)")

        // Only the shell's tree shows up: nothing else on the machine leaks in.
        let tree = Set([shellPid, Int(sleepPid), one.int("pid") ?? -1, two.int("pid") ?? -1])
        for event in events {
            #expect(tree.contains(event.int("pid") ?? -1), "event from outside the shell's tree: \(event)")
        }

        // One summary per command, each with its own argv and end.
        let summaries = objects.ofType("summary")
        #expect(summaries.compactMap { $0.int("command") }.sorted() == [0, 1, 2, 3], "summaries: \(summaries)")
        func summary(_ number: Int) -> [String: Any]? { summaries.first { $0.int("command") == number } }
        #expect(summary(1)?.strings("argv") == ["sleep", "30"], "\(summary(1) ?? [:])")
        #expect(summary(1)?.int("pid") == Int(sleepPid))
        #expect(summary(1)?.int("signal") == Int(SIGTERM))
        #expect(summary(2)?.strings("argv") == ["/bin/echo", "one"] && summary(2)?.int("exit_code") == 0)
        #expect(summary(3)?.strings("argv") == ["/bin/echo", "two"] && summary(3)?.int("exit_code") == 0)
        #expect(summary(0)?.int("pid") == shellPid)
        #expect(objects.last?.type == "status" && objects.last?.string("message") == "end")
    }
}
