/// Prints records. Sinks write to an injected `ByteStream`, so tests capture
/// exactly what a terminal or a pipe would get.
public protocol Sink: AnyObject {
    func emit(_ record: Record)
    /// Called once per poll batch.
    func flush()
    /// The output can no longer be written (the reader of a pipe went away).
    var failed: Bool { get }
    /// Status records (`ready`, `end`) belong in this output too. The text
    /// trace leaves them out: the session prints them on stderr already.
    var takesStatus: Bool { get }
}

extension Sink {
    public var takesStatus: Bool { false }
}

public enum OutputFormat: String, CaseIterable, Sendable {
    case text, json
}

public func makeSink(_ format: OutputFormat, stream: ByteStream, utc: Bool = false) -> Sink {
    switch format {
    case .text: return TextSink(stream: stream, utc: utc)
    case .json: return JSONSink(stream: stream)
    }
}
