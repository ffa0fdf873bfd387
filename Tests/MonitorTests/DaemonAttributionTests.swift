import BPFSources
import Monitor
import Testing

/// Daemon-side work as the kernel tags it (see "Attribution" in
/// bpf/events.h): peer records, work credited to the right command, forks
/// followed in daemon scope, ambiguous work credited to both commands, and
/// summaries that wait for the daemon work but not forever.
@Suite struct DaemonAttributionTests {
    /// `--pid` on a shell (10); its children 100 and 200 are commands 1 and 2, tagged 100 and 200.
    private func twoCommands() -> (Tracker, [Record]) {
        var tracker = Tracker(mode: .shell(root: 10), clock: testClock, system: Daemons())
        tracker.seed(pid: 10, ppid: 1, comm: utf8("bash"), argv: [utf8("bash")], threads: [10], ktime: 1_000)
        let records = tracker.feed([
            Make.fork(2_000, pid: 10, comm: "bash", child: 100),
            Make.fork(3_000, pid: 10, comm: "bash", child: 200),
        ])
        return (tracker, records)
    }

    @Test func daemonWorkIsCreditedToTheCommandThatAskedForIt() throws {
        var (tracker, _) = twoCommands()
        let peer = tracker.handle(Make.peer(10_000, daemon: 500, tid: 501, tag: 100, writer: 100, inode: 77))
        let line = try #require(peer.activities.first)
        #expect(line.action == .peer && line.command == 1 && line.pid == 100)
        #expect(line.socket?.peer == SocketPeer(pid: 500, comm: utf8("dockerd")))
        #expect(line.socket?.remote == "unix:/run/d.sock")

        let work = tracker.handle(Make.create(11_000, daemon: 500, tid: 501, tag: 100, path: "/var/lib/d/volumes/a"))
        let create = try #require(work.activities.first)
        #expect(create.command == 1 && create.action == .mkdir && create.pid == 500)
        #expect(create.daemon == DaemonScope(pid: 500, comm: utf8("dockerd"), via: [100, 500]))
        // Work tagged for command 2 stays out of command 1.
        _ = tracker.handle(Make.create(12_000, daemon: 500, tid: 502, tag: 200, path: "/var/lib/d/volumes/b"))

        // Command 1's process ends; its summary waits for the daemon to go quiet.
        #expect(tracker.handle(Make.exit(20_000, pid: 100, parent: 10)).summaries.isEmpty)
        #expect(!tracker.idle)
        #expect(tracker.expire(ktime: 20_000 + Tracker.daemonQuiet - 1).isEmpty)
        let summary = try #require(tracker.expire(ktime: 20_000 + Tracker.daemonQuiet).summaries.first)
        #expect(summary.command == 1)
        #expect(summary.files.directoriesCreated == [utf8("/var/lib/d/volumes/a")])
        #expect(
            summary.daemons == [
                DaemonEntry(pid: 500, comm: utf8("dockerd"), address: "unix:/run/d.sock", via: [100, 500])
            ])
        #expect(tracker.takeKernelChores().forget == [100])

        // Later work still tagged for the ended command is counted, not shown.
        #expect(tracker.handle(Make.create(30_000, daemon: 500, tid: 501, tag: 100, path: "/late")).isEmpty)
        #expect(tracker.lateDaemonWork == 1)
    }

    /// Command 1 reaches daemon 500 through a socketpair, and 500 passes its
    /// work on to 600 through a pipe.
    @Test func aDaemonReachedThroughASocketpairOrAPipeIsNamedSo() throws {
        var (tracker, _) = twoCommands()
        let pair = try #require(
            tracker.handle(Make.peer(10_000, daemon: 500, tid: 501, tag: 100, writer: 100, inode: 1000))
                .activities.first)
        #expect(
            pair.socket?.family == "unix" && pair.socket?.type == "seqpacket" && pair.socket?.remote == "socketpair")
        let pipe = try #require(
            tracker.handle(Make.peer(10_500, daemon: 600, tid: 600, tag: 100, writer: 500, inode: 2000))
                .activities.first)
        #expect(pipe.socket?.family == "" && pipe.socket?.type == "" && pipe.socket?.remote == "pipe")
        #expect(pipe.pid == 500 && pipe.ppid == 1, "the writer, a daemon, with its parent")
        _ = tracker.handle(Make.exit(20_000, pid: 100, parent: 10))
        let summary = try #require(tracker.expire(ktime: 20_000 + Tracker.daemonQuiet).summaries.first)
        #expect(summary.daemons.map(\.address) == ["socketpair", "pipe"])
    }

    /// A daemon's short connection to another daemon is often closed before
    /// its peer record is read: the reader's own end names the address.
    @Test func aDaemonReachedOverAClosedSocketIsNamedByItsOwnEnd() throws {
        var (tracker, _) = twoCommands()
        _ = tracker.handle(Make.peer(10_000, daemon: 500, tid: 501, tag: 100, writer: 100, inode: 77))
        let onward = try #require(
            tracker.handle(Make.peer(10_500, daemon: 600, tid: 600, tag: 100, writer: 500, inode: 3000))
                .activities.first)
        #expect(onward.socket?.family == "unix" && onward.socket?.remote == "unix:/run/cgid.sock")
        _ = tracker.handle(Make.exit(20_000, pid: 100, parent: 10))
        let summary = try #require(tracker.expire(ktime: 20_000 + Tracker.daemonQuiet).summaries.first)
        #expect(summary.daemons.map(\.address) == ["unix:/run/d.sock", "unix:/run/cgid.sock"])
        #expect(summary.daemons.map(\.via) == [[100, 500], [100, 500, 600]])
    }

    /// A datagram socket connected to a daemon's address: the daemon that
    /// reads its datagrams is its peer, even once the socket is closed.
    @Test func aConnectedDatagramSocketsReaderIsItsPeer() throws {
        var (tracker, _) = twoCommands()
        _ = tracker.handle(Make.peer(10_000, daemon: 500, tid: 501, tag: 100, writer: 100, inode: 4000))
        _ = tracker.handle(Make.exit(20_000, pid: 100, parent: 10))
        let summary = try #require(tracker.expire(ktime: 20_000 + Tracker.daemonQuiet).summaries.first)
        let socket = try #require(summary.network.first)
        #expect(socket.remote == "/run/log.sock" && socket.type == "dgram")
        #expect(socket.peer == SocketPeer(pid: 500, comm: utf8("dockerd")))
    }

    @Test func ambiguousWorkIsCreditedToBothCommands() throws {
        var (tracker, _) = twoCommands()
        _ = tracker.handle(Make.peer(10_000, daemon: 500, tid: 501, tag: 100, writer: 100, inode: 77))
        _ = tracker.handle(Make.peer(10_500, daemon: 500, tid: 501, tag: 200, writer: 200, inode: 78))
        var mixed = Make.create(11_000, daemon: 500, tid: 501, tag: 100, path: "/srv/mixed")
        mixed.attribution.alsoTag = 200
        mixed.attribution.ambiguous = true
        let records = tracker.handle(mixed).activities
        #expect(records.map(\.command) == [1, 2])
        #expect(records.allSatisfy { $0.daemon?.ambiguous == true && $0.path == utf8("/srv/mixed") })
        _ = tracker.feed([Make.exit(20_000, pid: 100, parent: 10), Make.exit(20_001, pid: 200, parent: 10)])
        let summaries = tracker.expire(ktime: 20_001 + Tracker.daemonQuiet).summaries
        #expect(summaries.map(\.command) == [1, 2])
        #expect(
            summaries.allSatisfy { $0.files.ambiguous == [utf8("/srv/mixed")] && $0.files.directoriesCreated.isEmpty })
    }

    @Test func processesADaemonForksForTheCommandAreItsOwnInDaemonScope() throws {
        var (tracker, _) = twoCommands()
        _ = tracker.handle(Make.peer(10_000, daemon: 500, tid: 501, tag: 100, writer: 100, inode: 77))
        var fork = Make.fork(11_000, pid: 500, tid: 501, comm: "containerd", child: 600)
        fork.attribution = Event.Attribution(tag: 100, daemon: true)
        let forked = try #require(tracker.handle(fork).processes.first)
        #expect(forked.action == .fork && forked.command == 1 && forked.child == 600)

        // The child is watched whole: its own events carry the command's tag in daemon scope.
        var exec = Make.exec(12_000, pid: 600, comm: "runc", path: "/usr/bin/runc", argv: ["runc", "create"])
        exec.attribution = Event.Attribution(tag: 100, daemon: true)
        let ran = try #require(tracker.handle(exec).processes.first)
        #expect(ran.command == 1 && ran.daemon?.via == [100, 500, 600])

        _ = tracker.handle(Make.exit(20_000, pid: 100, parent: 10))
        // The daemon is quiet, but runc still runs: the summary waits for it.
        #expect(tracker.expire(ktime: 20_000 + Tracker.daemonQuiet).isEmpty)
        var exit = Make.exit(30_000, pid: 600, comm: "runc", parent: 500)
        exit.attribution = Event.Attribution(tag: 100, daemon: true)
        _ = tracker.handle(exit)
        let summary = try #require(tracker.expire(ktime: 30_000 + Tracker.daemonQuiet).summaries.first)
        let runc = try #require(summary.entry(600))
        #expect(
            runc.daemon?.pid == 500 && runc.argv == [utf8("runc"), utf8("create")] && runc.termination == .exited(0))
        #expect(summary.entry(100)?.daemon == nil)
    }

    @Test func aDaemonForkedProcessThatOutlivesTheGraceIsLetGo() throws {
        var (tracker, _) = twoCommands()
        _ = tracker.handle(Make.peer(10_000, daemon: 500, tid: 501, tag: 100, writer: 100, inode: 77))
        var fork = Make.fork(11_000, pid: 500, tid: 501, comm: "containerd", child: 600)
        fork.attribution = Event.Attribution(tag: 100, daemon: true)
        _ = tracker.handle(fork)
        _ = tracker.handle(Make.exit(20_000, pid: 100, parent: 10))
        #expect(tracker.expire(ktime: 20_000 + Tracker.daemonGrace - 1).isEmpty)
        let summary = try #require(tracker.expire(ktime: 20_000 + Tracker.daemonGrace).summaries.first)
        #expect(summary.entry(600)?.ended == false)
        #expect(tracker.takeKernelChores().unwatch == [600])
    }

    /// Daemon 500 dies while command 1 runs, and another program starts at
    /// its pid; the command reaches it, and its first read comes as a new
    /// daemon's. It is named as itself, not as the dead daemon: in the peer
    /// line, the daemon of its work, and the summary's daemons, where the
    /// dead one keeps its own entry.
    @Test func aDaemonAtADeadDaemonsPidIsNamedAsItself() throws {
        let system = Daemons()
        var tracker = Tracker(mode: .shell(root: 10), clock: testClock, system: system)
        tracker.seed(pid: 10, ppid: 1, comm: utf8("bash"), argv: [utf8("bash")], threads: [10], ktime: 1_000)
        _ = tracker.feed([
            Make.fork(2_000, pid: 10, comm: "bash", child: 100),
            Make.peer(3_000, daemon: 500, tid: 501, tag: 100, writer: 100, inode: 77, new: true),
            Make.create(4_000, daemon: 500, tid: 501, tag: 100, path: "/srv/a"),
        ])
        system.comm = utf8("newloop")
        let peer = tracker.handle(Make.peer(5_000, daemon: 500, tid: 500, tag: 100, writer: 100, inode: 78, new: true))
        #expect(peer.activities.first?.socket?.peer == SocketPeer(pid: 500, comm: utf8("newloop")), "\(peer)")
        let work = try #require(
            tracker.handle(Make.create(6_000, daemon: 500, tid: 500, tag: 100, path: "/srv/b")).activities.first)
        #expect(work.daemon == DaemonScope(pid: 500, comm: utf8("newloop"), via: [100, 500]))
        _ = tracker.handle(Make.exit(7_000, pid: 100, parent: 10))
        let summary = try #require(tracker.expire(ktime: 7_000 + Tracker.daemonQuiet).summaries.first)
        #expect(summary.daemons.map(\.comm) == [utf8("dockerd"), utf8("newloop")], "\(summary.daemons)")
        #expect(summary.daemons.map(\.pid) == [500, 500])
        #expect(summary.files.directoriesCreated == [utf8("/srv/a"), utf8("/srv/b")])
    }

    /// `--pid`: command 1's pid, 100, leads command 2 after command 1 ended.
    /// The fork probe gave each its own tag, so work a daemon thread still
    /// does under command 1's tag is late work, never command 2's, and
    /// command 2 is credited with what is tagged for it only.
    @Test func aCommandAtAnEndedCommandsPidHasATagOfItsOwn() throws {
        let first: Int32 = 100 | 1 << TAG_PID_BITS
        let second: Int32 = 100 | 2 << TAG_PID_BITS
        var tracker = Tracker(mode: .shell(root: 10), clock: testClock, system: Daemons())
        tracker.seed(pid: 10, ppid: 1, comm: utf8("bash"), argv: [utf8("bash")], threads: [10], ktime: 1_000)
        _ = tracker.feed([
            Make.fork(2_000, pid: 10, comm: "bash", child: 100, tag: first),
            Make.peer(3_000, daemon: 500, tid: 501, tag: first, writer: 100, inode: 77),
            Make.create(4_000, daemon: 500, tid: 501, tag: first, path: "/srv/one"),
            Make.exit(5_000, pid: 100, parent: 10),
        ])
        let one = try #require(tracker.expire(ktime: 5_000 + Tracker.daemonQuiet).summaries.first)
        #expect(one.command == 1 && one.files.directoriesCreated == [utf8("/srv/one")])
        #expect(tracker.takeKernelChores().forget == [first])

        let records = tracker.feed([
            Make.fork(10_000, pid: 10, comm: "bash", child: 100, tag: second),
            Make.create(11_000, daemon: 500, tid: 501, tag: first, path: "/srv/stale"),
        ])
        #expect(records.activities.isEmpty, "work under command 1's tag: \(records)")
        #expect(tracker.lateDaemonWork == 1)
        _ = tracker.feed([
            Make.peer(12_000, daemon: 500, tid: 502, tag: second, writer: 100, inode: 77),
            Make.create(13_000, daemon: 500, tid: 502, tag: second, path: "/srv/two"),
            Make.exit(14_000, pid: 100, parent: 10),
        ])
        let two = try #require(tracker.expire(ktime: 14_000 + Tracker.daemonQuiet).summaries.first)
        #expect(two.command == 2 && two.pid == 100)
        #expect(two.files.directoriesCreated == [utf8("/srv/two")])
        #expect(two.daemons.map(\.pid) == [500])
        #expect(tracker.takeKernelChores().forget == [second])
    }
}

/// /proc and sock_diag for the daemon: pid 500 is dockerd, or what `comm`
/// says once it was restarted; socket 77 and 78 lead to it.
private final class Daemons: SystemQueries {
    var comm = utf8("dockerd")

    func takeIOTotals(pid: Int32, fds: [Int32], generations: ClosedRange<UInt32>) -> [Int32: Event.IOTotals] { [:] }

    /// Inode 1000 is one end of a socketpair, 2000 a pipe's (no socket), 3000
    /// a socket closed already whose reader, 3001, was accepted on
    /// /run/cgid.sock; 4000 a datagram socket connected to /run/log.sock;
    /// others lead to /run/d.sock.
    func socket(inode: UInt64) -> SocketState? {
        switch inode {
        case 1000: SocketState(family: "unix", type: "seqpacket", inode: inode)
        case 2000, 3000: nil
        case 3001: SocketState(family: "unix", type: "stream", inode: inode, local: "/run/cgid.sock")
        case 4000: SocketState(family: "unix", type: "dgram", inode: inode, remote: "/run/log.sock")
        default:
            SocketState(
                family: "unix", type: "stream", inode: inode, remote: "/run/d.sock",
                peer: SocketPeer(pid: 500, comm: utf8("dockerd")))
        }
    }

    func process(_ pid: Int32) -> ProcessSnapshot? {
        guard pid == 500 else { return nil }
        return ProcessSnapshot(ppid: 1, comm: comm, argv: [comm], files: FileTable(cwd: utf8("/")))
    }
}

extension Make {
    /// `new`: the reader's process was no daemon before (EVENT_FLAG_NEW_DAEMON).
    static func peer(
        _ ktime: UInt64, daemon: Int32, tid: Int32, tag: Int32, writer: Int32, inode: UInt64, new: Bool = false
    ) -> Event {
        Event(
            ktime: ktime, pid: daemon, tid: tid, comm: utf8("dockerd"),
            body: .peer(
                Event.Peer(
                    writerPid: writer, writerTid: writer, writerInode: inode, readerInode: inode + 1,
                    readerFD: 9, newDaemon: new)),
            attribution: Event.Attribution(tag: tag))
    }

    /// mkdir(path, 0755) = 0 by a tagged daemon thread.
    static func create(_ ktime: UInt64, daemon: Int32, tid: Int32, tag: Int32, path: String) -> Event {
        let nr = SyscallTable.all.first { $0.name == "mkdir" }!.nr
        return Event(
            ktime: ktime, pid: daemon, tid: tid, comm: utf8("dockerd"),
            body: .syscall(Event.Syscall(nr: nr, ret: 0, args: [0, 0o755], paths: [utf8(path)])),
            attribution: Event.Attribution(tag: tag, daemon: true))
    }
}

extension Array where Element == Record {
    fileprivate var activities: [ActivityRecord] {
        compactMap { if case .activity(let record) = $0 { record } else { nil } }
    }
}
