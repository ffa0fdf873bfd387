/// The human format: a header, then one line per record with fixed columns.
/// Every line carries time, command, comm, pid and tid, so `grep` for a
/// command or a pid yields whole, readable lines.
public final class TextSink: Sink {
    private let stream: ByteStream
    private let utc: Bool
    private let listLoaded: Bool

    /// `listLoaded`: a summary line for every file the loader read, instead of one line counting them.
    public init(stream: ByteStream, utc: Bool = false, listLoaded: Bool = false) {
        self.stream = stream
        self.utc = utc
        self.listLoaded = listLoaded
        stream.write(Self.line("TIME", "CMD", "COMM", "PID", "TID", "PPID", "EVENT", "DETAILS"))
    }

    public func flush() { stream.flush() }
    public var failed: Bool { stream.failed }

    public func emit(_ record: Record) {
        switch record {
        case .process(let event):
            stream.write(
                Self.line(
                    time(event.time), String(event.command), Escaping.text(event.comm),
                    String(event.pid), String(event.tid), String(event.ppid), event.action.rawValue,
                    details(event) + Self.describe(event.daemon)))
        case .activity(let activity):
            stream.write(
                Self.line(
                    time(activity.time), String(activity.command), Escaping.text(activity.comm),
                    String(activity.pid), String(activity.tid), String(activity.ppid), activity.action.rawValue,
                    details(activity) + Self.describe(activity.daemon)))
        case .lost(let lost):
            let places = lost.counts.sorted { $0.key < $1.key }.filter { $0.value > 0 }
                .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            stream.write(
                Self.line(
                    time(lost.time), "-", "-", "-", "-", "-", "lost",
                    "\(lost.total) events lost (\(places)): output is incomplete"))
        case .status(let status):
            let fields = status.fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            stream.write(
                Self.line(
                    time(status.time), "-", "-", "-", "-", "-", "status",
                    ([status.message] + fields).joined(separator: " ")))
        case .summary(let summary):
            writeSummary(summary)
        }
    }

    private func details(_ event: ProcessRecord) -> String {
        switch event.action {
        case .fork, .thread:
            let child = "child=\(event.child ?? 0)"
            return event.unfollowed ? child + " NOT FOLLOWED: watch map full" : child
        case .exec:
            var text = Escaping.text(event.path ?? [])
            if let argv = event.argv { text += " argv: " + Escaping.arguments(argv) }
            return event.truncated ? text + " (truncated)" : text
        case .exit:
            return event.termination.map(Self.describe) ?? "status unknown: exit event lost"
        case .threadExit:
            return ""
        }
    }

    /// " [daemon via 58812>1166]": work a daemon did for the command.
    static func describe(_ daemon: DaemonScope?) -> String {
        guard let daemon else { return "" }
        return " [daemon via " + daemon.via.map(String.init).joined(separator: ">")
            + (daemon.ambiguous ? ", AMBIGUOUS: also credited to another command]" : "]")
    }

    private func details(_ activity: ActivityRecord) -> String {
        if activity.action == .peer, let socket = activity.socket, let peer = socket.peer {
            // docker(58812) -> dockerd(1166) via unix:/var/run/docker.sock
            return "\(Escaping.text(activity.comm))(\(activity.pid)) -> \(Escaping.text(peer.comm))(\(peer.pid))"
                + " via " + Escaping.text(Array((socket.remote ?? "").utf8))
        }
        var parts: [String] = []
        if let from = activity.from, let to = activity.to {
            parts.append(Escaping.text(from) + " -> " + Escaping.text(to))
        } else if let path = activity.path {
            parts.append(Escaping.text(path) + (activity.to.map { " -> " + Escaping.text($0) } ?? ""))
        }
        if let socket = activity.socket { parts.append(Self.describe(socket)) }
        if let fd = activity.fd { parts.append("fd=\(fd)") }
        if let bytes = activity.bytes { parts.append("bytes=\(bytes)") }
        if let calls = activity.calls { parts.append("calls=\(calls)") }
        if let flags = activity.flags { parts.append("flags=\(flags)") }
        if let mode = activity.mode { parts.append("mode=0" + String(mode & 0o7777, radix: 8)) }
        if let target = activity.target { parts.append("target=\(target)") }
        if let signal = activity.signal { parts.append("signal=\(Signals.name(signal))") }
        if activity.loader { parts.append("(loader)") }
        if let error = activity.error { parts.append("error=\(error)") }
        if activity.truncated { parts.append("(truncated)") }
        return parts.joined(separator: " ")
    }

    static func describe(_ socket: SocketState) -> String {
        var parts = socket.family.isEmpty ? [] : [socket.family + "/" + socket.type]  // empty: a pipe
        if let local = socket.local, !local.isEmpty { parts.append("local=" + local) }
        if let remote = socket.remote, !remote.isEmpty { parts.append("remote=" + remote) }
        if let peer = socket.peer { parts.append("peer=\(Escaping.text(peer.comm))(\(peer.pid))") }
        return parts.joined(separator: " ")
    }

    private func writeSummary(_ summary: CommandSummary) {
        let time = time(summary.end)
        let prefix = Self.pad(time, 15) + " " + Self.pad(String(summary.command), 3, right: true) + " summary  "
        let seconds = Double(summary.end &- summary.start) / 1e9
        let head = summary.argv.isEmpty ? "pid \(summary.pid)" : Escaping.arguments(summary.argv)
        var lines = [
            "\(head): \(summary.leader.map(Self.describe) ?? "running") after "
                + formatSeconds(seconds) + "; \(summary.processes.count) processes, \(summary.threads) threads"
                + (summary.lostEvents > 0 ? ", \(summary.lostEvents) EVENTS LOST: incomplete" : ", no events lost")
        ]
        // The process tree, children under their parents, in fork order.
        let pids = Set(summary.processes.map(\.pid))
        var children: [Int32: [CommandSummary.Process]] = [:]
        var roots: [CommandSummary.Process] = []
        for process in summary.processes {
            if pids.contains(process.ppid) && process.ppid != process.pid {
                children[process.ppid, default: []].append(process)
            } else {
                roots.append(process)
            }
        }
        func walk(_ process: CommandSummary.Process, _ indent: String, _ last: Bool) {
            let argv = process.argv.isEmpty ? Escaping.text(process.comm) : Escaping.arguments(process.argv)
            let end = Self.describe(process)
            let daemon = process.daemon.map { " (daemon work, forked by \(Escaping.text($0.comm))(\($0.pid)))" } ?? ""
            lines.append(indent + (last ? "└─ " : "├─ ") + "\(process.pid) \(argv) [\(end)]" + daemon)
            let kids = children.removeValue(forKey: process.pid) ?? []
            for (index, kid) in kids.enumerated() {
                walk(kid, indent + (last ? "   " : "│  "), index == kids.count - 1)
            }
        }
        for (index, root) in roots.enumerated() { walk(root, "", index == roots.count - 1) }
        let files = summary.files
        for (bucket, paths) in [
            ("created", files.created), ("modified", files.modified), ("deleted", files.deleted),
            ("metadata", files.metadata), ("temporary", files.temporary), ("read", files.read),
            ("loaded", files.loaded), ("dir created", files.directoriesCreated),
            ("dir deleted", files.directoriesDeleted), ("dir temporary", files.directoriesTemporary),
            ("ambiguous", files.ambiguous),
        ] {
            if bucket == "loaded" && !listLoaded {
                if !paths.isEmpty { lines.append(Self.pad(bucket, 14) + LoadedFiles.count(paths) + " (-v lists them)") }
                continue
            }
            for path in paths {
                let guess = files.uncertain.contains(path) ? " (prior existence unknown)" : ""
                lines.append(Self.pad(bucket, 14) + Escaping.text(path) + guess)
            }
        }
        for rename in files.renamed {
            lines.append(Self.pad("renamed", 14) + Escaping.text(rename.from) + " -> " + Escaping.text(rename.to))
        }
        for endpoint in summary.network {
            let socket = SocketState(
                family: endpoint.family, type: endpoint.type, local: endpoint.local,
                remote: endpoint.remote, peer: endpoint.peer)
            lines.append(
                Self.pad("network", 14) + Self.describe(socket)
                    + " sent=\(endpoint.bytesSent) received=\(endpoint.bytesReceived)")
        }
        for daemon in summary.daemons {
            lines.append(
                Self.pad("daemon", 14) + "\(Escaping.text(daemon.comm))(\(daemon.pid)) via "
                    + Escaping.text(Array(daemon.address.utf8)) + " ("
                    + daemon.via.map(String.init).joined(separator: ">") + ")")
        }
        if summary.unattributed > 0 {
            lines.append(
                Self.pad("unattributed", 14)
                    + "\(summary.unattributed) daemon calls made meanwhile for no watched command")
        }
        for line in lines { stream.write(prefix + line + "\n") }
    }

    static func describe(_ process: CommandSummary.Process) -> String {
        guard process.ended else { return "running" }
        return process.termination.map(describe) ?? "status unknown: exit event lost"
    }

    static func describe(_ termination: Termination) -> String {
        switch termination {
        case .exited(let status): return "exit_code=\(status)"
        case .signaled(let signal, let core):
            return "signal=\(Signals.name(signal))" + (core ? " (core dumped)" : "")
        }
    }

    private func time(_ nanoseconds: UInt64) -> String { TimeFormat.timeOfDay(nanoseconds, utc: utc) }

    private func formatSeconds(_ seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded())
        return "\(milliseconds / 1000).\(pad3(milliseconds % 1000))s"
    }

    private func pad3(_ value: Int) -> String { Self.pad(String(value), 3, right: true, fill: "0") }

    private static func line(
        _ time: String, _ command: String, _ comm: String, _ pid: String, _ tid: String,
        _ ppid: String, _ event: String, _ details: String
    ) -> String {
        pad(time, 15) + " " + pad(command, 3, right: true) + " " + pad(comm, 16) + " " + pad(pid, 7) + " "
            + pad(tid, 7) + " " + pad(ppid, 7) + " " + pad(event, 11) + " " + details + "\n"
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false, fill: Character = " ") -> String {
        let padding = String(repeating: fill, count: max(0, width - text.count))
        return right ? padding + text : text + padding
    }
}
