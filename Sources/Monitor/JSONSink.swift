/// JSON Lines per the output contract: one object per
/// line, keys in a fixed order, every string valid UTF-8.
public final class JSONSink: Sink {
    private let stream: ByteStream

    public init(stream: ByteStream) { self.stream = stream }

    public func flush() { stream.flush() }
    public var failed: Bool { stream.failed }
    public var includesStatus: Bool { true }

    public func emit(_ record: Record) {
        stream.append { buffer in JSONObject.appendLine(to: &buffer) { add(record, to: &$0) } }
    }

    private func add(_ record: Record, to object: inout JSONObject) {
        switch record {
        case .process(let event):
            addEvent(
                &object, time: event.time, command: event.command, pid: event.pid, tid: event.tid,
                ppid: event.ppid, comm: event.comm, category: "process", action: event.action.rawValue)
            if let child = event.child { object.add("child", Int(child)) }
            if let path = event.path { object.addBytes("path", path) }
            if let argv = event.argv { object.addBytesArray("argv", argv) }
            if let termination = event.termination { addTermination(&object, termination) }
            if event.unfollowed { object.add("followed", false) }
            if event.statusUnknown { object.add("status_unknown", true) }
            if event.truncated { object.add("truncated", true) }
            if let daemon = event.daemon { addDaemonScope(&object, daemon) }
        case .activity(let activity):
            addEvent(
                &object, time: activity.time, command: activity.command, pid: activity.pid, tid: activity.tid,
                ppid: activity.ppid, comm: activity.comm, category: activity.category.rawValue,
                action: activity.action.rawValue)
            if let path = activity.path { object.addBytes("path", path) }
            if let from = activity.from { object.addBytes("from", from) }
            if let to = activity.to { object.addBytes("to", to) }
            if let fd = activity.fd { object.add("fd", Int(fd)) }
            if let bytes = activity.bytes { object.add("bytes", Int(clamping: bytes)) }
            if let calls = activity.calls { object.add("calls", Int(calls)) }
            if let flags = activity.flags { object.add("flags", flags) }
            if let mode = activity.mode { object.add("mode", "0" + String(mode & 0o7777, radix: 8)) }
            if let target = activity.target { object.add("target", Int(target)) }
            if let signal = activity.signal {
                object.add("signal", Int(signal))
                object.add("signal_name", Signals.name(signal))
            }
            if let socket = activity.socket { addSocket(&object, socket) }
            if activity.loader { object.add("loader", true) }
            if let error = activity.error { object.add("error", error) }
            if activity.truncated { object.add("truncated", true) }
            if let daemon = activity.daemon { addDaemonScope(&object, daemon) }
        case .lost(let lost):
            object.add("type", "lost")
            object.add("time", TimeFormat.rfc3339(lost.time))
            object.add("command", 0)
            object.add("count", Int(lost.total))
            var places = JSONObject()
            for (place, count) in lost.counts.sorted(by: { $0.key < $1.key }) where count > 0 {
                places.add(place, Int(count))
            }
            object.addRaw("where", places.text)
        case .status(let status):
            object.add("type", "status")
            object.add("time", TimeFormat.rfc3339(status.time))
            object.add("command", 0)
            object.add("message", status.message)
            for (key, value) in status.fields.sorted(by: { $0.key < $1.key }) {
                if JSONObject.isNumber(value) { object.addRaw(key, value) } else { object.add(key, value) }
            }
        case .summary(let summary):
            object.add("type", "summary")
            object.add("time", TimeFormat.rfc3339(summary.end))
            object.add("command", summary.command)
            object.addBytesArray("argv", summary.argv)
            object.add("pid", Int(summary.pid))
            if let termination = summary.termination { addTermination(&object, termination) }
            if let leader = summary.leader, leader.ended, leader.termination == nil {
                object.add("status_unknown", true)
            }
            object.add("start", TimeFormat.rfc3339(summary.start))
            object.add("end", TimeFormat.rfc3339(summary.end))
            let processes = summary.processes.map { process in
                var entry = JSONObject()
                entry.add("pid", Int(process.pid))
                entry.add("ppid", Int(process.ppid))
                entry.addBytes("comm", process.comm)
                entry.addBytesArray("argv", process.argv)
                if let termination = process.termination { addTermination(&entry, termination) }
                if !process.ended { entry.add("running", true) }
                if process.ended && process.termination == nil { entry.add("status_unknown", true) }
                entry.add("scope", process.daemon == nil ? "command" : "daemon")
                if let daemon = process.daemon {
                    entry.addRaw("daemon", Self.peer(SocketPeer(pid: daemon.pid, comm: daemon.comm)))
                    entry.addRaw("via", Self.pids(daemon.via))
                }
                return entry.text
            }
            object.addRaw("processes", "[" + processes.joined(separator: ",") + "]")
            object.add("threads", summary.threads)
            let files = summary.files
            var fileBuckets = JSONObject()
            for (key, paths) in [("created", files.created), ("modified", files.modified), ("deleted", files.deleted)] {
                fileBuckets.addBytesArray(key, paths)
            }
            let renames = files.renamed.map { rename in
                var entry = JSONObject()
                entry.addBytes("from", rename.from)
                entry.addBytes("to", rename.to)
                return entry.text
            }
            fileBuckets.addRaw("renamed", "[" + renames.joined(separator: ",") + "]")
            for (key, paths) in [
                ("read", files.read), ("loaded", files.loaded), ("metadata", files.metadata),
                ("temporary", files.temporary), ("uncertain", files.uncertain),
                ("ambiguous", files.ambiguous),
            ] {
                fileBuckets.addBytesArray(key, paths)
            }
            object.addRaw("files", fileBuckets.text)
            var directories = JSONObject()
            directories.addBytesArray("created", files.directoriesCreated)
            directories.addBytesArray("deleted", files.directoriesDeleted)
            directories.addBytesArray("temporary", files.directoriesTemporary)
            object.addRaw("directories", directories.text)
            let network = summary.network.map { endpoint in
                var entry = JSONObject()
                entry.add("family", endpoint.family)
                entry.add("sock_type", endpoint.type)
                if let local = endpoint.local { entry.add("local", local) }
                entry.add("remote", endpoint.remote ?? "")
                if let peer = endpoint.peer { entry.addRaw("peer", Self.peer(peer)) }
                entry.add("bytes_sent", Int(clamping: endpoint.bytesSent))
                entry.add("bytes_received", Int(clamping: endpoint.bytesReceived))
                return entry.text
            }
            object.addRaw("network", "[" + network.joined(separator: ",") + "]")
            let daemons = summary.daemons.map { daemon in
                var entry = JSONObject()
                entry.add("pid", Int(daemon.pid))
                entry.addBytes("comm", daemon.comm)
                entry.add("via", daemon.address)
                entry.addRaw("chain", Self.pids(daemon.via))
                return entry.text
            }
            object.addRaw("daemons", "[" + daemons.joined(separator: ",") + "]")
            object.add("unattributed", Int(clamping: summary.unattributed))
            object.add("lost_events", Int(summary.lostEvents))
        }
    }

    /// The fields every `event` object starts with, in the contract's order.
    private func addEvent(
        _ object: inout JSONObject, time: UInt64, command: Int, pid: Int32, tid: Int32, ppid: Int32,
        comm: [UInt8], category: String, action: String
    ) {
        object.add("type", "event")
        object.addTime("time", time)
        object.add("command", command)
        object.add("pid", Int(pid))
        object.add("tid", Int(tid))
        object.add("ppid", Int(ppid))
        object.addBytes("comm", comm)
        object.add("category", category)
        object.add("action", action)
    }

    /// Work daemons did for the command; events without `scope` are the command's own.
    private func addDaemonScope(_ object: inout JSONObject, _ daemon: DaemonScope) {
        object.add("scope", "daemon")
        object.addRaw("daemon", Self.peer(SocketPeer(pid: daemon.pid, comm: daemon.comm)))
        object.addRaw("via", Self.pids(daemon.via))
        object.add("confidence", daemon.ambiguous ? "ambiguous" : "certain")
    }

    private func addSocket(_ object: inout JSONObject, _ socket: SocketState) {
        if !socket.family.isEmpty {  // empty: a pipe
            object.add("family", socket.family)
            object.add("sock_type", socket.type)
        }
        if let local = socket.local, !local.isEmpty { object.add("local", local) }
        if let remote = socket.remote, !remote.isEmpty { object.add("remote", remote) }
        if let peer = socket.peer { object.addRaw("peer", Self.peer(peer)) }
    }

    private static func pids(_ pids: [Int32]) -> String {
        "[" + pids.map(String.init).joined(separator: ",") + "]"
    }

    private static func peer(_ peer: SocketPeer) -> String {
        var entry = JSONObject()
        entry.add("pid", Int(peer.pid))
        entry.addBytes("comm", peer.comm)
        return entry.text
    }

    private func addTermination(_ object: inout JSONObject, _ termination: Termination) {
        switch termination {
        case .exited(let status):
            object.add("exit_code", Int(status))
        case .signaled(let signal, let core):
            object.add("signal", Int(signal))
            object.add("signal_name", Signals.name(signal))
            if core { object.add("core_dumped", true) }
        }
    }
}

/// A JSON object written field by field, in insertion order.
struct JSONObject {
    /// Written straight into bytes: this is the hot path of `--format json`.
    private var bytes: [UInt8]
    private var empty = true

    /// Room for a typical event line at once, rather than growing to it in steps.
    init() {
        bytes = [UInt8(ascii: "{")]
        bytes.reserveCapacity(512)
    }

    /// One object, as a line appended to `buffer`: the object takes the buffer
    /// over while `fill` writes it, so it grows in place, never copied.
    static func appendLine(to buffer: inout [UInt8], _ fill: (inout JSONObject) -> Void) {
        var object = JSONObject(bytes: [])
        swap(&object.bytes, &buffer)
        object.bytes.append(UInt8(ascii: "{"))
        fill(&object)
        object.bytes.append(UInt8(ascii: "}"))
        object.bytes.append(UInt8(ascii: "\n"))
        swap(&object.bytes, &buffer)
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    var text: String { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }

    mutating func add(_ key: String, _ value: String) {
        self.key(key)
        Self.appendQuoted(value, to: &bytes)
    }

    mutating func add(_ key: String, _ value: Int) {
        self.key(key)
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        bytes.appendDecimal(value.magnitude)
    }

    /// RFC 3339 with microseconds (TimeFormat.rfc3339), written in place.
    mutating func addTime(_ key: String, _ nanoseconds: UInt64) {
        self.key(key)
        bytes.append(UInt8(ascii: "\""))
        TimeFormat.appendRFC3339(nanoseconds, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
    mutating func add(_ key: String, _ value: Bool) { addRaw(key, value ? "true" : "false") }

    mutating func addRaw(_ key: String, _ json: String) {
        self.key(key)
        bytes.append(contentsOf: json.utf8)
    }

    /// Names from the kernel: exact when valid UTF-8, otherwise U+FFFD plus `<key>_hex` with the raw bytes.
    mutating func addBytes(_ key: String, _ raw: [UInt8]) {
        if raw.withUnsafeBytes(Self.isPlain) {
            self.key(key)
            Self.appendPlain(raw, to: &bytes)
            return
        }
        let (string, lossless) = Escaping.json(raw)
        add(key, string)
        if !lossless { add(key + "_hex", Escaping.hex(raw)) }
    }

    mutating func addBytesArray(_ key: String, _ items: [[UInt8]]) {
        var lossless = true
        self.key(key)
        bytes.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            if item.withUnsafeBytes(Self.isPlain) {
                Self.appendPlain(item, to: &bytes)
                continue
            }
            let (string, exact) = Escaping.json(item)
            lossless = lossless && exact
            bytes.append(contentsOf: Self.quote(string).utf8)
        }
        bytes.append(UInt8(ascii: "]"))
        if !lossless {
            addRaw(key + "_hex", "[" + items.map { Self.quote(Escaping.hex($0)) }.joined(separator: ",") + "]")
        }
    }

    /// Keys are the contract's own names, plain ASCII: they go in unchecked.
    private mutating func key(_ key: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        bytes.append(UInt8(ascii: "\""))
        if key.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
            bytes.append(contentsOf: key.utf8)
        }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// Printable ASCII that needs no escape in a JSON string.
    static func isPlain(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
    }

    /// Whether every byte is `isPlain`, tested eight at a time: every event's
    /// path and name goes through here. Each term sets a byte's high bit when
    /// some byte of the word is below 0x20, above 0x7E, `"` or `\`; a borrow
    /// or carry between bytes can only add to a term already set.
    static func isPlain(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs = ones &* 0x80
        var offset = 0
        while offset + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
            let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
            let control = (word &- ones &* 0x20) & ~word
            let high = (word &+ ones) | word
            let zeroes = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
            if (control | high | zeroes) & highs != 0 { return false }
            offset += 8
        }
        while offset < bytes.count {
            if !isPlain(bytes[offset]) { return false }
            offset += 1
        }
        return true
    }

    private static func appendQuoted(_ string: String, to bytes: inout [UInt8]) {
        let appended = string.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            guard isPlain(UnsafeRawBufferPointer(utf8)) else { return false }
            appendPlain(utf8, to: &bytes)
            return true
        }
        if appended != true { bytes.append(contentsOf: quote(string).utf8) }
    }

    /// Bytes that are all `isPlain`, as a JSON string.
    private static func appendPlain(_ plain: some Sequence<UInt8>, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: plain)
        bytes.append(UInt8(ascii: "\""))
    }

    /// A JSON number as RFC 8259 spells it (no NaN, no leading zeros, no hex).
    static func isNumber(_ text: String) -> Bool {
        var rest = Substring(text)
        if rest.first == "-" { rest = rest.dropFirst() }
        let integer = rest.prefix { $0.isASCII && $0.isNumber }
        guard !integer.isEmpty, integer == "0" || integer.first != "0" else { return false }
        rest = rest.dropFirst(integer.count)
        if rest.first == "." {
            let fraction = rest.dropFirst().prefix { $0.isASCII && $0.isNumber }
            guard !fraction.isEmpty else { return false }
            rest = rest.dropFirst(1 + fraction.count)
        }
        return rest.isEmpty
    }

    static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x00..<0x20, 0x7F, 0x80..<0xA0, 0x2028, 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
