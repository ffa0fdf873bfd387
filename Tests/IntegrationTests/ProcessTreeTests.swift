import Foundation
import Glibc
import Testing

extension IntegrationTests {
    /// `-- CMD` on a command that forks a grandchild, starts 8 threads, runs a
    /// child that exits at once after fork and a child killed by a signal:
    /// every one appears, with the right ppid, argv, end and command number.
    @Test func processTree() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixture = try Fixture.compile(into: directory)
        let reportPath = directory + "/report"

        let run = try Harness.monitor(["--format", "json", "--", fixture, reportPath, "main", "5"])
        #expect(!run.timedOut, "\(run)")
        #expect(!run.leftovers, "processes outlived the monitor")
        #expect(run.status == 5, "the monitor exits with the command's status: \(run)")
        let objects = try run.json()
        let monitor = Int(run.pid)  // the command's parent

        // The true ids, as the fixture's processes wrote them down.
        let report = Fixture.report(reportPath)
        func ids(_ role: String) -> [(id: Int, parent: Int)] { report.filter { $0.role == role }.map { ($0.id, $0.parent) } }
        let main = try #require(ids("main").first, "fixture report: \(report)")
        let child = try #require(ids("child").first)
        let grandchild = try #require(ids("grandchild").first)
        let quick = try #require(ids("quick").first)
        let victim = try #require(ids("victim").first)
        let threads = ids("thread").map(\.id)
        #expect(threads.count == 8)
        #expect(main.parent == monitor && child.parent == main.id && grandchild.parent == child.id && victim.parent == main.id)

        // Every event belongs to command 1 and to one of the fixture's processes.
        let events = objects.filter(\.isEvent)
        let pids = Set([main.id, child.id, grandchild.id, quick.id, victim.id])
        for event in events {
            #expect(event.int("command") == 1, "event outside command 1: \(event)")
            #expect(pids.contains(event.int("pid") ?? -1), "event from a process outside the tree: \(event)")
            #expect(["process", "file", "network"].contains(event.string("category") ?? ""))
            #expect(event.string("time")?.hasSuffix("Z") == true)
        }

        // fork events: by the parent, naming the child.
        let forks = objects.events("fork")
        func forkOf(_ pid: Int) -> [String: Any]? { forks.first { $0.int("child") == pid } }
        for (process, parent) in [(child.id, main.id), (quick.id, main.id), (victim.id, main.id), (grandchild.id, child.id)] {
            let fork = forkOf(process)
            #expect(fork != nil, "no fork event for child \(process)")
            #expect(fork?.int("pid") == parent, "fork of \(process) not reported by its parent \(parent): \(fork ?? [:])")
        }
        #expect(forks.count == 4, "forks: \(forks)")

        // exec events: path and argv of every process that exec'd.
        let execs = objects.events("exec")
        func execOf(_ pid: Int) -> [String: Any]? { execs.first { $0.int("pid") == pid } }
        let expectedExecs: [(Int, Int, [String])] = [
            (main.id, monitor, [fixture, reportPath, "main", "5"]),
            (child.id, main.id, [fixture, reportPath, "child", "11"]),
            (grandchild.id, child.id, [fixture, reportPath, "grandchild", "12"]),
        ]
        for (pid, ppid, argv) in expectedExecs {
            let exec = execOf(pid)
            #expect(exec?.strings("argv") == argv, "exec of \(pid): \(exec ?? [:])")
            #expect(exec?.string("path") == fixture)
            #expect(exec?.int("ppid") == ppid, "exec of \(pid) has the wrong ppid: \(exec ?? [:])")
        }
        let victimExec = execOf(victim.id)
        #expect(victimExec?.strings("argv")?.prefix(3) == [fixture, reportPath, "victim"], "\(victimExec ?? [:])")
        #expect(execOf(quick.id) == nil, "the quick child never exec'd")
        #expect(execs.count == 4, "execs: \(execs)")

        // exit events: one per process, with its ppid and exit code or signal.
        let exits = objects.events("exit")
        func exitOf(_ pid: Int) -> [String: Any]? { exits.first { $0.int("pid") == pid } }
        let expectedExits: [(Int, Int, Int?, Int?)] = [
            (main.id, monitor, 5, nil),
            (child.id, main.id, 11, nil),
            (grandchild.id, child.id, 12, nil),
            (quick.id, main.id, 3, nil),
            (victim.id, main.id, nil, Int(SIGTERM)),
        ]
        for (pid, ppid, code, signal) in expectedExits {
            let exit = exitOf(pid)
            #expect(exit != nil, "no exit event for \(pid)")
            #expect(exit?.int("ppid") == ppid, "exit of \(pid): \(exit ?? [:])")
            #expect(exit?.int("exit_code") == code, "exit of \(pid): \(exit ?? [:])")
            #expect(exit?.int("signal") == signal, "exit of \(pid): \(exit ?? [:])")
            #expect(exit?.int("tid") == pid)
        }
        #expect(exitOf(victim.id)?.string("signal_name") == "SIGTERM")
        #expect(exits.count == 5, "exits: \(exits)")

        // Threads: 8 thread events by the main process naming the reported tids, 8 thread_exits.
        let threadEvents = objects.events("thread")
        #expect(threadEvents.count == 8, "thread events: \(threadEvents)")
        #expect(Set(threadEvents.compactMap { $0.int("child") }) == Set(threads))
        #expect(threadEvents.allSatisfy { $0.int("pid") == main.id })
        let threadExits = objects.events("thread_exit")
        #expect(threadExits.count == 8, "thread_exit events: \(threadExits)")
        #expect(Set(threadExits.compactMap { $0.int("tid") }) == Set(threads))
        #expect(threadExits.allSatisfy { $0.int("pid") == main.id && $0.int("ppid") == monitor })

        // Events come in kernel-timestamp order; every process's exit is its last event.
        let times = events.compactMap { $0.string("time") }
        #expect(times == times.sorted(), "events out of time order")
        for pid in pids {
            #expect(events.last { $0.int("pid") == pid }?.action == "exit", "the last event of \(pid) is not its exit")
        }

        // One summary, for command 1, with the whole tree.
        let summaries = objects.ofType("summary")
        #expect(summaries.count == 1, "summaries: \(summaries)")
        let summary = try #require(summaries.first)
        #expect(summary.int("command") == 1)
        #expect(summary.int("pid") == main.id)
        #expect(summary.int("exit_code") == 5)
        #expect(summary.strings("argv") == [fixture, reportPath, "main", "5"])
        #expect(summary.int("threads") == 8)
        #expect(summary.int("lost_events") == 0)
        let processes = (summary["processes"] as? [[String: Any]]) ?? []
        #expect(Set(processes.compactMap { $0.int("pid") }) == pids, "summary processes: \(processes)")
        func summaryOf(_ pid: Int) -> [String: Any]? { processes.first { $0.int("pid") == pid } }
        for (pid, ppid, code, signal) in expectedExits {
            let process = summaryOf(pid)
            #expect(process?.int("ppid") == ppid, "summary entry \(pid): \(process ?? [:])")
            #expect(process?.int("exit_code") == code, "summary entry \(pid): \(process ?? [:])")
            #expect(process?.int("signal") == signal, "summary entry \(pid): \(process ?? [:])")
        }
        #expect(summaryOf(grandchild.id)?.strings("argv") == [fixture, reportPath, "grandchild", "12"])
        // The quick child never exec'd, so it still runs its parent's program.
        #expect(summaryOf(quick.id)?.strings("argv") == [fixture, reportPath, "main", "5"])

        // Status lines: ready first (on stdout and stderr), end last, nothing lost.
        #expect(objects.first?.type == "status" && objects.first?.string("message") == "ready")
        #expect(objects.last?.type == "status" && objects.last?.string("message") == "end")
        #expect(objects.last?.int("lost") == 0)
        #expect(objects.ofType("lost").isEmpty)
        #expect(run.stderrLines.first?.hasPrefix("ebpf-monitor: ready ") == true, "\(run.stderr)")
        #expect(run.stderrLines.first?.contains("fork_probe=tracepoint") == true)
    }
}
