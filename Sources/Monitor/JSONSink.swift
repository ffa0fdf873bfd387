/// JSON Lines per the output contract (design.md section 4): one object per
/// line, keys in a fixed order, every string valid UTF-8.
public final class JSONSink: Sink {
    private let stream: ByteStream

    public init(stream: ByteStream) { self.stream = stream }

    public func flush() { stream.flush() }
    public var failed: Bool { stream.failed }

    public func emit(_ record: Record) {
        var object = JSONObject()
        switch record {
        case .process(let event):
            object.add("type", "event")
            object.add("time", TimeFormat.rfc3339(event.time))
            object.add("command", event.command)
            object.add("pid", Int(event.pid))
            object.add("tid", Int(event.tid))
            object.add("ppid", Int(event.ppid))
            object.addBytes("comm", event.comm)
            object.add("category", "process")
            object.add("action", event.action.rawValue)
            if let child = event.child { object.add("child", Int(child)) }
            if let path = event.path { object.addBytes("path", path) }
            if let argv = event.argv { object.addBytesArray("argv", argv) }
            if let termination = event.termination { addTermination(&object, termination) }
            if event.unfollowed { object.add("followed", false) }
            if event.statusUnknown { object.add("status_unknown", true) }
            if event.truncated { object.add("truncated", true) }
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
            if let leader = summary.leader, leader.ended, leader.termination == nil { object.add("status_unknown", true) }
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
                entry.add("scope", "command")
                return entry.text
            }
            object.addRaw("processes", "[" + processes.joined(separator: ",") + "]")
            object.add("threads", summary.threads)
            object.add("lost_events", Int(summary.lostEvents))
        }
        stream.write(object.text + "\n")
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
    private var fields: [String] = []

    var text: String { "{" + fields.joined(separator: ",") + "}" }

    mutating func add(_ key: String, _ value: String) { addRaw(key, Self.quote(value)) }
    mutating func add(_ key: String, _ value: Int) { addRaw(key, String(value)) }
    mutating func add(_ key: String, _ value: Bool) { addRaw(key, value ? "true" : "false") }
    mutating func addRaw(_ key: String, _ json: String) { fields.append(Self.quote(key) + ":" + json) }

    /// Names from the kernel: exact when valid UTF-8, otherwise U+FFFD plus `<key>_hex` with the raw bytes.
    mutating func addBytes(_ key: String, _ bytes: [UInt8]) {
        let (string, lossless) = Escaping.json(bytes)
        add(key, string)
        if !lossless { add(key + "_hex", Escaping.hex(bytes)) }
    }

    mutating func addBytesArray(_ key: String, _ items: [[UInt8]]) {
        var lossless = true
        let strings = items.map { item -> String in
            let (string, exact) = Escaping.json(item)
            lossless = lossless && exact
            return Self.quote(string)
        }
        addRaw(key, "[" + strings.joined(separator: ",") + "]")
        if !lossless { addRaw(key + "_hex", "[" + items.map { Self.quote(Escaping.hex($0)) }.joined(separator: ",") + "]") }
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
