/// Puts events back in kernel-timestamp order. The ring buffer delivers in
/// reservation order, which can trail the timestamp order by a little across
/// CPUs, and a record still being written holds back the ones after it until
/// the next poll. So events are held for `window` nanoseconds behind the
/// newest one seen, then released sorted.
public struct Reorderer: Sendable {
    public let window: UInt64
    private var pending: [Event] = []
    private var newest: UInt64 = 0

    public init(window: UInt64 = 5_000_000) { self.window = window }

    public var count: Int { pending.count }

    public mutating func add(_ event: Event) {
        pending.append(event)
        newest = max(newest, event.ktime)
    }

    /// Events older than the window, in timestamp order.
    public mutating func release() -> [Event] {
        guard newest > window else { return [] }
        let horizon = newest - window
        return take { $0.ktime <= horizon }
    }

    /// Everything held, in timestamp order: for a quiet poll or the end.
    public mutating func flush() -> [Event] { take { _ in true } }

    private mutating func take(_ ready: (Event) -> Bool) -> [Event] {
        // Stable: equal timestamps keep arrival order.
        let sorted = pending.enumerated().sorted { a, b in
            a.element.ktime != b.element.ktime ? a.element.ktime < b.element.ktime : a.offset < b.offset
        }.map(\.element)
        let cut = sorted.firstIndex { !ready($0) } ?? sorted.count
        pending = Array(sorted[cut...])
        return Array(sorted[..<cut])
    }
}
