import Glibc

/// Socket families, types and addresses as the output contract spells them:
/// the one mapping from the kernel's numbers to those names.
public enum SocketAddress {
    public static func family(_ domain: Int32) -> String {
        switch domain {
        case AF_UNIX: return "unix"
        case AF_INET: return "inet"
        case AF_INET6: return "inet6"
        case AF_NETLINK: return "netlink"
        case AF_PACKET: return "packet"
        default: return "af\(domain)"
        }
    }

    /// The type bits of a socket(2) type argument; SOCK_CLOEXEC and SOCK_NONBLOCK are ignored.
    public static func type(_ type: Int32) -> String {
        switch type & 0xf {
        case Int32(SOCK_STREAM.rawValue): return "stream"
        case Int32(SOCK_DGRAM.rawValue): return "dgram"
        case Int32(SOCK_RAW.rawValue): return "raw"
        case Int32(SOCK_SEQPACKET.rawValue): return "seqpacket"
        default: return "type\(type & 0xf)"
        }
    }

    /// A `struct sockaddr`: a unix path, `@abstract`, `1.2.3.4:80` or `[::1]:80`.
    public static func format(_ bytes: [UInt8]) -> (family: String, address: String)? {
        guard bytes.count >= 2 else { return nil }
        let domain = Int32(bytes[0]) | Int32(bytes[1]) << 8
        let port = bytes.count >= 4 ? Int(bytes[2]) << 8 | Int(bytes[3]) : 0
        switch domain {
        case AF_UNIX:
            let path = Array(bytes.dropFirst(2))
            if path.first == 0 { return (family(domain), "@" + Escaping.text(Array(path.dropFirst()))) }
            return (family(domain), String(decoding: path.prefix { $0 != 0 }, as: UTF8.self))
        case AF_INET where bytes.count >= 8:
            return (family(domain), bytes[4..<8].map(String.init).joined(separator: ".") + ":\(port)")
        case AF_INET6 where bytes.count >= 24:
            return (family(domain), "[" + ipv6(Array(bytes[8..<24])) + "]:\(port)")
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
            Int32(
                bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                    | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
        }
        return (int(0), int(4))
    }
}
