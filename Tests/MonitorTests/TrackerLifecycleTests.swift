import Monitor
import Testing

/// fork, exec and exit of processes and threads, one command at a time.
@Suite struct TrackerLifecycleTests {
    /// `sh -c "ls -l"` under `-- CMD`: sh execs, forks ls, ls exits 0, sh exits 2.
    private func forkExecExitRun() -> (tracker: Tracker, records: [Record]) {
        var tracker = Tracker.seeded(.command(root: 100), comm: "ebpf-monitor", argv: ["sh", "-c", "ls -l"], ppid: 50)
        let records = tracker.feed([
            Make.exec(2_000, pid: 100, comm: "sh", path: "/bin/sh", argv: ["sh", "-c", "ls -l"]),
            Make.fork(3_000, pid: 100, comm: "sh", child: 101),
            Make.exec(4_000, pid: 101, comm: "ls", path: "/usr/bin/ls", argv: ["ls", "-l"]),
            Make.exit(5_000, pid: 101, comm: "ls", code: Code.exited(0), parent: 100),
            Make.exit(6_000, pid: 100, comm: "sh", code: Code.exited(2), parent: 50),
        ])
        return (tracker, records)
    }

    @Test func forkExecExitRecords() {
        let records = forkExecExitRun().records
        #expect(records.tags == ["exec", "fork", "exec", "exit", "exit", "summary"])
        let events = records.processes
        #expect(events.allSatisfy { $0.command == 1 })

        let fork = events[1]
        #expect(fork.pid == 100 && fork.tid == 100 && fork.ppid == 50 && fork.child == 101)
        #expect(fork.time == testClock.wall(3_000))

        let exec = events[2]
        #expect(exec.pid == 101 && exec.ppid == 100)
        #expect(exec.comm == utf8("ls"))
        #expect(exec.path == utf8("/usr/bin/ls"))
        #expect(exec.argv == [utf8("ls"), utf8("-l")])
        #expect(exec.truncated == false)

        #expect(events[3].termination == .exited(0))
        #expect(events[4].termination == .exited(2))
    }

    @Test func forkExecExitSummary() throws {
        let summary = try #require(forkExecExitRun().records.last?.summary)
        #expect(summary.command == 1)
        #expect(summary.pid == 100)
        #expect(summary.argv == [utf8("sh"), utf8("-c"), utf8("ls -l")])
        #expect(summary.termination == .exited(2))
        #expect(summary.start == testClock.wall(1_000))
        #expect(summary.end == testClock.wall(6_000))
        #expect(summary.processes.map(\.pid) == [100, 101])
        #expect(summary.entry(101)?.argv == [utf8("ls"), utf8("-l")])
        #expect(summary.entry(101)?.comm == utf8("ls"))
        #expect(summary.entry(101)?.ppid == 100)
        #expect(summary.entry(101)?.termination == .exited(0))
        #expect(summary.lostEvents == 0)
    }

    @Test func forkExecExitLeavesNothingOpen() {
        let tracker = forkExecExitRun().tracker
        #expect(tracker.liveProcesses == 0)
        #expect(tracker.openCommands.isEmpty)
        #expect(tracker.eventCount == 5)
        #expect(tracker.adopted == 0)
    }

    @Test func childWithoutExecKeepsParentsArgv() {
        var tracker = Tracker.seeded(.command(root: 100), argv: ["make", "all"])
        let records = tracker.feed([
            Make.fork(2_000, pid: 100, comm: "make", child: 101),
            Make.exit(3_000, pid: 101, comm: "make", parent: 100),
            Make.exit(4_000, pid: 100, comm: "make", parent: 1),
        ])
        let summary = try! #require(records.summaries.first)
        #expect(summary.entry(101)?.argv == [utf8("make"), utf8("all")])
        #expect(summary.entry(101)?.comm == utf8("make"))
    }

    @Test func signalsReachRecordAndSummary() {
        var tracker = Tracker.seeded(.command(root: 100))
        let records = tracker.feed([
            Make.fork(2_000, pid: 100, child: 101),
            Make.exit(3_000, pid: 101, code: Code.signal(11, core: true), parent: 100),
            Make.exit(4_000, pid: 100, code: Code.signal(9), parent: 1),
        ])
        #expect(records.processes[1].termination == .signaled(11, coreDumped: true))
        #expect(records.processes[2].termination == .signaled(9, coreDumped: false))
        let summary = try! #require(records.summaries.first)
        #expect(summary.termination == .signaled(9, coreDumped: false))
        #expect(summary.entry(101)?.termination == .signaled(11, coreDumped: true))
    }

    @Test func threadsAreNotProcesses() {
        var tracker = Tracker.seeded(.command(root: 100))
        var records = tracker.feed([
            Make.thread(2_000, pid: 100, child: 102),
            Make.thread(2_500, pid: 100, tid: 102, child: 103),  // a thread starts a thread
        ])
        #expect(records.tags == ["thread", "thread"])
        #expect(records.processes[0].child == 102)
        #expect(records.processes[1].pid == 100 && records.processes[1].tid == 102 && records.processes[1].child == 103)
        #expect(records.processes.allSatisfy { $0.command == 1 && $0.ppid == 1 })
        #expect(tracker.liveProcesses == 1)

        records = tracker.feed([Make.exit(3_000, pid: 100, tid: 102, groupDead: false)])
        #expect(records.tags == ["thread_exit"])
        #expect(records.processes[0].tid == 102 && records.processes[0].termination == nil)
        #expect(tracker.liveProcesses == 1)
        #expect(tracker.openCommands == [1])

        // The leader can go first; the process lives on in its last thread.
        records = tracker.feed([Make.exit(3_500, pid: 100, tid: 100, groupDead: false)])
        #expect(records.tags == ["thread_exit"])
        records = tracker.feed([Make.exit(4_000, pid: 100, tid: 103, code: Code.exited(4), parent: 1)])
        #expect(records.tags == ["exit", "summary"])
        #expect(records.processes[0].tid == 103)
        #expect(records.processes[0].termination == .exited(4))
        let summary = try! #require(records.summaries.first)
        #expect(summary.threads == 2)
        #expect(summary.processes.count == 1)
        #expect(summary.termination == .exited(4))
    }

    @Test func execFromNonLeaderThread() {
        var tracker = Tracker.seeded(.command(root: 100))
        _ = tracker.feed([
            Make.fork(2_000, pid: 100, child: 200),
            Make.thread(3_000, pid: 200, child: 201),
            // de_thread: the leader dies, then thread 201 takes over pid 200.
            Make.exit(4_000, pid: 200, tid: 200, groupDead: false),
        ])
        let records = tracker.feed([
            Make.exec(5_000, pid: 200, tid: 200, oldTid: 201, comm: "env", path: "/usr/bin/env", argv: ["env"])
        ])
        let exec = try! #require(records.processes.first)
        #expect(exec.action == .exec)
        #expect(exec.pid == 200 && exec.tid == 200)
        #expect(exec.command == 1 && exec.ppid == 100)
        #expect(tracker.adopted == 0)
        #expect(tracker.liveProcesses == 2)

        let end = tracker.feed([
            Make.exit(6_000, pid: 200, comm: "env", code: Code.exited(0), parent: 100),
            Make.exit(7_000, pid: 100, code: Code.exited(0), parent: 1),
        ])
        let summary = try! #require(end.summaries.first)
        #expect(summary.processes.map(\.pid) == [100, 200])
        #expect(summary.entry(200)?.argv == [utf8("env")])
        #expect(summary.entry(200)?.comm == utf8("env"))
        #expect(summary.threads == 1)
    }

    @Test func truncatedExecIsFlagged() {
        var tracker = Tracker.seeded(.command(root: 100))
        let records = tracker.feed([
            Make.exec(2_000, pid: 100, comm: utf8("x"), path: utf8("/very/long"), argv: [utf8("x")], truncated: true)
        ])
        #expect(records.processes.first?.truncated == true)
    }

    @Test func unfollowedChildIsNotTracked() {
        var tracker = Tracker.seeded(.command(root: 100))
        let records = tracker.feed([Make.fork(2_000, pid: 100, child: 300, unfollowed: true)])
        #expect(records.processes.first?.unfollowed == true)
        #expect(records.processes.first?.child == 300)
        #expect(tracker.livePids == [100])
    }
}
