/// Converts kernel monotonic timestamps to wall-clock time.
public struct WallClock: Sendable {
    /// Wall clock minus monotonic clock, in nanoseconds.
    public let offset: Int64

    public init(offset: Int64) { self.offset = offset }

    /// A time no kernel gives (a damaged record) comes out clamped, never as a trap.
    public func wall(_ ktime: UInt64) -> UInt64 {
        let (sum, overflow) = Int64(clamping: ktime).addingReportingOverflow(offset)
        if overflow { return offset > 0 ? UInt64.max : 0 }
        return UInt64(clamping: sum)
    }
}
