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

    /// Events older than the window, in timestamp order; and when given,
    /// stamped before `delivered`, the time before which every record is in
    /// hand (per-CPU buffers read one after another).
    public mutating func release(delivered: UInt64? = nil) -> [Event] {
        guard newest > window else { return [] }
        let horizon = min(newest - window, delivered ?? .max)
        return take { $0.ktime <= horizon }
    }

    /// Everything held, in timestamp order: for a quiet poll or the end.
    public mutating func flush() -> [Event] { take { _ in true } }

    private mutating func take(_ ready: (Event) -> Bool) -> [Event] {
        // Mostly in order already. sort is stable: equal timestamps keep arrival order.
        if !pending.indices.dropFirst().allSatisfy({ pending[$0 - 1].ktime <= pending[$0].ktime }) {
            pending.sort { $0.ktime < $1.ktime }
        }
        let cut = pending.firstIndex { !ready($0) } ?? pending.count
        // The held-back tail (a few milliseconds' worth) is copied, not the
        // released head: that goes out in the array it is in.
        var released = Array(pending[cut...])
        swap(&released, &pending)
        released.removeSubrange(cut...)
        return released
    }
}
