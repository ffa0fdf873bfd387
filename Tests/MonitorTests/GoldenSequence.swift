import Monitor

/// The fixed story behind the golden files: a `--pid` trace of a shell that runs
/// a pipeline, a hostile program, a killed command, a reparented grandchild, and
/// a command still running at the end.
enum GoldenSequence {
    static let root: Int32 = 100
    /// ktime of the last step; `finish` runs here.
    static let end: UInt64 = 9_000_000_000

    /// newline + ESC + invalid UTF-8, in a comm, a path and arguments.
    static let hostileComm: [UInt8] = utf8("ev\n\u{1b}[31m") + [0xff]
    static let hostilePath: [UInt8] = utf8("/tmp/x\n\u{1b}]0;pwned\u{7}") + [0xfe, 0xff]
    static let hostileArgv: [[UInt8]] = [
        utf8("evil"), utf8("two\nlines"), utf8("\u{1b}[2J"), [0xc3, 0x28], utf8("it's"), [],
        utf8("\u{202e}gpj.exe"),
    ]

    private static let s: UInt64 = 1_000_000_000
    private static let ms: UInt64 = 1_000_000

    static func records() -> [Record] {
        var tracker = Tracker(mode: .shell(root: root), clock: testClock)
        tracker.seed(pid: root, ppid: 90, comm: utf8("bash"), argv: [utf8("-bash")], threads: [root], ktime: 1 * s)
        var out: [Record] = [
            .status(
                StatusRecord(
                    time: testClock.wall(1 * s), message: "ready",
                    fields: ["fork_probe": "tracepoint", "watching": "1", "ready_seconds": "0.360"]))
        ]
        func feed(_ events: Event...) { out += tracker.feed(events) }

        // Command 1: `echo hi | cat`, with a helper thread and a truncated exec.
        feed(
            Make.fork(2 * s, pid: root, comm: "bash", child: 200),
            Make.exec(2 * s + 1 * ms, pid: 200, comm: "sh", path: "/bin/sh", argv: ["sh", "-c", "echo hi | cat"]),
            Make.fork(2 * s + 2 * ms, pid: 200, comm: "sh", child: 201),
            Make.exec(2 * s + 3 * ms, pid: 201, comm: "cat", path: "/usr/bin/cat", argv: ["cat"]),
            Make.thread(2 * s + 4 * ms, pid: 200, comm: "sh", child: 202),
            Make.exit(2 * s + 5 * ms, pid: 200, tid: 202, comm: "sh", groupDead: false),
            Make.fork(2 * s + 6 * ms, pid: 200, comm: "sh", child: 203),
            Make.exec(2 * s + 7 * ms, pid: 203, comm: hostileComm, path: hostilePath, argv: hostileArgv),
            Make.fork(2 * s + 8 * ms, pid: 203, comm: hostileComm, child: 204, unfollowed: true),
            Make.fork(2 * s + 9 * ms, pid: 200, comm: "sh", child: 205),
            Make.exec(
                2 * s + 10 * ms, pid: 205, comm: utf8("long"), path: utf8("/opt/a/very/long/pa"),
                argv: [utf8("long"), utf8("--fla")], truncated: true),
        )
        out += tracker.lost(["exec": 2, "fork": 1], ktime: 2 * s + 500 * ms)
        feed(
            Make.exit(3 * s, pid: 201, comm: "cat", code: Code.exited(0), parent: 200),
            Make.exit(3 * s + 1 * ms, pid: 203, comm: hostileComm, code: Code.signal(11, core: true), parent: 200),
            Make.exit(3 * s + 2 * ms, pid: 205, comm: "long", code: Code.exited(0), parent: 200),
            Make.exit(3 * s + 250 * ms, pid: 200, comm: "sh", code: Code.exited(1), parent: root),
        )

        // Command 2: killed.
        feed(
            Make.fork(4 * s, pid: root, comm: "bash", child: 300),
            Make.exec(4 * s + 1 * ms, pid: 300, comm: "sleep", path: "/usr/bin/sleep", argv: ["sleep", "60"]),
            Make.exit(5 * s + 500_000, pid: 300, comm: "sleep", code: Code.signal(9), parent: root),
        )

        // Command 3: its grandchild outlives it and is reparented to a subreaper.
        feed(
            Make.fork(6 * s, pid: root, comm: "bash", child: 400),
            Make.exec(
                6 * s + 1 * ms, pid: 400, comm: "daemonize", path: "/usr/sbin/daemonize", argv: ["daemonize", "job"]),
            Make.fork(6 * s + 2 * ms, pid: 400, comm: "daemonize", child: 401),
            Make.exit(6 * s + 3 * ms, pid: 400, comm: "daemonize", code: Code.exited(0), parent: root),
            Make.exec(6 * s + 4 * ms, pid: 401, comm: "job", path: "/usr/bin/job", argv: ["job"]),
            Make.exit(7 * s, pid: 401, comm: "job", code: Code.exited(3), parent: 50),
        )

        // Command 4 still runs at the end; the shell gained a thread.
        feed(
            Make.thread(8 * s, pid: root, comm: "bash", child: 110),
            Make.fork(8 * s + 1 * ms, pid: root, tid: 110, comm: "bash", child: 500),
            Make.exec(8 * s + 2 * ms, pid: 500, comm: "vim", path: "/usr/bin/vim", argv: ["vim", "notes.txt"]),
        )
        out += tracker.finish(ktime: end)
        out.append(
            .status(
                StatusRecord(
                    time: testClock.wall(end), message: "end",
                    fields: [
                        "events": String(tracker.eventCount), "lost": String(tracker.lostTotal),
                        "adopted": String(tracker.adopted),
                    ])))
        return out
    }
}
