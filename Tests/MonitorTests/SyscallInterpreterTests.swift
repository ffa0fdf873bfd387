import Monitor
import Testing

/// Syscall records through the tracker: absolute paths from the working
/// directory and dirfds, the fd table across dup, close_range, exec, fork and
/// threads, read/write totals on the right file, sockets with their peers, and
/// the summary buckets they lead to. The kernel and /proc are a fake.
@Suite struct SyscallInterpreterTests {
    // MARK: - Paths

    /// runc's way into a container: chdir to the root file system, pivot_root
    /// there, chdir("/"). Paths are named as the host sees them from then on,
    /// in the process and its children.
    @Test func pivotRootNamesContainerPathsAsTheHostSeesThem() throws {
        var run = Run()
        run.call("chdir", ret: 0, paths: ["/var/lib/docker/overlay2/abc/merged"])
        run.call("pivot_root", ret: 0, paths: [".", "."])
        run.call("chdir", ret: 0, paths: ["/"])
        let create = try #require(
            run.call(
                "openat", ret: 3, [atFDCWD, 0, O.wronly | O.creat | O.trunc], paths: ["/marker"],
                file: .regular(writable: true, created: true)
            ).activities.first)
        #expect(create.path == p("/var/lib/docker/overlay2/abc/merged/marker"))
        #expect(
            run.call("mkdir", ret: 0, paths: ["tmp/x"]).activities.first?.path
                == p("/var/lib/docker/overlay2/abc/merged/tmp/x"))
        run.handle(Make.fork(run.tick(), pid: 100, comm: "sh", child: 101))
        #expect(
            run.call("unlink", ret: 0, paths: ["/etc/hosts"], pid: 101).activities.first?.path
                == p("/var/lib/docker/overlay2/abc/merged/etc/hosts"))
        // A failed chroot changes nothing.
        run.call("chroot", ret: -1, paths: ["/elsewhere"])
        #expect(
            run.call("unlink", ret: 0, paths: ["/a"]).activities.first?.path
                == p("/var/lib/docker/overlay2/abc/merged/a"))
    }

    /// runc exec and nsenter: setns on another process's mount namespace
    /// takes that process's root, named as the host sees it (from /proc).
    /// Another kind of namespace, or a failed call, changes nothing.
    @Test func setnsIntoAContainerNamesPathsAsTheHostSeesThem() throws {
        var run = Run()
        run.system.roots[77] = p("/var/lib/docker/overlay2/abc/merged")
        run.call("openat", ret: 5, [atFDCWD, 0, O.rdonly], paths: ["/proc/77/ns/net"])
        run.call("openat", ret: 6, [atFDCWD, 0, O.rdonly], paths: ["/proc/77/ns/mnt"])
        run.call("setns", ret: 0, [5, 0x40000000])  // CLONE_NEWNET
        run.call("setns", ret: -1, [6, 0x20000])
        #expect(run.call("unlink", ret: 0, paths: ["/a"]).activities.first?.path == p("/a"))
        run.call("setns", ret: 0, [6, 0x20000])  // CLONE_NEWNS
        #expect(
            run.call("unlink", ret: 0, paths: ["/a"]).activities.first?.path
                == p("/var/lib/docker/overlay2/abc/merged/a"))
        run.handle(Make.fork(run.tick(), pid: 100, comm: "sh", child: 101))
        #expect(
            run.call("mkdir", ret: 0, paths: ["/x"], pid: 101).activities.first?.path
                == p("/var/lib/docker/overlay2/abc/merged/x"))
    }

    /// tar sets modes through `/proc/self/fd/N`: the link names the file
    /// descriptor N holds at the call, whatever N holds when the monitor
    /// reads the record. `/dev/fd/N` and `/proc/PID/task/TID/fd/N` the same;
    /// another process's descriptor, or the link itself, are left as named.
    @Test func descriptorLinksNameTheFileTheDescriptorHoldsAtTheCall() throws {
        var run = Run()
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly | O.directory], paths: ["/data/dir"], file: .directory)
        #expect(
            run.call("fchmodat", ret: 0, [atFDCWD, 0, 0o755, 0], paths: ["/proc/self/fd/3"]).activities.first?.path
                == p("/data/dir"))
        #expect(
            run.call("mkdir", ret: 0, [0, 0o755], paths: ["/proc/thread-self/fd/3/sub"]).activities.first?.path
                == p("/data/dir/sub"))
        run.call("close", ret: 0, [3])
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly], paths: ["/data/other"], file: .regular())
        #expect(
            run.call("fchmodat", ret: 0, [atFDCWD, 0, 0o600, 0], paths: ["/dev/fd/3"]).activities.first?.path
                == p("/data/other"))
        #expect(
            run.call("fchownat", ret: 0, [atFDCWD, 0, 0, 0, 0], paths: ["/proc/100/fd/3"]).activities.first?.path
                == p("/data/other"))
        #expect(
            run.call("fchownat", ret: 0, [atFDCWD, 0, 0, 0, 0x100], paths: ["/proc/100/fd/3"]).activities.first?.path
                == p("/proc/100/fd/3"), "AT_SYMLINK_NOFOLLOW: the link itself")
        #expect(
            run.call("fchmodat", ret: 0, [atFDCWD, 0, 0o600, 0], paths: ["/proc/77/fd/3"]).activities.first?.path
                == p("/proc/77/fd/3"))
    }

    @Test func openatRelativeToTheWorkingDirectoryAfterChdir() throws {
        var run = Run()
        run.call("chdir", ret: 0, paths: ["sub"])
        let create = try #require(
            run.call(
                "openat", ret: 3, [atFDCWD, 0, O.wronly | O.creat | O.trunc | O.cloexec],
                paths: ["f.txt"], file: .regular(writable: true, created: true)
            ).activities.first)
        #expect(create.action == .create && create.category == .file)
        #expect(create.path == p("/home/u/sub/f.txt"))
        #expect(create.fd == 3)
        #expect(create.flags == "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC")
        #expect(create.error == nil)

        // A failed chdir leaves the working directory alone.
        run.call("chdir", ret: -2, paths: ["../nope"])
        let missing = try #require(run.call("openat", ret: -2, [atFDCWD, 0, O.rdonly], paths: ["g"]).activities.first)
        #expect(missing.action == .open && missing.error == "ENOENT")
        #expect(missing.path == p("/home/u/sub/g"))

        run.call("chdir", ret: 0, paths: ["/var/../srv//"])
        #expect(
            run.call("openat", ret: 4, [atFDCWD, 0, O.rdonly], paths: ["./x"], file: .regular()).activities.first?.path
                == p("/srv/x"))

        // fchdir to a directory fd; the legacy open(2) resolves against it too.
        run.call("openat", ret: 5, [atFDCWD, 0, O.rdonly | O.directory], paths: ["/etc"], file: .directory)
        run.call("fchdir", ret: 0, [5])
        #expect(
            run.call("open", ret: 6, [0, O.rdonly], paths: ["passwd"], file: .regular()).activities.first?.path
                == p("/etc/passwd"))

        let write = try #require(run.call("close", ret: 0, [3], io: io(written: 12, writes: 1)).activities.first)
        #expect(write.action == .write && write.path == p("/home/u/sub/f.txt") && write.bytes == 12 && write.calls == 1)

        let summary = try #require(run.exit().summaries.first)
        #expect(texts(summary.files.created) == ["/home/u/sub/f.txt"])
        #expect(texts(summary.files.read) == ["/etc/passwd", "/srv/x"])
        #expect(summary.files.modified.isEmpty && summary.files.deleted.isEmpty)
    }

    @Test func atCallsResolveAgainstTheirDirfd() throws {
        var run = Run()
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly | O.directory], paths: ["/data"], file: .directory)
        #expect(
            run.call("openat", ret: 4, [3, 0, O.rdonly], paths: ["in/../conf"], file: .regular()).activities.first?.path
                == p("/data/conf"))
        #expect(
            run.call("openat", ret: 5, [3, 0, O.rdonly], paths: ["/abs//x"], file: .regular()).activities.first?.path
                == p("/abs/x"), "an absolute name ignores the dirfd")
        #expect(
            run.call("openat2", ret: 6, [3, 0, 24], paths: ["two"], file: .regular()).activities.first?.path
                == p("/data/two"))
        #expect(run.call("mkdirat", ret: 0, [3, 0o755], paths: ["new"]).activities.first?.path == p("/data/new"))
        #expect(
            run.call("unlinkat", ret: 0, [3, 0, 0], paths: ["old.txt"]).activities.first?.path == p("/data/old.txt"))
        let chmod = try #require(run.call("fchmodat", ret: 0, [3, 0, 0o600, 0], paths: ["conf"]).activities.first)
        #expect(chmod.action == .chmod && chmod.path == p("/data/conf") && chmod.mode == 0o600)
        let rename = try #require(
            run.call("renameat", ret: 0, [3, 0, atFDCWD, 0], paths: ["a", "b"]).activities.first)
        #expect(rename.from == p("/data/a") && rename.to == p("/home/u/b"))
        let link = try #require(
            run.call("linkat", ret: 0, [atFDCWD, 0, 3, 0, 0], paths: ["/etc/hosts", "hosts"]).activities.first)
        #expect(link.action == .link && link.from == p("/etc/hosts") && link.to == p("/data/hosts"))
        let symlink = try #require(
            run.call("symlinkat", ret: 0, [0, 3, 0], paths: ["../target", "sl"]).activities.first)
        #expect(
            symlink.action == .symlink && symlink.path == p("/data/sl") && symlink.to == p("../target"),
            "the link is resolved; its target is kept as written")

        let summary = try #require(run.exit().summaries.first)
        #expect(texts(summary.files.created) == ["/data/hosts", "/data/sl"])
        #expect(texts(summary.files.deleted) == ["/data/old.txt"])
        #expect(summary.files.renamed == [FileSummary.Rename(from: p("/data/a"), to: p("/home/u/b"))])
        #expect(texts(summary.files.metadata) == ["/data/conf"])
        #expect(texts(summary.files.directoriesCreated) == ["/data/new"])
        #expect(texts(summary.files.read) == ["/abs/x", "/data/conf", "/data/two"])
    }

    @Test func truncatedPathIsMarked() throws {
        var run = Run()
        let open = try #require(
            run.call(
                "openat", ret: 3, [atFDCWD, 0, O.rdonly], paths: ["/very/long"], truncated: [true],
                file: .regular()
            ).activities.first)
        #expect(open.truncated)
    }

    // MARK: - Descriptors

    /// dup2 onto an open fd: the totals the kernel put on the dup2 record are the
    /// old file's; what is written through the fd afterwards is the new file's.
    @Test func dup2AttributesWritesToTheRightFile() throws {
        var run = Run(files: [1: OpenFile(kind: .other, path: p("/dev/pts/0"), writable: true)])
        run.call(
            "openat", ret: 3, [atFDCWD, 0, O.wronly | O.append], paths: ["/t/log"], file: .regular(writable: true))
        let replaced = run.call("dup2", ret: 1, [3, 1], io: io(written: 7, writes: 1)).activities
        #expect(replaced.count == 1)
        #expect(replaced.first?.action == .write && replaced.first?.fd == 1)
        #expect(
            replaced.first?.path == p("/dev/pts/0") && replaced.first?.bytes == 7, "the terminal's bytes, not the log's"
        )

        #expect(run.call("close", ret: 0, [3]).activities.isEmpty, "nothing went through fd 3")
        #expect(run.probe(1)?.path == p("/t/log"))
        #expect(run.probe(3)?.path == nil)

        let write = try #require(run.call("close", ret: 0, [1], io: io(written: 42, writes: 3)).activities.first)
        #expect(
            write.action == .write && write.fd == 1 && write.path == p("/t/log") && write.bytes == 42
                && write.calls == 3)

        let summary = try #require(run.exit().summaries.first)
        #expect(texts(summary.files.modified) == ["/t/log"])
        #expect(summary.files.created.isEmpty)
    }

    /// Totals the kernel still holds at exit are looked up for the fds open then, under the file dup'ed there.
    @Test func totalsAtExitFollowDup2() throws {
        var run = Run()
        run.call(
            "openat", ret: 3, [atFDCWD, 0, O.wronly | O.creat | O.trunc], paths: ["/t/out"],
            file: .regular(writable: true, created: true))
        run.call("dup2", ret: 1, [3, 1])
        run.call("close", ret: 0, [3])
        run.system.hold(pid: 100, fd: 1, generation: 0, io(written: 99, writes: 2))
        let records = run.exit()
        let write = try #require(records.activities.first { $0.action == .write })
        #expect(write.fd == 1 && write.path == p("/t/out") && write.bytes == 99 && write.calls == 2)
        #expect(run.system.ioQueries.last?.fds == [1])
        #expect(run.system.ioQueries.last?.generations == 0...0)
        #expect(texts(try #require(records.summaries.first).files.created) == ["/t/out"])
    }

    /// A forked child starts in the kernel's first io generation, whatever the
    /// parent's: at its exec the child's own totals are looked up, and the
    /// totals of what it opens after the exec are not taken early.
    @Test func forkedChildCountsGenerationsFromTheFirst() throws {
        var run = Run()
        run.handle(Make.exec(run.tick(), pid: 100, comm: "sh", path: "/bin/sh", argv: ["sh"]))
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly], paths: ["/t/a"], file: .regular())
        run.handle(Make.fork(run.tick(), pid: 100, child: 101))
        run.system.hold(pid: 101, fd: 3, generation: 0, io(read: 4, reads: 1))
        // The child's exec, and the 900 reads its new program made on fd 3
        // (a new file, in generation 1) before the exec was decoded.
        run.system.hold(pid: 101, fd: 3, generation: 1, io(read: 900, reads: 900))
        let exec = Event.Exec(filename: p("/bin/storm"), argv: [p("storm")], oldTid: 101, ioEntries: 2)
        run.handle(Event(ktime: run.tick(), pid: 101, tid: 101, comm: p("storm"), body: .exec(exec)))
        #expect(run.system.ioQueries.last?.generations == 0...0)
        run.call("close", ret: 0, [3], pid: 101)  // the parent's file, read 4 bytes in generation 0
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly], paths: ["/t/b"], file: .regular(), pid: 101)
        let read = try #require(
            run.call("close", ret: 0, [3], io: io(read: 100, reads: 100), pid: 101).activities.first)
        #expect(read.path == p("/t/b") && read.bytes == 100 && read.calls == 100)
        #expect(run.system.held[.init(pid: 101, fd: 3, generation: 1)]?.reads == 900, "taken before its time")
    }

    /// dup and F_DUPFD share the file: ftruncate through the copy names it.
    @Test func ftruncateThroughADupedDescriptor() throws {
        var run = Run()
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdwr], paths: ["/t/f"], file: .regular(writable: true))
        run.call("dup", ret: 4, [3])
        run.call("fcntl", ret: 9, [3, 0, 9])  // F_DUPFD
        let truncate = try #require(run.call("ftruncate", ret: 0, [4, 0]).activities.first)
        #expect(truncate.action == .truncate && truncate.path == p("/t/f"))
        #expect(run.probe(9)?.path == p("/t/f"))
        let summary = try #require(run.exit().summaries.first)
        #expect(texts(summary.files.modified) == ["/t/f"])
    }

    @Test func closeRangeReportsTheClosedAndCarriesTheRest() throws {
        var run = Run()
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly], paths: ["/t/a"], file: .regular())
        run.call("openat", ret: 4, [atFDCWD, 0, O.wronly], paths: ["/t/b"], file: .regular(writable: true))
        run.call("openat", ret: 5, [atFDCWD, 0, O.rdonly], paths: ["/t/c"], file: .regular())
        run.system.hold(pid: 100, fd: 3, generation: 0, io(read: 5, reads: 1))
        run.system.hold(pid: 100, fd: 4, generation: 0, io(written: 9, writes: 1))
        run.system.hold(pid: 100, fd: 5, generation: 0, io(read: 2, reads: 1))

        let closed = run.call("close_range", ret: 0, [4, 5, 0]).activities
        #expect(closed.map(\.fd) == [4, 5])
        #expect(closed.map(\.action) == [.write, .read])
        #expect(closed.map(\.path) == [p("/t/b"), p("/t/c")])
        #expect(closed.map(\.bytes) == [9, 2])
        #expect(run.system.ioQueries.last?.generations == 0...0)
        #expect(Set(run.system.ioQueries.last?.fds ?? []) == [3, 4, 5])
        #expect(run.probe(4)?.path == nil && run.probe(5)?.path == nil)
        #expect(run.probe(3)?.path == p("/t/a"))

        // fd 3's generation-0 totals were carried; the close brings generation 1's.
        let read = try #require(run.call("close", ret: 0, [3], io: io(read: 1, reads: 1)).activities.first)
        #expect(read.path == p("/t/a") && read.bytes == 6 && read.calls == 2)

        // A file opened after close_range is in generation 1.
        run.call("openat", ret: 4, [atFDCWD, 0, O.rdonly], paths: ["/t/d"], file: .regular())
        run.system.hold(pid: 100, fd: 4, generation: 1, io(read: 3, reads: 1))
        let records = run.exit()
        #expect(run.system.ioQueries.last?.generations == 0...1)
        #expect(records.activities.first { $0.path == p("/t/d") }?.bytes == 3)
        let summary = try #require(records.summaries.first)
        #expect(texts(summary.files.modified) == ["/t/b"])
        #expect(texts(summary.files.read) == ["/t/a", "/t/c", "/t/d"])
    }

    /// CLOSE_RANGE_CLOEXEC closes nothing now; exec does.
    @Test func closeRangeCloexecOnlyMarks() throws {
        var run = Run()
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly], paths: ["/t/a"], file: .regular())
        run.call("openat", ret: 4, [atFDCWD, 0, O.rdonly], paths: ["/t/b"], file: .regular())
        #expect(run.call("close_range", ret: 0, [4, UInt64(UInt32.max), 4]).activities.isEmpty)
        #expect(run.probe(4)?.path == p("/t/b"))
        run.handle(Make.exec(run.tick(), pid: 100, comm: "prog", path: "/bin/prog", argv: ["prog"]))
        #expect(run.probe(4)?.path == nil)
        #expect(run.probe(3)?.path == p("/t/a"))
    }

    @Test func execClosesCloseOnExecDescriptors() throws {
        var run = Run()
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly | O.cloexec], paths: ["/t/a"], file: .regular())
        run.call("openat", ret: 4, [atFDCWD, 0, O.wronly], paths: ["/t/b"], file: .regular(writable: true))
        run.call("fcntl", ret: 10, [4, 1030, 10])  // F_DUPFD_CLOEXEC
        run.call("openat", ret: 5, [atFDCWD, 0, O.wronly], paths: ["/t/c"], file: .regular(writable: true))
        run.call("fcntl", ret: 0, [5, 2, 1])  // F_SETFD FD_CLOEXEC
        run.call("pipe2", ret: 0, [0, O.cloexec], sockaddr: pair(6, 7))
        run.call("dup3", ret: 8, [4, 8, O.cloexec])
        for (fd, totals) in [
            (3, io(read: 100, reads: 2)), (4, io(written: 5, writes: 1)), (5, io(written: 1, writes: 1)),
            (8, io(written: 2, writes: 1)), (10, io(written: 3, writes: 1)),
        ] as [(Int32, Event.IOTotals)] {
            run.system.hold(pid: 100, fd: fd, generation: 0, totals)
        }

        let records = run.handle(Make.exec(run.tick(), pid: 100, comm: "prog", path: "./prog", argv: ["./prog"]))
        #expect(records.tags == ["read", "write", "write", "write", "exec"])
        #expect(records.activities.map(\.fd) == [3, 5, 8, 10])
        #expect(records.activities.map(\.path) == [p("/t/a"), p("/t/c"), p("/t/b"), p("/t/b")])
        #expect(records.activities.map(\.bytes) == [100, 1, 2, 3])
        #expect(records.processes.first?.path == p("/home/u/prog"), "exec of a relative name is shown absolute")
        for fd: Int32 in [3, 5, 6, 7, 8, 10] { #expect(run.probe(fd)?.path == nil, "fd \(fd) is close-on-exec") }
        #expect(run.probe(4)?.path == p("/t/b"))

        let write = try #require(run.call("close", ret: 0, [4], io: io(written: 1, writes: 1)).activities.first)
        #expect(write.path == p("/t/b") && write.bytes == 6 && write.calls == 2, "carried across exec")
        let summary = try #require(run.exit(comm: "prog").summaries.first)
        #expect(texts(summary.files.modified) == ["/t/b", "/t/c"])
        #expect(texts(summary.files.read) == ["/t/a"])
    }

    /// Threads share one table and working directory; a forked child has its own copy.
    @Test func threadsShareTheTableAndForkCopiesIt() throws {
        var run = Run()
        run.handle(Make.thread(run.tick(), pid: 100, comm: "sh", child: 101))
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly], paths: ["/t/a"], file: .regular(), tid: 101)
        #expect(run.probe(3)?.path == p("/t/a"), "opened by another thread of the process")
        run.call("chdir", ret: 0, paths: ["/srv"], tid: 101)
        #expect(
            run.call("openat", ret: 4, [atFDCWD, 0, O.rdonly], paths: ["z"], file: .regular()).activities.first?.path
                == p("/srv/z"))

        run.handle(Make.fork(run.tick(), pid: 100, comm: "sh", child: 200))
        let closed = try #require(run.call("close", ret: 0, [3], io: io(read: 5, reads: 1), pid: 200).activities.first)
        #expect(closed.pid == 200 && closed.path == p("/t/a") && closed.bytes == 5)
        #expect(run.probe(3)?.path == p("/t/a"), "the parent's fd 3 is still open")
        run.call("openat", ret: 5, [atFDCWD, 0, O.rdonly], paths: ["child"], file: .regular(), pid: 200)
        #expect(run.probe(5, pid: 200)?.path == p("/srv/child"), "the child starts in the parent's directory")
        #expect(run.probe(5)?.path == nil, "the child's open is not the parent's")
        run.call("chdir", ret: 0, paths: ["/tmp"], pid: 200)
        #expect(
            run.call("openat", ret: 6, [atFDCWD, 0, O.rdonly], paths: ["y"], file: .regular()).activities.first?.path
                == p("/srv/y"))
    }

    // MARK: - Renames and removals

    @Test func renameChainsCollapseAndOpenFilesFollow() throws {
        var run = Run()
        run.call("openat", ret: 3, [atFDCWD, 0, O.wronly], paths: ["/t/a"], file: .regular(writable: true))
        run.call("rename", ret: 0, paths: ["/t/a", "/t/b"])
        run.call("chdir", ret: 0, paths: ["/t"])
        let second = try #require(
            run.call("renameat", ret: 0, [atFDCWD, 0, atFDCWD, 0], paths: ["b", "c"]).activities.first)
        #expect(second.action == .rename && second.from == p("/t/b") && second.to == p("/t/c"))
        let write = try #require(run.call("close", ret: 0, [3], io: io(written: 4, writes: 1)).activities.first)
        #expect(write.path == p("/t/c"), "the open file follows its renames")

        // Written to a new name, then moved into place without replacing: only the final name.
        run.call(
            "openat", ret: 3, [atFDCWD, 0, O.wronly | O.creat | O.excl], paths: ["new.tmp"],
            file: .regular(writable: true, created: true))
        run.call("close", ret: 0, [3], io: io(written: 10, writes: 1))
        run.call("renameat2", ret: 0, [atFDCWD, 0, atFDCWD, 0, 1], paths: ["new.tmp", "new"])  // RENAME_NOREPLACE

        let summary = try #require(run.exit().summaries.first)
        #expect(summary.files.renamed == [FileSummary.Rename(from: p("/t/a"), to: p("/t/c"))])
        #expect(texts(summary.files.modified) == ["/t/c"])
        #expect(texts(summary.files.created) == ["/t/new"])
        #expect(summary.files.deleted.isEmpty && summary.files.temporary.isEmpty)
        #expect(!summary.files.uncertain.contains(p("/t/new")), "RENAME_NOREPLACE says the target did not exist")
    }

    @Test func unlinkatRemoveDirIsRmdir() throws {
        var run = Run()
        #expect(run.call("mkdir", ret: 0, [0, 0o755], paths: ["/t/d"]).activities.first?.action == .mkdir)
        let rmdir = try #require(run.call("unlinkat", ret: 0, [atFDCWD, 0, 0x200], paths: ["/t/d"]).activities.first)
        #expect(rmdir.action == .rmdir && rmdir.path == p("/t/d"))
        run.call("openat", ret: 3, [atFDCWD, 0, O.rdonly | O.directory], paths: ["/t"], file: .directory)
        #expect(run.call("unlinkat", ret: 0, [3, 0, 0x200], paths: ["old"]).activities.first?.action == .rmdir)
        let unlink = try #require(run.call("unlinkat", ret: 0, [3, 0, 0], paths: ["file"]).activities.first)
        #expect(unlink.action == .unlink && unlink.path == p("/t/file"))
        let missing = try #require(run.call("unlinkat", ret: -2, [3, 0, 0], paths: ["missing"]).activities.first)
        #expect(missing.error == "ENOENT" && missing.path == p("/t/missing"))
        #expect(run.call("rmdir", ret: 0, paths: ["/t/e"]).activities.first?.action == .rmdir)

        let summary = try #require(run.exit().summaries.first)
        #expect(texts(summary.files.directoriesTemporary) == ["/t/d"])
        #expect(texts(summary.files.directoriesDeleted) == ["/t/e", "/t/old"])
        #expect(texts(summary.files.deleted) == ["/t/file"])
        #expect(summary.files.directoriesCreated.isEmpty && summary.files.temporary.isEmpty)
    }

    // MARK: - Created or modified

    /// The kernel's FMODE_CREATED, not O_CREAT, says a file is new.
    @Test func fmodeCreatedMeansCreate() throws {
        var run = Run()
        #expect(
            run.call(
                "openat", ret: 3, [atFDCWD, 0, O.wronly | O.creat], paths: ["/t/new"],
                file: .regular(writable: true, created: true)
            ).activities.first?.action == .create)
        let existing = try #require(
            run.call(
                "openat", ret: 4, [atFDCWD, 0, O.wronly | O.creat | O.trunc], paths: ["/t/existing"],
                file: .regular(writable: true)
            ).activities.first)
        #expect(existing.action == .open, "O_CREAT on a file that was there creates nothing")
        run.call(
            "openat", ret: 5, [atFDCWD, 0, O.wronly | O.creat | O.append], paths: ["/t/appended"],
            file: .regular(writable: true))
        run.call("close", ret: 0, [5], io: io(written: 3, writes: 1))
        #expect(
            run.call(
                "creat", ret: 6, [0, 0o644], paths: ["/t/c2"],
                file: .regular(writable: true, created: true)
            ).activities.first?.action == .create)
        run.call(
            "openat", ret: 7, [atFDCWD, 0, O.wronly | O.creat], paths: ["/t/tmp"],
            file: .regular(writable: true, created: true))
        run.call("close", ret: 0, [7], io: io(written: 1, writes: 1))
        run.call("unlink", ret: 0, paths: ["/t/tmp"])

        let summary = try #require(run.exit().summaries.first)
        #expect(texts(summary.files.created) == ["/t/c2", "/t/new"])
        #expect(texts(summary.files.modified) == ["/t/appended", "/t/existing"])
        #expect(texts(summary.files.temporary) == ["/t/tmp"])
        #expect(summary.files.deleted.isEmpty)
    }

    // MARK: - Network

    @Test func unixConnectNamesRemoteAndPeer() throws {
        var run = Run()
        run.system.sockets[777] = SocketState(
            family: "unix", type: "stream", inode: 777, remote: "/run/x.sock",
            peer: SocketPeer(pid: 900, comm: p("server")))
        let socket = try #require(
            run.call("socket", ret: 3, [1, 1 | O.cloexec, 0], file: .socket(777)).activities.first)
        #expect(socket.category == .network && socket.action == .socket && socket.fd == 3)
        #expect(socket.socket?.family == "unix" && socket.socket?.type == "stream")

        let connect = try #require(
            run.call(
                "connect", ret: 0, [3, 0, 20], sockaddr: sockaddrUnix("/run/x.sock"),
                file: .socket(777)
            ).activities.first)
        #expect(connect.action == .connect && connect.error == nil && connect.fd == 3)
        #expect(connect.socket?.family == "unix")
        #expect(connect.socket?.remote == "/run/x.sock")
        #expect(connect.socket?.peer == SocketPeer(pid: 900, comm: p("server")))

        let closing = run.call("close", ret: 0, [3], io: io(read: 20, written: 10, reads: 2, writes: 1)).activities
        #expect(closing.map(\.action) == [.recv, .send, .close])
        #expect(
            closing.allSatisfy {
                $0.category == .network && $0.socket?.peer?.pid == 900 && $0.socket?.remote == "/run/x.sock"
            })
        #expect(closing.map(\.bytes) == [20, 10, nil])

        let summary = try #require(run.exit().summaries.first)
        #expect(
            summary.network == [
                NetworkEndpoint(
                    family: "unix", type: "stream", local: nil, remote: "/run/x.sock",
                    peer: SocketPeer(pid: 900, comm: p("server")), bytesSent: 10, bytesReceived: 20)
            ])
    }

    /// A non-blocking connect (EINPROGRESS) is no failure. When the socket is
    /// gone by the time the record is read, the listener at the address is the peer.
    @Test func inetConnectInProgressFallsBackToTheListener() throws {
        var run = Run()
        let address = sockaddrInet([127, 0, 0, 1], port: 8080)
        run.system.listeners[address] = SocketPeer(pid: 901, comm: p("nginx"))
        run.call("socket", ret: 4, [2, 1 | 0o4000, 0], file: .socket(555))
        let connect = try #require(
            run.call("connect", ret: -115, [4, 0, 16], sockaddr: address, file: .socket(555)).activities.first)
        #expect(connect.error == nil, "EINPROGRESS is shown as no error")
        #expect(connect.socket?.family == "inet" && connect.socket?.type == "stream")
        #expect(connect.socket?.remote == "127.0.0.1:8080")
        #expect(connect.socket?.peer == SocketPeer(pid: 901, comm: p("nginx")))
        #expect(run.system.listenerQueries == [address])

        // With --io, read and write on a socket arrive one by one as recv and send.
        let send = try #require(run.call("write", ret: 50, [4, 0, 50]).activities.first)
        #expect(send.category == .network && send.action == .send && send.bytes == 50)
        let recv = try #require(run.call("read", ret: 30, [4, 0, 4096]).activities.first)
        #expect(recv.category == .network && recv.action == .recv && recv.bytes == 30)
        #expect(run.call("close", ret: 0, [4]).activities.map(\.action) == [.close])

        let summary = try #require(run.exit().summaries.first)
        #expect(
            summary.network == [
                NetworkEndpoint(
                    family: "inet", type: "stream", local: nil, remote: "127.0.0.1:8080",
                    peer: SocketPeer(pid: 901, comm: p("nginx")), bytesSent: 50, bytesReceived: 30)
            ])
    }

    @Test func failedConnectShowsTheErrno() throws {
        var run = Run()
        run.call("socket", ret: 3, [10, 1, 0], file: .socket(556))
        let connect = try #require(
            run.call(
                "connect", ret: -111, [3, 0, 28], sockaddr: sockaddrInet6(loopback6, port: 443),
                file: .socket(556)
            ).activities.first)
        #expect(connect.error == "ECONNREFUSED")
        #expect(connect.socket?.family == "inet6" && connect.socket?.remote == "[::1]:443")
        #expect(connect.socket?.peer == nil)
        #expect(run.system.listenerQueries.isEmpty, "no peer is looked for when nothing connected")
    }

    /// With --io, sendto/recvfrom (and sendmsg/recvmsg) return bytes: the line
    /// carries them as `bytes`, and the summary adds them up.
    @Test func sendtoAndRecvfromCarryBytes() throws {
        var run = Run()
        run.system.sockets[600] = SocketState(
            family: "unix", type: "stream", inode: 600, remote: "/run/y.sock",
            peer: SocketPeer(pid: 903, comm: p("y")))
        run.call("socket", ret: 3, [1, 1, 0], file: .socket(600))
        run.call("connect", ret: 0, [3, 0, 14], sockaddr: sockaddrUnix("/run/y.sock"), file: .socket(600))
        let send = try #require(run.call("sendto", ret: 1004, [3, 0, 1004, 0, 0, 0]).activities.first)
        #expect(send.action == .send && send.category == .network)
        #expect(send.bytes == 1004, "sendto returned 1004 bytes: \(send)")
        let sendmsg = try #require(run.call("sendmsg", ret: 6, [3, 0, 0]).activities.first)
        #expect(sendmsg.bytes == 6, "\(sendmsg)")
        let recv = try #require(run.call("recvfrom", ret: 300, [3, 0, 65536, 0, 0, 0]).activities.first)
        #expect(recv.action == .recv && recv.bytes == 300, "recvfrom returned 300 bytes: \(recv)")
        let recvmsg = try #require(run.call("recvmsg", ret: 8, [3, 0, 0]).activities.first)
        #expect(recvmsg.bytes == 8, "\(recvmsg)")
        run.call("close", ret: 0, [3])
        let summary = try #require(run.exit().summaries.first)
        #expect(summary.network.first?.bytesSent == 1010, "\(summary.network)")
        #expect(summary.network.first?.bytesReceived == 308, "\(summary.network)")
    }

    @Test func acceptNamesTheClientAsPeer() throws {
        var run = Run()
        run.system.sockets[2] = SocketState(
            family: "unix", type: "stream", inode: 2, local: "/run/srv.sock",
            peer: SocketPeer(pid: 902, comm: p("client")))
        run.call("socket", ret: 3, [1, 1, 0], file: .socket(1))
        let bind = try #require(
            run.call(
                "bind", ret: 0, [3, 0, 16], sockaddr: sockaddrUnix("/run/srv.sock"),
                file: .socket(1)
            ).activities.first)
        #expect(bind.action == .bind && bind.socket?.local == "/run/srv.sock")
        #expect(run.call("listen", ret: 0, [3, 5], file: .socket(1)).activities.first?.action == .listen)

        let accept = try #require(
            run.call(
                "accept4", ret: 4, [3, 0, 0, O.cloexec], sockaddr: [1, 0],
                file: .socket(2)
            ).activities.first)
        #expect(accept.action == .accept && accept.fd == 4 && accept.error == nil)
        #expect(accept.socket?.family == "unix" && accept.socket?.type == "stream")
        #expect(accept.socket?.local == "/run/srv.sock")
        #expect(accept.socket?.remote == nil, "an unbound client has no address")
        #expect(accept.socket?.peer == SocketPeer(pid: 902, comm: p("client")))

        run.call("close", ret: 0, [4], io: io(read: 11, written: 22, reads: 1, writes: 1))
        let summary = try #require(run.exit().summaries.first)
        #expect(summary.network.count == 1, "the listener itself is no endpoint: \(summary.network)")
        #expect(summary.network.first?.peer?.pid == 902)
        #expect(summary.network.first?.bytesReceived == 11 && summary.network.first?.bytesSent == 22)
    }

    /// A listener bound to port 0 gets its port from the kernel: the accepted
    /// socket's local address is the real one, as sock_diag tells it.
    @Test func acceptOnAnEphemeralPortShowsTheRealLocalAddress() throws {
        var run = Run()
        run.system.sockets[21] = SocketState(
            family: "inet", type: "stream", inode: 21, local: "127.0.0.1:40000",
            remote: "127.0.0.1:50000", peer: SocketPeer(pid: 904, comm: p("curl")))
        run.call("socket", ret: 3, [2, 1, 0], file: .socket(20))
        run.call("bind", ret: 0, [3, 0, 16], sockaddr: sockaddrInet([127, 0, 0, 1], port: 0), file: .socket(20))
        run.call("listen", ret: 0, [3, 5], file: .socket(20))
        let accept = try #require(
            run.call(
                "accept", ret: 4, [3, 0, 0], sockaddr: sockaddrInet([127, 0, 0, 1], port: 50000),
                file: .socket(21)
            ).activities.first)
        #expect(accept.socket?.remote == "127.0.0.1:50000")
        #expect(accept.socket?.peer?.pid == 904)
        #expect(accept.socket?.local == "127.0.0.1:40000", "not the port-0 address the listener asked for: \(accept)")
    }

    @Test func socketpairAndPipeDescriptors() throws {
        var run = Run()
        let pairRecord = try #require(
            run.call("socketpair", ret: 0, [1, 1, 0, 0], sockaddr: pair(3, 4)).activities.first)
        #expect(pairRecord.action == .socket && pairRecord.fd == 3 && pairRecord.socket?.family == "unix")
        #expect(run.probe(3)?.category == .network && run.probe(4)?.category == .network)
        run.call("pipe", ret: 0, [0], sockaddr: pair(5, 6))
        #expect(run.probe(5)?.category == .file && run.probe(5)?.path == nil)
        #expect(
            run.call("close", ret: 0, [5], io: io(read: 3, reads: 1)).activities.isEmpty, "a pipe is no data object")
    }

    @Test func socketAddressFormats() {
        #expect(SocketAddress.format(sockaddrUnix("/run/x.sock"))! == ("unix", "/run/x.sock"))
        #expect(SocketAddress.format([1, 0, 0] + p("abstract"))! == ("unix", "@abstract"))
        #expect(SocketAddress.format(sockaddrInet([10, 1, 2, 3], port: 80))! == ("inet", "10.1.2.3:80"))
        #expect(SocketAddress.format(sockaddrInet6(loopback6, port: 443))! == ("inet6", "[::1]:443"))
        let documentation: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1]
        #expect(SocketAddress.format(sockaddrInet6(documentation, port: 8080))! == ("inet6", "[2001:db8::1]:8080"))
        let mapped: [UInt8] = Array(repeating: 0, count: 10) + [0xff, 0xff, 1, 2, 3, 4]
        #expect(SocketAddress.format(sockaddrInet6(mapped, port: 1))! == ("inet6", "[::ffff:1.2.3.4]:1"))
        #expect(SocketAddress.format([2]) == nil)
    }

    // MARK: - Signals

    @Test func killNamesTargetAndSignal() throws {
        var run = Run()
        let kill = try #require(run.call("kill", ret: 0, [300, 15]).activities.first)
        #expect(kill.category == .process && kill.action == .signal && kill.target == 300 && kill.signal == 15)
        #expect(run.call("kill", ret: 0, [300, 0]).activities.isEmpty, "signal 0 only checks existence")
        let tgkill = try #require(run.call("tgkill", ret: 0, [300, 301, 9]).activities.first)
        #expect(tgkill.target == 301 && tgkill.signal == 9)
    }
}

// MARK: - Helpers

/// A tracker for `-- CMD` whose command (pid 100, in /home/u) is already
/// seeded, with a fake kernel and /proc.
private struct Run {
    let system = FakeSystem()
    var tracker: Tracker
    var ktime: UInt64 = 10_000

    init(cwd: String = "/home/u", files: [Int32: OpenFile] = [:]) {
        tracker = Tracker(mode: .command(root: 100), clock: testClock, system: system)
        var table = FileTable(cwd: p(cwd))
        for (fd, file) in files { table.open(fd, file) }
        tracker.seed(pid: 100, ppid: 50, comm: p("sh"), argv: [p("sh")], threads: [100], ktime: 1_000, files: table)
    }

    mutating func tick() -> UInt64 {
        ktime += 1_000
        return ktime
    }

    @discardableResult
    mutating func handle(_ event: Event) -> [Record] { tracker.handle(event) }

    /// One syscall by `pid` (thread `tid`), by its name in SyscallTable.
    @discardableResult
    mutating func call(
        _ name: String, ret: Int64, _ args: [UInt64] = [], paths: [String] = [], truncated: [Bool] = [],
        sockaddr: [UInt8] = [], file: Event.FileInfo? = nil, io: Event.IOTotals? = nil,
        pid: Int32 = 100, tid: Int32? = nil
    ) -> [Record] {
        let nr = SyscallTable.all.first { $0.name == name }!.nr
        let call = Event.Syscall(
            nr: nr, ret: ret, args: args, paths: paths.map(p), pathTruncated: truncated,
            sockaddr: sockaddr, file: file, io: io)
        return handle(Event(ktime: tick(), pid: pid, tid: tid ?? pid, comm: p("sh"), body: .syscall(call)))
    }

    /// What the table holds at `fd`: a failed write (EBADF) names the file it went to.
    mutating func probe(_ fd: Int32, pid: Int32 = 100) -> ActivityRecord? {
        call("write", ret: -9, [UInt64(fd), 0, 1], pid: pid).activities.first
    }

    mutating func exit(comm: String = "sh") -> [Record] {
        handle(Make.exit(tick(), pid: 100, comm: comm, code: Code.exited(0), parent: 50))
    }
}

/// The kernel's held io totals and /proc's sockets, as tables; every question is recorded.
private final class FakeSystem: SystemQueries {
    struct Key: Hashable {
        var pid: Int32, fd: Int32, generation: UInt32
    }

    var held: [Key: Event.IOTotals] = [:]
    var sockets: [UInt64: SocketState] = [:]
    var listeners: [[UInt8]: SocketPeer] = [:]
    var roots: [Int32: [UInt8]] = [:]
    var ioQueries: [(pid: Int32, fds: [Int32], generations: ClosedRange<UInt32>)] = []
    var listenerQueries: [[UInt8]] = []

    func hold(pid: Int32, fd: Int32, generation: UInt32, _ totals: Event.IOTotals) {
        held[Key(pid: pid, fd: fd, generation: generation)] = totals
    }

    func takeIOTotals(pid: Int32, fds: [Int32], generations: ClosedRange<UInt32>) -> [Int32: Event.IOTotals] {
        ioQueries.append((pid, fds, generations))
        var taken: [Int32: Event.IOTotals] = [:]
        for fd in fds {
            for generation in generations {
                guard let totals = held.removeValue(forKey: Key(pid: pid, fd: fd, generation: generation)) else {
                    continue
                }
                taken[fd] = taken[fd].map { $0 + totals } ?? totals
            }
        }
        return taken
    }

    func socket(inode: UInt64) -> SocketState? { sockets[inode] }

    func mountedRoot(of pid: Int32) -> [UInt8]? { roots[pid] }

    func listener(sockaddr: [UInt8]) -> SocketPeer? {
        listenerQueries.append(sockaddr)
        return listeners[sockaddr]
    }
}

/// Open flags, as x86-64 Linux spells them.
private enum O {
    static let rdonly: UInt64 = 0, wronly: UInt64 = 1, rdwr: UInt64 = 2
    static let creat: UInt64 = 0o100, excl: UInt64 = 0o200, trunc: UInt64 = 0o1000, append: UInt64 = 0o2000
    static let directory: UInt64 = 0o200000, cloexec: UInt64 = 0o2000000
}

private let atFDCWD = UInt64(bitPattern: -100)

extension Event.FileInfo {
    fileprivate static func regular(writable: Bool = false, created: Bool = false) -> Event.FileInfo {
        Event.FileInfo(
            inode: 1234, mode: (writable ? 0x2 : 0x1) | (created ? 0x100000 : 0), device: 8, inodeMode: 0o100644)
    }

    fileprivate static let directory = Event.FileInfo(inode: 99, mode: 0x1, device: 8, inodeMode: 0o040755)

    fileprivate static func socket(_ inode: UInt64) -> Event.FileInfo {
        Event.FileInfo(inode: inode, mode: 0x3, device: 0, inodeMode: 0o140777)
    }
}

private func p(_ text: String) -> [UInt8] { Array(text.utf8) }
private func texts(_ names: [[UInt8]]) -> [String] { names.map { String(decoding: $0, as: UTF8.self) } }

private func io(read: UInt64 = 0, written: UInt64 = 0, reads: UInt32 = 0, writes: UInt32 = 0) -> Event.IOTotals {
    Event.IOTotals(bytesRead: read, bytesWritten: written, reads: reads, writes: writes)
}

/// The int[2] of pipe(2) and socketpair(2), little-endian.
private func pair(_ a: Int32, _ b: Int32) -> [UInt8] {
    [a, b].flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: UInt32(bitPattern: value) >> (8 * $0)) } }
}

/// struct sockaddr_un with a path and its NUL.
private func sockaddrUnix(_ path: String) -> [UInt8] { [1, 0] + p(path) + [0] }

/// struct sockaddr_in: family (host order), port (network order), address, zero padding.
private func sockaddrInet(_ address: [UInt8], port: UInt16) -> [UInt8] {
    [2, 0, UInt8(port >> 8), UInt8(port & 0xff)] + address + Array(repeating: 0, count: 8)
}

private let loopback6: [UInt8] = Array(repeating: 0, count: 15) + [1]

/// struct sockaddr_in6: family, port, flowinfo, address, scope id.
private func sockaddrInet6(_ address: [UInt8], port: UInt16) -> [UInt8] {
    [10, 0, UInt8(port >> 8), UInt8(port & 0xff), 0, 0, 0, 0] + address + [0, 0, 0, 0]
}

extension Array where Element == Record {
    fileprivate var activities: [ActivityRecord] {
        compactMap { if case .activity(let record) = $0 { record } else { nil } }
    }
}
