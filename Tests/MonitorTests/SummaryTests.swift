import Monitor
import Testing

/// A summary comes exactly when the last process of a command is gone, or at the end of the trace.
@Suite struct SummaryTests {
    @Test func summaryWaitsForTheLastProcessNotTheLeader() {
        var tracker = Tracker.seeded(.shell(root: 100))
        let steps: [(Event, Bool)] = [
            (Make.fork(2_000, pid: 100, comm: "bash", child: 200), false),
            (Make.exec(2_100, pid: 200, comm: "make", path: "/usr/bin/make", argv: ["make"]), false),
            (Make.fork(3_000, pid: 200, comm: "make", child: 201), false),
            (Make.fork(3_100, pid: 201, comm: "make", child: 202), false),
            (Make.thread(3_200, pid: 202, comm: "make", child: 203), false),
            (Make.exit(4_000, pid: 200, comm: "make", code: Code.exited(2), parent: 100), false),  // leader first
            (Make.exit(4_100, pid: 202, tid: 203, comm: "make", groupDead: false), false),
            (Make.exit(5_000, pid: 201, comm: "make", parent: 1), false),
            (Make.exit(6_000, pid: 202, comm: "make", code: Code.exited(0), parent: 1), true),
        ]
        for (index, (event, ends)) in steps.enumerated() {
            let summaries = tracker.handle(event).summaries
            #expect(summaries.count == (ends ? 1 : 0), "step \(index)")
        }
        #expect(tracker.openCommands == [0])
    }

    @Test func summaryDescribesTheLeader() {
        var tracker = Tracker.seeded(.shell(root: 100))
        let records = tracker.feed([
            Make.fork(2_000, pid: 100, comm: "bash", child: 200),
            Make.exec(2_100, pid: 200, comm: "make", path: "/usr/bin/make", argv: ["make", "-j2"]),
            Make.fork(3_000, pid: 200, comm: "make", child: 201),
            Make.exec(3_100, pid: 201, comm: "cc", path: "/usr/bin/cc", argv: ["cc", "-c", "a.c"]),
            Make.exit(4_000, pid: 200, comm: "make", code: Code.exited(2), parent: 100),
            Make.exit(6_000, pid: 201, comm: "cc", code: Code.signal(15), parent: 1),
        ])
        let summary = try! #require(records.summaries.first)
        #expect(records.last?.summary != nil)
        #expect(summary.command == 1)
        #expect(summary.pid == 200)
        #expect(summary.argv == [utf8("make"), utf8("-j2")])
        #expect(summary.termination == .exited(2))
        #expect(summary.start == testClock.wall(2_000))
        #expect(summary.end == testClock.wall(6_000))
        #expect(summary.processes.map(\.pid) == [200, 201])
        #expect(summary.entry(201)?.ppid == 1)
        #expect(summary.entry(201)?.termination == .signaled(15, coreDumped: false))
    }

    @Test func finishSummarisesOpenCommandsInOrder() {
        var tracker = Tracker.seeded(.shell(root: 100))
        _ = tracker.feed([
            Make.fork(2_000, pid: 100, comm: "bash", child: 200),
            Make.fork(3_000, pid: 100, comm: "bash", child: 300),
            Make.fork(4_000, pid: 100, comm: "bash", child: 400),
            Make.exit(5_000, pid: 300, parent: 100),
        ])
        #expect(tracker.openCommands == [0, 1, 3])
        let summaries = tracker.finish(ktime: 9_000).summaries
        #expect(summaries.map(\.command) == [0, 1, 3])
        #expect(summaries.allSatisfy { $0.termination == nil && $0.end == testClock.wall(9_000) })
        #expect(summaries[0].pid == 100 && summaries[0].argv == [utf8("bash")])
        #expect(summaries[1].pid == 200)
        #expect(tracker.openCommands.isEmpty)
        #expect(tracker.finish(ktime: 10_000).isEmpty)
    }

    @Test func finishWithNothingOpen() {
        var tracker = Tracker.seeded(.command(root: 100))
        _ = tracker.feed([Make.exit(2_000, pid: 100, parent: 1)])
        #expect(tracker.finish(ktime: 3_000).isEmpty)
    }
}
