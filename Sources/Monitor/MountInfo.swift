/// A line of /proc/PID/mountinfo: "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT
/// ...". Paths are bytes, as mounted, with the kernel's octal escapes undone.
public struct MountInfo: Equatable, Sendable {
    /// "MAJOR:MINOR" of the mounted file system.
    public var device: String
    /// The directory of that file system that is mounted.
    public var root: [UInt8]
    /// Where it is mounted.
    public var mountPoint: [UInt8]

    public init(device: String, root: [UInt8], mountPoint: [UInt8]) {
        self.device = device
        self.root = root
        self.mountPoint = mountPoint
    }

    /// The lines of a mountinfo file; lines with too few fields are skipped.
    public static func parse(_ bytes: [UInt8]) -> [MountInfo] {
        bytes.split(separator: UInt8(ascii: "\n")).compactMap { line in
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count > 4 else { return nil }
            return MountInfo(
                device: String(decoding: fields[2], as: UTF8.self), root: unescape(fields[3]),
                mountPoint: unescape(fields[4]))
        }
    }

    /// The kernel's octal escapes (\040 for a space) undone.
    static func unescape(_ field: ArraySlice<UInt8>) -> [UInt8] {
        let raw = Array(field)
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 3 < raw.count,
                let value = UInt8(String(decoding: raw[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                out.append(value)
                i += 4
            } else {
                out.append(raw[i])
                i += 1
            }
        }
        return out
    }
}
