import Foundation
import Glibc
import Testing

/// `-- CMD` on a command that forks a grandchild, starts 8 threads, runs a
/// child that exits at once after fork and a child killed by a signal: every
/// one appears, with the right ppid, argv, end and command number, through
/// the ring buffer and through per-CPU perf buffers alike.
///
/// A suite of its own (for `--filter ProcessTreeTests`) nested in the
/// serialized `IntegrationTests`, so it never runs alongside the other probe tests.
extension IntegrationTests {
    @Suite struct ProcessTreeTests {
        /// The fixture (Fixtures/tree.c) run once under `--format json`, with the
        /// true ids its processes wrote down; the tests below each check one part.
        struct TreeRun: @unchecked Sendable {  // immutable once made
            let run: Finished
            let objects: [[String: Any]]
            let fixture: String
            let reportPath: String
            /// The command's parent.
            let monitor: Int
            let main: (id: Int, parent: Int)
            let child: (id: Int, parent: Int)
            let grandchild: (id: Int, parent: Int)
            let quick: (id: Int, parent: Int)
            let victim: (id: Int, parent: Int)
            let threads: [Int]

            init(buffer: String) throws {
                let directory = try Harness.temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: directory) }
                fixture = try Fixture.compile(into: directory)
                reportPath = directory + "/report"
                run = try Harness.monitor([
                    "--buffer", buffer, "--format", "json", "--", fixture, reportPath, "main", "5",
                ])
                do { objects = try run.json() } catch { throw HarnessError("\(error); \(run)") }
                monitor = Int(run.pid)
                let report = Fixture.report(reportPath)
                let ids = { (role: String) in report.filter { $0.role == role }.map { (id: $0.id, parent: $0.parent) } }
                let first = { (role: String) throws -> (id: Int, parent: Int) in
                    guard let found = ids(role).first else {
                        throw HarnessError("no \(role) in the fixture's report: \(report)")
                    }
                    return found
                }
                main = try first("main")
                child = try first("child")
                grandchild = try first("grandchild")
                quick = try first("quick")
                victim = try first("victim")
                threads = ids("thread").map(\.id)
            }

            var pids: Set<Int> { [main.id, child.id, grandchild.id, quick.id, victim.id] }
            var events: [[String: Any]] { objects.filter(\.isEvent) }

            /// pid, ppid, exit code, signal.
            var expectedExits: [(Int, Int, Int?, Int?)] {
                [
                    (main.id, monitor, 5, nil),
                    (child.id, main.id, 11, nil),
                    (grandchild.id, child.id, 12, nil),
                    (quick.id, main.id, 3, nil),
                    (victim.id, main.id, nil, Int(SIGTERM)),
                ]
            }
        }

        /// Each run is made by the first test that needs it; a failed run fails each of them.
        /// The per-CPU perf buffers must give what the ring buffer gives.
        static let buffers = ["ring", "perf"]
        static let ringTree = Result { try TreeRun(buffer: "ring") }
        static let perfTree = Result { try TreeRun(buffer: "perf") }
        static func tree(_ buffer: String) throws -> TreeRun {
            try (buffer == "ring" ? ringTree : perfTree).get()
        }

        /// The monitor ends with the command's status and leaves nothing behind;
        /// the fixture's processes are related as it says.
        @Test(arguments: Self.buffers)
        func monitorEndsWithTheCommandsStatus(buffer: String) throws {
            let tree = try Self.tree(buffer)
            #expect(!tree.run.timedOut, "\(tree.run)")
            #expect(!tree.run.leftovers, "processes outlived the monitor")
            #expect(tree.run.status == 5, "the monitor exits with the command's status: \(tree.run)")
            #expect(tree.threads.count == 8)
            let (main, child, grandchild, victim) = (tree.main, tree.child, tree.grandchild, tree.victim)
            #expect(
                main.parent == tree.monitor && child.parent == main.id && grandchild.parent == child.id
                    && victim.parent == main.id)
        }

        /// Every event belongs to command 1 and to one of the fixture's processes.
        @Test(arguments: Self.buffers)
        func everyEventIsInTheTree(buffer: String) throws {
            let tree = try Self.tree(buffer)
            for event in tree.events {
                #expect(event.int("command") == 1, "event outside command 1: \(event)")
                #expect(tree.pids.contains(event.int("pid") ?? -1), "event from a process outside the tree: \(event)")
                #expect(["process", "file", "network"].contains(event.string("category") ?? ""))
                #expect(event.string("time")?.hasSuffix("Z") == true)
            }
        }

        /// fork events: by the parent, naming the child.
        @Test(arguments: Self.buffers)
        func forks(buffer: String) throws {
            let tree = try Self.tree(buffer)
            let forks = tree.objects.events("fork")
            func forkOf(_ pid: Int) -> [String: Any]? { forks.first { $0.int("child") == pid } }
            let (main, child) = (tree.main, tree.child)
            for (process, parent) in [
                (child.id, main.id), (tree.quick.id, main.id), (tree.victim.id, main.id),
                (tree.grandchild.id, child.id),
            ] {
                let fork = forkOf(process)
                #expect(fork != nil, "no fork event for child \(process)")
                #expect(
                    fork?.int("pid") == parent,
                    "fork of \(process) not reported by its parent \(parent): \(fork ?? [:])")
            }
            #expect(forks.count == 4, "forks: \(forks)")
        }

        /// exec events: path and argv of every process that exec'd.
        @Test(arguments: Self.buffers)
        func execs(buffer: String) throws {
            let tree = try Self.tree(buffer)
            let (fixture, reportPath) = (tree.fixture, tree.reportPath)
            let execs = tree.objects.events("exec")
            func execOf(_ pid: Int) -> [String: Any]? { execs.first { $0.int("pid") == pid } }
            let expectedExecs: [(Int, Int, [String])] = [
                (tree.main.id, tree.monitor, [fixture, reportPath, "main", "5"]),
                (tree.child.id, tree.main.id, [fixture, reportPath, "child", "11"]),
                (tree.grandchild.id, tree.child.id, [fixture, reportPath, "grandchild", "12"]),
            ]
            for (pid, ppid, argv) in expectedExecs {
                let exec = execOf(pid)
                #expect(exec?.strings("argv") == argv, "exec of \(pid): \(exec ?? [:])")
                #expect(exec?.string("path") == fixture)
                #expect(exec?.int("ppid") == ppid, "exec of \(pid) has the wrong ppid: \(exec ?? [:])")
            }
            let victimExec = execOf(tree.victim.id)
            #expect(victimExec?.strings("argv")?.prefix(3) == [fixture, reportPath, "victim"], "\(victimExec ?? [:])")
            #expect(execOf(tree.quick.id) == nil, "the quick child never exec'd")
            #expect(execs.count == 4, "execs: \(execs)")
        }

        /// exit events: one per process, with its ppid and exit code or signal.
        @Test(arguments: Self.buffers)
        func exits(buffer: String) throws {
            let tree = try Self.tree(buffer)
            let exits = tree.objects.events("exit")
            func exitOf(_ pid: Int) -> [String: Any]? { exits.first { $0.int("pid") == pid } }
            for (pid, ppid, code, signal) in tree.expectedExits {
                let exit = exitOf(pid)
                #expect(exit != nil, "no exit event for \(pid)")
                #expect(exit?.int("ppid") == ppid, "exit of \(pid): \(exit ?? [:])")
                #expect(exit?.int("exit_code") == code, "exit of \(pid): \(exit ?? [:])")
                #expect(exit?.int("signal") == signal, "exit of \(pid): \(exit ?? [:])")
                #expect(exit?.int("tid") == pid)
            }
            #expect(exitOf(tree.victim.id)?.string("signal_name") == "SIGTERM")
            #expect(exits.count == 5, "exits: \(exits)")
        }

        /// Threads: 8 thread events by the main process naming the reported tids, 8 thread_exits.
        @Test(arguments: Self.buffers)
        func threads(buffer: String) throws {
            let tree = try Self.tree(buffer)
            let threadEvents = tree.objects.events("thread")
            #expect(threadEvents.count == 8, "thread events: \(threadEvents)")
            #expect(Set(threadEvents.compactMap { $0.int("child") }) == Set(tree.threads))
            #expect(threadEvents.allSatisfy { $0.int("pid") == tree.main.id })
            let threadExits = tree.objects.events("thread_exit")
            #expect(threadExits.count == 8, "thread_exit events: \(threadExits)")
            #expect(Set(threadExits.compactMap { $0.int("tid") }) == Set(tree.threads))
            #expect(threadExits.allSatisfy { $0.int("pid") == tree.main.id && $0.int("ppid") == tree.monitor })
        }

        /// Events come in kernel-timestamp order; every process's exit is its last event.
        @Test(arguments: Self.buffers)
        func eventsInTimeOrder(buffer: String) throws {
            let tree = try Self.tree(buffer)
            let events = tree.events
            let times = events.compactMap { $0.string("time") }
            #expect(times == times.sorted(), "events out of time order")
            for pid in tree.pids {
                #expect(
                    events.last { $0.int("pid") == pid }?.action == "exit", "the last event of \(pid) is not its exit")
            }
        }

        /// One summary, for command 1, with the whole tree.
        @Test(arguments: Self.buffers)
        func summary(buffer: String) throws {
            let tree = try Self.tree(buffer)
            let (fixture, reportPath) = (tree.fixture, tree.reportPath)
            let summaries = tree.objects.ofType("summary")
            #expect(summaries.count == 1, "summaries: \(summaries)")
            let summary = try #require(summaries.first)
            #expect(summary.int("command") == 1)
            #expect(summary.int("pid") == tree.main.id)
            #expect(summary.int("exit_code") == 5)
            #expect(summary.strings("argv") == [fixture, reportPath, "main", "5"])
            #expect(summary.int("threads") == 8)
            #expect(summary.int("lost_events") == 0)
            let processes = (summary["processes"] as? [[String: Any]]) ?? []
            #expect(Set(processes.compactMap { $0.int("pid") }) == tree.pids, "summary processes: \(processes)")
            func summaryOf(_ pid: Int) -> [String: Any]? { processes.first { $0.int("pid") == pid } }
            for (pid, ppid, code, signal) in tree.expectedExits {
                let process = summaryOf(pid)
                #expect(process?.int("ppid") == ppid, "summary entry \(pid): \(process ?? [:])")
                #expect(process?.int("exit_code") == code, "summary entry \(pid): \(process ?? [:])")
                #expect(process?.int("signal") == signal, "summary entry \(pid): \(process ?? [:])")
            }
            #expect(summaryOf(tree.grandchild.id)?.strings("argv") == [fixture, reportPath, "grandchild", "12"])
            // The quick child never exec'd, so it still runs its parent's program.
            #expect(summaryOf(tree.quick.id)?.strings("argv") == [fixture, reportPath, "main", "5"])
        }

        /// Status lines: ready first (on stdout and stderr), end last, nothing lost.
        @Test(arguments: Self.buffers)
        func statusLines(buffer: String) throws {
            let tree = try Self.tree(buffer)
            let (objects, run) = (tree.objects, tree.run)
            #expect(objects.first?.type == "status" && objects.first?.string("message") == "ready")
            #expect(objects.last?.type == "status" && objects.last?.string("message") == "end")
            #expect(objects.last?.int("lost") == 0)
            #expect(objects.ofType("lost").isEmpty)
            #expect(run.stderrLines.first?.hasPrefix("ebpf-monitor: ready ") == true, "\(run.stderr)")
            #expect(run.stderrLines.first?.contains("fork_probe=tracepoint") == true)
            #expect(run.stderrLines.first?.contains("buffer=\(buffer)") == true)
        }
    }
}
