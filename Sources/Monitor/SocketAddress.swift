/// Socket families, types and addresses as the output contract spells them.
public enum SocketAddress {
    public static func family(_ domain: Int32) -> String {
        switch domain {
        case 1: return "unix"
        case 2: return "inet"
        case 10: return "inet6"
        case 16: return "netlink"
        case 17: return "packet"
        default: return "af\(domain)"
        }
    }

    public static func type(_ type: Int32) -> String {
        switch type & 0xf {
        case 1: return "stream"
        case 2: return "dgram"
        case 3: return "raw"
        case 5: return "seqpacket"
        default: return "type\(type & 0xf)"
        }
    }

    /// A `struct sockaddr`: a unix path, `@abstract`, `1.2.3.4:80` or `[::1]:80`.
    public static func format(_ bytes: [UInt8]) -> (family: String, address: String)? {
        guard bytes.count >= 2 else { return nil }
        let domain = Int32(bytes[0]) | Int32(bytes[1]) << 8
        let port = bytes.count >= 4 ? Int(bytes[2]) << 8 | Int(bytes[3]) : 0
        switch domain {
        case 1:
            let path = Array(bytes.dropFirst(2))
            if path.first == 0 { return ("unix", "@" + Escaping.text(Array(path.dropFirst()))) }
            return ("unix", String(decoding: path.prefix { $0 != 0 }, as: UTF8.self))
        case 2 where bytes.count >= 8:
            return ("inet", bytes[4..<8].map(String.init).joined(separator: ".") + ":\(port)")
        case 10 where bytes.count >= 24:
            return ("inet6", "[" + ipv6(Array(bytes[8..<24])) + "]:\(port)")
        default:
            return (family(domain), "")
        }
    }

    /// RFC 5952 text: lower-case hex, the longest run of zero groups as `::`.
    static func ipv6(_ bytes: [UInt8]) -> String {
        let groups = (0..<8).map { Int(bytes[2 * $0]) << 8 | Int(bytes[2 * $0 + 1]) }
        if groups[0..<5].allSatisfy({ $0 == 0 }) && groups[5] == 0xffff {
            return "::ffff:" + bytes[12..<16].map(String.init).joined(separator: ".")
        }
        var best = (start: -1, length: 0)
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else { index += 1; continue }
            let start = index
            while index < 8 && groups[index] == 0 { index += 1 }
            if index - start > best.length && index - start > 1 { best = (start, index - start) }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.start >= 0 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }

    /// The two ints of pipe(2) and socketpair(2).
    public static func fdPair(_ bytes: [UInt8]) -> (Int32, Int32)? {
        guard bytes.count >= 8 else { return nil }
        func int(_ offset: Int) -> Int32 {
            Int32(bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
        }
        return (int(0), int(4))
    }
}
