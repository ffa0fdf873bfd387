/// Hands every record to several sinks, so that the trace and a report are
/// made from the same stream while the session knows of one sink only.
public final class TeeSink: Sink {
    private let sinks: [Sink]

    public init(_ sinks: [Sink]) { self.sinks = sinks }

    public func emit(_ record: Record) {
        for sink in sinks {
            if case .status = record, !sink.includesStatus { continue }
            sink.emit(record)
        }
    }

    public func flush() {
        for sink in sinks { sink.flush() }
    }

    /// Any output gone ends the trace, as it would with that sink alone.
    public var failed: Bool { sinks.contains { $0.failed } }

    public var includesStatus: Bool { sinks.contains { $0.includesStatus } }
}
