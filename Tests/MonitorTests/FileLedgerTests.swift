import Monitor
import Testing

/// The summary's file buckets are the command's net effect: what a before/after snapshot
/// shows, with objects followed across renames.
@Suite struct FileLedgerTests {
    // MARK: - Files: one bucket each

    @Test func emptyLedgerSaysNothing() {
        let summary = FileLedger().summary()
        #expect(summary == FileSummary())
        #expect(summary.isEmpty)
    }

    @Test func createdAndWritten() {
        var ledger = FileLedger()
        ledger.opened(p("/t/new"), created: true, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("/t/new"))
        ledger.wrote(p("/t/new"))  // append
        ledger.changedMetadata(p("/t/new"))  // chmod of a new file is part of its creation
        #expect(buckets(ledger) == ["created": ["/t/new"]])
    }

    @Test func appendToExistingIsModified() {
        var ledger = FileLedger()
        ledger.opened(p("/t/log"), created: false, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("/t/log"))
        #expect(buckets(ledger) == ["modified": ["/t/log"]])
    }

    @Test func truncatingOpenReplacesContent() {
        var ledger = FileLedger()
        ledger.opened(p("/t/out"), created: false, writable: true, truncated: true, loader: false, directory: false)
        #expect(buckets(ledger) == ["modified": ["/t/out"]])
    }

    @Test func writableOpenWithoutWritingChangesNothing() {
        var ledger = FileLedger()
        ledger.opened(p("/t/f"), created: false, writable: true, truncated: false, loader: false, directory: false)
        #expect(buckets(ledger) == [:])
    }

    @Test func ftruncateThroughADupIsAWrite() {
        var ledger = FileLedger()
        ledger.opened(p("/t/f"), created: false, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("/t/f"))  // the tracer names the file behind the dup'ed fd
        #expect(buckets(ledger) == ["modified": ["/t/f"]])
    }

    @Test func deletingAnExistingFile() {
        var ledger = FileLedger()
        ledger.removed(p("/t/old"), directory: false)
        #expect(buckets(ledger) == ["deleted": ["/t/old"]])
    }

    @Test func createdThenDeletedIsTemporary() {
        var ledger = FileLedger()
        ledger.opened(p("/t/tmp.1"), created: true, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("/t/tmp.1"))
        ledger.read(p("/t/tmp.1"))
        ledger.removed(p("/t/tmp.1"), directory: false)
        #expect(buckets(ledger) == ["temporary": ["/t/tmp.1"]])
    }

    @Test func metadataOnly() {
        var ledger = FileLedger()
        ledger.changedMetadata(p("/t/a"))  // chmod
        ledger.changedMetadata(p("/t/a"))  // chown
        #expect(buckets(ledger) == ["metadata": ["/t/a"]])
    }

    @Test func metadataAndWriteIsModifiedOnly() {
        var ledger = FileLedger()
        ledger.changedMetadata(p("/t/a"))
        ledger.opened(p("/t/a"), created: false, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("/t/a"))
        #expect(buckets(ledger) == ["modified": ["/t/a"]])
    }

    @Test func readOnly() {
        var ledger = FileLedger()
        ledger.opened(
            p("/etc/passwd"), created: false, writable: false, truncated: false, loader: false,
            directory: false)
        ledger.read(p("/etc/passwd"))
        #expect(buckets(ledger) == ["read": ["/etc/passwd"]])
    }

    @Test func readThroughAReadWriteOpenWithoutWritingIsRead() {
        var ledger = FileLedger()
        ledger.opened(p("/t/db"), created: false, writable: true, truncated: false, loader: false, directory: false)
        ledger.read(p("/t/db"))
        #expect(buckets(ledger) == ["read": ["/t/db"]])
    }

    @Test func readThenWrittenIsNotRead() {
        var ledger = FileLedger()
        ledger.opened(p("/t/f"), created: false, writable: false, truncated: false, loader: false, directory: false)
        ledger.wrote(p("/t/f"))
        #expect(buckets(ledger) == ["modified": ["/t/f"]])
    }

    @Test func readThenDeletedIsListedInBoth() {
        var ledger = FileLedger()
        ledger.opened(p("/t/f"), created: false, writable: false, truncated: false, loader: false, directory: false)
        ledger.removed(p("/t/f"), directory: false)
        #expect(buckets(ledger) == ["read": ["/t/f"], "deleted": ["/t/f"]])
    }

    @Test func directoryListingIsNotARead() {
        var ledger = FileLedger()
        ledger.opened(p("/t"), created: false, writable: false, truncated: false, loader: false, directory: true)
        ledger.read(p("/t"))
        #expect(buckets(ledger) == [:])
    }

    @Test func loaderReadsAreListedApart() {
        var ledger = FileLedger()
        ledger.opened(
            p("/etc/ld.so.cache"), created: false, writable: false, truncated: false, loader: true,
            directory: false)
        ledger.opened(
            p("/lib/libc.so.6"), created: false, writable: false, truncated: false, loader: true,
            directory: false)
        ledger.read(p("/lib/libc.so.6"))  // the loader reads the ELF header
        ledger.opened(
            p("/t/input"), created: false, writable: false, truncated: false, loader: false,
            directory: false)
        #expect(buckets(ledger) == ["loaded": ["/etc/ld.so.cache", "/lib/libc.so.6"], "read": ["/t/input"]])
    }

    @Test func aLibraryTheCommandAlsoReadsItselfIsInBoth() {
        var ledger = FileLedger()
        ledger.opened(
            p("/lib/x.so"), created: false, writable: false, truncated: false, loader: true,
            directory: false)
        ledger.opened(
            p("/lib/x.so"), created: false, writable: false, truncated: false, loader: false,
            directory: false)
        #expect(buckets(ledger) == ["loaded": ["/lib/x.so"], "read": ["/lib/x.so"]])
    }

    // MARK: - Links and special files

    @Test func symlinkHardLinkAndFifoAreCreated() {
        var ledger = FileLedger()
        ledger.observed(p("/t/target"), exists: true)
        ledger.created(p("/t/sym"), directory: false)  // symlink
        ledger.created(p("/t/hard"), directory: false)  // link: the new name
        ledger.created(p("/t/fifo"), directory: false)  // mknod
        #expect(buckets(ledger) == ["created": ["/t/fifo", "/t/hard", "/t/sym"]])
    }

    // MARK: - Renames

    @Test func renameOfAnExistingFile() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: false, exchange: false)
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/b"]])
    }

    @Test func renameChainsCollapse() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: false, exchange: false)
        ledger.renamed(from: p("/t/b"), to: p("/t/c"), replaced: false, exchange: false)
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/c"]])
    }

    @Test func renameThereAndBackIsNothing() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: false, exchange: false)
        ledger.renamed(from: p("/t/b"), to: p("/t/a"), replaced: false, exchange: false)
        #expect(buckets(ledger) == [:])
    }

    @Test func renameOntoItselfIsNothing() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/a"), replaced: nil, exchange: false)
        #expect(buckets(ledger) == [:])
    }

    @Test func renamedAndWrittenIsAlsoModified() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: false, exchange: false)
        ledger.wrote(p("/t/b"))
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/b"], "modified": ["/t/b"]])
    }

    @Test func writtenThenRenamedIsModifiedUnderTheNewName() {
        var ledger = FileLedger()
        ledger.wrote(p("/t/a"))
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: false, exchange: false)
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/b"], "modified": ["/t/b"]])
    }

    @Test func renamedAndChmoddedIsAlsoMetadata() {
        var ledger = FileLedger()
        ledger.changedMetadata(p("/t/a"))
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: false, exchange: false)
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/b"], "metadata": ["/t/b"]])
    }

    @Test func renamedThenDeletedIsDeletedUnderItsOriginalName() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: false, exchange: false)
        ledger.removed(p("/t/b"), directory: false)
        #expect(buckets(ledger) == ["deleted": ["/t/a"]])
    }

    @Test func renameOverAnExistingFileReplacesIt() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: true, exchange: false)
        // b's old content is gone: b is modified, not deleted; a is renamed, not deleted.
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/b"], "modified": ["/t/b"]])
    }

    @Test func renameOverAFileThenOnwardsDeletesTheReplacedOne() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: true, exchange: false)
        ledger.renamed(from: p("/t/b"), to: p("/t/c"), replaced: false, exchange: false)
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/c"], "deleted": ["/t/b"]])
    }

    /// `sed -i`: read the file, write a temp file beside it, copy the mode, rename it over.
    @Test func sedInPlaceIsModified() {
        var ledger = FileLedger()
        ledger.opened(p("/t/conf"), created: false, writable: false, truncated: false, loader: false, directory: false)
        ledger.read(p("/t/conf"))
        ledger.opened(
            p("/t/sedAbC123"), created: true, writable: true, truncated: false, loader: false,
            directory: false)
        ledger.changedMetadata(p("/t/sedAbC123"))  // fchmod
        ledger.wrote(p("/t/sedAbC123"))
        ledger.renamed(from: p("/t/sedAbC123"), to: p("/t/conf"), replaced: nil, exchange: false)
        // The ledger knew conf existed, so nothing was guessed.
        #expect(buckets(ledger) == ["modified": ["/t/conf"], "read": ["/t/conf"]])
    }

    @Test func tempFileRenamedOntoAnExistingNameIsModified() {
        var ledger = FileLedger()
        ledger.opened(p("/t/.x.tmp"), created: true, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("/t/.x.tmp"))
        ledger.renamed(from: p("/t/.x.tmp"), to: p("/t/x"), replaced: true, exchange: false)
        #expect(buckets(ledger) == ["modified": ["/t/x"]])
    }

    @Test func tempFileRenamedOntoANewNameListsOnlyTheFinalName() {
        var ledger = FileLedger()
        ledger.opened(
            p("/t/lock.tmp"), created: true, writable: true, truncated: false, loader: false,
            directory: false)
        ledger.wrote(p("/t/lock.tmp"))
        ledger.renamed(from: p("/t/lock.tmp"), to: p("/t/lock"), replaced: false, exchange: false)
        #expect(buckets(ledger) == ["created": ["/t/lock"]])
    }

    @Test func tempFileRenamedOverAFileThenDeleted() {
        var ledger = FileLedger()
        ledger.created(p("/t/tmp"), directory: false)
        ledger.renamed(from: p("/t/tmp"), to: p("/t/f"), replaced: true, exchange: false)
        ledger.removed(p("/t/f"), directory: false)
        #expect(buckets(ledger) == ["deleted": ["/t/f"], "temporary": ["/t/tmp"]])
    }

    @Test func aNewFileDisplacedByARenameIsNotAlsoTemporary() {
        var ledger = FileLedger()
        ledger.created(p("/t/x"), directory: false)
        ledger.created(p("/t/y"), directory: false)
        ledger.renamed(from: p("/t/y"), to: p("/t/x"), replaced: true, exchange: false)
        #expect(buckets(ledger) == ["created": ["/t/x"]])
    }

    /// Log rotation: the old file moves away and a new one takes its name.
    @Test func renameAwayThenRecreateIsRenamedAndModified() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/log"), to: p("/t/log.1"), replaced: false, exchange: false)
        ledger.opened(p("/t/log"), created: true, writable: true, truncated: false, loader: false, directory: false)
        #expect(buckets(ledger) == ["renamed": ["/t/log -> /t/log.1"], "modified": ["/t/log"]])
    }

    @Test func exchangeSwapsTwoExistingFiles() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: true, exchange: true)
        #expect(
            buckets(ledger) == [
                "renamed": ["/t/a -> /t/b", "/t/b -> /t/a"],
                "modified": ["/t/a", "/t/b"],
            ])
    }

    @Test func exchangeTwiceIsNothing() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: true, exchange: true)
        ledger.renamed(from: p("/t/b"), to: p("/t/a"), replaced: true, exchange: true)
        #expect(buckets(ledger) == [:])
    }

    @Test func exchangeWithANewFileInstallsIt() {
        var ledger = FileLedger()
        ledger.created(p("/t/new"), directory: false)
        ledger.renamed(from: p("/t/new"), to: p("/t/cur"), replaced: true, exchange: true)
        // cur holds new content; the old cur now lives at /t/new.
        #expect(buckets(ledger) == ["modified": ["/t/cur"], "renamed": ["/t/cur -> /t/new"]])
    }

    // MARK: - Unknown prior existence

    @Test func unknownRenameTargetIsGuessedAbsentAndFlagged() {
        var ledger = FileLedger()
        ledger.created(p("/t/tmp"), directory: false)
        ledger.renamed(from: p("/t/tmp"), to: p("/t/out"), replaced: nil, exchange: false)
        #expect(buckets(ledger) == ["created": ["/t/out"], "uncertain": ["/t/out"]])
    }

    @Test func knownTargetNeedsNoGuess() {
        var ledger = FileLedger()
        ledger.observed(p("/t/out"), exists: true)  // e.g. a stat before the rename
        ledger.created(p("/t/tmp"), directory: false)
        ledger.renamed(from: p("/t/tmp"), to: p("/t/out"), replaced: nil, exchange: false)
        #expect(buckets(ledger) == ["modified": ["/t/out"]])
    }

    @Test func knownAbsentTargetNeedsNoGuess() {
        var ledger = FileLedger()
        ledger.observed(p("/t/out"), exists: false)
        ledger.renamed(from: p("/t/a"), to: p("/t/out"), replaced: nil, exchange: false)
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/out"]])
    }

    @Test func existingFileRenamedOntoAnUnknownTargetIsFlagged() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: nil, exchange: false)
        #expect(buckets(ledger) == ["renamed": ["/t/a -> /t/b"], "uncertain": ["/t/b"]])
    }

    @Test func replacedTrueOverridesNothing() {
        // The kernel's word counts only while the ledger knows nothing: here it knew b was absent.
        var ledger = FileLedger()
        ledger.observed(p("/t/b"), exists: false)
        ledger.created(p("/t/a"), directory: false)
        ledger.renamed(from: p("/t/a"), to: p("/t/b"), replaced: true, exchange: false)
        #expect(buckets(ledger) == ["created": ["/t/b"]])
    }

    // MARK: - Prior existence

    @Test func observedAbsentThenCreatedIsCreated() {
        var ledger = FileLedger()
        ledger.observed(p("/t/f"), exists: false)  // open without O_CREAT failed with ENOENT
        ledger.opened(p("/t/f"), created: true, writable: true, truncated: false, loader: false, directory: false)
        #expect(buckets(ledger) == ["created": ["/t/f"]])
    }

    @Test func observationsAfterTheFirstSayNothingNew() {
        var ledger = FileLedger()
        ledger.observed(p("/t/f"), exists: false)
        ledger.observed(p("/t/f"), exists: true)
        #expect(buckets(ledger) == [:])
        ledger.wrote(p("/t/f"))  // something is there now, and it was not before
        #expect(buckets(ledger) == ["created": ["/t/f"]])
    }

    @Test func somethingUnderAnAbsentDirectoryIsNew() {
        var ledger = FileLedger()
        ledger.observed(p("/t/d"), exists: false)
        ledger.wrote(p("/t/d/f"))  // the mkdir and the create were lost
        #expect(buckets(ledger) == ["created": ["/t/d/f"]])
    }

    @Test func deleteThenRecreateIsModified() {
        var ledger = FileLedger()
        ledger.removed(p("/t/f"), directory: false)
        ledger.opened(p("/t/f"), created: true, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("/t/f"))
        #expect(buckets(ledger) == ["modified": ["/t/f"]])
    }

    @Test func deleteRecreateDeleteIsDeletedOnly() {
        var ledger = FileLedger()
        ledger.removed(p("/t/f"), directory: false)
        ledger.created(p("/t/f"), directory: false)
        ledger.removed(p("/t/f"), directory: false)
        #expect(buckets(ledger) == ["deleted": ["/t/f"]])
    }

    @Test func createdOverAnUnseenRemovalIsModified() {
        // The kernel says the open created f, yet the ledger had seen f existing: the unlink was lost.
        var ledger = FileLedger()
        ledger.observed(p("/t/f"), exists: true)
        ledger.opened(p("/t/f"), created: true, writable: true, truncated: false, loader: false, directory: false)
        #expect(buckets(ledger) == ["modified": ["/t/f"]])
    }

    @Test func fileReplacedByADirectory() {
        var ledger = FileLedger()
        ledger.removed(p("/t/x"), directory: false)
        ledger.created(p("/t/x"), directory: true)
        #expect(buckets(ledger) == ["deleted": ["/t/x"], "directories.created": ["/t/x"]])
    }

    // MARK: - Directories

    @Test func mkdirParentsThenRmdir() {
        var ledger = FileLedger()
        ledger.observed(p("/t"), exists: true)  // mkdir -p: EEXIST on the existing part
        ledger.created(p("/t/d"), directory: true)
        ledger.created(p("/t/d/e"), directory: true)
        ledger.created(p("/t/d/e/f"), directory: true)
        ledger.removed(p("/t/d/e/f"), directory: true)
        #expect(buckets(ledger) == ["directories.created": ["/t/d", "/t/d/e"], "directories.temporary": ["/t/d/e/f"]])
        ledger.removed(p("/t/d/e"), directory: true)
        ledger.removed(p("/t/d"), directory: true)
        #expect(buckets(ledger) == ["directories.temporary": ["/t/d", "/t/d/e", "/t/d/e/f"]])
    }

    @Test func filesInANewDirectoryAreCreated() {
        var ledger = FileLedger()
        ledger.created(p("/t/d"), directory: true)
        ledger.opened(p("/t/d/f"), created: true, writable: true, truncated: false, loader: false, directory: false)
        #expect(buckets(ledger) == ["directories.created": ["/t/d"], "created": ["/t/d/f"]])
    }

    @Test func rmdirOfAnExistingDirectory() {
        var ledger = FileLedger()
        ledger.removed(p("/t/old"), directory: true)
        #expect(buckets(ledger) == ["directories.deleted": ["/t/old"]])
    }

    @Test func rmdirTakesWhatTheLedgerStillHeldBelow() {
        // rmdir succeeds only when empty: the unlink of f was lost, but f is gone all the same.
        var ledger = FileLedger()
        ledger.read(p("/t/d/f"))
        ledger.created(p("/t/d/g"), directory: false)
        ledger.removed(p("/t/d"), directory: true)
        #expect(
            buckets(ledger) == [
                "deleted": ["/t/d/f"], "read": ["/t/d/f"],
                "temporary": ["/t/d/g"], "directories.deleted": ["/t/d"],
            ])
    }

    @Test func directoryReplacedByADirectoryIsNoChange() {
        var ledger = FileLedger()
        ledger.removed(p("/t/d"), directory: true)
        ledger.created(p("/t/d"), directory: true)
        #expect(buckets(ledger) == [:])
    }

    @Test func directoryMetadata() {
        var ledger = FileLedger()
        ledger.opened(p("/t/d"), created: false, writable: false, truncated: false, loader: false, directory: true)
        ledger.changedMetadata(p("/t/d"))
        #expect(buckets(ledger) == ["metadata": ["/t/d"]])
    }

    @Test func renamingADirectoryCarriesWhatIsBelow() {
        var ledger = FileLedger()
        ledger.read(p("/t/d/keep"))
        ledger.wrote(p("/t/d/x"))
        ledger.renamed(from: p("/t/d"), to: p("/t/e"), replaced: false, exchange: false)
        ledger.wrote(p("/t/e/y"))  // first seen after the move: it was /t/d/y
        ledger.removed(p("/t/e/z"), directory: false)  // deleted under its original name
        ledger.created(p("/t/e/new"), directory: false)
        #expect(
            buckets(ledger) == [
                "renamed": ["/t/d -> /t/e"],
                "modified": ["/t/e/x", "/t/e/y"],
                "read": ["/t/e/keep"],
                "deleted": ["/t/d/z"],
                "created": ["/t/e/new"],
            ])
    }

    @Test func aRenameInsideAMovedDirectoryIsItsOwn() {
        var ledger = FileLedger()
        ledger.read(p("/t/d/x"))
        ledger.renamed(from: p("/t/d"), to: p("/t/e"), replaced: false, exchange: false)
        ledger.renamed(from: p("/t/e/x"), to: p("/t/e/y"), replaced: false, exchange: false)
        #expect(
            buckets(ledger) == [
                "renamed": ["/t/d -> /t/e", "/t/d/x -> /t/e/y"],
                "read": ["/t/e/y"],
            ])
    }

    @Test func aFileMovedOutAndBackWithItsDirectory() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/d/x"), to: p("/t/d/y"), replaced: false, exchange: false)
        ledger.renamed(from: p("/t/d"), to: p("/t/e"), replaced: false, exchange: false)
        ledger.renamed(from: p("/t/e/y"), to: p("/t/e/x"), replaced: false, exchange: false)
        #expect(buckets(ledger) == ["renamed": ["/t/d -> /t/e"]])
    }

    @Test func aDeepFileMovesWithAnAncestorTheLedgerNeverSaw() {
        var ledger = FileLedger()
        ledger.read(p("/t/d/a/b/f"))
        ledger.renamed(from: p("/t/d"), to: p("/t/e"), replaced: false, exchange: false)
        ledger.wrote(p("/t/e/a/b/f"))  // the same file, not a new one
        ledger.removed(p("/t/d/a/b/f"), directory: false)  // nothing is there any more: its removal is a new object's
        #expect(
            buckets(ledger) == [
                "renamed": ["/t/d -> /t/e"],
                "modified": ["/t/e/a/b/f"],
                "temporary": ["/t/d/a/b/f"],
            ])
    }

    @Test func aNewDirectoryMovedIntoPlace() {
        var ledger = FileLedger()
        ledger.created(p("/t/.staging"), directory: true)
        ledger.created(p("/t/.staging/f"), directory: false)
        ledger.renamed(from: p("/t/.staging"), to: p("/t/pkg"), replaced: false, exchange: false)
        #expect(buckets(ledger) == ["directories.created": ["/t/pkg"], "created": ["/t/pkg/f"]])
    }

    @Test func directoryRenamedThenRecreatedUnderItsOldName() {
        var ledger = FileLedger()
        ledger.read(p("/t/d/x"))
        ledger.renamed(from: p("/t/d"), to: p("/t/e"), replaced: false, exchange: false)
        ledger.created(p("/t/d"), directory: true)
        ledger.created(p("/t/d/x"), directory: false)  // a new file in the new directory
        #expect(
            buckets(ledger) == [
                "renamed": ["/t/d -> /t/e"],
                "read": ["/t/e/x"],
                "created": ["/t/d/x"],
            ])
    }

    // MARK: - A mixed script, end to end

    /// Create, write, append, rename, chmod and unlink in a temp dir; mkdir -p and rmdir;
    /// a symlink and a hard link; a temporary file.
    @Test func mixedScriptOfFileOperations() {
        var ledger = FileLedger()
        let d = "/tmp/em.1"
        ledger.observed(p(d), exists: true)
        ledger.opened(p("\(d)/a"), created: true, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("\(d)/a"))
        ledger.opened(p("\(d)/a"), created: false, writable: true, truncated: false, loader: false, directory: false)
        ledger.wrote(p("\(d)/a"))  // append
        ledger.renamed(from: p("\(d)/a"), to: p("\(d)/b"), replaced: nil, exchange: false)
        ledger.changedMetadata(p("\(d)/b"))
        ledger.opened(p("\(d)/gone"), created: true, writable: true, truncated: false, loader: false, directory: false)
        ledger.removed(p("\(d)/gone"), directory: false)
        ledger.created(p("\(d)/p"), directory: true)
        ledger.created(p("\(d)/p/q"), directory: true)
        ledger.removed(p("\(d)/p/q"), directory: true)
        ledger.created(p("\(d)/sym"), directory: false)
        ledger.created(p("\(d)/hard"), directory: false)
        ledger.opened(
            p("/lib/x86_64-linux-gnu/libc.so.6"), created: false, writable: false, truncated: false,
            loader: true, directory: false)
        #expect(
            buckets(ledger) == [
                "created": ["\(d)/b", "\(d)/hard", "\(d)/sym"],
                "temporary": ["\(d)/gone"],
                "loaded": ["/lib/x86_64-linux-gnu/libc.so.6"],
                "directories.created": ["\(d)/p"],
                "directories.temporary": ["\(d)/p/q"],
                "uncertain": ["\(d)/b"],
            ])
    }

    // MARK: - Output form

    @Test func listsAreSortedByBytesWithoutDuplicates() {
        var ledger = FileLedger()
        let hostile: [UInt8] = p("/t/new\nline\u{1b}[31m") + [0xFF]
        for name in ["/t/bb", "/t/b", "/t/a", "/t/B", "/t/b", "/s"] { ledger.created(p(name), directory: false) }
        ledger.created(hostile, directory: false)
        ledger.created(p("/t/a"), directory: false)
        let summary = ledger.summary()
        #expect(summary.created == [p("/s"), p("/t/B"), p("/t/a"), p("/t/b"), p("/t/bb"), hostile])
    }

    @Test func renamesAreSortedByOldThenNewName() {
        var ledger = FileLedger()
        ledger.renamed(from: p("/t/z"), to: p("/t/a"), replaced: false, exchange: false)
        ledger.renamed(from: p("/t/m"), to: p("/t/n"), replaced: false, exchange: false)
        #expect(
            ledger.summary().renamed == [
                FileSummary.Rename(from: p("/t/m"), to: p("/t/n")),
                FileSummary.Rename(from: p("/t/z"), to: p("/t/a")),
            ])
    }

    @Test func summaryLeavesTheLedgerRecording() {
        var ledger = FileLedger()
        ledger.created(p("/t/f"), directory: false)
        let first = ledger.summary()
        #expect(ledger.summary() == first)
        ledger.removed(p("/t/f"), directory: false)
        #expect(buckets(ledger) == ["temporary": ["/t/f"]])
    }

    @Test func extractThenRemoveTheTree() {
        // tar x, then rm -rf: every file and directory came and went.
        var ledger = FileLedger()
        ledger.observed(p("/dev/shm"), exists: true)
        ledger.created(p("/dev/shm/x"), directory: true)
        for dir in 0..<100 {
            ledger.created(p("/dev/shm/x/d\(dir)"), directory: true)
            for file in 0..<30 {
                let name = p("/dev/shm/x/d\(dir)/f\(file)")
                ledger.opened(name, created: true, writable: true, truncated: false, loader: false, directory: false)
                ledger.wrote(name)
            }
        }
        for dir in 0..<100 {
            for file in 0..<30 { ledger.removed(p("/dev/shm/x/d\(dir)/f\(file)"), directory: false) }
            ledger.removed(p("/dev/shm/x/d\(dir)"), directory: true)
        }
        ledger.removed(p("/dev/shm/x"), directory: true)
        let summary = ledger.summary()
        #expect(summary.temporary.count == 3_000)
        #expect(summary.directoriesTemporary.count == 101)
        #expect(summary.created.isEmpty && summary.directoriesCreated.isEmpty && summary.deleted.isEmpty)
    }

    @Test func manyFilesStayCheap() {
        // A tarball extraction: thousands of files, each created and written; then all removed.
        var ledger = FileLedger()
        ledger.created(p("/dev/shm/x"), directory: true)
        for index in 0..<3_000 {
            let name = p("/dev/shm/x/dir\(index % 30)/file\(index)")
            if index < 30 { ledger.created(p("/dev/shm/x/dir\(index)"), directory: true) }
            ledger.opened(name, created: true, writable: true, truncated: false, loader: false, directory: false)
            ledger.wrote(name)
            ledger.renamed(from: name, to: name + p(".done"), replaced: false, exchange: false)
        }
        #expect(ledger.summary().created.count == 3_000)
        #expect(ledger.summary().directoriesCreated.count == 31)
    }
}

// MARK: - Helpers

private func p(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The non-empty buckets, as text: a failing test prints which bucket differs.
private func buckets(_ ledger: FileLedger) -> [String: [String]] {
    let summary = ledger.summary()
    func text(_ names: [[UInt8]]) -> [String] { names.map { String(decoding: $0, as: UTF8.self) } }
    let all: [String: [String]] = [
        "created": text(summary.created),
        "modified": text(summary.modified),
        "deleted": text(summary.deleted),
        "renamed": summary.renamed.map { "\(text([$0.from])[0]) -> \(text([$0.to])[0])" },
        "read": text(summary.read),
        "loaded": text(summary.loaded),
        "metadata": text(summary.metadata),
        "temporary": text(summary.temporary),
        "directories.created": text(summary.directoriesCreated),
        "directories.deleted": text(summary.directoriesDeleted),
        "directories.temporary": text(summary.directoriesTemporary),
        "uncertain": text(summary.uncertain),
    ]
    return all.filter { !$0.value.isEmpty }
}
