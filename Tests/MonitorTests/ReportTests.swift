import Foundation
import Monitor
import Testing

/// The HTML report (`--report`): built from synthetic records, its embedded
/// data holds the command's objects; names cannot inject markup; the timeline
/// is capped; the tee hands status records only to sinks that take them.
@Suite struct ReportTests {
    static let s: UInt64 = 1_000_000_000
    static let ms: UInt64 = 1_000_000
    static let start = testClock.wall(2 * s)
    static let hostile: [UInt8] = utf8("/tmp/<script>alert(1)</script>\"quotes\"\nnext&amp;") + [0xff]

    /// `docker run` as the tracker reports it: the client, dockerd and
    /// containerd as daemons, the shim, runc and the container's sh as daemon work.
    static func dockerRun(files: FileSummary = FileSummary()) -> [Record] {
        let dockerd = DaemonScope(pid: 500, comm: utf8("dockerd"), via: [100, 500])
        let containerd = DaemonScope(pid: 600, comm: utf8("containerd"), via: [100, 500, 600])
        var fork = ProcessRecord(
            time: start, command: 1, pid: 90, tid: 90, ppid: 1, comm: utf8("bash"), action: .fork)
        fork.child = 100
        var exec = ProcessRecord(
            time: start + 1 * ms, command: 1, pid: 100, tid: 100, ppid: 90, comm: utf8("docker"), action: .exec)
        exec.path = utf8("/usr/bin/docker")
        exec.argv = ["docker", "run", "--rm", "img"].map(utf8)
        var mkdir = ActivityRecord(
            time: start + 5 * ms, command: 1, pid: 500, tid: 501, ppid: 1, comm: utf8("dockerd"), category: .file,
            action: .mkdir)
        mkdir.path = utf8("/var/lib/docker/containers/abc")
        mkdir.daemon = dockerd
        var shimFork = ProcessRecord(
            time: start + 8 * ms, command: 1, pid: 600, tid: 600, ppid: 1, comm: utf8("containerd"), action: .fork)
        shimFork.child = 700
        shimFork.daemon = containerd
        var exit = ProcessRecord(
            time: start + 40 * ms, command: 1, pid: 100, tid: 100, ppid: 90, comm: utf8("docker"), action: .exit)
        exit.termination = .exited(0)

        var summary = CommandSummary(
            command: 1, pid: 100, argv: ["docker", "run", "--rm", "img"].map(utf8), termination: .exited(0),
            start: start, end: start + 40 * ms,
            processes: [
                .init(pid: 100, ppid: 90, comm: utf8("docker"), argv: exec.argv!, termination: .exited(0)),
                daemonWork(700, ppid: 1, "containerd-shim", by: containerd),
                daemonWork(710, ppid: 700, "runc", by: containerd),
                daemonWork(720, ppid: 700, "sh", by: containerd),
            ], threads: 3, lostEvents: 0)
        summary.daemons = [
            DaemonEntry(pid: 500, comm: utf8("dockerd"), address: "unix:/var/run/docker.sock", via: [100, 500]),
            DaemonEntry(
                pid: 600, comm: utf8("containerd"), address: "unix:/run/containerd/containerd.sock",
                via: [100, 500, 600]),
        ]
        summary.network = [
            NetworkEndpoint(
                family: "unix", type: "stream", local: nil, remote: "/var/run/docker.sock",
                peer: SocketPeer(pid: 500, comm: utf8("dockerd")), bytesSent: 300, bytesReceived: 650)
        ]
        summary.files = files
        return [
            .status(StatusRecord(time: start, message: "ready", fields: ["fork_probe": "tracepoint"])),
            .process(fork), .process(exec), .activity(mkdir), .process(shimFork), .process(exit), .summary(summary),
        ]
    }

    static func daemonWork(_ pid: Int32, ppid: Int32, _ comm: String, by daemon: DaemonScope) -> CommandSummary.Process
    {
        var process = CommandSummary.Process(
            pid: pid, ppid: ppid, comm: utf8(comm), argv: [utf8(comm)], termination: .exited(0))
        process.daemon = daemon
        return process
    }

    static func buckets() -> FileSummary {
        var files = FileSummary()
        files.created = [utf8("/shm/new.txt")]
        files.modified = [utf8("/shm/pre.txt")]
        files.deleted = [utf8("/shm/gone.txt")]
        files.renamed = [FileSummary.Rename(from: utf8("/shm/old"), to: utf8("/shm/moved"))]
        files.read = [utf8("/etc/hosts")]
        files.loaded = [utf8("/usr/lib/libc.so.6")]
        files.temporary = [utf8("/shm/tmp.lock")]
        files.directoriesCreated = [utf8("/shm/d")]
        return files
    }

    /// Runs records through a report sink and returns the page.
    static func page(_ records: [Record], cap: Int = ReportSink.defaultTimelineCap, total: Int = 1_000) -> String {
        let stream = MemoryStream()
        let sink = ReportSink(stream: stream, timelineCap: cap, totalCap: total)
        for record in records { sink.emit(record) }
        #expect(stream.text.isEmpty, "nothing is written before the end")
        #expect(sink.finish(now: start + 1 * s))
        return stream.text
    }

    /// The JSON data island of a page, parsed.
    static func data(_ html: String) throws -> [String: Any] {
        let open = "<script type=\"application/json\" id=\"report-data\">"
        let begin = try #require(html.range(of: open)).upperBound
        let end = try #require(html.range(of: "</script>", range: begin..<html.endIndex)).lowerBound
        let object = try JSONSerialization.jsonObject(with: Data(html[begin..<end].utf8))
        return try #require(object as? [String: Any])
    }

    static func command(_ html: String) throws -> [String: Any] {
        let commands = try #require(try data(html)["commands"] as? [[String: Any]])
        return try #require(commands.first)
    }

    @Test func pageHoldsTheCommandsObjects() throws {
        let html = Self.page(Self.dockerRun(files: Self.buckets()))
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<title>ebpf-monitor report: docker run --rm img</title>"))
        let command = try Self.command(html)
        #expect(command["command"] as? Int == 1)
        #expect(command["status"] as? String == "exit_code=0")
        #expect(command["argv"] as? String == "docker run --rm img")
        let rows = try #require((command["files"] as? [String: Any])?["rows"] as? [[String]])
        for row in [
            ["created", "/shm/new.txt"], ["modified", "/shm/pre.txt"], ["deleted", "/shm/gone.txt"],
            ["renamed", "/shm/old -> /shm/moved"], ["read", "/etc/hosts"], ["loaded", "/usr/lib/libc.so.6"],
            ["temporary", "/shm/tmp.lock"], ["dir created", "/shm/d"],
        ] {
            #expect(rows.contains(row), "\(row) in \(rows)")
        }
        let daemons = try #require(command["daemons"] as? [[String: Any]])
        #expect(daemons.map { $0["comm"] as? String } == ["dockerd", "containerd"])
        #expect(daemons[1]["chain"] as? [Int] == [100, 500, 600])
        #expect(daemons[0]["address"] as? String == "unix:/var/run/docker.sock")
        let processes = try #require(command["processes"] as? [[String: Any]])
        #expect(processes.map { $0["scope"] as? String } == ["command", "daemon", "daemon", "daemon"])
        #expect(processes[1]["daemon"] as? String == "containerd (600)")
        // Lifetimes from the fork and exit records: the client from its fork to its exit, the shim from containerd's fork.
        #expect(processes[0]["start"] as? Int == Int(Self.start / 1000))
        #expect(processes[0]["end"] as? Int == Int((Self.start + 40 * Self.ms) / 1000))
        #expect(processes[1]["start"] as? Int == Int((Self.start + 8 * Self.ms) / 1000))
        let network = try #require(command["network"] as? [[String: Any]])
        #expect(network.first?["peer"] as? String == "dockerd (500)")
        let items = try #require((command["timeline"] as? [String: Any])?["items"] as? [[String: Any]])
        #expect(items.map { $0["action"] as? String } == ["fork", "exec", "mkdir", "fork", "exit"])
        #expect(items[2]["daemon"] as? String == "dockerd (500)" && items[2]["via"] as? [Int] == [100, 500])
        #expect(items[1]["daemon"] == nil)
        let status = try #require(try Self.data(html)["status"] as? [String: [String: String]])
        #expect(status["ready"]?["fork_probe"] == "tracepoint")
    }

    @Test func lostEventsAreInTheData() throws {
        var records = Self.dockerRun()
        records.insert(.lost(LostRecord(time: Self.start, counts: ["exec": 2, "fork": 1], total: 3)), at: 2)
        let data = try Self.data(Self.page(records))
        let lost = try #require(data["lost"] as? [String: Any])
        #expect(lost["total"] as? Int == 3)
        #expect(lost["where"] as? [String: Int] == ["exec": 2, "fork": 1])
    }

    /// A file named `<script>alert(1)</script>"quotes"` with a newline, `&` and
    /// an invalid byte: the page holds no markup from it, and the data reads
    /// back as the text trace shows the name.
    @Test func hostileNamesCannotInjectMarkup() throws {
        var files = FileSummary()
        files.created = [Self.hostile]
        var records = Self.dockerRun(files: files)
        var write = ActivityRecord(
            time: Self.start + 2 * Self.ms, command: 1, pid: 100, tid: 100, ppid: 90, comm: utf8("<b>x</b>"),
            category: .file, action: .write)
        write.path = Self.hostile
        records.insert(.activity(write), at: 3)
        var summary = try #require(records.last?.summary)
        summary.argv = [utf8("sh"), utf8("-c"), utf8("echo '</title><script>alert(2)</script>'")]
        records[records.count - 1] = .summary(summary)
        let html = Self.page(records)

        #expect(!html.contains("alert(1)</script>"))
        #expect(!html.contains("<script>alert"))
        #expect(!html.contains("<b>"))
        #expect(!html.contains("\"quotes\""), "quotes stay escaped inside the JSON strings")
        #expect(html.components(separatedBy: "<script").count == 3, "the data island and the page's script only")
        #expect(html.components(separatedBy: "</script>").count == 3)
        #expect(html.contains("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"))
        #expect(html.contains("&lt;/title&gt;&lt;script&gt;alert(2)&lt;/script&gt;"), "the title is HTML-escaped")

        let expected = "/tmp/<script>alert(1)</script>\"quotes\"\\nnext&amp;\\xff"
        #expect(Escaping.text(Self.hostile) == expected)
        let command = try Self.command(html)
        let rows = try #require((command["files"] as? [String: Any])?["rows"] as? [[String]])
        #expect(rows.contains(["created", expected]))
        let items = try #require((command["timeline"] as? [String: Any])?["items"] as? [[String: Any]])
        #expect(items.contains { $0["label"] as? String == expected })
        #expect(items.contains { $0["comm"] as? String == "<b>x</b>" })
    }

    @Test func timelineIsCappedPerCommand() throws {
        var records = Self.dockerRun()
        for index in 0..<25 {
            var read = ActivityRecord(
                time: Self.start + UInt64(10 + index) * Self.ms, command: 1, pid: 100, tid: 100, ppid: 90,
                comm: utf8("docker"), category: .file, action: .read)
            read.path = utf8("/etc/file\(index)")
            records.insert(.activity(read), at: 3)
        }
        let html = Self.page(records, cap: 10)
        let timeline = try #require(try Self.command(html)["timeline"] as? [String: Any])
        #expect((timeline["items"] as? [Any])?.count == 10)
        #expect(timeline["dropped"] as? Int == 30 - 10)
        #expect(try Self.data(html)["timeline_cap"] as? Int == 10)
        #expect(html.contains("timeline-capped"), "the page says so")
    }

    @Test func timelineIsCappedOverAllCommands() throws {
        var records: [Record] = []
        for command in 1...3 {
            for index in 0..<4 {
                var open = ActivityRecord(
                    time: Self.start + UInt64(index) * Self.ms, command: command, pid: 100, tid: 100, ppid: 90,
                    comm: utf8("cat"), category: .file, action: .open)
                open.path = utf8("/etc/f\(index)")
                records.append(.activity(open))
            }
        }
        let data = try Self.data(Self.page(records, cap: 10, total: 6))
        let commands = try #require(data["commands"] as? [[String: Any]])
        let kept = commands.map { (($0["timeline"] as? [String: Any])?["items"] as? [Any])?.count ?? -1 }
        #expect(kept == [4, 2, 0])
        #expect(commands.allSatisfy { $0["pid"] == nil }, "no summary came: the page says so")
    }

    @Test func teeHandsStatusOnlyToSinksThatTakeIt() {
        let text = MemoryStream()
        let json = MemoryStream()
        let tee = TeeSink([TextSink(stream: text, utc: true), JSONSink(stream: json)])
        #expect(tee.includesStatus)
        #expect(!TeeSink([TextSink(stream: text)]).includesStatus)
        tee.emit(.status(StatusRecord(time: Self.start, message: "ready")))
        tee.emit(Self.dockerRun()[1])
        tee.flush()
        #expect(!text.text.contains("ready"))
        #expect(text.text.contains("fork"))
        #expect(json.text.contains("\"message\":\"ready\""))
        #expect(!tee.failed)
    }
}
