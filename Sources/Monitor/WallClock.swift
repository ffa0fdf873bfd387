/// Converts kernel monotonic timestamps to wall-clock time.
public struct WallClock: Sendable {
    /// Wall clock minus monotonic clock, in nanoseconds.
    public let offset: Int64

    public init(offset: Int64) { self.offset = offset }

    public func wall(_ ktime: UInt64) -> UInt64 { UInt64(Int64(ktime) + offset) }
}
