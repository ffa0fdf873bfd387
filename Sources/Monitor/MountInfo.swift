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

    /// The kernel's escapes undone: a backslash and three octal digits
    /// (\040 for a space) stand for one byte. Anything else is kept as it
    /// is, the backslash too.
    static func unescape(_ field: ArraySlice<UInt8>) -> [UInt8] {
        let raw = Array(field)
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), let value = octalByte(raw.dropFirst(i + 1).prefix(3)) {
                out.append(value)
                i += 4
            } else {
                out.append(raw[i])
                i += 1
            }
        }
        return out
    }

    /// Three octal digits that make a byte (\000 to \377), or nil.
    private static func octalByte(_ digits: ArraySlice<UInt8>) -> UInt8? {
        guard digits.count == 3, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }) else {
            return nil
        }
        let value = digits.reduce(0) { $0 * 8 + Int($1 - UInt8(ascii: "0")) }
        return UInt8(exactly: value)
    }
}
