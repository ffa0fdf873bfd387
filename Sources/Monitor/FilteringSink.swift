/// Passes on to another sink only the records an `EventFilter` lets through,
/// so either output format gets the same detail levels.
public final class FilteringSink: Sink {
    private let sink: Sink
    private let filter: EventFilter

    public init(_ sink: Sink, filter: EventFilter) {
        self.sink = sink
        self.filter = filter
    }

    public func emit(_ record: Record) {
        if filter.passes(record) { sink.emit(record) }
    }

    public func flush() { sink.flush() }
    public var failed: Bool { sink.failed }
    public var includesStatus: Bool { sink.includesStatus }
}
