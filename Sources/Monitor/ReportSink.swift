import Glibc

/// Collects what the HTML report shows while the trace streams, and writes
/// the page once, at the end (`finish`). It sits beside the trace's own sink
/// (see `TeeSink`), in front of the detail levels, so it gets every record
/// the trace could print. Memory stays bounded on long traces apart from
/// the summaries: per command it keeps the summary and at most `timelineCap`
/// timeline marks and process spans, and at most `totalCap` marks over all
/// commands; the page says when it dropped any.
public final class ReportSink: Sink {
    public static let defaultTimelineCap = 5_000
    public static let defaultTotalCap = 200_000

    private let stream: ByteStream
    private let timelineCap: Int
    private let totalCap: Int
    private var commands: [Int: ReportCommand] = [:]
    private var kept = 0
    private var lost = LostRecord(time: 0, counts: [:], total: 0)
    private var statuses: [String: StatusRecord] = [:]
    private var finished = false

    public init(stream: ByteStream, timelineCap: Int = defaultTimelineCap, totalCap: Int = defaultTotalCap) {
        self.stream = stream
        self.timelineCap = timelineCap
        self.totalCap = totalCap
    }

    public func emit(_ record: Record) {
        switch record {
        case .process(let process):
            if commands[process.command, default: ReportCommand(number: process.command)].add(
                process, cap: timelineCap, room: kept < totalCap)
            {
                kept += 1
            }
        case .activity(let activity):
            if commands[activity.command, default: ReportCommand(number: activity.command)].add(
                activity, cap: timelineCap, room: kept < totalCap)
            {
                kept += 1
            }
        case .summary(let summary):
            commands[summary.command, default: ReportCommand(number: summary.command)].summary = summary
        case .lost(let record):
            lost.time = record.time
            lost.total += record.total
            lost.counts.merge(record.counts, uniquingKeysWith: +)
        case .status(let status):
            statuses[status.message] = status
        }
    }

    /// Nothing is written before the end: a half-written page would be worse than none.
    public func flush() {}

    /// False until `finish`: a report that cannot be written must not stop the trace.
    public var failed: Bool { finished && stream.failed }

    /// The `ready` and `end` lines name the probes used and the totals.
    public var includesStatus: Bool { true }

    /// Writes the page. `now` (ns since the epoch) is when it was made.
    /// Returns false when the file could not be written.
    @discardableResult
    public func finish(now: UInt64 = ReportSink.wallNow()) -> Bool {
        guard !finished else { return !stream.failed }
        finished = true
        let page = HTMLReport(
            commands: commands.keys.sorted().compactMap { commands[$0] }, lost: lost, statuses: statuses,
            generated: now, timelineCap: timelineCap)
        stream.write(page.html())
        stream.flush()
        return !stream.failed
    }

    public static func wallNow() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
