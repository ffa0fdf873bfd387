import CSockDiag
import Glibc
import Testing

/// sockdiag_inet_parse, and the address text of what it parsed.
@Suite struct InetReplyTests {
    @Test func ipv4SocketIsParsedInHostOrder() {
        var reply = Reply()
        reply.message(
            Reply.sockDiagByFamily,
            Reply.inet(
                family: AF_INET, state: 1, local: [127, 0, 0, 1], localPort: 8080, remote: [10, 1, 2, 3],
                remotePort: 51000, inode: 77))
        reply.done()
        let parsed = parseInet(reply.bytes)
        #expect(parsed.status == 0)
        #expect(parsed.sockets.count == 1)
        var socket = parsed.sockets[0].socket
        #expect(socket.inode == 77 && socket.family == UInt8(AF_INET) && socket.state == 1)
        #expect(socket.protocol == UInt8(IPPROTO_TCP))
        #expect(socket.local_port == 8080 && socket.remote_port == 51000)
        #expect(text(&socket, remote: false) == "127.0.0.1:8080")
        #expect(text(&socket, remote: true) == "10.1.2.3:51000")
    }

    @Test func ipv6SocketWithV6Only() {
        var reply = Reply()
        let any = [UInt8](repeating: 0, count: 16)
        reply.message(
            Reply.sockDiagByFamily,
            Reply.inet(family: AF_INET6, state: 10, local: any, localPort: 443, remote: any, remotePort: 0, inode: 5)
                + Reply.attribute(Reply.inetV6Only, [1]))
        let parsed = parseInet(reply.bytes, proto: Int32(IPPROTO_UDP))
        #expect(parsed.sockets.map(\.v6only) == [true])
        var socket = parsed.sockets[0].socket
        #expect(socket.protocol == UInt8(IPPROTO_UDP))
        #expect(text(&socket, remote: false) == "[::]:443")
    }

    @Test func v6OnlyWithoutAValueIsUnset() {
        var reply = Reply()
        let any = [UInt8](repeating: 0, count: 16)
        reply.message(
            Reply.sockDiagByFamily,
            Reply.inet(family: AF_INET6, state: 10, local: any, localPort: 1, remote: any, remotePort: 0, inode: 5)
                + Reply.attribute(Reply.inetV6Only, []))
        #expect(parseInet(reply.bytes).sockets.map(\.v6only) == [false])
    }

    @Test func otherFamiliesAndShortMessagesAreSkipped() {
        var reply = Reply()
        let v4 = Reply.inet(
            family: AF_INET, state: 1, local: [1, 2, 3, 4], localPort: 1, remote: [1, 2, 3, 4], remotePort: 2,
            inode: 9)
        reply.message(Reply.sockDiagByFamily, [UInt8(AF_UNIX)] + v4.dropFirst())
        reply.message(Reply.sockDiagByFamily, Array(v4.prefix(71)))
        reply.message(Reply.sockDiagByFamily, v4)
        let parsed = parseInet(reply.bytes)
        #expect(parsed.status == Int32(SOCKDIAG_MORE))
        #expect(parsed.sockets.map(\.socket.inode) == [9])
    }

    @Test func errorAfterSocketsEndsTheDump() {
        var reply = Reply()
        reply.message(
            Reply.sockDiagByFamily,
            Reply.inet(
                family: AF_INET, state: 1, local: [1, 2, 3, 4], localPort: 1, remote: [1, 2, 3, 4], remotePort: 2,
                inode: 9))
        reply.error(-EPERM)
        let parsed = parseInet(reply.bytes)
        #expect(parsed.status == -EPERM)
        #expect(parsed.sockets.count == 1)
    }

    private func text(_ socket: inout sockdiag_inet, remote: Bool) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        guard sockdiag_inet_format(&socket, remote ? 1 : 0, &buffer, buffer.count) > 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
