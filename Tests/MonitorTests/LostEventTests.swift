import Monitor
import Testing

/// Losses are shown the moment they are known, and every summary says how many fell in its life.
@Suite struct LostEventTests {
    @Test func lostProducesARecord() {
        var tracker = Tracker.seeded(.command(root: 100))
        let records = tracker.lost(["exec": 2, "fork": 1], ktime: 5_000)
        #expect(records.count == 1)
        let lost = try! #require(records.first?.lost)
        #expect(lost.total == 3)
        #expect(lost.counts == ["exec": 2, "fork": 1])
        #expect(lost.time == testClock.wall(5_000))
        #expect(tracker.lostTotal == 3)
    }

    @Test func nothingLostNothingShown() {
        var tracker = Tracker.seeded(.command(root: 100))
        #expect(tracker.lost([:], ktime: 5_000).isEmpty)
        #expect(tracker.lost(["exit": 0], ktime: 5_000).isEmpty)
        #expect(tracker.lostTotal == 0)
    }

    @Test func totalsAccumulate() {
        var tracker = Tracker.seeded(.command(root: 100))
        _ = tracker.lost(["exec": 2], ktime: 5_000)
        _ = tracker.lost(["exit": 4, "decode": 1], ktime: 6_000)
        #expect(tracker.lostTotal == 7)
    }

    @Test func summaryCountsLossesDuringTheCommandsLife() {
        var tracker = Tracker.seeded(.shell(root: 100))
        _ = tracker.lost(["fork": 5], ktime: 1_500)  // before commands 1 and 2
        _ = tracker.feed([Make.fork(2_000, pid: 100, child: 200)])  // command 1 starts
        _ = tracker.lost(["exec": 2], ktime: 2_500)  // command 1 only
        _ = tracker.feed([Make.fork(3_000, pid: 100, child: 300)])  // command 2 starts
        _ = tracker.lost(["exit": 3], ktime: 3_500)  // both
        let first = tracker.feed([Make.exit(4_000, pid: 200, parent: 100)]).summaries
        _ = tracker.lost(["exit": 11], ktime: 4_500)  // command 2 only
        let second = tracker.feed([Make.exit(5_000, pid: 300, parent: 100)]).summaries
        _ = tracker.lost(["exit": 7], ktime: 5_500)  // command 0 only
        let last = tracker.finish(ktime: 6_000).summaries

        #expect(first.map(\.command) == [1])
        #expect(first.first?.lostEvents == 5)
        #expect(second.map(\.command) == [2])
        #expect(second.first?.lostEvents == 14)
        #expect(last.map(\.command) == [0])
        #expect(last.first?.lostEvents == 28)
        #expect(tracker.lostTotal == 28)
    }
}
