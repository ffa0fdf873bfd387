import BPFSources
import Monitor
import Testing

/// Records built from the C structs of bpf/events.h, as the BPF programs send them.
@Suite struct DecoderTests {
    private static let argvOffset = MemoryLayout<exec_event>.offset(of: \.argv)!

    private func header(
        _ kind: event_kind, size: Int, pid: UInt32 = 100, tid: UInt32 = 100,
        comm: [UInt8] = utf8("bash"), ktime: UInt64 = 123_456_789, cpu: UInt32 = 1
    ) -> event_header {
        var header = event_header()
        header.kind = UInt16(kind.rawValue)
        header.size = UInt16(size)
        header.cpu = UInt16(cpu)
        header.ktime = ktime
        header.pid = pid
        header.tid = tid
        withUnsafeMutableBytes(of: &header.comm) { raw in
            for (index, byte) in comm.prefix(raw.count).enumerated() { raw[index] = byte }
        }
        return header
    }

    /// Decodes the first `size` bytes of a C struct (all of it by default).
    private func decode<T>(_ record: T, size: Int? = nil) throws -> Event {
        try withUnsafeBytes(of: record) { raw in
            try Decoder().decode(UnsafeRawBufferPointer(rebasing: raw[0..<(size ?? raw.count)]))
        }
    }

    private func execRecord(
        argv: [UInt8], filename: [UInt8] = utf8("/bin/ls"), flags: UInt32 = 0,
        pid: UInt32 = 200, tid: UInt32 = 200, oldTid: UInt32 = 200
    ) -> (exec_event, Int) {
        var record = exec_event()
        let size = Self.argvOffset + argv.count
        record.header = header(EVENT_EXEC, size: size, pid: pid, tid: tid, comm: utf8("ls"))
        record.old_tid = oldTid
        record.flags = flags
        record.filename_len = UInt16(filename.count)
        record.argv_len = UInt16(argv.count)
        withUnsafeMutableBytes(of: &record.filename) { raw in
            for (index, byte) in filename.enumerated() { raw[index] = byte }
        }
        withUnsafeMutableBytes(of: &record.argv) { raw in
            for (index, byte) in argv.enumerated() { raw[index] = byte }
            // Stale bytes past argv_len must never be read.
            for index in argv.count..<min(argv.count + 8, raw.count) { raw[index] = UInt8(ascii: "Z") }
        }
        return (record, size)
    }

    @Test func layoutsMatchTheHeader() {
        #expect(MemoryLayout<event_header>.size == 48)
        #expect(MemoryLayout<fork_event>.size == 80)
        #expect(MemoryLayout<exit_event>.size == 64)
        #expect(MemoryLayout<peer_event>.size == 80)
        #expect(MemoryLayout<exec_event>.size == 48 + 16 + 1024 + 4096)
        #expect(Self.argvOffset == 48 + 16 + 1024)
    }

    @Test func fork() throws {
        var record = fork_event()
        record.header = header(EVENT_FORK, size: MemoryLayout<fork_event>.size, pid: 100, tid: 101, comm: utf8("make"))
        record.child_pid = 300
        record.child_tid = 300
        record.parent_pid = 90
        record.flags = EVENT_FLAG_UNFOLLOWED.rawValue
        record.clone_flags = 0x01200011
        record.child_tag = 300 | 7 << TAG_PID_BITS
        let event = try decode(record)
        #expect(
            event
                == Event(
                    ktime: 123_456_789, cpu: 1, pid: 100, tid: 101, comm: utf8("make"),
                    body: .fork(
                        Event.Fork(
                            childPid: 300, childTid: 300, parentPid: 90, isThread: false, unfollowed: true,
                            cloneFlags: 0x01200011, childTag: 300 | 7 << TAG_PID_BITS))))
    }

    @Test func threadFork() throws {
        var record = fork_event()
        record.header = header(EVENT_FORK, size: MemoryLayout<fork_event>.size)
        record.child_pid = 100
        record.child_tid = 105
        record.parent_pid = 100
        record.flags = EVENT_FLAG_THREAD.rawValue
        guard case .fork(let fork) = try decode(record).body else { Issue.record("not a fork"); return }
        #expect(fork.isThread && !fork.unfollowed)
        #expect(fork.childTid == 105)
    }

    @Test func peerOfANewDaemon() throws {
        var record = peer_event()
        record.header = header(EVENT_PEER, size: MemoryLayout<peer_event>.size, pid: 500, tid: 501, comm: utf8("redis"))
        record.writer_pid = 100
        record.writer_tid = 101
        record.writer_inode = 77
        record.reader_inode = 78
        record.reader_fd = 9
        record.flags = EVENT_FLAG_NEW_DAEMON.rawValue
        guard case .peer(let peer) = try decode(record).body else { Issue.record("not a peer"); return }
        #expect(
            peer
                == Event.Peer(
                    writerPid: 100, writerTid: 101, writerInode: 77, readerInode: 78, readerFD: 9, newDaemon: true))
        record.flags = 0
        guard case .peer(let turned) = try decode(record).body else { Issue.record("not a peer"); return }
        #expect(!turned.newDaemon)
    }

    @Test func exit() throws {
        var record = exit_event()
        record.header = header(EVENT_EXIT, size: MemoryLayout<exit_event>.size, pid: 300, tid: 302, comm: utf8("cc1"))
        record.exit_code = 11 | 0x80
        record.flags = EVENT_FLAG_GROUP_DEAD.rawValue
        record.parent_pid = 150
        let event = try decode(record)
        #expect(
            event
                == Event(
                    ktime: 123_456_789, cpu: 1, pid: 300, tid: 302, comm: utf8("cc1"),
                    body: .exit(Event.Exit(code: 0x8b, groupDead: true, parentPid: 150, ioEntries: 0))))
        guard case .exit(let exit) = event.body else { Issue.record("not an exit"); return }
        #expect(exit.status == .signaled(11, coreDumped: true))
    }

    @Test func threadExitIsNotGroupDead() throws {
        var record = exit_event()
        record.header = header(EVENT_EXIT, size: MemoryLayout<exit_event>.size)
        record.exit_code = 1 << 8
        guard case .exit(let exit) = try decode(record).body else { Issue.record("not an exit"); return }
        #expect(!exit.groupDead)
        #expect(exit.status == .exited(1))
    }

    @Test func commFillsAllSixteenBytesOrStopsAtNUL() throws {
        var record = exit_event()
        record.header = header(EVENT_EXIT, size: MemoryLayout<exit_event>.size, comm: utf8("0123456789abcdef"))
        #expect(try decode(record).comm == utf8("0123456789abcdef"))
        record.header = header(EVENT_EXIT, size: MemoryLayout<exit_event>.size, comm: utf8("ab") + [0] + utf8("cd"))
        #expect(try decode(record).comm == utf8("ab"))
    }

    @Test func execCutAfterArgv() throws {
        let (record, size) = execRecord(argv: utf8("ls\0-l\0/tmp\0"))
        let event = try decode(record, size: size)
        #expect(
            event
                == Event(
                    ktime: 123_456_789, cpu: 1, pid: 200, tid: 200, comm: utf8("ls"),
                    body: .exec(
                        Event.Exec(
                            filename: utf8("/bin/ls"), argv: [utf8("ls"), utf8("-l"), utf8("/tmp")], oldTid: 200,
                            ioEntries: 0))))
    }

    @Test(arguments: [
        ("a\0\0b\0", ["a", "", "b"]),
        ("a\0\0", ["a", ""]),
        ("\0", [""]),
        ("", []),
    ])
    func emptyArguments(packed: String, expected: [String]) throws {
        let (record, size) = execRecord(argv: utf8(packed))
        guard case .exec(let exec) = try decode(record, size: size).body else { Issue.record("not an exec"); return }
        #expect(exec.argv == expected.map(utf8))
    }

    @Test func truncatedExec() throws {
        let flags = EVENT_FLAG_ARGV_TRUNCATED.rawValue | EVENT_FLAG_FILENAME_TRUNCATED.rawValue
        let (record, size) = execRecord(argv: utf8("a\0bc"), flags: flags)
        guard case .exec(let exec) = try decode(record, size: size).body else { Issue.record("not an exec"); return }
        #expect(exec.argv == [utf8("a"), utf8("bc")])
        #expect(exec.argvTruncated && exec.filenameTruncated)
    }

    @Test func execFromAThreadAndRawBytes() throws {
        let (record, size) = execRecord(
            argv: [0x66, 0xff, 0] + utf8("x\ny\0"), filename: [0x2f, 0xfe, 0x1b],
            pid: 200, tid: 200, oldTid: 203)
        let event = try decode(record, size: size)
        guard case .exec(let exec) = event.body else { Issue.record("not an exec"); return }
        #expect(exec.oldTid == 203 && event.tid == 200)
        #expect(exec.filename == [0x2f, 0xfe, 0x1b])
        #expect(exec.argv == [[0x66, 0xff], utf8("x\ny")])
        #expect(!exec.argvTruncated && !exec.filenameTruncated)
    }

    @Test func fullSizeExec() throws {
        let argv = [UInt8](repeating: UInt8(ascii: "a"), count: 4095) + [0]
        let (record, size) = execRecord(argv: argv, filename: [UInt8](repeating: UInt8(ascii: "f"), count: 1023))
        #expect(size == MemoryLayout<exec_event>.size)
        guard case .exec(let exec) = try decode(record, size: size).body else { Issue.record("not an exec"); return }
        #expect(exec.filename.count == 1023 && exec.filename.allSatisfy { $0 == UInt8(ascii: "f") })
        #expect(exec.argv.map(\.count) == [4095])
        #expect(exec.argv.first?.allSatisfy { $0 == UInt8(ascii: "a") } == true)
    }

    // MARK: - Malformed input

    @Test func shortBuffer() {
        let bytes = [UInt8](repeating: 0, count: 10)
        #expect(throws: Decoder.Failure.short(size: 10)) {
            try bytes.withUnsafeBytes { try Decoder().decode($0) }
        }
        #expect(throws: Decoder.Failure.short(size: 0)) {
            try [UInt8]().withUnsafeBytes { try Decoder().decode($0) }
        }
    }

    @Test func sizeFieldDisagreesWithTheBuffer() {
        var record = fork_event()
        record.header = header(EVENT_FORK, size: MemoryLayout<fork_event>.size)
        #expect(throws: Decoder.Failure.sizeMismatch(kind: 1, size: 63)) { try decode(record, size: 63) }
    }

    @Test func sizeFieldMustMatchEvenWhenTheBufferFitsTheStruct() {
        var record = fork_event()
        record.header = header(EVENT_FORK, size: 60)
        #expect(throws: Decoder.Failure.sizeMismatch(kind: 1, size: 80)) { try decode(record) }
        var (exec, size) = execRecord(argv: utf8("ls\0"))
        exec.header.size = UInt16(size + 1)
        #expect(throws: Decoder.Failure.sizeMismatch(kind: 2, size: size)) { try decode(exec, size: size) }
    }

    @Test func wrongSizeForTheKind() {
        var record = fork_event()
        record.header = header(EVENT_EXIT, size: MemoryLayout<fork_event>.size)  // a fork-sized exit
        #expect(throws: Decoder.Failure.sizeMismatch(kind: 3, size: 80)) { try decode(record) }
        record.header = header(EVENT_FORK, size: 56)
        #expect(throws: Decoder.Failure.sizeMismatch(kind: 1, size: 56)) { try decode(record, size: 56) }
    }

    @Test(arguments: [UInt16(0), 6, 9, 0xffff])
    func unknownKind(kind: UInt16) {
        var record = fork_event()
        record.header = header(EVENT_FORK, size: MemoryLayout<fork_event>.size)
        record.header.kind = kind
        #expect(throws: Decoder.Failure.unknownKind(kind)) { try decode(record) }
    }

    @Test func execNotCutAtArgvLength() {
        var (record, _) = execRecord(argv: utf8("ls\0"))
        let full = MemoryLayout<exec_event>.size
        record.header.size = UInt16(full)
        #expect(throws: Decoder.Failure.sizeMismatch(kind: 2, size: full)) { try decode(record, size: full) }
    }

    @Test func execShorterThanItsFixedPart() {
        var (record, _) = execRecord(argv: [])
        record.header.size = 48
        #expect(throws: Decoder.Failure.sizeMismatch(kind: 2, size: 48)) { try decode(record, size: 48) }
    }

    @Test func execFilenameLengthOutOfRange() {
        var (record, size) = execRecord(argv: utf8("ls\0"))
        record.filename_len = 1024
        #expect(throws: Decoder.Failure.sizeMismatch(kind: 2, size: size)) { try decode(record, size: size) }
    }
}
