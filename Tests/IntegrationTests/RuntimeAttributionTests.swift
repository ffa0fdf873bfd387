import Foundation
import Glibc
import Testing

/// Attribution on the runtimes real daemons are built on: a datagram server,
/// an event loop that wakes itself through an eventfd, thread pools that
/// complete through an eventfd or a self-pipe while the loop replies, a
/// broker relaying every client over one connection to a service, and a
/// batching queue (Fixtures/daemons/, DaemonHarness.swift). Each runs with
/// one watched client among 0, 1 and 7 unwatched noise clients, all sending
/// requests at the same time.
///
/// The watched command's summary must list its own files and never a noise
/// client's (precision exactly 1), at least 99% of its files with 1 and 2
/// clients and 95% with 8 (recall; 20 requests, so with 1 and 2 clients every
/// one), and name exactly the daemons it reached, with their chains from the
/// command. A file it misses must be counted as unattributed daemon work.
///
/// `make attribution-bench` measures the same designs at 1, 2 and 8 clients.
///
/// A suite of its own (for `--filter RuntimeAttributionTests`) nested in the
/// serialized `IntegrationTests`, so it never runs alongside the other probe tests.
extension IntegrationTests {
    @Suite struct RuntimeAttributionTests {
        init() throws {
            try #require(geteuid() == 0, "the attribution tests load BPF programs and must run as root")
        }

        /// One design, transport and client count, with the flags that pick the
        /// calls the datagram client and server use.
        struct Case: Sendable, CustomTestStringConvertible {
            let design: DaemonDesign
            var transport: DaemonTransport = .unix
            let clients: Int
            var clientOptions: [String] = []
            var daemonOptions: [String] = []
            /// Every client waits `pacing` between requests; unpaced, they send as fast as they are answered.
            var paced = true

            var testDescription: String {
                let flags = (clientOptions + daemonOptions).joined(separator: " ")
                return "\(design.rawValue) over \(transport.rawValue)\(flags.isEmpty ? "" : " (\(flags))"), "
                    + "\(clients) client\(clients == 1 ? "" : "s")\(paced ? "" : ", unpaced")"
            }
        }

        static let clientCounts = [1, 2, 8]

        /// Every design with 1, 2 and 8 clients; the datagram server also over
        /// UDP, and with the other calls: `connect` then `send` against
        /// `recvmsg`, `sendmmsg` (4 requests a call) against `recvmmsg`, and
        /// over UDP against `recvfrom`.
        static let cases: [Case] =
            DaemonDesign.runtimeDesigns.flatMap { design in clientCounts.map { Case(design: design, clients: $0) } }
            + [
                Case(design: .datagram, transport: .udp, clients: 2),
                Case(
                    design: .datagram, transport: .udp, clients: 8, clientOptions: ["--send", "connect"],
                    daemonOptions: ["--recv", "recvmsg"]),
                Case(design: .datagram, transport: .udp, clients: 8, clientOptions: ["--send", "sendmmsg"]),
                Case(
                    design: .datagram, clients: 2, clientOptions: ["--send", "connect"],
                    daemonOptions: ["--recv", "recvmsg"]),
                Case(
                    design: .datagram, clients: 8, clientOptions: ["--send", "sendmmsg"],
                    daemonOptions: ["--recv", "recvmmsg"]),
                // A slow loop reads the noise client's requests in the turn it reads the watched client's
                // first: the daemon is found with their wake-ups waiting in its eventfd.
                Case(design: .selfwake, clients: 2, daemonOptions: ["--work-us", "3000"], paced: false),
            ]

        /// Every client, watched or not, waits this long before each request:
        /// the noise still interleaves with every watched request, and leaves
        /// this 2-core machine the time to start the monitor.
        static let pacing = ["--delay-us", "500"]

        /// Requests of the watched client, over two connections (datagram
        /// sockets) one after the other.
        static let requests = 20

        /// Why a design's recall falls short of the target, where it does
        /// (docs/attribution.md, "Limits of the rules"); nil where it meets it.
        static func knownRecallShortfall(_ scenario: Case) -> String? {
            switch scenario.design {
            case .pooleventfd where scenario.clients > 1, .poolpipe where scenario.clients > 1:
                return
                    "a worker's completion is certain only when the times prove the loop answered its job in the order of the wake-ups"
            default:
                return nil
            }
        }

        /// The least recall the targets allow with `clients` clients.
        static func recallTarget(clients: Int) -> Double { clients <= 2 ? 0.99 : 0.95 }

        @Test(arguments: cases)
        func watchedClientGetsExactlyItsOwnWork(_ scenario: Case) throws {
            let daemon = try DaemonScenario(
                scenario.design, transport: scenario.transport, options: scenario.daemonOptions,
                noise: scenario.clients - 1, requests: Self.requests,
                clientOptions: (scenario.paced ? Self.pacing : []) + scenario.clientOptions)
            let watched = try AttributionRun(daemon)
            for (index, finished) in daemon.noise.enumerated() {
                #expect(finished.status == 0 && !finished.timedOut, "noise client \(index + 1): \(finished)")
            }
            if scenario.clients > 1 {
                #expect(!daemon.namesAtEnd(prefixed: "noise").isEmpty, "the noise clients were served")
            }
            for (program, finished) in daemon.stops {
                #expect(finished.status == 0 && !finished.timedOut, "\(program) must exit 0 on SIGTERM: \(finished)")
            }
            #expect(watched.objects.lostTotal == 0, "events lost: \(watched.objects.ofType("lost"))")

            // Precision first: never another client's work.
            #expect(watched.attributed.isSubset(of: watched.truth), "another client's files: \(watched.misattribution)")
            // (Work marked ambiguous is credited to the command as perhaps another's: no wrong credit.)
            let noiseEvents = watched.objects.filter {
                $0.isEvent && $0.int("command") == 1 && ($0.string("path") ?? "").hasPrefix(daemon.files + "/noise")
                    && $0.string("confidence") != "ambiguous"
            }
            #expect(noiseEvents.isEmpty, "events of noise clients' files credited: \(noiseEvents.prefix(3))")

            let target = Self.recallTarget(clients: scenario.clients)
            if let shortfall = Self.knownRecallShortfall(scenario) {
                withKnownIssue(Comment(rawValue: shortfall), isIntermittent: true) {
                    #expect(watched.recall >= target, "recall at least \(target): \(watched.misattribution)")
                }
            } else {
                #expect(watched.recall >= target, "recall at least \(target): \(watched.misattribution)")
            }
            #expect(
                watched.recall == 1 || (watched.summary.int("unattributed") ?? 0) > 0,
                "a missed file is counted as unattributed daemon work: \(watched.misattribution)")
            expectDaemons(watched, daemon: daemon)
            expectDaemonEvents(watched, daemon: daemon)
            if scenario.design == .datagram {
                expectPeerNamed(watched, daemon: daemon)
            }
        }

        /// Designs whose daemons serve noise between the watched client's
        /// requests, which come 20 ms apart: long enough for quiet spells, in
        /// which the daemons' idle threads go unfollowed (bpf/daemons/quiet.h).
        static let quietDesigns: [DaemonDesign] = [.threadpool, .eventloop, .selfwake, .poolpipe, .broker, .datagram]

        /// Every request after a quiet spell is still credited, and no noise is:
        /// the channels and threads that fell out of step in the spell start
        /// afresh when work resumes. A pool's job whose completion came too close
        /// to a noise job's to be told apart is credited as ambiguous, as
        /// without quiet spells (docs/attribution.md, "Limits of the rules").
        @Test(arguments: quietDesigns)
        func requestsAfterQuietSpellsAreCredited(_ design: DaemonDesign) throws {
            let daemon = try DaemonScenario(
                design, noise: 2, requests: 10, clientOptions: Self.pacing, watchedOptions: ["--delay-us", "20000"])
            let watched = try AttributionRun(daemon)
            #expect(watched.objects.lostTotal == 0, "events lost: \(watched.objects.ofType("lost"))")
            #expect(watched.attributed.isSubset(of: watched.truth), "another client's files: \(watched.misattribution)")
            let missed = watched.truth.subtracting(watched.attributed.union(watched.ambiguous))
            #expect(missed.isEmpty, "every request credited, certainly or as ambiguous; missed: \(missed.sorted())")
            let end = watched.objects.last { $0.string("message") == "end" }
            #expect(
                (end?.int("quiet_spells") ?? 0) > 0, "quiet spells between the requests: \(String(describing: end))")
            expectDaemons(watched, daemon: daemon)
        }

        // MARK: - Expectations

        /// Each daemon process of the design is among the command's daemons,
        /// by pid and comm, reached through its own address, with its chain
        /// from the command: the client, then each daemon on the way (the
        /// broker before the service). No other process is listed: not a
        /// noise client, whose requests the daemons also served.
        private func expectDaemons(
            _ watched: AttributionRun, daemon: DaemonScenario, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let listed = watched.daemons
            let client = watched.summary.int("pid") ?? -1
            for server in daemon.servers {
                guard let entry = listed.first(where: { $0.int("pid") == server.pid }) else {
                    Issue.record(
                        "\(server.program) (\(server.pid)) among the command's daemons: \(listed)",
                        sourceLocation: sourceLocation)
                    continue
                }
                #expect(entry.string("comm") == server.program, "\(entry)", sourceLocation: sourceLocation)
                let via = entry.string("via") ?? ""
                if daemon.transport == .unix {
                    #expect(
                        via == "unix:" + server.address, "reached through \(server.address): \(entry)",
                        sourceLocation: sourceLocation)
                } else {
                    #expect(
                        via.hasSuffix("127.0.0.1:\(server.address)"),
                        "reached through port \(server.address): \(entry)",
                        sourceLocation: sourceLocation)
                }
                #expect(
                    entry.integers("chain") == expectedChain(to: server.pid, client: client, daemon: daemon),
                    "\(server.program)'s chain from the command: \(entry)", sourceLocation: sourceLocation)
            }
            let strangers = listed.filter { !daemon.pids.contains($0.int("pid") ?? -1) }
            let noisePids = Set(daemon.noise.map { Int($0.pid) })
            #expect(
                strangers.isEmpty,
                "daemons that are not the design's (noise clients: \(noisePids.sorted())): \(strangers)",
                sourceLocation: sourceLocation)
            let noiseProcesses = watched.processes.filter { noisePids.contains($0.int("pid") ?? -1) }
            #expect(
                noiseProcesses.isEmpty, "noise clients among the command's processes: \(noiseProcesses)",
                sourceLocation: sourceLocation)
        }

        /// The pids from the command to `pid`: the client, the daemons in the
        /// order requests pass them (clients talk to the last one started),
        /// up to `pid`.
        private func expectedChain(to pid: Int, client: Int, daemon: DaemonScenario) -> [Int] {
            let path = daemon.servers.reversed().map(\.pid)
            return [client] + path.prefix { $0 != pid } + [pid]
        }

        /// Every file credited has one `create` event, and every event on it
        /// is the command's work done by a daemon: `scope: daemon`, the daemon
        /// that wrote it (pid and tid as the file records), `confidence:
        /// certain`, and a `via` chain that is the daemon's chain.
        private func expectDaemonEvents(
            _ watched: AttributionRun, daemon: DaemonScenario, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let client = watched.summary.int("pid") ?? -1
            var notOneCreate: [String] = []
            var broken: [String: [[String: Any]]] = [:]
            for path in watched.attributed.intersection(watched.truth).sorted() {
                let name = (path as NSString).lastPathComponent
                let events = watched.fileEvents(path)
                if events.filter({ $0.action == "create" }).count != 1 { notOneCreate.append(name) }
                let writer = daemon.writer(of: name)
                for event in events {
                    var rules: [String] = []
                    if event.string("scope") != "daemon" { rules.append("scope is daemon") }
                    if writer == nil || event.nestedPid("daemon") != writer?.pid {
                        rules.append("daemon.pid is the writer's")
                    }
                    if writer == nil || event.int("pid") != writer?.pid || event.int("tid") != writer?.tid {
                        rules.append("pid and tid are the writer's, as the file records")
                    }
                    if let writer,
                        event.integers("via") != expectedChain(to: writer.pid, client: client, daemon: daemon)
                    {
                        rules.append("via is the chain from the command to the writer")
                    }
                    if event.string("confidence") != "certain" { rules.append("confidence is certain") }
                    for rule in rules { broken[rule, default: []].append(event) }
                }
            }
            #expect(
                notOneCreate.isEmpty,
                "one create event of command 1 per file; not so for \(notOneCreate.count): \(notOneCreate.prefix(10))",
                sourceLocation: sourceLocation)
            for (rule, events) in broken.sorted(by: { $0.key < $1.key }) {
                Issue.record(
                    "daemon-side file events: \(rule); \(events.count) are not, e.g. \(events.prefix(3))",
                    sourceLocation: sourceLocation)
            }
        }

        /// The datagram server is named as the peer of the command's
        /// datagram sockets in the summary's `network`.
        private func expectPeerNamed(
            _ watched: AttributionRun, daemon: DaemonScenario, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let network = watched.summary["network"] as? [[String: Any]] ?? []
            let named = network.filter { $0.nestedPid("peer") == daemon.entry.pid }
            #expect(
                !named.isEmpty, "the datagram server as a peer in network: \(network)", sourceLocation: sourceLocation)
        }
    }
}
