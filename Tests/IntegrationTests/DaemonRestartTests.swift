import Foundation
import Glibc
import Testing

extension IntegrationTests {
    /// Requests of each watched command.
    static let restartRequests = 5

    /// How a killed daemon comes back.
    enum Restart: String, CaseIterable, Sendable {
        /// The same program, with a new pid, as a service manager restarts it.
        case newPid = "new pid"
        /// Another program (a copy of the event loop named `newloop`) with the
        /// dead daemon's pid, placed there by `at-pid`.
        case samePid = "same pid"
    }

    /// `--pid` on a shell whose first command asks an event-loop daemon
    /// (Fixtures/daemons/eventloop.c) for 5 files. The daemon is then killed
    /// (SIGKILL) and started again on the same socket, and the shell's second
    /// command asks the new daemon for 5 files. An unwatched client uses each
    /// daemon all along. Each command is credited exactly its own files, made
    /// by the daemon that served it and named with that daemon's pid and
    /// comm; neither command names the other's daemon, and nothing of the
    /// unwatched clients is anyone's. With the new daemon at the dead one's
    /// pid, nothing the monitor knew of the dead one names the new one.
    @Test(arguments: Restart.allCases)
    func daemonKilledAndRestartedDuringATrace(restart: Restart) throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let workspace = try FixtureWorkspace(programs: ["eventloop"])
        let socket = "daemon.sock"
        let (first, firstPid) = try workspace.startDaemon("eventloop", socket: socket)
        _ = try workspace.startNoise(prefix: "noiseA", socket: socket)
        let shell = try WatchedShell(directory: directory)

        let one = workspace.client(prefix: "one", socket: socket, count: Self.restartRequests)
        try shell.feed(one.joined(separator: " "))
        try #require(shell.waitForSummary(argv: one) != nil, "no summary of the first command: \(shell.monitor.stderr)")
        kill(firstPid, SIGKILL)
        #expect(first.wait(timeout: 10).status == 128 + SIGKILL)

        let secondComm = restart == .newPid ? "eventloop" : "newloop"
        try FileManager.default.copyItem(atPath: workspace.program("eventloop"), toPath: workspace.program("newloop"))
        let (_, secondPid) = try workspace.startDaemon(
            secondComm, socket: socket, pid: restart == .samePid ? firstPid : nil)
        try #require((secondPid == firstPid) == (restart == .samePid), "the new daemon's pid: \(secondPid)")
        _ = try workspace.startNoise(prefix: "noiseB", socket: socket)
        let two = workspace.client(prefix: "two", socket: socket, count: Self.restartRequests)
        try shell.feed(two.joined(separator: " "))
        try #require(
            shell.waitForSummary(argv: two) != nil, "no summary of the second command: \(shell.monitor.stderr)")
        let (run, objects) = try shell.finish()
        #expect(!run.timedOut && run.status == 0, "\(run)")
        #expect(objects.lostTotal == 0, "\(objects.ofType("lost"))")

        let daemons = [(one, "one", firstPid, "eventloop"), (two, "two", secondPid, secondComm)]
        for (index, (argv, prefix, daemon, comm)) in daemons.enumerated() {
            let names = Set((1...Self.restartRequests).map { "\(prefix)-\($0)" })
            #expect(workspace.names(prefixed: prefix + "-") == names, "the daemon made the \(prefix) files")
            for name in names.sorted() {
                #expect(workspace.writer(of: name) == Int(daemon), "\(name) was made by \(daemon)")
            }
            let summary = try #require(objects.ofType("summary").first { $0.strings("argv") == argv })
            let number = try #require(summary.int("command"))
            expectCredited(
                summary, objects: objects, number: number, files: names, workspace: workspace,
                daemon: (Int(daemon), comm), socket: socket)
            if restart == .newPid {
                let other = Int(daemons[1 - index].2)
                #expect(
                    objects.daemonEvents(of: other).allSatisfy { $0.int("command") != number },
                    "command \(number) has work of the daemon that did not serve it, \(other)")
            }
        }
        let noise = objects.fileEvents(in: workspace.files).filter { $0.string("path")?.contains("/noise") == true }
        #expect(noise.isEmpty, "the unwatched clients' files credited: \(noise.prefix(5))")
    }

    /// The command's summary lists exactly `files` (names in the workspace's
    /// `files/`) as created, and `daemon` as its one daemon, reached through
    /// the socket; each file's events are the command's, daemon-side, by the
    /// daemon's pid and named for it.
    func expectCredited(
        _ summary: [String: Any], objects: [[String: Any]], number: Int, files: Set<String>,
        workspace: FixtureWorkspace, daemon: (pid: Int, comm: String), socket: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let paths = Set(files.map { workspace.files + "/" + $0 })
        let created = Set(summary.summaryFiles("created").filter { $0.hasPrefix(workspace.files + "/") })
        #expect(created == paths, "command \(number)'s files: \(created.sorted())", sourceLocation: sourceLocation)
        let daemons = summary.summaryDaemons.map { ($0.int("pid") ?? -1, $0.string("comm") ?? "", $0.string("via")) }
        #expect(
            daemons.count == 1 && daemons.first?.0 == daemon.pid && daemons.first?.1 == daemon.comm
                && daemons.first?.2 == "unix:" + workspace.root + "/" + socket,
            "command \(number)'s daemons: \(daemons), not \(daemon)", sourceLocation: sourceLocation)
        for event in objects.fileEvents(in: workspace.files) where paths.contains(event.string("path") ?? "") {
            let named = event.eventDaemon
            #expect(
                event.int("command") == number && event.string("scope") == "daemon" && event.int("pid") == daemon.pid
                    && named?["pid"] as? Int == daemon.pid && named?["comm"] as? String == daemon.comm,
                "not command \(number)'s by \(daemon): \(event)", sourceLocation: sourceLocation)
        }
    }
}
