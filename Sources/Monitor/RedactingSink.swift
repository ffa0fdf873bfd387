/// Passes records on with the secrets in their command lines and paths masked
/// (`Redactor`), so every output behind it (text, JSON, the report) shows the
/// same masked values.
public final class RedactingSink: Sink {
    private let sink: Sink
    private let redactor = Redactor()

    public init(_ sink: Sink) { self.sink = sink }

    /// A file or network event whose names hold nothing to mask (most of them)
    /// goes on as it is, without a copy of the event.
    public func emit(_ record: Record) {
        if case .activity(let event) = record, redactor.leaves(event.path), redactor.leaves(event.from),
            redactor.leaves(event.to)
        {
            sink.emit(record)
            return
        }
        sink.emit(redacted(record))
    }
    public func flush() { sink.flush() }
    public var failed: Bool { sink.failed }
    public var includesStatus: Bool { sink.includesStatus }

    func redacted(_ record: Record) -> Record {
        switch record {
        case .process(var event):
            event.argv = event.argv.map(redactor.argv)
            event.path = event.path.map(redactor.text)
            return .process(event)
        case .activity(var event):
            event.path = event.path.map(redactor.text)
            event.from = event.from.map(redactor.text)
            event.to = event.to.map(redactor.text)
            return .activity(event)
        case .summary(var summary):
            summary.argv = redactor.argv(summary.argv)
            for index in summary.processes.indices {
                summary.processes[index].argv = redactor.argv(summary.processes[index].argv)
            }
            summary.files = redacted(summary.files)
            return .summary(summary)
        case .lost, .status:
            return record
        }
    }

    private func redacted(_ files: FileSummary) -> FileSummary {
        var files = files
        for path in [
            \FileSummary.created, \.modified, \.deleted, \.read, \.loaded, \.metadata, \.ambiguous, \.temporary,
            \.directoriesCreated, \.directoriesDeleted, \.directoriesTemporary, \.uncertain,
        ] {
            files[keyPath: path] = files[keyPath: path].map(redactor.text)
        }
        files.renamed = files.renamed.map { .init(from: redactor.text($0.from), to: redactor.text($0.to)) }
        return files
    }
}
