import Monitor
import Testing

/// The detail levels: --summary-only, --only and --changes, alone and together.
@Suite struct EventFilterTests {
    private static func process(_ action: ProcessAction) -> Record {
        .process(
            ProcessRecord(
                time: testClock.wall(1), command: 1, pid: 10, tid: 10, ppid: 1, comm: utf8("sh"), action: action))
    }

    private static func activity(
        _ category: ActivityRecord.Category, _ action: ActivityAction, flags: String? = nil, error: String? = nil,
        path: String = "/dev/shm/f", daemon: Bool = false
    ) -> Record {
        var record = ActivityRecord(
            time: testClock.wall(2), command: 1, pid: 10, tid: 10, ppid: 1, comm: utf8("sh"), category: category,
            action: action)
        record.path = utf8(path)
        record.flags = flags
        record.error = error
        if daemon { record.daemon = DaemonScope(pid: 99, comm: utf8("dockerd"), via: [10, 99]) }
        return .activity(record)
    }

    private static let summary = Record.summary(
        CommandSummary(
            command: 1, pid: 10, argv: [utf8("sh")], termination: .exited(0), start: testClock.wall(0),
            end: testClock.wall(3), processes: [], threads: 0, lostEvents: 0))
    private static let lost = Record.lost(LostRecord(time: testClock.wall(2), counts: ["exec": 1], total: 1))
    private static let status = Record.status(StatusRecord(time: testClock.wall(0), message: "ready"))

    /// One of each: process events, file, network and signal activity, and the non-event records.
    private static let mixed: [Record] = [
        status, process(.exec), activity(.file, .open, flags: "O_RDONLY"), activity(.file, .create),
        activity(.file, .read), activity(.network, .connect), activity(.network, .send), activity(.process, .signal),
        lost, process(.exit), summary,
    ]

    private func passed(_ filter: EventFilter, _ records: [Record] = mixed) -> [String] {
        records.filter(filter.passes).map(\.tag)
    }

    @Test func defaultPassesEverythingUnwrapped() {
        #expect(EventFilter().isEverything)
        #expect(passed(EventFilter()) == Self.mixed.map(\.tag))
        #expect(makeSink(.text, stream: MemoryStream()) is TextSink)
        #expect(makeSink(.json, stream: MemoryStream(), filter: EventFilter(changesOnly: true)) is FilteringSink)
    }

    @Test func summaryOnlyKeepsSummariesLostAndStatus() {
        #expect(passed(EventFilter(summaryOnly: true)) == ["status", "lost", "summary"])
    }

    @Test func onlyPicksClasses() {
        #expect(
            passed(EventFilter(classes: [.files])) == ["status", "open", "create", "read", "lost", "summary"])
        #expect(passed(EventFilter(classes: [.net])) == ["status", "connect", "send", "lost", "summary"])
        #expect(passed(EventFilter(classes: [.proc])) == ["status", "exec", "signal", "lost", "exit", "summary"])
        #expect(
            passed(EventFilter(classes: [.files, .net]))
                == ["status", "open", "create", "read", "connect", "send", "lost", "summary"])
    }

    private func unknown(_ list: String) -> String? {
        if case .failure(let error) = EventFilter.Class.parse(list) { error.name } else { nil }
    }

    @Test func classNamesAndAliases() throws {
        #expect(try EventFilter.Class.parse("files,net,proc").get() == [.files, .net, .proc])
        #expect(try EventFilter.Class.parse("file,network,process").get() == [.files, .net, .proc])
        #expect(try EventFilter.Class.parse(" files , NET").get() == [.files, .net])
        #expect(unknown("files,disk") == "disk")
        #expect(unknown("files,") == "")
        #expect(unknown("files,net") == nil)
    }

    @Test func changesKeepStateChangesOnly() {
        let changes: [Record] = [
            Self.activity(.file, .create), Self.activity(.file, .write), Self.activity(.file, .truncate),
            Self.activity(.file, .open, flags: "O_WRONLY|O_TRUNC"),
            Self.activity(.file, .open, flags: "O_RDWR|O_CREAT|O_TRUNC"),
            Self.activity(.file, .unlink), Self.activity(.file, .rmdir), Self.activity(.file, .rename),
            Self.activity(.file, .link), Self.activity(.file, .symlink), Self.activity(.file, .mknod),
            Self.activity(.file, .mkdir), Self.activity(.file, .chmod), Self.activity(.file, .chown),
            Self.activity(.file, .utime), Self.activity(.file, .xattr), Self.activity(.file, .mount),
            Self.activity(.network, .connect), Self.activity(.network, .bind), Self.activity(.network, .listen),
            Self.activity(.network, .accept), Self.activity(.network, .peer), Self.activity(.process, .signal),
            Self.activity(.file, .write, daemon: true),
            Self.process(.fork), Self.process(.thread), Self.process(.exec), Self.process(.exit),
            Self.process(.threadExit),
        ]
        let others: [Record] = [
            Self.activity(.file, .open, flags: "O_RDONLY"), Self.activity(.file, .open, flags: "O_WRONLY|O_APPEND"),
            Self.activity(.file, .open, flags: "O_RDONLY|O_TRUNC"), Self.activity(.file, .open, flags: "read"),
            Self.activity(.file, .read), Self.activity(.network, .send), Self.activity(.network, .recv),
            Self.activity(.network, .socket), Self.activity(.network, .close),
            Self.activity(.file, .unlink, error: "ENOENT"), Self.activity(.file, .create, error: "EACCES"),
            Self.activity(.network, .connect, error: "ECONNREFUSED"),
            Self.activity(.file, .open, flags: "O_WRONLY|O_CREAT|O_TRUNC", path: "/dev/null"),
            Self.activity(.file, .write, path: "/dev/null"),
        ]
        let filter = EventFilter(changesOnly: true)
        for record in changes { #expect(filter.passes(record), "\(record)") }
        for record in others { #expect(!filter.passes(record), "\(record)") }
        #expect(filter.passes(Self.summary) && filter.passes(Self.lost) && filter.passes(Self.status))
    }

    @Test func onlyAndChangesCombine() {
        let filter = EventFilter(classes: [.files], changesOnly: true)
        #expect(passed(filter) == ["status", "create", "lost", "summary"])
        #expect(
            passed(EventFilter(classes: [.net, .proc], changesOnly: true))
                == ["status", "exec", "connect", "signal", "lost", "exit", "summary"])
    }

    @Test func filteringSinkWritesOnlyWhatPasses() {
        let stream = MemoryStream()
        let sink = makeSink(.text, stream: stream, utc: true, filter: EventFilter(summaryOnly: true))
        for record in Self.mixed { sink.emit(record) }
        sink.flush()
        let lines = Array(stream.text.split(separator: "\n").dropFirst())  // after the header
        #expect(lines.count == 3, "\(stream.text)")
        #expect(zip(lines, [" status ", " lost ", " summary "]).allSatisfy { $0.contains($1) }, "\(stream.text)")
        #expect(!sink.includesStatus)
        #expect(makeSink(.json, stream: MemoryStream(), filter: EventFilter(summaryOnly: true)).includesStatus)
    }
}
