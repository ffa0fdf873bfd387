import Foundation
import Glibc
import Session
import Testing

/// PeerResolver against real sockets: a Python server in a child process
/// (run through a symlink so that its comm is `peerfixture`), a client in
/// this process, and the client's socket inode from fstat.
@Suite(.serialized) final class PeerResolverTests {
    let directory: String
    let python: String

    init() throws {
        directory = try Harness.temporaryDirectory()
        python = directory + "/peerfixture"
        try #require(symlink("/usr/bin/python3", python) == 0, "symlink: \(errno)")
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    // MARK: unix

    @Test func unixPathServerIsNamed() throws {
        let path = directory + "/server.sock"
        let server = try Server(self, "unix", path, "accept")
        defer { server.stop() }
        let client = try connectUnix(Array(path.utf8))
        defer { close(client) }
        try server.waitFor("accepted")

        let resolver = PeerResolver()
        let peer = try #require(resolver.peer(ofSocketInode: try inode(client)))
        #expect(peer.pid == server.pid)
        #expect(peer.comm == Array("peerfixture".utf8))
        #expect(peer.family == "unix")
        #expect(peer.local == path)
        #expect(peer.remote == "")
        #expect(peer.holders == [server.pid])
        #expect(!peer.pending)
        #expect(resolver.holders(ofSocketInode: peer.inode) == [server.pid])

        let endpoint = try #require(resolver.endpoint(ofSocketInode: try inode(client)))
        #expect(endpoint == PeerResolver.Endpoint(family: "unix", sockType: "stream", local: "", remote: path))
    }

    @Test func abstractUnixServerIsNamed() throws {
        let name = "@ebpf-monitor-peer-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let server = try Server(self, "unix", name, "accept")
        defer { server.stop() }
        let client = try connectUnix([0] + Array(name.utf8.dropFirst()))
        defer { close(client) }
        try server.waitFor("accepted")

        let resolver = PeerResolver()
        let peer = try #require(resolver.peer(ofSocketInode: try inode(client)))
        #expect(peer.pid == server.pid)
        #expect(peer.comm == Array("peerfixture".utf8))
        #expect(peer.local == name)
        #expect(resolver.endpoint(ofSocketInode: try inode(client))?.remote == name)
    }

    /// Right after connect() the server may not have accepted yet: the peer is
    /// then the listener, marked pending, held by the process that will accept.
    @Test func unixConnectionNotYetAcceptedNamesTheListener() throws {
        let path = directory + "/slow.sock"
        let server = try Server(self, "unix", path, "noaccept")
        defer { server.stop() }
        let client = try connectUnix(Array(path.utf8))
        defer { close(client) }

        let resolver = PeerResolver()
        let peer = try #require(resolver.peer(ofSocketInode: try inode(client)))
        #expect(peer.pending)
        #expect(peer.pid == server.pid)
        #expect(peer.local == path)
        #expect(resolver.endpoint(ofSocketInode: try inode(client))?.remote == path)
    }

    // MARK: TCP and UDP

    @Test func tcpOverIPv4() throws {
        let server = try Server(self, "tcp4", "", "accept")
        defer { server.stop() }
        let client = try connectInet(family: AF_INET, type: SOCK_STREAM, address: "127.0.0.1", port: server.port)
        defer { close(client) }
        try server.waitFor("accepted")

        let resolver = PeerResolver()
        let endpoint = try #require(resolver.endpoint(ofSocketInode: try inode(client)))
        #expect(endpoint.family == "inet")
        #expect(endpoint.sockType == "stream")
        #expect(endpoint.remote == "127.0.0.1:\(server.port)")
        #expect(endpoint.local.hasPrefix("127.0.0.1:"))

        let peer = try #require(resolver.peer(ofSocketInode: try inode(client)))
        #expect(peer.pid == server.pid)
        #expect(peer.comm == Array("peerfixture".utf8))
        #expect(peer.family == "inet")
        #expect(peer.local == "127.0.0.1:\(server.port)")
        #expect(peer.remote == endpoint.local)
        #expect(!peer.pending)
        // From the server's end, the client is this process.
        #expect(resolver.peer(ofSocketInode: peer.inode)?.pid == getpid())
    }

    @Test func tcpOverIPv6() throws {
        let server = try Server(self, "tcp6", "", "accept")
        defer { server.stop() }
        let client = try connectInet(family: AF_INET6, type: SOCK_STREAM, address: "::1", port: server.port)
        defer { close(client) }
        try server.waitFor("accepted")

        let resolver = PeerResolver()
        let endpoint = try #require(resolver.endpoint(ofSocketInode: try inode(client)))
        #expect(endpoint.family == "inet6")
        #expect(endpoint.remote == "[::1]:\(server.port)")
        let peer = try #require(resolver.peer(ofSocketInode: try inode(client)))
        #expect(peer.pid == server.pid)
        #expect(peer.family == "inet6")
        #expect(peer.local == "[::1]:\(server.port)")
        #expect(peer.remote == endpoint.local)
    }

    /// An IPv4 client of a dual-stack IPv6 server: the two ends differ in family.
    @Test func tcpIPv4ClientOfDualStackServer() throws {
        let server = try Server(self, "dual", "", "accept")
        defer { server.stop() }
        let client = try connectInet(family: AF_INET, type: SOCK_STREAM, address: "127.0.0.1", port: server.port)
        defer { close(client) }
        try server.waitFor("accepted")

        let peer = try #require(PeerResolver().peer(ofSocketInode: try inode(client)))
        #expect(peer.pid == server.pid)
        #expect(peer.family == "inet6")
        #expect(peer.local == "[::ffff:127.0.0.1]:\(server.port)")
    }

    @Test func tcpConnectionNotYetAcceptedNamesTheListener() throws {
        let server = try Server(self, "tcp4", "", "noaccept")
        defer { server.stop() }
        let client = try connectInet(family: AF_INET, type: SOCK_STREAM, address: "127.0.0.1", port: server.port)
        defer { close(client) }

        let peer = try #require(PeerResolver().peer(ofSocketInode: try inode(client)))
        #expect(peer.pending)
        #expect(peer.pid == server.pid)
        #expect(peer.local == "127.0.0.1:\(server.port)")
    }

    /// A connected UDP client of an unconnected server: the peer is the
    /// socket that receives what the client sends.
    @Test(arguments: [("udp4", AF_INET, "127.0.0.1", "127.0.0.1"), ("udp6", AF_INET6, "::1", "[::1]")])
    func udpServerIsNamed(kind: String, family: Int32, address: String, shown: String) throws {
        let server = try Server(self, kind, "", "hold")
        defer { server.stop() }
        let client = try connectInet(family: family, type: SOCK_DGRAM, address: address, port: server.port)
        defer { close(client) }

        let resolver = PeerResolver()
        #expect(resolver.endpoint(ofSocketInode: try inode(client))?.sockType == "dgram")
        #expect(resolver.endpoint(ofSocketInode: try inode(client))?.remote == "\(shown):\(server.port)")
        let peer = try #require(resolver.peer(ofSocketInode: try inode(client)))
        #expect(peer.pid == server.pid)
        #expect(peer.local == "\(shown):\(server.port)")
        #expect(peer.remote == "")
        #expect(!peer.pending)
    }

    // MARK: shared sockets

    /// One end of a socketpair is held by this process and by a child that
    /// inherited it: both are holders, and the child is the one picked.
    @Test func inheritedSocketpairReportsAllHolders() throws {
        var ends: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let child = try Server(self, "none", "", "hold", stdin: ends[1])
        defer { child.stop() }

        let resolver = PeerResolver()
        let expected = [getpid(), child.pid].sorted()
        #expect(resolver.holders(ofSocketInode: try inode(ends[1])) == expected)
        let peer = try #require(resolver.peer(ofSocketInode: try inode(ends[0])))
        #expect(peer.inode == (try inode(ends[1])))
        #expect(peer.holders == expected)
        #expect(peer.pid == child.pid, "the child, not its parent that also holds the socket")
        #expect(resolver.peer(ofSocketInode: try inode(ends[0]), excluding: [child.pid])?.pid == getpid())
        #expect(resolver.peer(ofSocketInode: try inode(ends[0]), excluding: [child.pid, getpid()]) == nil)
    }

    /// Seen from the server, a TCP client whose socket was inherited by a
    /// child has two holders.
    @Test func inheritedTCPClientHasBothHolders() throws {
        let server = try Server(self, "tcp4", "", "accept")
        defer { server.stop() }
        let client = try connectInet(family: AF_INET, type: SOCK_STREAM, address: "127.0.0.1", port: server.port)
        defer { close(client) }
        try server.waitFor("accepted")
        let child = try Server(self, "none", "", "hold", stdin: client)
        defer { child.stop() }

        let resolver = PeerResolver()
        let serverSide = try #require(resolver.peer(ofSocketInode: try inode(client)))
        let clientSide = try #require(resolver.peer(ofSocketInode: serverSide.inode))
        #expect(clientSide.holders == [getpid(), child.pid].sorted())
        #expect(clientSide.pid == child.pid)
    }

    @Test func pickHolderPrefersDescendantsAndSkipsExcluded() {
        let parents: [Int32: Int32] = [10: 1, 20: 10, 30: 10, 40: 1]
        let parent: (Int32) -> Int32? = { parents[$0] }
        #expect(PeerResolver.pickHolder([1, 10], parent: parent) == 10)
        #expect(PeerResolver.pickHolder([10, 20, 30], parent: parent) == 20)
        #expect(PeerResolver.pickHolder([10, 20], excluding: [20], parent: parent) == 10)
        #expect(PeerResolver.pickHolder([40, 10], parent: parent) == 10)
        #expect(PeerResolver.pickHolder([10], excluding: [10], parent: parent) == nil)
        #expect(PeerResolver.pickHolder([], parent: parent) == nil)
    }

    // MARK: no peer

    @Test func closedUnixPeerGivesNil() throws {
        let path = directory + "/closing.sock"
        let server = try Server(self, "unix", path, "close")
        defer { server.stop() }
        let client = try connectUnix(Array(path.utf8))
        defer { close(client) }
        try server.waitFor("closed")

        let resolver = PeerResolver()
        #expect(resolver.peer(ofSocketInode: try inode(client)) == nil)
        #expect(resolver.endpoint(ofSocketInode: try inode(client))?.family == "unix")
    }

    @Test func closedTCPPeerGivesNil() throws {
        let server = try Server(self, "tcp4", "", "close")
        defer { server.stop() }
        let client = try connectInet(family: AF_INET, type: SOCK_STREAM, address: "127.0.0.1", port: server.port)
        defer { close(client) }
        try server.waitFor("closed")

        let resolver = PeerResolver()
        #expect(resolver.peer(ofSocketInode: try inode(client)) == nil)
        #expect(resolver.endpoint(ofSocketInode: try inode(client))?.remote == "127.0.0.1:\(server.port)")
    }

    @Test func unknownInodesAndListenersGiveNil() throws {
        let resolver = PeerResolver()
        #expect(resolver.peer(ofSocketInode: 0) == nil)
        #expect(resolver.peer(ofSocketInode: UInt64(UInt32.max) + 5) == nil)
        #expect(resolver.endpoint(ofSocketInode: 0) == nil)
        let file = open(directory, O_RDONLY | O_CLOEXEC)
        defer { close(file) }
        #expect(resolver.peer(ofSocketInode: try inode(file)) == nil)
        #expect(resolver.endpoint(ofSocketInode: try inode(file)) == nil)
        #expect(resolver.holders(ofSocketInode: try inode(file)) == [])

        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(Glibc.listen(listener, 1) == 0)
        #expect(resolver.peer(ofSocketInode: try inode(listener)) == nil)
        #expect(resolver.endpoint(ofSocketInode: try inode(listener))?.remote == "")
        // A fresh resolver: this one's last full scan was a moment ago.
        #expect(PeerResolver().holders(ofSocketInode: try inode(listener)) == [getpid()])
    }

    /// A daemon's new connections are found by rescanning the daemon alone:
    /// one full scan of /proc for a burst of connections.
    @Test func burstOfConnectionsToOneDaemonScansProcOnce() throws {
        let server = try Server(self, "tcp4", "", "many")
        defer { server.stop() }
        let resolver = PeerResolver()
        var clients: [Int32] = []
        defer { clients.forEach { close($0) } }
        for index in 1...10 {
            clients.append(try connectInet(family: AF_INET, type: SOCK_STREAM, address: "127.0.0.1", port: server.port))
            try server.waitFor("accepted \(index)")
            let peer = try #require(resolver.peer(ofSocketInode: try inode(clients[index - 1])))
            #expect(peer.pid == server.pid && !peer.pending)
        }
        #expect(resolver.scans == 1)
    }

    /// A lookup costs a few netlink round trips plus, on a miss, one scan of
    /// /proc; a few per second must be cheap.
    @Test func lookupsAreCheap() throws {
        let server = try Server(self, "tcp4", "", "accept")
        defer { server.stop() }
        let client = try connectInet(family: AF_INET, type: SOCK_STREAM, address: "127.0.0.1", port: server.port)
        defer { close(client) }
        try server.waitFor("accepted")
        let resolver = PeerResolver()
        let ino = try inode(client)
        let start = Harness.monotonic()
        for _ in 0..<50 { #expect(resolver.peer(ofSocketInode: ino)?.pid == server.pid) }
        let perLookup = (Harness.monotonic() - start) / 50
        let scanStart = Harness.monotonic()
        resolver.rescan()
        let scan = Harness.monotonic() - scanStart
        print(
            "PeerResolver: \(String(format: "%.2f", perLookup * 1000)) ms per TCP lookup, /proc scan \(String(format: "%.2f", scan * 1000)) ms, \(resolver.scans) scans"
        )
        #expect(perLookup < 0.05)
    }
}

// MARK: - Helpers

/// The Python server: `kind` is unix | tcp4 | tcp6 | dual | udp4 | udp6 | none,
/// `behavior` is accept (accept one, keep it open) | close (accept one, close
/// it) | many (accept and keep all) | noaccept | hold (just stay). It prints
/// `ready PORT`, then `accepted` (`accepted N` for many) or `closed`.
private let serverScript = #"""
    import socket, sys, time
    kind, address, behavior = sys.argv[1:4]
    families = {"unix": socket.AF_UNIX, "tcp4": socket.AF_INET, "tcp6": socket.AF_INET6, "dual": socket.AF_INET6,
                "udp4": socket.AF_INET, "udp6": socket.AF_INET6}
    port = 0
    if kind != "none":
        stream = not kind.startswith("udp")
        s = socket.socket(families[kind], socket.SOCK_STREAM if stream else socket.SOCK_DGRAM)
        if kind == "unix":
            s.bind("\0" + address[1:] if address.startswith("@") else address)
        else:
            if kind == "dual":
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(({"tcp4": "127.0.0.1", "udp4": "127.0.0.1", "tcp6": "::1", "udp6": "::1", "dual": "::"}[kind], 0))
            port = s.getsockname()[1]
        if stream:
            s.listen(8)
    print("ready", port, flush=True)
    held = []
    while behavior == "many":
        held.append(s.accept()[0])
        print("accepted", len(held), flush=True)
    if behavior in ("accept", "close"):
        c, _ = s.accept()
        if behavior == "close":
            c.close()
            print("closed", flush=True)
        else:
            print("accepted", flush=True)
    time.sleep(600)
    """#

private final class Server {
    let started: Started
    let port: UInt16
    var pid: Int32 { started.pid }

    init(_ suite: PeerResolverTests, _ kind: String, _ address: String, _ behavior: String, stdin: Int32? = nil) throws
    {
        let name = "server-\(kind)-\(behavior)-\(UInt32.random(in: 0...UInt32.max))"
        let started = try Started(
            [suite.python, "-c", serverScript, kind, address, behavior].map { Array($0.utf8) },
            directory: suite.directory, stdin: stdin, name: name)
        self.started = started
        var port: UInt16?
        let ready = Harness.waitUntil(timeout: 10) {
            let line = String(decoding: started.stdout, as: UTF8.self).split(separator: "\n").first {
                $0.hasPrefix("ready ")
            }
            port = line.flatMap { UInt16($0.dropFirst(6)) }
            return port != nil
        }
        guard ready, let port else {
            started.kill()
            throw HarnessError("server \(kind) did not start: \(started.stderr)")
        }
        self.port = port
    }

    func waitFor(_ line: String) throws {
        let seen = Harness.waitUntil(timeout: 10) {
            String(decoding: started.stdout, as: UTF8.self).split(separator: "\n").contains { $0 == line }
        }
        if !seen { throw HarnessError("server never said \(line): \(started.stderr)") }
    }

    func stop() { started.kill() }
}

/// The socket's inode number, as /proc and sock_diag name it.
private func inode(_ fd: Int32) throws -> UInt64 {
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw HarnessError("fstat: \(errno)") }
    return UInt64(info.st_ino)
}

/// `path` is sun_path's bytes: a path, or a NUL and an abstract name.
private func connectUnix(_ path: [UInt8]) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard path.count < capacity else { throw HarnessError("unix path too long") }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
    let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
    }
    guard result == 0 else {
        let code = errno
        close(fd)
        throw HarnessError("connect: \(code)")
    }
    return fd
}

private func connectInet(family: Int32, type: __socket_type, address: String, port: UInt16) throws -> Int32 {
    let fd = socket(family, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
    var result: Int32
    if family == AF_INET {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        inet_pton(AF_INET, address, &sin.sin_addr)
        result = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    } else {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        inet_pton(AF_INET6, address, &sin6.sin6_addr)
        result = withUnsafePointer(to: &sin6) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
    }
    guard result == 0 else {
        let code = errno
        close(fd)
        throw HarnessError("connect: \(code)")
    }
    return fd
}
