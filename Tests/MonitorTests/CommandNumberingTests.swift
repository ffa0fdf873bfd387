import Monitor
import Testing

/// Which command every record belongs to.
@Suite struct CommandNumberingTests {
    @Test func shellModeNumbersEachChildOfTheRoot() {
        var tracker = Tracker.seeded(.shell(root: 100))
        let records = tracker.feed([
            Make.fork(2_000, pid: 100, comm: "bash", child: 200),
            Make.fork(3_000, pid: 100, comm: "bash", child: 300),
            Make.fork(4_000, pid: 200, child: 201),  // grandchild
            Make.fork(5_000, pid: 201, child: 202),  // great-grandchild
            Make.exec(6_000, pid: 202, comm: "cat", path: "/bin/cat", argv: ["cat"]),
            Make.thread(7_000, pid: 100, comm: "bash", child: 110),  // root's own thread
            Make.fork(8_000, pid: 100, tid: 110, comm: "bash", child: 400),  // forked by a root thread
            Make.thread(9_000, pid: 300, child: 301),
        ])
        let commands = records.processes.map { "\($0.action.rawValue) \($0.pid)>\($0.child ?? $0.pid) c\($0.command)" }
        #expect(
            commands == [
                "fork 100>200 c1",
                "fork 100>300 c2",
                "fork 200>201 c1",
                "fork 201>202 c1",
                "exec 202>202 c1",
                "thread 100>110 c0",
                "fork 100>400 c3",
                "thread 300>301 c2",
            ])
        #expect(tracker.openCommands == [0, 1, 2, 3])
    }

    @Test func shellModeCommandsEndIndependently() {
        var tracker = Tracker.seeded(.shell(root: 100))
        var records = tracker.feed([
            Make.fork(2_000, pid: 100, child: 200),
            Make.fork(3_000, pid: 100, child: 300),
            Make.exit(4_000, pid: 300, code: Code.exited(1), parent: 100),
        ])
        #expect(records.summaries.map(\.command) == [2])
        #expect(records.summaries.first?.pid == 300)
        #expect(records.summaries.first?.start == testClock.wall(3_000))
        records = tracker.feed([Make.exit(5_000, pid: 200, parent: 100)])
        #expect(records.summaries.map(\.command) == [1])
        #expect(tracker.openCommands == [0])
        // Numbers are never reused.
        records = tracker.feed([Make.fork(6_000, pid: 100, child: 500)])
        #expect(records.processes.first?.command == 3)
    }

    @Test func commandModeIsAllCommandOne() {
        var tracker = Tracker.seeded(.command(root: 100))
        let records = tracker.feed([
            Make.fork(2_000, pid: 100, child: 200),
            Make.fork(3_000, pid: 100, child: 300),
            Make.fork(4_000, pid: 200, child: 201),
            Make.thread(5_000, pid: 100, child: 110),
            Make.fork(6_000, pid: 100, tid: 110, child: 400),
            Make.exec(7_000, pid: 400, comm: "true", path: "/bin/true", argv: ["true"]),
        ])
        #expect(records.processes.count == 6)
        #expect(records.processes.allSatisfy { $0.command == 1 })
        #expect(tracker.openCommands == [1])
    }

    @Test func seededTreeInShellMode() {
        var tracker = Tracker(mode: .shell(root: 100), clock: testClock)
        tracker.seed(pid: 100, ppid: 1, comm: utf8("bash"), argv: [utf8("bash")], threads: [100], ktime: 1_000)
        tracker.seed(pid: 200, ppid: 100, comm: utf8("vim"), argv: [utf8("vim")], threads: [200, 201], ktime: 1_000)
        tracker.seed(pid: 210, ppid: 200, comm: utf8("sh"), argv: [utf8("sh")], threads: [210], ktime: 1_000)
        tracker.seed(pid: 300, ppid: 100, comm: utf8("top"), argv: [utf8("top")], threads: [300], ktime: 1_000)
        #expect(tracker.liveProcesses == 4)
        #expect(tracker.openCommands == [0, 1, 2])
        let records = tracker.feed([
            Make.exit(2_000, pid: 210, parent: 200),
            Make.exit(2_100, pid: 200, tid: 201, groupDead: false),
            Make.exit(2_200, pid: 300, comm: "top", parent: 100),
        ])
        #expect(records.processes.map(\.command) == [1, 1, 2])
        #expect(records.summaries.map(\.command) == [2])
        #expect(records.summaries.first?.argv == [utf8("top")])
    }
}
