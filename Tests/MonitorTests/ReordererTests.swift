import Monitor
import Testing

/// Events arrive in reservation order and leave in ktime order, held for a window.
@Suite struct ReordererTests {
    private func marker(_ ktime: UInt64, _ pid: Int32 = 1) -> Event {
        Make.exit(ktime, pid: pid, groupDead: false)
    }

    @Test func flushSortsEverything() {
        var reorderer = Reorderer(window: 1_000)
        for ktime: UInt64 in [50, 10, 40, 30, 20] { reorderer.add(marker(ktime)) }
        #expect(reorderer.count == 5)
        #expect(reorderer.flush().map(\.ktime) == [10, 20, 30, 40, 50])
        #expect(reorderer.count == 0)
        #expect(reorderer.flush().isEmpty)
    }

    @Test func releaseHoldsTheWindow() {
        var reorderer = Reorderer(window: 100)
        for ktime: UInt64 in [500, 300, 450, 100, 401] { reorderer.add(marker(ktime)) }
        // newest 500: everything at or before 400 goes.
        #expect(reorderer.release().map(\.ktime) == [100, 300])
        #expect(reorderer.count == 3)
        #expect(reorderer.release().isEmpty)
        reorderer.add(marker(700))
        #expect(reorderer.release().map(\.ktime) == [401, 450, 500])
        #expect(reorderer.flush().map(\.ktime) == [700])
    }

    /// Per-CPU buffers are read one after another: a record stamped before a
    /// later-read CPU's newest may still be unread on a CPU read first. Only
    /// what is older than every CPU's read leaves.
    @Test func releaseStopsWhereEveryBufferWasRead() {
        var reorderer = Reorderer(window: 100)
        for ktime: UInt64 in [100, 300, 450, 600] { reorderer.add(marker(ktime)) }
        #expect(reorderer.release(delivered: 350).map(\.ktime) == [100, 300])
        reorderer.add(marker(320))  // written to a CPU just after it was read
        #expect(reorderer.release(delivered: 700).map(\.ktime) == [320, 450])
        #expect(reorderer.flush().map(\.ktime) == [600])
    }

    @Test func horizonIsInclusive() {
        var reorderer = Reorderer(window: 100)
        reorderer.add(marker(1_000))
        reorderer.add(marker(900))
        reorderer.add(marker(901))
        #expect(reorderer.release().map(\.ktime) == [900])
    }

    @Test func nothingLeavesBeforeTheWindowHasPassed() {
        var reorderer = Reorderer(window: 5_000)
        reorderer.add(marker(10))
        reorderer.add(marker(4_000))
        #expect(reorderer.release().isEmpty)
        #expect(reorderer.count == 2)
    }

    @Test func equalTimestampsKeepArrivalOrder() {
        var reorderer = Reorderer(window: 10)
        for pid: Int32 in [3, 1, 2] { reorderer.add(marker(100, pid)) }
        reorderer.add(marker(50, 9))
        #expect(reorderer.flush().map(\.pid) == [9, 3, 1, 2])
    }

    @Test func lateEventIsNotDropped() {
        var reorderer = Reorderer(window: 100)
        reorderer.add(marker(1_000))
        reorderer.add(marker(500))
        #expect(reorderer.release().map(\.ktime) == [500])
        reorderer.add(marker(450))  // later than the window allows
        #expect(reorderer.release().map(\.ktime) == [450])
    }

    @Test func shuffledDeliveryGivesTheSameRecords() {
        let ordered: [Event] = [
            Make.fork(2_000, pid: 100, comm: "bash", child: 200),
            Make.exec(2_100, pid: 200, comm: "sh", path: "/bin/sh", argv: ["sh"]),
            Make.fork(2_200, pid: 200, child: 201),
            Make.thread(2_300, pid: 201, child: 202),
            Make.exit(2_400, pid: 201, tid: 202, groupDead: false),
            Make.exit(2_500, pid: 201, code: Code.exited(1), parent: 200),
            Make.exit(2_600, pid: 200, code: Code.exited(0), parent: 100),
            Make.fork(2_700, pid: 100, comm: "bash", child: 300),
            Make.exit(2_800, pid: 300, code: Code.signal(9), parent: 100),
        ]
        var expectedTracker = Tracker.seeded(.shell(root: 100))
        let expected = expectedTracker.feed(ordered)

        // Delivery trails ktime order by less than the window: each event arrives
        // up to 249 ns late. An exit handled before its fork would adopt the process.
        var generator = SplitMix(seed: 42)
        var outOfOrder = 0
        var wrongWithoutReorderer = 0
        for _ in 0..<50 {
            let arrival = ordered.map { ($0, $0.ktime + UInt64.random(in: 0..<250, using: &generator)) }
                .sorted { $0.1 < $1.1 }.map(\.0)
            if arrival != ordered { outOfOrder += 1 }
            var direct = Tracker.seeded(.shell(root: 100))
            if direct.feed(arrival) != expected { wrongWithoutReorderer += 1 }
            var reorderer = Reorderer(window: 250)
            var tracker = Tracker.seeded(.shell(root: 100))
            var records: [Record] = []
            for event in arrival {
                reorderer.add(event)
                records += tracker.feed(reorderer.release())
            }
            records += tracker.feed(reorderer.flush())
            #expect(records == expected, "arrival \(arrival.map(\.ktime))")
            #expect(tracker.adopted == 0)
        }
        #expect(outOfOrder > 25)
        #expect(wrongWithoutReorderer > 0)  // the scenario is sensitive to order
    }
}

/// A seeded generator, so a failing shuffle can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
