import ArgumentParser
import Foundation
import Monitor
import Session

/// `--report FILE`: an HTML page of what each command did, written when the
/// trace ends, beside the trace itself. The file is opened at start, so a
/// path that cannot be written fails before anything is traced.
struct ReportOption: ParsableArguments {
    @Option(
        name: .customLong("report"),
        help: "When the trace ends, also write a self-contained HTML report to this file.",
        completion: .file(extensions: ["html"]))
    var path: String?

    /// The report's sink, or nil without `--report`. Exits with the `--output`
    /// status (73) when the file cannot be created, or is refused as `--output` is (OutputFile).
    func open() throws -> ReportSink? {
        guard let path else { return nil }
        do {
            return ReportSink(stream: FileStream(fd: try OutputFile.open(path), ownsDescriptor: true))
        } catch {
            throw Self.failure(error)
        }
    }

    /// The trace's sink with the report's beside it.
    static func sink(_ trace: Sink, report: ReportSink?) -> Sink {
        report.map { TeeSink([trace, $0]) } ?? trace
    }

    /// Writes the report; a failed write is an error with the `--output` status.
    func finish(_ report: ReportSink?) throws {
        guard let report, let path, !report.finish() else { return }
        throw Self.failure(.output(path, EIO))
    }

    private static func failure(_ error: SessionError) -> ExitCode {
        FileHandle.standardError.write(Data("ebpf-monitor: error: \(error.description)\n".utf8))
        return ExitCode(error.exitCode)
    }
}
