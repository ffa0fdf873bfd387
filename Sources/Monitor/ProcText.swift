/// The text files of /proc the monitor reads, parsed apart from the reading
/// so that tests and the fuzzer can feed them any content. A process names
/// itself (comm may hold spaces, parentheses and newlines) and sets its own
/// arguments, so none of this is trusted to be well-formed.
public enum ProcText {
    /// The fields of /proc/PID/stat the monitor uses.
    public struct Stat: Equatable, Sendable {
        public var comm: [UInt8]
        public var ppid: Int32

        public init(comm: [UInt8], ppid: Int32) {
            self.comm = comm
            self.ppid = ppid
        }
    }

    /// "pid (comm) state ppid ...": comm runs from the first "(" to the last ")".
    public static func stat(_ bytes: [UInt8]) -> Stat? {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")), let close = bytes.lastIndex(of: UInt8(ascii: ")")),
            open < close
        else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let ppid = Int32(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return Stat(comm: Array(bytes[(open + 1)..<close]), ppid: ppid)
    }

    /// /proc/PID/cmdline: the arguments, each ended by a NUL.
    public static func cmdline(_ bytes: [UInt8]) -> [[UInt8]] {
        var argv = bytes.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
        if argv.last?.isEmpty == true { argv.removeLast() }
        return argv
    }

    /// The first word of a field of /proc/PID/status ("VmRSS:\t    1234 kB"
    /// gives "1234"; the kernel pads values to 8 digits, so a longer one
    /// follows the tab directly); nil if absent.
    public static func statusField(_ name: String, in bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
        return line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init)
    }

    /// The open flags in /proc/PID/fdinfo/FD (its octal "flags:" line).
    public static func fdinfoFlags(_ bytes: [UInt8]) -> UInt64? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }) else { return nil }
        let value = line.dropFirst("flags:".count).drop { $0 == " " || $0 == "\t" }
        return UInt64(value.prefix { $0 != " " && $0 != "\t" }, radix: 8)
    }
}
