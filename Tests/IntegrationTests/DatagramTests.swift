import Foundation
import Glibc
import Testing

/// Datagram sockets: a watched client sends a request to a server outside the
/// watched tree over a unix datagram socket (a path, an abstract name) or UDP,
/// with sendto on an unconnected socket, connect and send, sendmsg or
/// sendmmsg, while an unwatched client sends its own requests to the same
/// server all the while. Each request `REQ <name>` makes the server create
/// `<name>` in its directory. The watched command must be credited with its
/// own file only, list the server as its daemon with the address it was
/// reached by, and name it as the peer of its send.
extension IntegrationTests {
    @Suite struct DatagramTests {
        struct Case: Sendable, CustomTestStringConvertible {
            let kind: String  // unix | abstract | udp
            let mode: String  // sendto | connect | sendmsg | sendmmsg
            var testDescription: String { "\(kind) \(mode)" }
        }

        static let cases: [Case] =
            ["unix", "abstract", "udp"].flatMap { kind in
                ["sendto", "connect", "sendmsg", "sendmmsg"].map { Case(kind: kind, mode: $0) }
            }

        init() throws {
            try #require(geteuid() == 0, "the datagram tests load BPF programs and must run as root")
        }

        /// Starts a server script and waits for its `ready <address>` line: the server and that address.
        static func startServer(_ argv: [String], directory: String) throws -> (Started, String) {
            let server = try Started(argv.map { Array($0.utf8) }, directory: directory, name: "server")
            var ready: String?
            _ = Harness.waitUntil(timeout: 10) {
                ready = String(decoding: server.stdout, as: UTF8.self).split(separator: "\n").first {
                    $0.hasPrefix("ready ")
                }.map { String($0.dropFirst(6)) }
                return ready != nil || kill(server.pid, 0) != 0
            }
            guard let ready else {
                server.kill()
                throw HarnessError("the server did not start: \(server.stderr)")
            }
            return (server, ready)
        }

        @Test(arguments: cases) func watchedClientAmongNoise(_ test: Case) throws {
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let python = directory + "/dgramfixture"
            try #require(symlink("/usr/bin/python3", python) == 0, "symlink: \(errno)")
            let files = directory + "/files"
            try #require(mkdir(files, 0o755) == 0)
            let address =
                test.kind == "unix"
                ? directory + "/server.sock"
                : test.kind == "abstract" ? "ebpf-monitor-dgram-\(getpid())-\(test.mode)" : "0"
            let (server, target) = try Self.startServer(
                [python, "-c", serverScript, test.kind, address, files], directory: directory)
            defer { server.kill() }
            let expectedVia =
                test.kind == "unix"
                ? "unix:" + target : test.kind == "abstract" ? "unix:@" + target : "udp:127.0.0.1:" + target
            let expectedRemote = String(expectedVia.drop { $0 != ":" }.dropFirst())

            let noise = try Started(
                [python, "-c", clientScript, test.kind, target, "sendto", "noise", "2000"].map { Array($0.utf8) },
                directory: directory, name: "noise")
            defer { noise.kill() }
            let run = try Harness.monitor(
                [
                    "--format", "json", "--", "/usr/bin/python3", "-c", clientScript, test.kind, target, test.mode,
                    "watched", "1",
                ])
            noise.kill()
            #expect(!run.timedOut && run.status == 0, "\(run)")
            let watchedFile = files + "/watched-0"
            #expect(
                Harness.waitUntil(timeout: 5) { access(watchedFile, F_OK) == 0 },
                "the server made no file: \(server.stderr)")

            let objects = try run.json()
            #expect(objects.lostTotal == 0, "\(run)")
            let summary = try #require(objects.ofType("summary").first, "\(run)")
            let created = (summary["files"] as? [String: Any])?["created"] as? [String] ?? []
            #expect(created.contains(watchedFile), "the server's file for the request is credited: \(created)")
            #expect(
                !created.contains { $0.hasPrefix(files + "/noise") }, "the unwatched client's files are not: \(created)"
            )
            let daemons = summary["daemons"] as? [[String: Any]] ?? []
            #expect(
                daemons.contains { $0.int("pid") == Int(server.pid) && $0.string("via") == expectedVia },
                "the server is listed, reached by \(expectedVia): \(daemons)")

            let network = objects.filter { $0.isEvent && $0.string("category") == "network" }
            let peers = network.filter { $0.action == "peer" }
            #expect(
                peers.contains { $0.serverPid == Int(server.pid) && $0.string("remote") == expectedVia },
                "a peer line names the server: \(peers)")
            let sends = network.filter { $0.action == "send" }
            #expect(!sends.isEmpty, "\(network)")
            for send in sends {
                #expect(
                    send.serverPid == Int(server.pid) && send.string("remote") == expectedRemote
                        && send.string("sock_type") == "dgram",
                    "the send names the server and its address: \(send)")
            }
            // Each watched message is one datagram of "REQ watched-0".
            #expect(sends.reduce(0) { $0 + ($1.int("bytes") ?? 0) } == 13, "\(sends)")
        }

        /// Without the hook that notes each datagram as it lands, a command's
        /// datagrams from a named unix socket are still its own: the reader
        /// finds the sender's socket among the command's. The fixture
        /// datagram server, with an unwatched client sending all the while.
        @Test func namedUnixSocketsWithoutTheDataReadyHook() throws {
            let daemon = try DaemonScenario(
                .datagram, noise: 1, requests: 20, clientOptions: ["--delay-us", "500"],
                monitorOptions: ["--datagram-probe", "none"])
            let watched = try AttributionRun(daemon)
            #expect(watched.run.stderr.contains("datagram_probe=none"), "\(watched.run.stderr)")
            #expect(watched.precision == 1 && watched.recall == 1, "\(watched.misattribution)")
            #expect(
                watched.daemons.map { $0.int("pid") } == daemon.servers.map(\.pid),
                "only the server: \(watched.daemons)")
        }

        /// The command's UDP socket gets its port from its first sendto, and
        /// the server answers each request to that port. After the command
        /// closes the socket, an unwatched process binds the same port and
        /// leaves four answers waiting before it reads them. The answers the
        /// command had are not its to read, nor are the server's answers to
        /// the stranger the command's: only the server is its daemon.
        @Test func aPortTheCommandClosedIsNotItsWhenReused() throws {
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let files = directory + "/files"
            try #require(mkdir(files, 0o755) == 0)
            let portFile = directory + "/port"
            let (server, port) = try Self.startServer(
                ["/usr/bin/python3", "-c", answeringServerScript, files], directory: directory)
            defer { server.kill() }
            let stranger = try Started(
                ["/usr/bin/python3", "-c", strangerScript, port, portFile].map { Array($0.utf8) },
                directory: directory, name: "stranger")
            defer { stranger.kill() }
            let run = try Harness.monitor(
                ["--format", "json", "--", "/usr/bin/python3", "-c", closingClientScript, port, portFile])
            #expect(!run.timedOut && run.status == 0, "\(run)")
            #expect(
                Harness.waitUntil(timeout: 10) { kill(stranger.pid, 0) != 0 || stranger.stdout.count > 0 },
                "the stranger ends")
            #expect(
                String(decoding: stranger.stdout, as: UTF8.self).hasPrefix("answered 4"),
                "the stranger reused the port and was answered: \(stranger.stderr)")

            let objects = try run.json()
            let summary = try #require(objects.ofType("summary").first, "\(run)")
            let daemons = summary["daemons"] as? [[String: Any]] ?? []
            #expect(daemons.map { $0.int("pid") } == [Int(server.pid)], "only the server: \(daemons)")
            let created = (summary["files"] as? [String: Any])?["created"] as? [String] ?? []
            #expect(
                Set(created.filter { $0.hasPrefix(files + "/") }) == Set((1...10).map { files + "/watched-\($0)" }),
                "the command's files and no other: \(created)")
        }
    }
}

extension Dictionary where Key == String, Value == Any {
    fileprivate var serverPid: Int? { ((self["peer"] as? [String: Any])?["pid"] as? NSNumber)?.intValue }
}

/// argv: kind (unix | abstract | udp), address (a path, a name, or a port: 0
/// picks one), directory. Prints `ready <path | name | port>`, then for each
/// datagram `REQ <name>` creates <directory>/<name>. Over UDP it asks who sent
/// each datagram: a UDP read that does not is credited only when the
/// channel's counts prove it (docs/attribution.md), which an unwatched
/// sender makes a matter of timing.
private let serverScript = #"""
    import os, socket, sys
    kind, address, files = sys.argv[1:4]
    if kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", int(address)))
        name = str(s.getsockname()[1])
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind("\0" + address if kind == "abstract" else address)
        name = address
    print("ready " + name, flush=True)
    while True:
        request = (s.recvfrom(4096)[0] if kind == "udp" else s.recv(4096)).decode().split()
        if len(request) == 2 and request[0] == "REQ" and "/" not in request[1]:
            with open(os.path.join(files, request[1]), "w") as f:
                f.write(request[1] + "\n")
    """#

/// argv: kind, address (as the server printed it), mode (sendto | connect |
/// sendmsg | sendmmsg), prefix, count. Sends `count` datagrams `REQ
/// <prefix>-<i>`, 5 ms apart, the way `mode` says.
private let clientScript = #"""
    import ctypes, socket, sys, time
    kind, address, mode, prefix, count = sys.argv[1:6]
    if kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        destination = ("127.0.0.1", int(address))
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        destination = "\0" + address if kind == "abstract" else address

    class iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    class msghdr(ctypes.Structure):
        _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint), ("iov", ctypes.POINTER(iovec)),
                    ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                    ("flags", ctypes.c_int)]
    class mmsghdr(ctypes.Structure):
        _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
    libc = ctypes.CDLL(None, use_errno=True)

    if mode in ("connect", "sendmmsg"):
        s.connect(destination)
    for i in range(int(count)):
        message = ("REQ %s-%d" % (prefix, i)).encode()
        if mode == "sendto":
            s.sendto(message, destination)
        elif mode == "connect":
            s.send(message)
        elif mode == "sendmsg":
            s.sendmsg([message], [], 0, destination)
        else:
            buffer = ctypes.create_string_buffer(message, len(message))
            vector = iovec(ctypes.cast(buffer, ctypes.c_void_p), len(message))
            messages = (mmsghdr * 1)()
            messages[0].hdr.iov = ctypes.pointer(vector)
            messages[0].hdr.iovlen = 1
            if libc.sendmmsg(s.fileno(), messages, 1, 0) != 1:
                raise OSError(ctypes.get_errno(), "sendmmsg")
        time.sleep(0.005)
    time.sleep(0.2)
    """#

/// argv: directory. A UDP server on 127.0.0.1: prints `ready <port>`, then
/// for each datagram `REQ <name>` creates <directory>/<name> and answers
/// `OK <name>` to the address it came from.
private let answeringServerScript = #"""
    import os, socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print("ready %d" % s.getsockname()[1], flush=True)
    while True:
        data, source = s.recvfrom(4096)
        request = data.decode().split()
        if len(request) == 2 and request[0] == "REQ" and "/" not in request[1]:
            with open(os.path.join(sys.argv[1], request[1]), "w") as f:
                f.write(request[1] + "\n")
            s.sendto(("OK " + request[1]).encode(), source)
    """#

/// argv: the server's port, a file. Ten requests from one unbound socket
/// (its first sendto binds it), each answered; then it closes the socket,
/// writes its port to the file, and waits while another process uses it.
private let closingClientScript = #"""
    import os, socket, sys, time
    port, port_file = int(sys.argv[1]), sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(1, 11):
        s.sendto(b"REQ watched-%d" % i, ("127.0.0.1", port))
        s.recv(100)
    own = s.getsockname()[1]
    s.close()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(own))
    os.rename(port_file + ".tmp", port_file)
    time.sleep(2)
    """#

/// argv: the server's port, the file the command writes its closed port to.
/// Binds that port, sends four requests, lets their answers wait, reads
/// them, and prints `answered 4`.
private let strangerScript = #"""
    import os, socket, sys, time
    port, port_file = int(sys.argv[1]), sys.argv[2]
    while not os.path.exists(port_file):
        time.sleep(0.01)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(open(port_file).read())))
    s.settimeout(10)
    for i in range(1, 5):
        s.sendto(b"REQ stranger-%d" % i, ("127.0.0.1", port))
    time.sleep(0.3)
    for i in range(4):
        s.recv(100)
    print("answered 4", flush=True)
    """#
