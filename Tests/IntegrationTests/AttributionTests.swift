import Foundation
import Glibc
import Testing

/// Attribution of daemon work to the command that asked for it: one watched
/// client sends requests to a fixture daemon
/// (DaemonHarness.swift, Fixtures/daemons/) that runs outside the watched
/// tree; each request makes the daemon create one file. The watched command's
/// summary must list exactly the files its requests made, name the daemon,
/// and the daemon-side events must be in the command's name with
/// `scope: daemon`. With unwatched noise clients of the same daemon running
/// at the same time, precision and recall must stay at or above 0.95.
///
/// `make attribution-bench` measures the same thing at 1, 2 and 8 clients.
///
/// A suite of its own (for `--filter AttributionTests`) nested in the
/// serialized `IntegrationTests`, so it never runs alongside the other probe tests.
extension IntegrationTests {
    @Suite struct AttributionTests {
        init() throws {
            try #require(geteuid() == 0, "the attribution tests load BPF programs and must run as root")
        }

        /// A design served over one transport.
        struct Scenario: Sendable, CustomTestStringConvertible {
            let design: DaemonDesign
            let transport: DaemonTransport
            var testDescription: String { "\(design.rawValue) over \(transport.rawValue)" }
        }

        /// Every design over a unix socket, and the event loop (as Redis is
        /// mostly used) over TCP on 127.0.0.1.
        static let oneClient =
            DaemonDesign.designs.map { Scenario(design: $0, transport: .unix) }
            + [Scenario(design: .eventloop, transport: .tcp)]

        /// Requests of the watched client, over two connections one after the other.
        static let requests = 20

        /// One watched client, no other: the summary lists its files and no
        /// other (precision and recall 1), the daemon is among the command's
        /// daemons, and the daemon's file events are the command's, with
        /// `scope: daemon`, by the task that really did the work.
        @Test(arguments: oneClient)
        func oneWatchedClient(_ scenario: Scenario) throws {
            let daemon = try DaemonScenario(scenario.design, transport: scenario.transport, requests: Self.requests)
            let watched = try AttributionRun(daemon)
            expectStopsCleanly(daemon)

            #expect(watched.objects.lostTotal == 0, "events lost: \(watched.objects.ofType("lost"))")
            #expect(watched.attributed == watched.truth, "exactly the client's files: \(watched.misattribution)")
            expectDaemons(watched, daemon: daemon)
            expectDaemonEvents(watched, daemon: daemon, confidence: ["certain"])
            expectClientInProcesses(watched)
            // The designs that fork for a request: the chain (helpers) and the forking server (a child per connection).
            if scenario.design == .chain || scenario.design == .forking {
                expectForkedProcessesInSummary(watched, daemon: daemon)
            }
        }

        /// A Go daemon whose request handlers share a mutex with a background
        /// goroutine (Fixtures/daemons/golock.go). Every unlock by a watched
        /// request's handler wakes the background goroutine, and the thread
        /// the handler leaves reads the netpoller's wake-up pipe: neither is
        /// work for the command. Exactly the client's files are its, none of
        /// the background ones.
        @Test func goroutineWokenByAnUnlockWorksForNoOne() throws {
            let daemon = try DaemonScenario(.golock, requests: 6)
            let watched = try AttributionRun(daemon)
            #expect(
                !daemon.namesWhenWatchedEnded(prefixed: "background-").isEmpty,
                "the background goroutine made files meanwhile")
            #expect(watched.objects.lostTotal == 0, "events lost: \(watched.objects.ofType("lost"))")
            #expect(watched.attributed == watched.truth, "exactly the client's files: \(watched.misattribution)")
            #expect(
                watched.daemons.contains { $0.int("pid") == daemon.entry.pid }, "golock is a daemon: \(watched.daemons)"
            )
        }

        /// One watched client while three unwatched clients of the same daemon
        /// send requests all along: the thread pool (the work moves from the
        /// thread that read the request to a worker) and the chain (the work
        /// crosses a connection shared by every client, into helper processes).
        @Test(arguments: [DaemonDesign.threadpool, .chain])
        func watchedClientAmongNoise(_ design: DaemonDesign) throws {
            let daemon = try DaemonScenario(design, noise: 3, requests: Self.requests)
            let watched = try AttributionRun(daemon)
            for (index, finished) in daemon.noise.enumerated() {
                #expect(finished.status == 0 && !finished.timedOut, "noise client \(index + 1): \(finished)")
            }
            #expect(!daemon.namesAtEnd(prefixed: "noise").isEmpty, "the noise clients were served")
            expectStopsCleanly(daemon)

            #expect(watched.objects.lostTotal == 0, "events lost: \(watched.objects.ofType("lost"))")
            // Never a silent miss.
            #expect(
                watched.recall == 1 || (watched.summary["unattributed"] as? Int ?? 0) > 0,
                "a missed file is counted as unattributed daemon work: \(watched.misattribution)")
            // Never another client's file. In the chain, back reads several forwarded
            // requests at once and works on them in order.
            #expect(watched.attributed.isSubset(of: watched.truth), "another client's files: \(watched.misattribution)")
            #expect(watched.precision >= 0.95 && watched.recall >= 0.95, "\(watched.misattribution)")
            expectDaemons(watched, daemon: daemon)
            expectDaemonEvents(watched, daemon: daemon, confidence: ["certain", "ambiguous"])
        }

        /// A prefork pool of one slow worker behind its dispatcher, with three
        /// unwatched clients: when the watched client's first request is
        /// dispatched, the worker's seqpacket socket already holds others'
        /// requests, written before the monitor knew the dispatcher. They are
        /// counted off one message a read, so the first request is the
        /// command's like the rest.
        @Test func firstRequestBehindOthersInASeqpacketSocket() throws {
            let daemon = try DaemonScenario(
                .prefork, options: ["--workers", "1", "--work-us", "3000"], noise: 3, requests: 6)
            let watched = try AttributionRun(daemon)
            for (index, finished) in daemon.noise.enumerated() {
                #expect(finished.status == 0 && !finished.timedOut, "noise client \(index + 1): \(finished)")
            }
            expectStopsCleanly(daemon)
            #expect(watched.objects.lostTotal == 0, "events lost: \(watched.objects.ofType("lost"))")
            #expect(watched.attributed == watched.truth, "exactly the client's files: \(watched.misattribution)")
        }

        // MARK: - Expectations

        private func expectStopsCleanly(_ daemon: DaemonScenario, sourceLocation: SourceLocation = #_sourceLocation) {
            for (program, finished) in daemon.stops {
                #expect(
                    finished.status == 0 && !finished.timedOut, "\(program) must exit 0 on SIGTERM: \(finished)",
                    sourceLocation: sourceLocation)
            }
        }

        /// The pids that may do a design's work: the daemon processes, and the
        /// processes the forking and prefork designs fork (the writers).
        private func workers(_ watched: AttributionRun, daemon: DaemonScenario) -> Set<Int> {
            Set(watched.truth.compactMap { daemon.writer(of: ($0 as NSString).lastPathComponent)?.pid })
        }

        /// The summary's `daemons` names each daemon the command reached, by pid
        /// and comm, with the socket it was reached through. For the process-per-
        /// connection design the peer of the connection is the child serving it,
        /// so the master or one of its children will do.
        private func expectDaemons(
            _ watched: AttributionRun, daemon: DaemonScenario,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let listed = watched.daemons
            for server in daemon.servers {
                var acceptable: Set<Int> = [server.pid]
                if daemon.design == .forking { acceptable.formUnion(workers(watched, daemon: daemon)) }
                let entry = listed.first { acceptable.contains($0.int("pid") ?? -1) }
                #expect(
                    entry != nil, "\(server.program) (\(server.pid)) among the command's daemons: \(listed)",
                    sourceLocation: sourceLocation)
                guard let entry else { continue }
                #expect(entry.string("comm") == server.program, "\(entry)", sourceLocation: sourceLocation)
                let via = entry.string("via") ?? ""
                switch daemon.transport {
                case .unix:
                    #expect(
                        via == "unix:" + server.address, "reached through \(server.address): \(entry)",
                        sourceLocation: sourceLocation)
                case .tcp, .udp:
                    #expect(
                        via.hasSuffix("127.0.0.1:\(server.address)"),
                        "reached through port \(server.address): \(entry)",
                        sourceLocation: sourceLocation)
                }
            }
        }

        /// Every watched file credited has one `create` event, and every file event on a
        /// watched file is the command's, daemon-side: `scope: daemon`, the
        /// daemon named, a `via` chain, the given confidence, and the pid and
        /// tid of the task that wrote the file (which the file itself records).
        /// One expectation per rule, naming the first few events that break it.
        private func expectDaemonEvents(
            _ watched: AttributionRun, daemon: DaemonScenario,
            confidence: Set<String>, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            var daemonPids = daemon.pids
            if daemon.design == .forking || daemon.design == .prefork {
                daemonPids.formUnion(workers(watched, daemon: daemon))
            }
            var notOneCreate: [String] = []
            var broken: [String: [[String: Any]]] = [:]
            for path in watched.truth.intersection(watched.attributed).sorted() {
                let name = (path as NSString).lastPathComponent
                let events = watched.fileEvents(path)
                if events.filter({ $0.action == "create" }).count != 1 { notOneCreate.append(name) }
                let writer = daemon.writer(of: name)
                for event in events {
                    var rules: [String] = []
                    if event.string("scope") != "daemon" { rules.append("scope is daemon") }
                    if !daemonPids.contains(event.nestedPid("daemon") ?? -1) {
                        rules.append("daemon.pid is one of \(daemonPids.sorted())")
                    }
                    if (event.integers("via") ?? []).isEmpty {
                        rules.append("via lists the pids from the command to here")
                    }
                    if !confidence.contains(event.string("confidence") ?? "") {
                        rules.append("confidence is one of \(confidence.sorted())")
                    }
                    if writer == nil || event.int("pid") != writer?.pid || event.int("tid") != writer?.tid {
                        rules.append("pid and tid are the writer's, as the file records")
                    }
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

        /// The client itself is in the summary's `processes` with `scope: command`.
        private func expectClientInProcesses(
            _ watched: AttributionRun, sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let processes = watched.processes
            let client = processes.first { $0.int("pid") == watched.summary.int("pid") }
            #expect(
                client?.string("scope") == "command", "the client in processes: \(processes)",
                sourceLocation: sourceLocation)
        }

        /// For a design that forks for a request (chain, forking): the processes
        /// it forks for the command are in the summary with `scope: daemon`: the
        /// chain's helpers among the `processes`; the forking design's
        /// connection children among the `processes` or, as the peers of the
        /// client's connections, among the `daemons`.
        private func expectForkedProcessesInSummary(
            _ watched: AttributionRun, daemon: DaemonScenario,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let processes = watched.processes
            let daemonPids = Set(watched.daemons.compactMap { $0.int("pid") })
            let missing = workers(watched, daemon: daemon).sorted().filter { pid in
                if daemon.design == .forking && daemonPids.contains(pid) { return false }
                return processes.first { $0.int("pid") == pid }?.string("scope") != "daemon"
            }
            #expect(
                missing.isEmpty,
                "forked for the command, not in the summary with scope daemon: \(missing); processes: \(processes); daemons: \(watched.daemons)",
                sourceLocation: sourceLocation)
        }
    }
}
