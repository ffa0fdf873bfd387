import Foundation
import Glibc
import Testing

/// Network endpoints: servers and clients in Python, the ones
/// outside the watched tree run through a symlink named `netfixture`, so the
/// comm the monitor must report as the peer is known. Every byte count is
/// chosen by the test and differs per endpoint and direction.
///
/// A suite of its own (for `--filter NetworkTests`) nested in the serialized
/// `IntegrationTests`, so it never runs alongside the other probe tests.
extension IntegrationTests {
    @Suite struct NetworkTests {
        init() throws {
            try #require(geteuid() == 0, "the network tests load BPF programs and must run as root")
        }

        /// A watched client talks to a unix-socket server and TCP servers on
        /// 127.0.0.1 and [::1] that run outside the watched tree. The stream's
        /// connect, send and recv events and the summary's `network` list name the
        /// remote address, the server as the peer, and the bytes both ways.
        @Test func clientOfOutsideServers() throws {
            try checkClientOfOutsideServers(io: false)
        }

        /// The same with `--io`, where every send and recv call is a line of its
        /// own: the lines carry the call's bytes, and they add up in the summary.
        @Test func clientOfOutsideServersWithIO() throws {
            try checkClientOfOutsideServers(io: true)
        }

        private func checkClientOfOutsideServers(io: Bool) throws {
            let net = try NetFixture()
            let unixPath = net.directory + "/server.sock"
            let unixServer = try net.server("unix", unixPath, reply: 54_321)
            defer { unixServer.stop() }
            let tcpServer = try net.server("tcp4", "127.0.0.1", reply: 7_777)
            defer { tcpServer.stop() }
            // IPv6 loopback may be missing on a CI host: then the [::1] part is left out.
            let tcp6Server = try? net.server("tcp6", "::1", reply: 4_444)
            defer { tcp6Server?.stop() }

            struct Expected {
                let family: String, remote: String, server: NetServer, sent: Int, received: Int
            }
            var expected = [
                Expected(family: "unix", remote: unixPath, server: unixServer, sent: 12_345, received: 54_321),
                Expected(
                    family: "inet", remote: "127.0.0.1:\(tcpServer.port)", server: tcpServer, sent: 200_000,
                    received: 7_777),
            ]
            var specs = ["unix,\(unixPath),0,12345", "tcp4,127.0.0.1,\(tcpServer.port),200000"]
            if let tcp6Server {
                expected.append(
                    Expected(
                        family: "inet6", remote: "[::1]:\(tcp6Server.port)", server: tcp6Server,
                        sent: 3_333, received: 4_444))
                specs.append("tcp6,::1,\(tcp6Server.port),3333")
            } else {
                print("NetworkTests: no IPv6 loopback, [::1] not checked")
            }

            let run = try Harness.monitor(
                (io ? ["--io"] : []) + ["--format", "json", "--", "/usr/bin/python3", "-c", clientScript] + specs)
            #expect(!run.timedOut, "\(run)")
            #expect(!run.leftovers, "processes outlived the monitor")
            #expect(run.status == 0, "the client failed: \(run)")
            // The servers saw what the client sent: the counts below are the truth.
            for item in expected { try item.server.waitFor("served \(item.sent)") }

            let objects = try run.json()
            #expect(objects.lostTotal == 0, "lost events make the counts unreliable: \(run)")
            let client = try #require(objects.events("exec").first?.int("pid"), "no exec of the client: \(run)")
            let network = objects.filter { $0.isEvent && $0.string("category") == "network" }
            #expect(network.allSatisfy { $0.int("pid") == client && $0.int("command") == 1 }, "\(network)")

            for item in expected {
                let events = network.filter { $0.string("remote") == item.remote }
                let connects = events.filter { $0.action == "connect" }
                #expect(connects.count == 1, "one connect to \(item.remote): \(network)")
                if let connect = connects.first {
                    #expect(connect.string("family") == item.family, "\(connect)")
                    #expect(connect.string("sock_type") == "stream", "\(connect)")
                    #expect(connect["error"] == nil, "\(connect)")
                    #expect(
                        connect.peerPid == Int(item.server.pid) && connect.peerComm == "netfixture",
                        "connect to \(item.remote) names the server \(item.server.pid) as peer: \(connect)")
                    if item.family == "inet", let local = connect.string("local") {
                        #expect(local.hasPrefix("127.0.0.1:"), "\(connect)")
                    }
                }
                let sends = events.filter { $0.action == "send" }
                let receives = events.filter { $0.action == "recv" }
                #expect(
                    sends.reduce(0) { $0 + ($1.int("bytes") ?? 0) } == item.sent,
                    "bytes sent to \(item.remote), expected \(item.sent): \(sends)")
                #expect(
                    receives.reduce(0) { $0 + ($1.int("bytes") ?? 0) } == item.received,
                    "bytes received from \(item.remote), expected \(item.received): \(receives)")
                #expect(!sends.isEmpty && !receives.isEmpty)
                for event in sends + receives + events.filter({ $0.action == "close" }) {
                    #expect(event.string("family") == item.family && event.string("sock_type") == "stream", "\(event)")
                    #expect(
                        event.peerPid == Int(item.server.pid) && event.peerComm == "netfixture",
                        "every line of the stream to \(item.remote) names the server as peer: \(event)")
                }
                #expect(
                    events.filter { $0.action == "close" }.count == 1,
                    "one close of the socket to \(item.remote): \(events)")
            }

            let summaries = objects.ofType("summary")
            #expect(summaries.count == 1, "\(summaries)")
            let summary = try #require(summaries.first)
            let endpoints = try #require(summary["network"] as? [[String: Any]], "no network list in \(summary)")
            #expect(endpoints.count == expected.count, "exactly the endpoints the client used: \(endpoints)")
            for item in expected {
                let entries = endpoints.filter { $0.string("remote") == item.remote }
                #expect(entries.count == 1, "one summary entry for \(item.remote): \(endpoints)")
                guard let entry = entries.first else { continue }
                #expect(entry.string("family") == item.family, "\(entry)")
                #expect(entry.peerPid == Int(item.server.pid) && entry.peerComm == "netfixture", "\(entry)")
                #expect(
                    entry.int("bytes_sent") == item.sent,
                    "bytes_sent to \(item.remote), expected \(item.sent): \(entry)")
                #expect(
                    entry.int("bytes_received") == item.received,
                    "bytes_received from \(item.remote), expected \(item.received): \(entry)")
            }
        }

        /// `--pid` on a client whose unix connection was opened before the monitor
        /// attached: the monitor learns the socket from /proc and sock_diag, and the
        /// stream and summary name the server as the peer and count the bytes.
        @Test func pidModeConnectionOpenedBeforeAttach() throws {
            let net = try NetFixture()
            let path = net.directory + "/early.sock"
            let server = try net.server("unix", path, reply: 2_468)
            defer { server.stop() }

            let fds = try Harness.holdingPipe()
            var input: Int32 = fds.write
            defer { if input >= 0 { close(input) } }
            let client = try Started(
                ["/usr/bin/python3", "-c", earlyClientScript, path, "13579"].map { Array($0.utf8) },
                directory: net.directory, stdin: fds.read, name: "early-client")
            close(fds.read)
            defer { client.kill() }
            try waitForLine(client, "connected")

            let monitor = try Harness.startMonitor(
                ["--pid=\(client.pid)", "--format", "json"], directory: net.directory)
            defer { monitor.kill() }
            let ready = Harness.waitForReady(monitor)
            try #require(ready && monitor.stderr.contains("ebpf-monitor: ready "), "no ready line: \(monitor.stderr)")

            let go = Array("go\n".utf8)
            try #require(write(input, go, go.count) == go.count, "write to the client: errno \(errno)")
            close(input)
            input = -1
            let run = monitor.wait(timeout: 15)
            #expect(!run.timedOut, "the monitor did not stop after the client exited: \(run)")
            try waitForLine(client, "got 2468")
            try server.waitFor("served 13579")

            let objects = try run.json()
            #expect(objects.lostTotal == 0, "\(run)")
            let events = objects.filter {
                $0.isEvent && $0.string("category") == "network" && $0.int("pid") == Int(client.pid)
            }
            let sends = events.filter { $0.action == "send" }
            let receives = events.filter { $0.action == "recv" }
            #expect(sends.reduce(0) { $0 + ($1.int("bytes") ?? 0) } == 13_579, "\(events)")
            #expect(receives.reduce(0) { $0 + ($1.int("bytes") ?? 0) } == 2_468, "\(events)")
            #expect(!sends.isEmpty && !receives.isEmpty, "\(run)")
            for event in sends + receives + events.filter({ $0.action == "close" }) {
                #expect(event.int("command") == 0, "\(event)")
                #expect(event.string("family") == "unix" && event.string("sock_type") == "stream", "\(event)")
                #expect(
                    event.string("remote") == path, "the connection opened before attach names its remote: \(event)")
                #expect(
                    event.peerPid == Int(server.pid) && event.peerComm == "netfixture",
                    "the server \(server.pid) is the peer: \(event)")
            }

            let summary = try #require(objects.ofType("summary").first { $0.int("pid") == Int(client.pid) }, "\(run)")
            #expect(summary.int("command") == 0)
            let endpoints = try #require(summary["network"] as? [[String: Any]], "\(summary)")
            #expect(endpoints.count == 1, "\(endpoints)")
            let entry = try #require(endpoints.first)
            #expect(entry.string("family") == "unix" && entry.string("remote") == path, "\(entry)")
            #expect(entry.peerPid == Int(server.pid) && entry.peerComm == "netfixture", "\(entry)")
            #expect(entry.int("bytes_sent") == 13_579 && entry.int("bytes_received") == 2_468, "\(entry)")
        }

        /// A watched server accepts a unix and a TCP connection from a client
        /// outside the watched tree: each `accept` event names the client as peer,
        /// and the summary counts the bytes of each accepted connection.
        @Test func acceptNamesUnwatchedClient() throws {
            let net = try NetFixture()
            let path = net.directory + "/accept.sock"
            let portFile = net.directory + "/port"
            let monitor = try Harness.startMonitor(
                ["--format", "json", "--", "/usr/bin/python3", "-c", watchedServerScript, path, portFile, "8642"],
                directory: net.directory)
            defer { monitor.kill() }
            var port = 0
            // (The server runs once the monitor is ready.)
            let listening = Harness.waitUntil(timeout: Harness.readyTimeout + 20) {
                port = Int(String(decoding: Harness.read(portFile), as: UTF8.self)) ?? 0
                return port > 0
            }
            try #require(listening, "the watched server did not start: \(monitor.stderr)")

            let fds = try Harness.holdingPipe()
            var input: Int32 = fds.write
            defer { if input >= 0 { close(input) } }
            let client = try Started(
                [net.python, "-c", acceptClientScript, path, String(port), "9753"].map { Array($0.utf8) },
                directory: net.directory, stdin: fds.read, name: "accept-client")
            close(fds.read)
            defer { client.kill() }
            try waitForLine(client, "connected")
            // Both accepts are in the trace while the client still holds its sockets.
            let accepted = Harness.waitUntil(timeout: 10) { monitor.jsonSoFar().events("accept").count >= 2 }
            #expect(
                accepted, "two accept events while the client is connected: \(monitor.jsonSoFar().events("accept"))")

            let go = Array("go\n".utf8)
            try #require(write(input, go, go.count) == go.count, "write to the client: errno \(errno)")
            close(input)
            input = -1
            let run = monitor.wait(timeout: 15)
            #expect(!run.timedOut, "\(run)")
            #expect(run.status == 0, "the watched server failed: \(run)")
            try waitForLine(client, "got unix 8642")
            try waitForLine(client, "got tcp4 8642")

            let objects = try run.json()
            #expect(objects.lostTotal == 0, "\(run)")
            let serverPid = try #require(objects.events("exec").first?.int("pid"))
            let accepts = objects.events("accept")
            #expect(accepts.count == 2, "\(accepts)")
            let unixAccept = accepts.first { $0.string("family") == "unix" }
            let tcpAccept = accepts.first { $0.string("family") == "inet" }
            for (accept, local) in [(unixAccept, path), (tcpAccept, "127.0.0.1:\(port)")] {
                let accept = try #require(accept, "an accept of family \(local): \(accepts)")
                #expect(accept.int("pid") == serverPid && accept["error"] == nil, "\(accept)")
                #expect(accept.string("sock_type") == "stream", "\(accept)")
                #expect(accept.string("local") == local, "the accepted socket's local address: \(accept)")
                #expect(
                    accept.peerPid == Int(client.pid) && accept.peerComm == "netfixture",
                    "accept names the unwatched client \(client.pid) as peer: \(accept)")
            }
            #expect(tcpAccept?.string("remote")?.hasPrefix("127.0.0.1:") == true, "\(tcpAccept ?? [:])")

            let summary = try #require(objects.ofType("summary").first, "\(run)")
            let endpoints = try #require(summary["network"] as? [[String: Any]], "\(summary)")
            let served = endpoints.filter { $0.peerPid == Int(client.pid) }
            #expect(served.count == 2, "one entry per accepted connection: \(endpoints)")
            #expect(Set(served.compactMap { $0.string("family") }) == ["unix", "inet"], "\(served)")
            for entry in served {
                #expect(entry.peerComm == "netfixture", "\(entry)")
                #expect(entry.int("bytes_received") == 9_753 && entry.int("bytes_sent") == 8_642, "\(entry)")
            }
        }

        private func waitForLine(_ started: Started, _ line: String) throws {
            let seen = Harness.waitUntil(timeout: 10) {
                String(decoding: started.stdout, as: UTF8.self).split(separator: "\n").contains { $0 == line }
            }
            if !seen { throw HarnessError("\(started.stdoutPath) never said \(line): \(started.stderr)") }
        }
    }
}

// MARK: - Fixtures

/// A temporary directory with `netfixture`, a symlink to python3: processes
/// run through it have that comm.
private final class NetFixture {
    let directory: String
    let python: String

    init() throws {
        directory = try Harness.temporaryDirectory()
        python = directory + "/netfixture"
        guard symlink("/usr/bin/python3", python) == 0 else { throw HarnessError("symlink: \(errno)") }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// A server outside the watched tree: `kind` is unix | tcp4 | tcp6.
    func server(_ kind: String, _ address: String, reply: Int) throws -> NetServer {
        try NetServer(self, kind, address, reply: reply)
    }
}

private final class NetServer {
    let started: Started
    let port: Int
    var pid: Int32 { started.pid }

    init(_ fixture: NetFixture, _ kind: String, _ address: String, reply: Int) throws {
        let name = "server-\(kind)-\(UInt32.random(in: 0...UInt32.max))"
        let started = try Started(
            [fixture.python, "-c", outsideServerScript, kind, address, String(reply)].map { Array($0.utf8) },
            directory: fixture.directory, name: name)
        self.started = started
        var port: Int?
        let ready = Harness.waitUntil(timeout: 10) {
            let line = String(decoding: started.stdout, as: UTF8.self).split(separator: "\n").first {
                $0.hasPrefix("ready ")
            }
            port = line.flatMap { Int($0.dropFirst(6)) }
            return port != nil || kill(started.pid, 0) != 0 || !started.stderr.isEmpty
        }
        guard ready, let port else {
            started.kill()
            throw HarnessError("server \(kind) \(address) did not start: \(started.stderr)")
        }
        self.port = port
    }

    func waitFor(_ line: String) throws {
        let seen = Harness.waitUntil(timeout: 10) {
            String(decoding: started.stdout, as: UTF8.self).split(separator: "\n").contains { $0 == line }
        }
        if !seen {
            throw HarnessError(
                "server never said \(line): \(String(decoding: started.stdout, as: UTF8.self)) \(started.stderr)")
        }
    }

    func stop() { started.kill() }
}

extension Dictionary where Key == String, Value == Any {
    fileprivate var peerPid: Int? { ((self["peer"] as? [String: Any])?["pid"] as? NSNumber)?.intValue }
    fileprivate var peerComm: String? { (self["peer"] as? [String: Any])?["comm"] as? String }
}

/// Outside the watched tree. argv: kind (unix | tcp4 | tcp6), address, reply
/// size. For each connection: reads to EOF, answers `reply` bytes, closes,
/// and prints `served <bytes read>`.
private let outsideServerScript = #"""
    import socket, sys
    kind, address, reply = sys.argv[1], sys.argv[2], int(sys.argv[3])
    family = {"unix": socket.AF_UNIX, "tcp4": socket.AF_INET, "tcp6": socket.AF_INET6}[kind]
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind(address if kind == "unix" else (address, 0))
    s.listen(8)
    print("ready", 0 if kind == "unix" else s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        got = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
        c.sendall(b"s" * reply)
        c.close()
        print("served", got, flush=True)
    """#

/// The watched client. argv: `kind,address,port,bytes` per server. Sends the
/// bytes, shuts down its sending side, reads to EOF. Its stdout is the
/// monitor's, so it reports on stderr only.
private let clientScript = #"""
    import socket, sys
    for spec in sys.argv[1:]:
        kind, address, port, n = spec.split(",")
        if kind == "unix":
            s, target = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), address
        else:
            s = socket.socket(socket.AF_INET if kind == "tcp4" else socket.AF_INET6, socket.SOCK_STREAM)
            target = (address, int(port))
        s.connect(target)
        s.sendall(b"c" * int(n))
        s.shutdown(socket.SHUT_WR)
        got = 0
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
        s.close()
        print("client", kind, "got", got, file=sys.stderr, flush=True)
    """#

/// Connects before the monitor attaches, says `connected`, waits for a line
/// on stdin, then sends argv[2] bytes and reads the answer to EOF.
private let earlyClientScript = #"""
    import socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    print("connected", flush=True)
    sys.stdin.readline()
    s.sendall(b"e" * int(sys.argv[2]))
    s.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += len(d)
    s.close()
    print("got", got, flush=True)
    """#

/// The watched server. argv: unix path, port file, reply size. Listens on the
/// unix path and on 127.0.0.1, writes its TCP port to the port file, accepts
/// one connection on each, then serves both: reads to EOF, answers, closes.
private let watchedServerScript = #"""
    import os, socket, sys
    path, port_file, reply = sys.argv[1], sys.argv[2], int(sys.argv[3])
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.bind(path)
    u.listen(1)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    t.listen(1)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(t.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    conns = [u.accept()[0], t.accept()[0]]
    for c in conns:
        got = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += len(d)
        c.sendall(b"w" * reply)
        c.close()
        print("served", got, file=sys.stderr, flush=True)
    """#

/// Outside the watched tree: connects to the unix path and the TCP port,
/// says `connected`, waits for a line on stdin, then on each connection sends
/// argv[3] bytes and reads the answer to EOF.
private let acceptClientScript = #"""
    import socket, sys
    path, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.connect(path)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.connect(("127.0.0.1", port))
    print("connected", flush=True)
    sys.stdin.readline()
    for kind, s in (("unix", u), ("tcp4", t)):
        s.sendall(b"a" * n)
        s.shutdown(socket.SHUT_WR)
        got = 0
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
        s.close()
        print("got", kind, got, flush=True)
    """#
