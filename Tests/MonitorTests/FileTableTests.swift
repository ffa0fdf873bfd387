import Monitor
import Testing

/// One process's descriptor table: open, close, dup, close-on-exec, fork copies,
/// and the io totals carried from an older io generation to the fd's close.
@Suite struct FileTableTests {
    @Test func openAndClose() {
        var table = FileTable(cwd: path("/home/u"))
        #expect(table.cwd == path("/home/u"))
        #expect(table.openDescriptors.isEmpty)
        table.open(5, file("/t/five"))
        table.open(3, file("/t/three"))
        #expect(table.openDescriptors == [3, 5], "sorted")
        #expect(table[3]?.path == path("/t/three"))
        #expect(table[4] == nil)

        #expect(table.close(3)?.path == path("/t/three"))
        #expect(table[3] == nil)
        #expect(table.close(3) == nil, "closing twice finds nothing")
        #expect(table.close(42) == nil)
        #expect(table.openDescriptors == [5])
    }

    @Test func openOnAnOpenDescriptorReplacesIt() {
        var table = FileTable()
        table.open(3, file("/t/old"))
        table.open(3, file("/t/new"))
        #expect(table[3]?.path == path("/t/new"))
        #expect(table.openDescriptors == [3])
    }

    @Test func dupSharesTheFile() {
        var table = FileTable()
        table.open(3, file("/t/a", writable: true))
        table.duplicate(3, to: 4, closeOnExec: false)
        #expect(table[4] == table[3])
        table.close(3)
        #expect(table[4]?.path == path("/t/a"), "closing the original leaves the copy")
        #expect(table[4]?.writable == true)
    }

    /// dup2(3, 1) with 1 open: 1 now names 3's file.
    @Test func dup2OntoAnOpenDescriptor() {
        var table = FileTable()
        table.open(1, file("/dev/pts/0"))
        table.open(3, file("/t/log"))
        table.duplicate(3, to: 1, closeOnExec: false)
        #expect(table[1]?.path == path("/t/log"))
        #expect(table[3]?.path == path("/t/log"))
        #expect(table.openDescriptors == [1, 3])
    }

    /// dup2 from an fd the table does not know: the target no longer names what it did.
    @Test func dupOfAnUnknownDescriptorForgetsTheTarget() {
        var table = FileTable()
        table.open(1, file("/dev/pts/0"))
        table.duplicate(7, to: 1, closeOnExec: false)
        #expect(table[1] == nil)
    }

    @Test func execClosesOnlyCloseOnExecDescriptors() {
        var table = FileTable()
        table.open(3, file("/t/cloexec"), closeOnExec: true)
        table.open(4, file("/t/kept"))
        table.duplicate(3, to: 5, closeOnExec: false)  // close-on-exec is per fd, not per file
        table.duplicate(4, to: 6, closeOnExec: true)  // F_DUPFD_CLOEXEC, dup3(O_CLOEXEC)
        table.open(7, file("/t/set-later"))
        table.setCloseOnExec(7, true)  // fcntl(F_SETFD, FD_CLOEXEC)
        table.open(8, file("/t/cleared"), closeOnExec: true)
        table.setCloseOnExec(8, false)

        let closed = table.exec()
        #expect(Set(closed.keys) == [3, 6, 7])
        #expect(closed[3]?.path == path("/t/cloexec"))
        #expect(closed[6]?.path == path("/t/kept"))
        #expect(table.openDescriptors == [4, 5, 8])
        #expect(table.exec().isEmpty, "a second exec closes nothing more")
    }

    /// A closed fd's flag must not stick to the number: the next file opened there is not close-on-exec.
    @Test func closeOnExecDoesNotOutliveTheDescriptor() {
        var table = FileTable()
        table.open(3, file("/t/a"), closeOnExec: true)
        table.close(3)
        table.open(3, file("/t/b"))
        #expect(table.exec().isEmpty)
        #expect(table[3]?.path == path("/t/b"))

        table.open(4, file("/t/c"), closeOnExec: true)
        table.open(4, file("/t/d"))  // reopened without O_CLOEXEC
        #expect(table.exec().isEmpty)

        table.open(5, file("/t/e"), closeOnExec: true)
        table.duplicate(9, to: 5, closeOnExec: false)  // dup2 from an unknown fd
        table.open(5, file("/t/f"))
        #expect(table.exec().isEmpty)

        table.setCloseOnExec(6, true)  // on an fd not open: ignored
        table.open(6, file("/t/g"))
        #expect(table.exec().isEmpty)
        #expect(table.openDescriptors == [3, 4, 5, 6])
    }

    /// fork copies the table: what the child does is not seen by the parent, and the reverse.
    @Test func forkCopiesTheTable() {
        var parent = FileTable(cwd: path("/home/u"))
        parent.open(3, file("/t/shared"), closeOnExec: true)
        parent.open(4, file("/t/kept"))
        var child = parent
        child.close(4)
        child.open(5, file("/t/child"))
        child.cwd = path("/tmp")
        #expect(parent.openDescriptors == [3, 4])
        #expect(parent.cwd == path("/home/u"))
        #expect(child.openDescriptors == [3, 5])
        #expect(Set(child.exec().keys) == [3], "close-on-exec flags are copied too")
        #expect(Set(parent.exec().keys) == [3])
    }

    @Test func updateChangesOnlyOpenDescriptors() {
        var table = FileTable()
        table.open(3, OpenFile(kind: .socket, writable: true, socket: SocketState(family: "unix", type: "stream")))
        table.update(3) { $0.socket?.remote = "/run/x.sock" }
        #expect(table[3]?.socket?.remote == "/run/x.sock")
        table.update(4) { $0.path = path("/t/x") }
        #expect(table[4] == nil, "update never opens")
    }

    // MARK: - Totals carried across io generations

    @Test func carriedTotalsAddUpAndAreTakenOnce() {
        var table = FileTable()
        table.open(3, file("/t/a"))
        table.carry(3, io(read: 10, reads: 1))
        table.carry(3, io(written: 5, writes: 2))
        #expect(
            table.takeCarried(3, adding: io(read: 1, written: 1, reads: 1, writes: 1))
                == io(read: 11, written: 6, reads: 2, writes: 3))
        #expect(table.takeCarried(3, adding: io(read: 7, reads: 1)) == io(read: 7, reads: 1), "already taken")
        #expect(table.takeCarried(3, adding: nil) == nil)
    }

    @Test func carriedTotalsWithoutNewOnes() {
        var table = FileTable()
        table.open(3, file("/t/a"))
        table.carry(3, io(written: 9, writes: 1))
        #expect(table.takeCarried(3, adding: nil) == io(written: 9, writes: 1))
        #expect(table.takeCarried(4, adding: nil) == nil)
    }

    /// close drops what was carried: a file opened later on the same number starts from nothing.
    @Test func closeDropsCarriedTotals() {
        var table = FileTable()
        table.open(3, file("/t/a"))
        table.carry(3, io(written: 9, writes: 1))
        table.close(3)
        table.open(3, file("/t/b"))
        #expect(table.takeCarried(3, adding: nil) == nil)
    }

    /// exec removes close-on-exec fds but keeps their carried totals for the caller to take.
    @Test func execKeepsCarriedTotalsOfTheFdsItCloses() {
        var table = FileTable()
        table.open(3, file("/t/a"), closeOnExec: true)
        table.carry(3, io(read: 4, reads: 1))
        _ = table.exec()
        #expect(table.takeCarried(3, adding: io(read: 1, reads: 1)) == io(read: 5, reads: 2))
    }

    @Test func ioGenerationStartsAtZeroAndIsCopied() {
        var table = FileTable()
        #expect(table.ioGeneration == 0)
        table.ioGeneration = 2
        let copy = table
        #expect(copy.ioGeneration == 2)
    }
}

private func path(_ text: String) -> [UInt8] { Array(text.utf8) }

private func file(_ name: String, writable: Bool = false) -> OpenFile {
    OpenFile(kind: .file, path: path(name), writable: writable)
}

private func io(read: UInt64 = 0, written: UInt64 = 0, reads: UInt32 = 0, writes: UInt32 = 0) -> Event.IOTotals {
    Event.IOTotals(bytesRead: read, bytesWritten: written, reads: reads, writes: writes)
}
