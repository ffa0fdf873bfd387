/// The self-contained HTML page of `--report`: the collected data as JSON in
/// a `<script type="application/json">` element, drawn by the page's own
/// script (`ReportTemplate`). Names are escaped twice over: first as the text
/// trace escapes them (control characters, bidi overrides and invalid UTF-8
/// become visible `\n`, `\u{202e}`, `\xff`), then `<`, `>` and `&` become
/// `\u003c`, `\u003e` and `\u0026`, so no name can close the element or
/// start markup. The script only ever puts data into the page as text.
struct HTMLReport {
    let commands: [ReportCommand]
    let lost: LostRecord
    let statuses: [String: StatusRecord]
    /// When the page was made, ns since the epoch.
    let generated: UInt64
    let timelineCap: Int

    func html() -> String {
        let first = commands.first { $0.summary != nil }?.summary
        let title = "ebpf-monitor report" + (first.map { ": " + Escaping.arguments($0.argv) } ?? "")
        return ReportTemplate.head + Self.htmlEscaped(title) + ReportTemplate.body + Self.scriptSafe(data())
            + ReportTemplate.tail
    }

    /// The page's data, one JSON object.
    func data() -> String {
        var object = JSONObject()
        object.add("generated", TimeFormat.rfc3339(generated))
        object.add("timeline_cap", timelineCap)
        var lostObject = JSONObject()
        lostObject.add("total", Int(clamping: lost.total))
        var places = JSONObject()
        for (place, count) in lost.counts.sorted(by: { $0.key < $1.key }) where count > 0 {
            places.add(place, Int(clamping: count))
        }
        lostObject.addRaw("where", places.text)
        object.addRaw("lost", lostObject.text)
        var statusObject = JSONObject()
        for (message, status) in statuses.sorted(by: { $0.key < $1.key }) {
            var fields = JSONObject()
            for (key, value) in status.fields.sorted(by: { $0.key < $1.key }) { fields.add(key, value) }
            statusObject.addRaw(message, fields.text)
        }
        object.addRaw("status", statusObject.text)
        object.addRaw("commands", Self.array(commands.map(Self.command)))
        return object.text
    }

    private static func command(_ command: ReportCommand) -> String {
        var object = JSONObject()
        object.add("command", command.number)
        if let summary = command.summary { addSummary(&object, summary, lifetimes: command.lifetimes) }
        var timeline = JSONObject()
        timeline.addRaw("items", array(command.items.map(item)))
        timeline.add("dropped", command.dropped)
        timeline.add("dropped_processes", command.droppedLifetimes)
        object.addRaw("timeline", timeline.text)
        return object.text
    }

    private static func addSummary(
        _ object: inout JSONObject, _ summary: CommandSummary, lifetimes: [Int32: ReportCommand.Lifetime]
    ) {
        object.add("argv", Escaping.arguments(summary.argv))
        object.add("pid", Int(summary.pid))
        object.add("status", termination(summary.termination, ended: summary.leader?.ended ?? true))
        object.add("start", micro(summary.start))
        object.add("end", micro(summary.end))
        object.add("start_text", TimeFormat.rfc3339(summary.start))
        object.add("threads", summary.threads)
        object.add("lost_events", Int(clamping: summary.lostEvents))
        object.add("unattributed", Int(clamping: summary.unattributed))
        object.addRaw(
            "processes",
            array(
                summary.processes.map { process in
                    var entry = JSONObject()
                    entry.add("pid", Int(process.pid))
                    entry.add("ppid", Int(process.ppid))
                    entry.add("comm", Escaping.text(process.comm))
                    entry.add("argv", Escaping.arguments(process.argv))
                    entry.add("status", termination(process.termination, ended: process.ended))
                    entry.add("scope", process.daemon == nil ? "command" : "daemon")
                    if let daemon = process.daemon { addDaemon(&entry, daemon) }
                    if let start = lifetimes[process.pid]?.start { entry.add("start", micro(start)) }
                    if let end = lifetimes[process.pid]?.end { entry.add("end", micro(end)) }
                    return entry.text
                }))
        object.addRaw(
            "daemons",
            array(
                summary.daemons.map { daemon in
                    var entry = JSONObject()
                    entry.add("pid", Int(daemon.pid))
                    entry.add("comm", Escaping.text(daemon.comm))
                    entry.add("address", Escaping.text(Array(daemon.address.utf8)))
                    entry.addRaw("chain", "[" + daemon.via.map(String.init).joined(separator: ",") + "]")
                    return entry.text
                }))
        object.addRaw("files", files(summary.files))
        object.addRaw(
            "network",
            array(
                summary.network.map { endpoint in
                    var entry = JSONObject()
                    entry.add("family", endpoint.family)
                    entry.add("type", endpoint.type)
                    entry.add("local", Escaping.text(Array((endpoint.local ?? "").utf8)))
                    entry.add("remote", Escaping.text(Array((endpoint.remote ?? "").utf8)))
                    if let peer = endpoint.peer {
                        entry.add("peer", "\(Escaping.text(peer.comm)) (\(peer.pid))")
                    }
                    entry.add("sent", Int(clamping: endpoint.bytesSent))
                    entry.add("received", Int(clamping: endpoint.bytesReceived))
                    return entry.text
                }))
    }

    /// Every bucket as `[bucket, path]` rows, in the summary's order; renames as `from -> to`.
    private static func files(_ files: FileSummary) -> String {
        var rows: [String] = []
        func add(_ bucket: String, _ paths: [[UInt8]]) {
            for path in paths { rows.append(strings([Array(bucket.utf8), path])) }
        }
        add("created", files.created)
        add("modified", files.modified)
        add("deleted", files.deleted)
        for rename in files.renamed {
            rows.append(
                "[" + JSONObject.quote("renamed") + ","
                    + JSONObject.quote(Escaping.text(rename.from) + " -> " + Escaping.text(rename.to)) + "]")
        }
        add("read", files.read)
        add("loaded", files.loaded)
        add("metadata", files.metadata)
        add("temporary", files.temporary)
        add("ambiguous", files.ambiguous)
        add("dir created", files.directoriesCreated)
        add("dir deleted", files.directoriesDeleted)
        add("dir temporary", files.directoriesTemporary)
        var object = JSONObject()
        object.addRaw("rows", array(rows))
        object.addRaw("uncertain", strings(files.uncertain))
        return object.text
    }

    private static func item(_ item: ReportCommand.Item) -> String {
        var entry = JSONObject()
        entry.add("t", micro(item.time))
        entry.add("pid", Int(item.pid))
        entry.add("comm", item.comm)
        entry.add("action", item.action)
        entry.add("label", item.label)
        if let daemon = item.daemon {
            addDaemon(&entry, daemon)
            if daemon.ambiguous { entry.add("ambiguous", true) }
        }
        return entry.text
    }

    private static func addDaemon(_ entry: inout JSONObject, _ daemon: DaemonScope) {
        entry.add("daemon", "\(Escaping.text(daemon.comm)) (\(daemon.pid))")
        entry.add("daemon_pid", Int(daemon.pid))
        entry.addRaw("via", "[" + daemon.via.map(String.init).joined(separator: ",") + "]")
    }

    private static func termination(_ termination: Termination?, ended: Bool) -> String {
        if let termination { return ReportCommand.status(termination) }
        return ended ? "status unknown (exit event lost)" : "running"
    }

    /// Microseconds since the epoch: exact in a JavaScript number, unlike nanoseconds.
    private static func micro(_ nanoseconds: UInt64) -> Int { Int(nanoseconds / 1000) }

    private static func array(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }

    private static func strings(_ items: [[UInt8]]) -> String {
        array(items.map { JSONObject.quote(Escaping.text($0)) })
    }

    /// JSON that may sit inside a `<script>` element: `<`, `>` and `&` (only
    /// ever inside strings) as `\u` escapes, which JSON.parse reads back unchanged.
    static func scriptSafe(_ json: String) -> String {
        var out = ""
        out.reserveCapacity(json.utf8.count)
        for scalar in json.unicodeScalars {
            switch scalar {
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Text for HTML element content or a quoted attribute.
    static func htmlEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
