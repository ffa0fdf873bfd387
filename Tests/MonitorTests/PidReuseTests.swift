import Monitor
import Testing

/// Pids handed out again, reparenting, and processes whose fork was never seen.
@Suite struct PidReuseTests {
    @Test func pidForkedAgainAfterItsExit() {
        var tracker = Tracker.seeded(.command(root: 100))
        let records = tracker.feed([
            Make.fork(2_000, pid: 100, child: 200),
            Make.exit(3_000, pid: 200, code: Code.exited(0), parent: 100),
            Make.fork(4_000, pid: 100, child: 200),
            Make.exit(5_000, pid: 200, code: Code.exited(1), parent: 100),
            Make.exit(6_000, pid: 100, parent: 1),
        ])
        #expect(records.tags == ["fork", "exit", "fork", "exit", "exit", "summary"])
        #expect(records.processes.allSatisfy { !$0.statusUnknown })
        let summary = try! #require(records.summaries.first)
        #expect(summary.processes.map(\.pid) == [100, 200, 200])
        #expect(summary.processes.map(\.termination) == [.exited(0), .exited(0), .exited(1)])
        #expect(tracker.adopted == 0)
    }

    @Test func forkOfAPidWhoseExitWasLostEndsTheOldProcess() {
        var tracker = Tracker.seeded(.shell(root: 100))
        _ = tracker.feed([
            Make.fork(2_000, pid: 100, comm: "bash", child: 200),
            Make.exec(2_500, pid: 200, comm: "sleep", path: "/bin/sleep", argv: ["sleep", "1"]),
        ])
        _ = tracker.lost(["exit": 1], ktime: 2_800)
        // 200's exit was lost; the kernel hands 200 out again.
        let records = tracker.feed([Make.fork(3_000, pid: 100, comm: "bash", child: 200)])
        #expect(records.tags == ["exit", "summary", "fork"])
        let gone = records.processes[0]
        #expect(gone.pid == 200 && gone.command == 1 && gone.statusUnknown && gone.termination == nil)
        #expect(gone.comm == utf8("sleep"))
        let summary = try! #require(records.summaries.first)
        #expect(summary.command == 1)
        #expect(summary.termination == nil)
        #expect(summary.argv == [utf8("sleep"), utf8("1")])
        #expect(summary.lostEvents == 1)
        #expect(records.processes[1].command == 2)
        #expect(tracker.livePids == [100, 200])
        #expect(tracker.openCommands == [0, 2])
    }

    @Test func lostExitInsideALiveCommand() {
        var tracker = Tracker.seeded(.command(root: 100))
        _ = tracker.feed([Make.fork(2_000, pid: 100, child: 200)])
        let records = tracker.feed([Make.fork(3_000, pid: 100, child: 200)])
        #expect(records.tags == ["exit", "fork"])
        #expect(records.processes[0].statusUnknown)
        let end = tracker.feed([
            Make.exit(4_000, pid: 200, code: Code.exited(3), parent: 100),
            Make.exit(5_000, pid: 100, parent: 1),
        ])
        let summary = try! #require(end.summaries.first)
        #expect(summary.processes.map(\.termination) == [.exited(0), nil, .exited(3)])
    }

    @Test func vanishedUnknownPidIsANoOp() {
        var tracker = Tracker.seeded(.command(root: 100))
        #expect(tracker.vanished(999, ktime: 2_000).isEmpty)
        #expect(tracker.livePids == [100])
    }

    @Test func reparentingToASubreaper() {
        var tracker = Tracker.seeded(.shell(root: 100))
        let records = tracker.feed([
            Make.fork(2_000, pid: 100, comm: "bash", child: 200),
            Make.fork(3_000, pid: 200, child: 300),
            Make.exit(4_000, pid: 200, code: Code.exited(0), parent: 100),
            Make.exit(5_000, pid: 300, code: Code.exited(0), parent: 150),  // 150: a subreaper outside the command
        ])
        #expect(records.tags == ["fork", "fork", "exit", "exit", "summary"])
        #expect(records.processes[3].ppid == 150)
        let summary = try! #require(records.summaries.first)
        #expect(summary.entry(300)?.ppid == 150)
        #expect(summary.entry(200)?.ppid == 100)
    }

    @Test func exitWithoutParentKeepsForkTimeParent() {
        var tracker = Tracker.seeded(.command(root: 100))
        let records = tracker.feed([
            Make.fork(2_000, pid: 100, child: 200),
            Make.exit(3_000, pid: 200, parent: 0),
        ])
        #expect(records.processes[1].ppid == 100)
    }

    @Test func adoptionInCommandMode() {
        var tracker = Tracker.seeded(.command(root: 100))
        let records = tracker.feed([
            Make.exec(2_000, pid: 700, comm: "stray", path: "/bin/stray", argv: ["stray"])
        ])
        #expect(tracker.adopted == 1)
        #expect(records.processes.first?.command == 1)
        #expect(records.processes.first?.ppid == 0)
        #expect(tracker.livePids == [100, 700])
    }

    @Test func adoptedOnExitJoinsTheParentsCommand() {
        var tracker = Tracker.seeded(.shell(root: 100))
        _ = tracker.feed([Make.fork(2_000, pid: 100, child: 200)])
        let records = tracker.feed([Make.exit(3_000, pid: 500, comm: "lost", code: Code.exited(0), parent: 200)])
        #expect(tracker.adopted == 1)
        #expect(records.tags == ["exit"])  // 200 still lives: command 1 goes on
        #expect(records.processes[0].command == 1)
        #expect(records.processes[0].ppid == 200)
        let end = tracker.feed([Make.exit(4_000, pid: 200, parent: 100)])
        let summary = try! #require(end.summaries.first)
        #expect(summary.processes.map(\.pid) == [200, 500])
        #expect(summary.entry(500)?.comm == utf8("lost"))
    }

    @Test func adoptedThreadBringsItsProcess() {
        var tracker = Tracker.seeded(.shell(root: 100))
        let records = tracker.feed([Make.exit(2_000, pid: 600, tid: 601, groupDead: false)])
        #expect(records.tags == ["thread_exit"])
        #expect(records.processes[0].command == 0)
        #expect(tracker.adopted == 1)
        #expect(tracker.livePids == [100, 600])
    }
}
