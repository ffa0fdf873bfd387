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
        help: "When the trace ends, also write a self-contained HTML report to this file.")
    var path: String?

    /// The report's sink, or nil without `--report`. Exits with the `--output`
    /// status (73) when the file cannot be created.
    func open() throws -> ReportSink? {
        guard let path else { return nil }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.failure(path, errno) }
        return ReportSink(stream: FileStream(fd: fd, ownsDescriptor: true))
    }

    /// The trace's sink with the report's beside it.
    static func sink(_ trace: Sink, report: ReportSink?) -> Sink {
        report.map { TeeSink([trace, $0]) } ?? trace
    }

    /// Writes the report; a failed write is an error with the `--output` status.
    func finish(_ report: ReportSink?) throws {
        guard let report, let path, !report.finish() else { return }
        throw Self.failure(path, EIO)
    }

    private static func failure(_ path: String, _ code: Int32) -> ExitCode {
        let error = SessionError.output(path, code)
        FileHandle.standardError.write(Data("ebpf-monitor: error: \(error.description)\n".utf8))
        return ExitCode(error.exitCode)
    }
}
