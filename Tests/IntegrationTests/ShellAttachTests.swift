import Foundation
import Glibc
import Testing

/// `--pid` on a running, non-interactive bash that already has a long-running
/// child: the child is followed, each command fed to the shell afterwards
/// starts the next command number, and the monitor ends by itself when the
/// shell exits.
///
/// A suite of its own (for `--filter ShellAttachTests`) nested in the
/// serialized `IntegrationTests`, so it never runs alongside the other probe tests.
extension IntegrationTests {
    @Suite struct ShellAttachTests {
        /// One session, shared by the tests below: bash reads its commands from a
        /// pipe the test holds; it starts `sleep 30 &`, the monitor attaches with
        /// `--pid`, two commands are fed one after the other, each awaited in the
        /// monitor's output, the sleep is killed, and EOF ends bash.
        struct ShellSession: @unchecked Sendable {  // immutable once made
            /// The monitor's ready line on stderr, and its first JSON object on stdout.
            let readyLine: String
            let firstObject: [String: Any]?
            /// Whether the exit of each fed command, then of the sleep, showed while the monitor ran.
            let firstCommandExitShown: Bool
            let secondCommandExitShown: Bool
            let sleepExitShown: Bool
            let run: Finished
            let shell: Finished
            let objects: [[String: Any]]
            let shellPid: Int
            let sleepPid: Int

            init() throws {
                let directory = try Harness.temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: directory) }

                let fds = try Harness.holdingPipe()
                var shellInput: Int32 = fds.write
                defer { if shellInput >= 0 { close(shellInput) } }
                let bash = try Started([Array("/bin/bash".utf8)], directory: directory, stdin: fds.read, name: "bash")
                close(fds.read)
                defer { bash.kill() }
                func feed(_ line: String) throws {
                    let bytes = Array((line + "\n").utf8)
                    guard write(shellInput, bytes, bytes.count) == bytes.count else {
                        throw HarnessError("write to bash: errno \(errno)")
                    }
                }

                // A long-running child, started (and exec'd) before the monitor attaches.
                try feed("sleep 30 &")
                try feed("echo \"background $!\"")
                var sleepPid: Int32 = 0
                let started = Harness.waitUntil(timeout: 10) {
                    let out = String(decoding: bash.stdout, as: UTF8.self)
                    guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix("background ") }),
                        let pid = Int32(line.dropFirst("background ".count))
                    else { return false }
                    sleepPid = pid
                    return Harness.read("/proc/\(pid)/cmdline").starts(with: Array("sleep\0".utf8))
                }
                guard started else { throw HarnessError("bash did not start the background sleep: \(bash.stderr)") }

                let monitor = try Harness.startMonitor(["--pid=\(bash.pid)", "--format", "json"], directory: directory)
                defer { monitor.kill() }
                let ready = Harness.waitForReady(monitor)
                guard ready && monitor.stderr.contains("ebpf-monitor: ready ") else {
                    throw HarnessError("no ready line: \(monitor.stderr)")
                }
                readyLine = String(
                    monitor.stderr.split(separator: "\n").first { $0.hasPrefix("ebpf-monitor: ready ") } ?? "")
                // stderr's ready line can be read before stdout's JSON copy of it.
                _ = Harness.waitUntil(timeout: 5) { !monitor.jsonSoFar().isEmpty }
                firstObject = monitor.jsonSoFar().first

                /// Waits until the monitor has printed the exit of the process that exec'd `argv`.
                func waitForExit(of argv: [String]) -> Bool {
                    Harness.waitUntil(timeout: 10) {
                        let objects = monitor.jsonSoFar()
                        guard let pid = objects.events("exec").first(where: { $0.strings("argv") == argv })?.int("pid")
                        else { return false }
                        return objects.events("exit").contains { $0.int("pid") == pid }
                    }
                }
                try feed("/bin/echo one")
                firstCommandExitShown = waitForExit(of: ["/bin/echo", "one"])
                try feed("/bin/echo two")
                secondCommandExitShown = waitForExit(of: ["/bin/echo", "two"])

                // The pre-existing child is followed to its end.
                kill(sleepPid, SIGTERM)
                sleepExitShown = Harness.waitUntil(timeout: 10) {
                    monitor.jsonSoFar().events("exit").contains { $0.int("pid") == Int(sleepPid) }
                }

                // EOF on its input ends bash; the monitor then stops by itself.
                close(shellInput)
                shellInput = -1
                run = monitor.wait(timeout: 15)
                shell = bash.wait(timeout: 10)
                do { objects = try run.json() } catch { throw HarnessError("\(error); \(run)") }
                shellPid = Int(bash.pid)
                self.sleepPid = Int(sleepPid)
            }

            func exec(_ argv: [String]) -> [String: Any]? {
                objects.events("exec").first { $0.strings("argv") == argv }
            }
        }

        /// Made by the first test that needs it; a failed session fails each of them.
        static let session = Result { try ShellSession() }

        /// At ready, the shell and its sleep are watched, on stderr and on stdout.
        @Test func readyWatchesTheShellAndItsChild() throws {
            let session = try Self.session.get()
            let readyLine = session.readyLine
            #expect(readyLine.contains("fork_probe=tracepoint") && readyLine.contains("watching=2"), "\(readyLine)")
            let status = try #require(session.firstObject, "no JSON status on stdout at ready")
            #expect(status.type == "status" && status.string("message") == "ready", "\(status)")
            #expect(status.int("watching") == 2, "bash and its sleep are watched: \(status)")
        }

        /// Each fed command's exit, and the pre-existing sleep's, shows while the monitor runs.
        @Test func exitsShowWhileTheMonitorRuns() throws {
            let session = try Self.session.get()
            #expect(session.firstCommandExitShown, "the first command's exit never showed")
            #expect(session.secondCommandExitShown, "the second command's exit never showed")
            #expect(session.sleepExitShown, "the exit of the pre-existing sleep \(session.sleepPid) never showed")
        }

        /// The monitor stops by itself once the shell has exited.
        @Test func monitorStopsWhenTheShellExits() throws {
            let session = try Self.session.get()
            let (run, shell) = (session.run, session.shell)
            #expect(!run.timedOut, "the monitor did not stop after the shell exited: \(run)")
            #expect(run.status == 0, "\(run)")
            #expect(!shell.timedOut)
            #expect(
                String(decoding: shell.stdout, as: UTF8.self).hasSuffix("one\ntwo\n"),
                "bash output: \(shell.stdoutText)")
        }

        /// Pre-existing children of the root take command numbers first, in pid
        /// order (Tracker.seed): the sleep is 1, so the fed commands are 2 and 3,
        /// each forked by the shell and ended with status 0.
        @Test func fedCommandsTakeTheNextNumbers() throws {
            let session = try Self.session.get()
            let (objects, shellPid) = (session.objects, session.shellPid)
            let one = try #require(session.exec(["/bin/echo", "one"]), "\(session.run)")
            let two = try #require(session.exec(["/bin/echo", "two"]), "\(session.run)")
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
        }

        /// The sleep: command 1, killed by SIGTERM. The shell itself is command
        /// 0, and it exits with the last command's status.
        @Test func sleepIsCommandOneAndTheShellCommandZero() throws {
            let session = try Self.session.get()
            let (objects, shellPid) = (session.objects, session.shellPid)
            let sleepExit = try #require(objects.events("exit").first { $0.int("pid") == session.sleepPid })
            #expect(sleepExit.int("command") == 1, "\(sleepExit)")
            #expect(sleepExit.int("signal") == Int(SIGTERM), "\(sleepExit)")
            #expect(sleepExit.int("ppid") == shellPid)
            #expect(sleepExit.string("comm") == "sleep")
            let shellExit = try #require(objects.events("exit").first { $0.int("pid") == shellPid })
            #expect(shellExit.int("command") == 0 && shellExit.int("exit_code") == 0, "\(shellExit)")
        }

        /// Only the shell's tree shows up: nothing else on the machine leaks in.
        @Test func onlyTheShellsTree() throws {
            let session = try Self.session.get()
            let one = try #require(session.exec(["/bin/echo", "one"]), "\(session.run)")
            let two = try #require(session.exec(["/bin/echo", "two"]), "\(session.run)")
            let tree = Set([session.shellPid, session.sleepPid, one.int("pid") ?? -1, two.int("pid") ?? -1])
            for event in session.objects.filter(\.isEvent) {
                #expect(tree.contains(event.int("pid") ?? -1), "event from outside the shell's tree: \(event)")
            }
        }

        /// One summary per command, each with its own argv and end; the end status comes last.
        @Test func oneSummaryPerCommand() throws {
            let session = try Self.session.get()
            let objects = session.objects
            let summaries = objects.ofType("summary")
            #expect(summaries.compactMap { $0.int("command") }.sorted() == [0, 1, 2, 3], "summaries: \(summaries)")
            func summary(_ number: Int) -> [String: Any]? { summaries.first { $0.int("command") == number } }
            #expect(summary(1)?.strings("argv") == ["sleep", "30"], "\(summary(1) ?? [:])")
            #expect(summary(1)?.int("pid") == session.sleepPid)
            #expect(summary(1)?.int("signal") == Int(SIGTERM))
            #expect(summary(2)?.strings("argv") == ["/bin/echo", "one"] && summary(2)?.int("exit_code") == 0)
            #expect(summary(3)?.strings("argv") == ["/bin/echo", "two"] && summary(3)?.int("exit_code") == 0)
            #expect(summary(0)?.int("pid") == session.shellPid)
            #expect(objects.last?.type == "status" && objects.last?.string("message") == "end")
        }
    }
}
