import CSockDiag
import Testing

/// sockdiag_socket_link_inode: the inode in an fd link's target.
@Suite struct SocketLinkTests {
    @Test(arguments: [
        ("socket:[12345]", UInt32(12345)),
        ("socket:[1]", 1),
        ("socket:[4294967295]", UInt32.max),
        // Not a socket, or not a plain number that fits.
        ("socket:[0]", 0),
        ("socket:[4294967296]", 0),
        ("socket:[99999999999999999999999999]", 0),
        ("socket:[18446744073709551617]", 0),
        ("socket:[]", 0),
        ("socket:[", 0),
        ("socket:[12", 0),
        ("socket:[12]x", 0),
        ("socket:[-1]", 0),
        ("socket:[+5]", 0),
        ("socket:[ 5]", 0),
        ("socket:[5 ]", 0),
        ("socket:[0x10]", 0),
        ("pipe:[12]", 0),
        ("/tmp/socket:[12]", 0),
        ("anon_inode:[eventfd]", 0),
        ("", 0),
    ])
    func inode(link: String, expected: UInt32) {
        #expect(sockdiag_socket_link_inode(link, link.utf8.count) == expected)
    }

    @Test func onlyTheGivenBytesAreRead() {
        let link = Array("socket:[12]99]".utf8)
        link.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                #expect(sockdiag_socket_link_inode(chars.baseAddress, 11) == 12)
                #expect(sockdiag_socket_link_inode(chars.baseAddress, 10) == 0)
            }
        }
        #expect(sockdiag_socket_link_inode(nil, 5) == 0)
    }
}
