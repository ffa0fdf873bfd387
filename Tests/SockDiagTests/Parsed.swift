import CSockDiag
import Glibc

/// What a parser reported for one datagram: its status and each socket.
struct Parsed<Socket> {
    var status: Int32
    var sockets: [Socket]
}

struct UnixSocket {
    var socket: sockdiag_unix
    var holdsIcon: Bool

    var name: [UInt8] {
        withUnsafeBytes(of: socket.name) { Array($0.prefix(Int(socket.name_len))) }
    }
}

struct InetSocket {
    var socket: sockdiag_inet
    var v6only: Bool
}

/// sockdiag_unix_parse over `reply`; with stopAfter, `each` stops the walk
/// at that many sockets.
func parseUnix(_ reply: [UInt8], icon: UInt32 = 0, stopAfter: Int = .max) -> Parsed<UnixSocket> {
    var collected = Collected<UnixSocket>(limit: stopAfter)
    let status = withUnsafeMutablePointer(to: &collected) { context in
        var reader = sockdiag_unix_reader(
            icon: icon,
            each: { socket, holdsIcon, context in
                let collected = context!.assumingMemoryBound(to: Collected<UnixSocket>.self)
                return collected.pointee.add(UnixSocket(socket: socket!.pointee, holdsIcon: holdsIcon != 0))
            }, ctx: context)
        return sockdiag_unix_parse(reply, reply.count, &reader)
    }
    return Parsed(status: status, sockets: collected.items)
}

/// sockdiag_inet_parse over `reply`, as a dump of the `proto` table.
func parseInet(_ reply: [UInt8], proto: Int32 = Int32(IPPROTO_TCP), stopAfter: Int = .max) -> Parsed<InetSocket> {
    var collected = Collected<InetSocket>(limit: stopAfter)
    let status = withUnsafeMutablePointer(to: &collected) { context in
        var reader = sockdiag_inet_reader(
            protocol: UInt8(proto),
            each: { socket, v6only, context in
                let collected = context!.assumingMemoryBound(to: Collected<InetSocket>.self)
                return collected.pointee.add(InetSocket(socket: socket!.pointee, v6only: v6only != 0))
            }, ctx: context)
        return sockdiag_inet_parse(reply, reply.count, &reader)
    }
    return Parsed(status: status, sockets: collected.items)
}

private struct Collected<Item> {
    var limit: Int
    var items: [Item] = []

    /// 1 (stop) once the limit is reached.
    mutating func add(_ item: Item) -> Int32 {
        items.append(item)
        return items.count >= limit ? 1 : 0
    }
}
