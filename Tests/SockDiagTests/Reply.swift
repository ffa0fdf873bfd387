import CSockDiag
import Glibc

/// sock_diag reply datagrams laid out by hand as the kernel sends them
/// (uapi linux/netlink.h, sock_diag.h, unix_diag.h, inet_diag.h), so that
/// tests can also lay them out wrong.
struct Reply {
    static let sockDiagByFamily: UInt16 = 20
    static let error: UInt16 = 2  // NLMSG_ERROR
    static let done: UInt16 = 3  // NLMSG_DONE
    static let multi: UInt16 = 2  // NLM_F_MULTI
    static let headerSize = 16  // struct nlmsghdr
    static let seq = UInt32(SOCKDIAG_SEQ)

    // unix_diag.h attribute types
    static let unixName: UInt16 = 0, unixPeer: UInt16 = 2, unixIcons: UInt16 = 3, unixShutdown: UInt16 = 6
    // inet_diag.h attribute type
    static let inetV6Only: UInt16 = 11

    private(set) var bytes: [UInt8] = []

    /// One message: a header whose nlmsg_len is the true length unless
    /// `length` says otherwise, the body, and padding to 4 bytes unless the
    /// message is the last (`padded: false`).
    @discardableResult
    mutating func message(
        _ type: UInt16, _ body: [UInt8], length: UInt32? = nil, seq: UInt32 = Reply.seq, padded: Bool = true
    ) -> Reply {
        bytes +=
            le(length ?? UInt32(Self.headerSize + body.count)) + le(type) + le(Self.multi) + le(seq) + le(UInt32(0))
        bytes += body
        if padded { bytes += [UInt8](repeating: 0, count: (4 - body.count % 4) % 4) }
        return self
    }

    mutating func done(status: Int32 = 0) { message(Self.done, le(UInt32(bitPattern: status))) }

    /// An NLMSG_ERROR: the error and the header of the request it answers.
    mutating func error(_ error: Int32, full: Bool = true) {
        let request =
            le(UInt32(Self.headerSize)) + le(Self.sockDiagByFamily) + le(UInt16(0)) + le(Self.seq) + le(UInt32(0))
        message(Self.error, le(UInt32(bitPattern: error)) + (full ? request : []))
    }

    /// Appends raw bytes: a header cut short, garbage after the messages.
    mutating func raw(_ tail: [UInt8]) { bytes += tail }

    /// An attribute (nlattr): its length is the true one unless given, and
    /// it is padded to 4 bytes.
    static func attribute(_ type: UInt16, _ payload: [UInt8], length: UInt16? = nil) -> [UInt8] {
        le(length ?? UInt16(4 + payload.count)) + le(type) + payload
            + [UInt8](repeating: 0, count: (4 - payload.count % 4) % 4)
    }

    /// struct unix_diag_msg (16 bytes).
    static func unix(inode: UInt32, type: UInt8 = 1, state: UInt8 = 1) -> [UInt8] {
        [UInt8(AF_UNIX), type, state, 0] + le(inode) + le(UInt32(0)) + le(UInt32(0))
    }

    /// struct inet_diag_msg (72 bytes); addresses are 4 or 16 bytes, ports in host order.
    static func inet(
        family: Int32, state: UInt8, local: [UInt8], localPort: UInt16, remote: [UInt8], remotePort: UInt16,
        inode: UInt32
    ) -> [UInt8] {
        func address(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: 16 - bytes.count) }
        let id =
            be(localPort) + be(remotePort) + address(local) + address(remote) + le(UInt32(0)) + le(UInt32(0))
            + le(UInt32(0))
        return [UInt8(family), state, 0, 0] + id + le(UInt32(0)) + le(UInt32(0)) + le(UInt32(0)) + le(UInt32(0))
            + le(inode)
    }
}

func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian, Array.init) }
