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

    /// Hands `body` the events older than the window, in timestamp order; and
    /// when given, stamped before `delivered`, the time before which every
    /// record is in hand (per-CPU buffers read one after another).
    public mutating func release(delivered: UInt64? = nil, _ body: (Event) -> Void) {
        guard newest > window else { return }
        let horizon = min(newest - window, delivered ?? .max)
        take({ $0.ktime <= horizon }, body)
    }

    /// Everything held, in timestamp order: for a quiet poll or the end.
    public mutating func flush(_ body: (Event) -> Void) { take({ _ in true }, body) }

    /// `release`, collected.
    public mutating func release(delivered: UInt64? = nil) -> [Event] {
        var events: [Event] = []
        release(delivered: delivered) { events.append($0) }
        return events
    }

    /// `flush`, collected.
    public mutating func flush() -> [Event] {
        var events: [Event] = []
        flush { events.append($0) }
        return events
    }

    /// The events are handed out where they lie, then dropped: not copied out first.
    private mutating func take(_ ready: (Event) -> Bool, _ body: (Event) -> Void) {
        // Mostly in order already. sort is stable: equal timestamps keep arrival order.
        if !pending.indices.dropFirst().allSatisfy({ pending[$0 - 1].ktime <= pending[$0].ktime }) {
            pending.sort { $0.ktime < $1.ktime }
        }
        let cut = pending.firstIndex { !ready($0) } ?? pending.count
        pending.withUnsafeBufferPointer { events in
            for event in events[..<cut] { body(event) }
        }
        pending.removeFirst(cut)
    }
}
