import Monitor
import Testing

/// The human format, line by line.
@Suite struct TextSinkTests {
    private func render(_ records: [Record]) -> [String] {
        let stream = MemoryStream()
        let sink = TextSink(stream: stream, utc: true)
        for record in records { sink.emit(record) }
        sink.flush()
        return stream.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    private func event(_ action: ProcessAction, comm: [UInt8] = utf8("sh")) -> ProcessRecord {
        ProcessRecord(
            time: testClock.wall(2_123_456_789), command: 12, pid: 4_194_304, tid: 4_194_305, ppid: 1,
            comm: comm, action: action)
    }

    @Test func headerAndColumns() {
        var fork = event(.fork)
        fork.child = 77
        let lines = render([.process(fork)])
        #expect(
            lines == [
                "TIME            CMD COMM             PID     TID     PPID    EVENT       DETAILS",
                "15:20:02.123456  12 sh               4194304 4194305 1       fork        child=77",
                "",
            ])
    }

    @Test func exitDetails() {
        var exited = event(.exit)
        exited.termination = .exited(42)
        var killed = event(.exit)
        killed.termination = .signaled(15, coreDumped: false)
        var vanished = event(.exit)
        vanished.statusUnknown = true
        let details = render([.process(exited), .process(killed), .process(vanished), .process(event(.threadExit))])
            .dropFirst().dropLast().map { String($0.dropFirst(73)) }  // DETAILS starts at column 73
        #expect(details == ["exit_code=42", "signal=SIGTERM", "status unknown: exit event lost", ""])
    }

    @Test func lostLineListsOnlyNonZeroPlaces() {
        let lost = LostRecord(time: testClock.wall(1), counts: ["fork": 0, "exit": 4, "decode": 1], total: 5)
        let line = render([.lost(lost)])[1]
        #expect(line.hasSuffix(" lost        5 events lost (decode 1, exit 4): output is incomplete"))
        #expect(line.hasPrefix("15:20:00.000000   - -  "))
    }

    @Test func hostileCommStaysInItsLine() {
        let lines = render([.process(event(.threadExit, comm: utf8("a\nb\r\u{1b}") + [0xff]))])
        #expect(lines.count == 3)
        #expect(lines[1].contains(" a\\nb\\r\\e\\xff "))
    }

    @Test func summaryTreeNestsChildrenUnderParents() {
        let summary = CommandSummary(
            command: 3, pid: 10, argv: [utf8("make")], termination: .exited(0),
            start: testClock.wall(1_000_000_000), end: testClock.wall(3_500_000_000),
            processes: [
                .init(pid: 10, ppid: 1, comm: utf8("make"), argv: [utf8("make")], termination: .exited(0)),
                .init(pid: 11, ppid: 10, comm: utf8("cc"), argv: [utf8("cc"), utf8("a b.c")], termination: .exited(0)),
                .init(pid: 12, ppid: 11, comm: utf8("as"), argv: [], termination: .signaled(6, coreDumped: true)),
                .init(pid: 13, ppid: 10, comm: utf8("ld"), argv: [utf8("ld")], termination: .exited(1)),
            ],
            threads: 2, lostEvents: 0)
        #expect(
            Array(render([.summary(summary)]).dropFirst()) == [
                "15:20:03.500000   3 summary  make: exit_code=0 after 2.500s; 4 processes, 2 threads, no events lost",
                "15:20:03.500000   3 summary  └─ 10 make [exit_code=0]",
                "15:20:03.500000   3 summary     ├─ 11 cc 'a b.c' [exit_code=0]",
                "15:20:03.500000   3 summary     │  └─ 12 as [signal=SIGABRT (core dumped)]",
                "15:20:03.500000   3 summary     └─ 13 ld [exit_code=1]",
                "",
            ])
    }

    @Test func summaryOfLostEvents() {
        let summary = CommandSummary(
            command: 1, pid: 5, argv: [], termination: nil, start: 0, end: 1_000_000,
            processes: [], threads: 0, lostEvents: 9)
        let line = render([.summary(summary)])[1]
        #expect(
            line.hasSuffix(
                "  1 summary  pid 5: running after 0.001s; 0 processes, 0 threads, 9 EVENTS LOST: incomplete"))
    }

    /// A process whose exit event was lost is gone: the summary must not call it running.
    @Test func vanishedProcessIsNotRunning() {
        var tracker = Tracker.seeded(.shell(root: 100))
        var records = tracker.feed([
            Make.fork(2_000_000, pid: 100, comm: "bash", child: 200),
            Make.exec(3_000_000, pid: 200, comm: "sleep", path: "/bin/sleep", argv: ["sleep", "1"]),
        ])
        records += tracker.vanished(200, ktime: 4_000_000)
        let summary = render(records).filter { $0.contains(" summary ") }
        #expect(summary.count == 2)
        #expect(!summary.contains { $0.contains("running") }, "\(summary)")
        #expect(summary.contains { $0.contains("status unknown") }, "\(summary)")
    }
}
