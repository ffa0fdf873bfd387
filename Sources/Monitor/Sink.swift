/// Prints records. Sinks write to an injected `ByteStream`, so tests capture
/// exactly what a terminal or a pipe would get.
public protocol Sink: AnyObject {
    func emit(_ record: Record)
    /// Called once per poll batch.
    func flush()
    /// The output can no longer be written (the reader of a pipe went away).
    var failed: Bool { get }
    /// Status records belong in this output too (JSON Lines); otherwise they
    /// go to stderr alone.
    var includesStatus: Bool { get }
}

extension Sink {
    public var includesStatus: Bool { false }
}

public enum OutputFormat: String, CaseIterable, Sendable {
    case text, json
}

/// The sink for a format. `filter` picks the event lines; `listLoaded` lists
/// every file the loader read in the text summary instead of counting them
/// (JSON always lists them).
public func makeSink(
    _ format: OutputFormat, stream: ByteStream, utc: Bool = false, filter: EventFilter = EventFilter(),
    listLoaded: Bool = false
) -> Sink {
    let sink: Sink
    switch format {
    case .text: sink = TextSink(stream: stream, utc: utc, listLoaded: listLoaded)
    case .json: sink = JSONSink(stream: stream)
    }
    return filter.isEverything ? sink : FilteringSink(sink, filter: filter)
}
