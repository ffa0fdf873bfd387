import CSockDiag
import Glibc
import Testing

/// sockdiag_unix_parse and the walk it shares with the inet parser, on
/// replies well-formed and not.
@Suite struct UnixReplyTests {
    let more = Int32(SOCKDIAG_MORE)
    let badMessage = -EBADMSG

    @Test func exactReplyGivesTheSocketAndItsAttributes() {
        var reply = Reply()
        reply.message(
            Reply.sockDiagByFamily,
            Reply.unix(inode: 42, type: UInt8(SOCK_STREAM.rawValue), state: 1)
                + Reply.attribute(Reply.unixName, Array("/run/x.sock\0".utf8))
                + Reply.attribute(Reply.unixPeer, le(UInt32(43))) + Reply.attribute(Reply.unixShutdown, [2]))
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == more)
        #expect(parsed.sockets.count == 1)
        let socket = parsed.sockets[0].socket
        #expect(socket.inode == 42 && socket.state == 1 && socket.type == UInt8(SOCK_STREAM.rawValue))
        #expect(parsed.sockets[0].name == Array("/run/x.sock\0".utf8))
        #expect(socket.has_peer == 1 && socket.peer_inode == 43 && socket.shutdown == 2)
    }

    @Test func dumpEndsAtDone() {
        var reply = Reply()
        for inode in UInt32(1)...3 { reply.message(Reply.sockDiagByFamily, Reply.unix(inode: inode)) }
        reply.done()
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == 0)
        #expect(parsed.sockets.map(\.socket.inode) == [1, 2, 3])
    }

    @Test func eachStopsTheWalk() {
        var reply = Reply()
        for inode in UInt32(1)...3 { reply.message(Reply.sockDiagByFamily, Reply.unix(inode: inode)) }
        let parsed = parseUnix(reply.bytes, stopAfter: 2)
        #expect(parsed.status == 0)
        #expect(parsed.sockets.map(\.socket.inode) == [1, 2])
    }

    @Test func iconIsFoundInTheAcceptQueue() {
        var reply = Reply()
        let icons = le(UInt32(5)) + le(UInt32(7)) + le(UInt32(9))
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 1, state: 10) + Reply.attribute(Reply.unixIcons, icons))
        #expect(parseUnix(reply.bytes, icon: 7).sockets.map(\.holdsIcon) == [true])
        #expect(parseUnix(reply.bytes, icon: 8).sockets.map(\.holdsIcon) == [false])
        #expect(parseUnix(reply.bytes, icon: 0).sockets.map(\.holdsIcon) == [false])
        // A last icon cut short is not read.
        var cut = Reply()
        cut.message(
            Reply.sockDiagByFamily,
            Reply.unix(inode: 1, state: 10) + Reply.attribute(Reply.unixIcons, le(UInt32(5)) + [7, 0]))
        #expect(parseUnix(cut.bytes, icon: 7).sockets.map(\.holdsIcon) == [false])
    }

    @Test func emptyDatagramAsksForMore() {
        #expect(parseUnix([]).status == more)
    }

    // MARK: - Message headers

    @Test(arguments: [0, 1, 4, 15])
    func headerCutShortFailsTheReply(length: Int) {
        let parsed = parseUnix([UInt8](repeating: 0x10, count: length))
        #expect(parsed.status == (length == 0 ? more : badMessage))
        #expect(parsed.sockets.isEmpty)
    }

    @Test func headerCutShortAfterAMessage() {
        var reply = Reply()
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 1))
        reply.raw([32, 0, 0, 0, 20, 0])
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == badMessage)
        #expect(parsed.sockets.map(\.socket.inode) == [1])
    }

    @Test(arguments: [UInt32(0), 1, 8, 15])
    func lengthSmallerThanTheHeaderFailsTheReply(length: UInt32) {
        var reply = Reply()
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 1), length: length)
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == badMessage)
        #expect(parsed.sockets.isEmpty)
    }

    @Test(arguments: [UInt32(36), 4096, UInt32.max - 2, UInt32.max])
    func lengthPastTheDatagramFailsTheReply(length: UInt32) {
        var reply = Reply()
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 1), length: length)
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == badMessage)
        #expect(parsed.sockets.isEmpty)
    }

    @Test func lastMessageNeedNotBePadded() {
        var reply = Reply()
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 1) + Reply.attribute(Reply.unixName, [0x61]))
        reply.message(
            Reply.sockDiagByFamily, Reply.unix(inode: 2) + Array(Reply.attribute(Reply.unixName, [0x62]).prefix(5)),
            padded: false)
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == more)
        #expect(parsed.sockets.map(\.name) == [[0x61], [0x62]])
    }

    @Test func shortOrForeignMessagesAreSkipped() {
        var reply = Reply()
        reply.message(Reply.sockDiagByFamily, Array(Reply.unix(inode: 1).prefix(15)))
        reply.message(99, Reply.unix(inode: 2))
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 3), seq: Reply.seq + 1)
        reply.message(Reply.done, [], seq: Reply.seq + 1)
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 4))
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == more)
        #expect(parsed.sockets.map(\.socket.inode) == [4])
    }

    // MARK: - DONE and ERROR

    @Test func doneEndsTheReplyEarly() {
        var reply = Reply()
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 1))
        reply.done()
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 2))
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == 0)
        #expect(parsed.sockets.map(\.socket.inode) == [1])
    }

    @Test func doneWithoutABodyOrWithAFailedDumpsStatus() {
        var bare = Reply()
        bare.message(Reply.done, [])
        #expect(parseUnix(bare.bytes).status == 0)
        var failed = Reply()
        failed.done(status: -EMSGSIZE)
        #expect(parseUnix(failed.bytes).status == -EMSGSIZE)
        var odd = Reply()
        odd.done(status: 12)
        #expect(parseUnix(odd.bytes).status == 0)
    }

    @Test func errorCarriesTheKernelsErrno() {
        var reply = Reply()
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 1))
        reply.error(-ENOENT)
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 2))
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == -ENOENT)
        #expect(parsed.sockets.map(\.socket.inode) == [1])
    }

    @Test func ackEndsTheReply() {
        var reply = Reply()
        reply.error(0)
        #expect(parseUnix(reply.bytes).status == 0)
    }

    @Test(arguments: [Int32(1), Int32(SOCKDIAG_MORE), 4096, -4096, Int32.min, Int32.max])
    func errorThatIsNoErrnoFailsTheReply(error: Int32) {
        var reply = Reply()
        reply.error(error)
        #expect(parseUnix(reply.bytes).status == badMessage)
    }

    @Test func errorCutShortFailsTheReply() {
        var reply = Reply()
        reply.error(-ENOENT, full: false)
        #expect(parseUnix(reply.bytes).status == badMessage)
        var empty = Reply()
        empty.message(Reply.error, [])
        #expect(parseUnix(empty.bytes).status == badMessage)
    }

    // MARK: - Attributes

    @Test(arguments: [UInt16(0), 1, 3])
    func attributeShorterThanItsHeaderEndsTheAttributes(length: UInt16) {
        var reply = Reply()
        reply.message(
            Reply.sockDiagByFamily,
            Reply.unix(inode: 1) + Reply.attribute(Reply.unixPeer, le(UInt32(9)), length: length)
                + Reply.attribute(Reply.unixName, [0x61]))
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.sockets.count == 1)
        #expect(parsed.sockets[0].socket.has_peer == 0 && parsed.sockets[0].name.isEmpty)
    }

    @Test(arguments: [UInt16(9), 200, UInt16.max])
    func attributePastItsMessageIsNotRead(length: UInt16) {
        // The next message's bytes would fit the claimed length: they are not the attribute's.
        var reply = Reply()
        reply.message(
            Reply.sockDiagByFamily, Reply.unix(inode: 1) + Reply.attribute(Reply.unixName, [0x61], length: length))
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 2) + Reply.attribute(Reply.unixName, [0x62]))
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.status == more)
        #expect(parsed.sockets.map(\.name) == [[], [0x62]])
    }

    @Test func nameLongerThanSunPathIsCut() {
        var reply = Reply()
        let name = [UInt8](repeating: 0x61, count: 300)
        reply.message(Reply.sockDiagByFamily, Reply.unix(inode: 1) + Reply.attribute(Reply.unixName, name))
        let parsed = parseUnix(reply.bytes)
        #expect(parsed.sockets.map(\.name) == [Array(name.prefix(108))])
    }

    @Test func attributesTooShortForTheirValueAreIgnored() {
        var reply = Reply()
        reply.message(
            Reply.sockDiagByFamily,
            Reply.unix(inode: 1) + Reply.attribute(Reply.unixPeer, [1, 2]) + Reply.attribute(Reply.unixShutdown, [])
                + Reply.attribute(Reply.unixName, []))
        let parsed = parseUnix(reply.bytes)
        let socket = parsed.sockets[0].socket
        #expect(socket.has_peer == 0 && socket.shutdown == 0 && socket.name_len == 0)
    }
}
