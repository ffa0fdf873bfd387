import Monitor
import Testing

/// Timestamps as the output contract spells them, digits padded.
@Suite struct TimeFormatTests {
    @Test(arguments: [
        (UInt64(0), "1970-01-01T00:00:00.000000Z"),
        (1_764_170_401_123_456_789, "2025-11-26T15:20:01.123456Z"),
        (1_764_170_401_000_000_999, "2025-11-26T15:20:01.000000Z"),
        (4_102_444_799_999_999_000, "2099-12-31T23:59:59.999999Z"),
    ])
    func rfc3339(nanoseconds: UInt64, expected: String) {
        #expect(TimeFormat.rfc3339(nanoseconds) == expected)
    }

    /// The second's text is cached: the next second must not reuse it.
    @Test func consecutiveSecondsDiffer() {
        #expect(TimeFormat.rfc3339(1_764_170_401_000_000_000) == "2025-11-26T15:20:01.000000Z")
        #expect(TimeFormat.rfc3339(1_764_170_402_000_001_000) == "2025-11-26T15:20:02.000001Z")
    }

    @Test func timeOfDay() {
        #expect(TimeFormat.timeOfDay(1_764_170_401_123_456_789, utc: true) == "15:20:01.123456")
        #expect(TimeFormat.timeOfDay(5_000, utc: true) == "00:00:00.000005")
    }
}

/// A damaged record's time (found by `make fuzz`): clamped, not a trap.
@Test func wallClockClampsImpossibleTimes() {
    #expect(WallClock(offset: 5).wall(UInt64.max) == UInt64.max)
    #expect(WallClock(offset: -10).wall(3) == 0)
    #expect(WallClock(offset: Int64.max).wall(UInt64(Int64.max)) == UInt64.max)
    #expect(WallClock(offset: 7).wall(100) == 107)
}
