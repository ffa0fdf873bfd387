import Foundation
import Glibc
import Testing

/// File activity: a script run as `-- sh -c SCRIPT` in a fresh directory on
/// /dev/shm, after a set-up step made the files that exist before the monitor
/// starts. The summary must list exactly the right objects in the right
/// buckets, the stream must show every operation with absolute paths, and the
/// summary must agree with a before/after snapshot of the directory (the
/// output contract: the summary gives the command's net effect on the
/// filesystem).
///
/// A suite of its own (for `--filter FileActivityTests`) nested in the
/// serialized `IntegrationTests`, so it never runs alongside the other probe tests.
extension IntegrationTests {
    @Suite struct FileActivityTests {
        init() throws {
            try #require(geteuid() == 0, "the file activity tests load BPF programs and must run as root")
        }

        /// `FileScenario.everyOperation` run once under `--format json`, with a
        /// snapshot of the directory before and after; the tests below each
        /// check one part of it. The directory is removed once the snapshots are taken.
        struct EveryOperationRun: @unchecked Sendable {  // immutable once made
            let run: Finished
            let objects: [[String: Any]]
            let root: FilePath
            let before: Snapshot
            let after: Snapshot

            init() throws {
                let space = try FileWorkspace(scenario: .everyOperation)
                defer { space.remove() }
                root = space.rootBytes
                before = try Snapshot.take(root)
                run = try Harness.monitor(["--format", "json", "--"] + space.command(.everyOperation))
                after = try Snapshot.take(root)
                guard !run.timedOut && run.status == 0 else { throw HarnessError("the script must succeed: \(run)") }
                do { objects = try run.json() } catch { throw HarnessError("\(error); \(run)") }
            }

            func path(_ relative: String) -> FilePath { root + [slashByte] + Array(relative.utf8) }
            var stream: FileStream { FileStream(objects: objects, root: root) }
            var hostileNew: FilePath { path("new\nline\u{1B}[31mred") }
            var hostileOld: FilePath { path("pre\n\u{1B}[1mhostile") }
            var hostileMoved: FilePath { path("moved\t\u{1B}[2J") + [0xFF] }
        }

        /// Made by the first test that needs it; a failed run fails each of them.
        static let everyOperation = Result { try EveryOperationRun() }

        /// The run ends cleanly: no process outlives the monitor, nothing is
        /// lost, and one summary with the script's exit code.
        @Test func everyOperationEndsWithOneSummary() throws {
            let all = try Self.everyOperation.get()
            #expect(!all.run.leftovers, "processes outlived the monitor")
            #expect(all.objects.lostTotal == 0, "events lost: \(all.objects.ofType("lost"))")
            let summaries = all.objects.ofType("summary")
            #expect(summaries.count == 1, "one summary: \(summaries.count)")
            let summary = try #require(summaries.first, "\(all.run)")
            #expect(summary.int("exit_code") == 0)
            #expect(summary.int("lost_events") == 0)
        }

        /// Each bucket of the summary, restricted to the directory, is exactly the
        /// expected list, and agrees with the snapshots before and after.
        @Test func everyOperationSummaryBuckets() throws {
            let all = try Self.everyOperation.get()
            let path = all.path
            let summary = try #require(all.objects.ofType("summary").first, "\(all.run)")
            let actual = try FileBuckets(summary: summary, under: all.root)
            var expected = FileBuckets()
            expected.created =
                ["a/b/relative.txt", "chunks.bin", "created.txt", "hardlink", "symlink", "zeros.bin"].map(path)
                + [all.hostileNew]
            expected.modified = ["pre_append.txt", "pre_overwrite.txt", "pre_sed.txt", "pre_truncate.txt"].map(path)
            expected.deleted = [path("pre_delete.txt")]
            expected.renamed = [
                FileRename(from: path("pre_rename.txt"), to: path("renamed.txt")),
                FileRename(from: all.hostileOld, to: all.hostileMoved),
            ]
            // sed -i opened pre_sed.txt for reading only, then renamed its temporary file over it.
            expected.read = ["pre_read.txt", "pre_sed.txt"].map(path)
            expected.metadata = [path("pre_chmod.txt")]
            expected.temporary = [path("temp.txt")]
            expected.directoriesCreated = ["a", "a/b"].map(path)
            expected.directoriesDeleted = [path("pre_dir")]
            expected.directoriesTemporary = [path("a/b/c")]
            expectBuckets(actual, equal: expected.sorted(), root: all.root, "summary")
            expectAgreement(actual, before: all.before, after: all.after, root: all.root, "every operation")
        }

        /// Every path in the stream is absolute and normalized, every name it
        /// brings into being is real, and every file event in the directory is command 1's.
        @Test func everyOperationStreamPaths() throws {
            let all = try Self.everyOperation.get()
            let stream = all.stream
            stream.expectAbsoluteAndNormalized()
            stream.expectCreationsReal(after: all.after)
            #expect(stream.inRoot.allSatisfy { $0.int("command") == 1 }, "events outside command 1")
        }

        /// Creations and opens: a new file is a create with O_CREAT; opening a
        /// file that exists is an open, even with O_CREAT; a relative name after
        /// `cd` is absolute, below the new working directory.
        @Test func everyOperationCreatesAndOpens() throws {
            let all = try Self.everyOperation.get()
            let (stream, path) = (all.stream, all.path)
            let created = stream.events("create", path("created.txt"))
            #expect(created.count == 1 && created.first?.int("fd") != nil, "create created.txt: \(created)")
            #expect(created.first?.string("flags")?.contains("O_CREAT") == true, "\(created)")
            #expect(
                stream.bytes("write", path("created.txt")) == 9,
                "write created.txt: \(stream.events("write", path("created.txt")))")

            for (name, flag, written) in [("pre_append.txt", "O_APPEND", 9), ("pre_overwrite.txt", "O_TRUNC", 8)] {
                let opens = stream.events("open", path(name))
                #expect(
                    opens.count == 1 && opens.first?.string("flags")?.contains(flag) == true,
                    "open \(name) with \(flag): \(opens)")
                #expect(stream.events("create", path(name)).isEmpty, "\(name) existed: open, not create")
                #expect(
                    stream.bytes("write", path(name)) == written, "write \(name): \(stream.events("write", path(name)))"
                )
            }

            #expect(
                stream.events("create", path("a/b/relative.txt")).count == 1,
                "create a/b/relative.txt: \(stream.all("create"))")
            #expect(stream.bytes("write", path("a/b/relative.txt")) == 9)

            #expect(stream.events("create", path("temp.txt")).count == 1, "create temp.txt: \(stream.all("create"))")
            #expect(stream.events("unlink", path("temp.txt")).count == 1, "unlink temp.txt: \(stream.all("unlink"))")
        }

        /// Changes to names and attributes: rename, chmod, unlink, mkdir, rmdir, symlink and link.
        @Test func everyOperationNamesAndAttributes() throws {
            let all = try Self.everyOperation.get()
            let (stream, path) = (all.stream, all.path)
            #expect(
                stream.renames(from: path("pre_rename.txt"), to: path("renamed.txt")).count == 1,
                "rename: \(stream.all("rename"))")
            let chmods = stream.events("chmod", path("pre_chmod.txt"))
            #expect(chmods.count == 1 && chmods.first?.string("mode") == "0600", "chmod: \(stream.all("chmod"))")
            #expect(stream.events("unlink", path("pre_delete.txt")).count == 1, "unlink: \(stream.all("unlink"))")

            for directory in ["a", "a/b", "a/b/c"] {
                #expect(
                    stream.events("mkdir", path(directory)).count == 1, "mkdir \(directory): \(stream.all("mkdir"))")
            }
            for directory in ["a/b/c", "pre_dir"] {
                #expect(
                    stream.events("rmdir", path(directory)).count == 1, "rmdir \(directory): \(stream.all("rmdir"))")
            }

            let symlinks = stream.events("symlink", path("symlink"))
            #expect(
                symlinks.count == 1 && symlinks.first?.string("to") == "created.txt",
                "symlink: \(stream.all("symlink"))")
            let links = stream.all("link").filter {
                pathField($0, "from") == path("created.txt") && pathField($0, "to") == path("hardlink")
            }
            #expect(links.count == 1, "link: \(stream.all("link"))")
        }

        /// ftruncate through a dup'ed descriptor whose original was closed first.
        @Test func everyOperationTruncateThroughDupedFd() throws {
            let all = try Self.everyOperation.get()
            let truncates = all.stream.events("truncate", all.path("pre_truncate.txt"))
            #expect(truncates.count == 1, "truncate through the dup'ed fd: \(all.stream.all("truncate"))")
            #expect(truncates.first?.string("comm") == "files", "\(truncates)")
        }

        /// sed -i: reads the file, writes a temporary file next to it, renames it over the file.
        @Test func everyOperationSedInPlace() throws {
            let all = try Self.everyOperation.get()
            let (stream, path) = (all.stream, all.path)
            let sedOpens = stream.events("open", path("pre_sed.txt")).filter { $0.string("comm") == "sed" }
            #expect(
                sedOpens.count == 1 && sedOpens.first?.string("flags")?.hasPrefix("O_RDONLY") == true,
                "sed open: \(sedOpens)")
            let sedRenames = stream.all("rename").filter { pathField($0, "to") == path("pre_sed.txt") }
            #expect(sedRenames.count == 1, "sed's rename over pre_sed.txt: \(stream.all("rename"))")
            if let temporary = sedRenames.first.flatMap({ pathField($0, "from") }) {
                #expect(
                    temporary.starts(with: path("sed")), "sed's temporary file: \(render(temporary, root: all.root))")
                #expect(stream.events("create", temporary).count == 1, "sed's temporary file is created in the stream")
            }
        }

        /// Byte totals: one write line per file with the whole total; reads add up.
        @Test func everyOperationByteTotals() throws {
            let all = try Self.everyOperation.get()
            let (stream, path) = (all.stream, all.path)
            let zeros = stream.events("write", path("zeros.bin"))
            #expect(zeros.count == 1 && zeros.first?.int("bytes") == 12_345, "head -c 12345 > zeros.bin: \(zeros)")
            let headReads = stream.all("read").filter {
                $0.string("path") == "/dev/zero" && $0.string("comm") == "head"
            }
            #expect(
                headReads.reduce(0) { $0 + ($1.int("bytes") ?? 0) } == 12_345, "head's reads of /dev/zero: \(headReads)"
            )
            let chunks = stream.events("write", path("chunks.bin"))
            #expect(
                chunks.count == 1 && chunks.first?.int("bytes") == 12_345 && chunks.first?.int("calls") == 3,
                "three writes (1000, 2345, 9000 bytes) as one line: \(chunks)")
            #expect(
                stream.bytes("read", path("pre_read.txt")) == 8,
                "cat pre_read.txt: \(stream.events("read", path("pre_read.txt")))")
        }

        /// A failed open: the errno name, no descriptor.
        @Test func everyOperationFailedOpen() throws {
            let all = try Self.everyOperation.get()
            let missing = all.stream.events("open", all.path("missing.txt"))
            #expect(missing.count == 1, "open missing.txt: \(missing)")
            #expect(missing.first?.string("error") == "ENOENT" && missing.first?.int("fd") == nil, "\(missing)")
            #expect(all.stream.all("open").filter { $0.string("error") != nil }.allSatisfy { $0.int("fd") == nil })
        }

        /// Hostile names: exact bytes in JSON (and `_hex` where they are not
        /// UTF-8); the output has no raw ESC and is valid UTF-8.
        @Test func everyOperationHostileNamesInJSON() throws {
            let all = try Self.everyOperation.get()
            let stream = all.stream
            #expect(
                stream.events("create", all.hostileNew).count == 1,
                "create of the hostile name: \(stream.all("create"))")
            #expect(stream.bytes("write", all.hostileNew) == 8)
            #expect(
                stream.renames(from: all.hostileOld, to: all.hostileMoved).count == 1,
                "rename of hostile names: \(stream.all("rename"))")
            #expect(!all.run.stdout.contains(0x1B), "a raw ESC in the JSON output")
            #expect(
                String(decoding: all.run.stdout, as: UTF8.self).utf8.elementsEqual(all.run.stdout),
                "the JSON output is not valid UTF-8")
        }

        /// The same script in text: no raw newline or ESC from a name reaches the
        /// output (every line starts with a time stamp), and the names are escaped
        /// in the stream and in the summary.
        @Test func everyOperationInText() throws {
            let space = try FileWorkspace(scenario: .everyOperation)
            defer { space.remove() }
            let run = try Harness.monitor(["--"] + space.command(FileScenario.everyOperation))
            #expect(!run.timedOut && run.status == 0 && !run.leftovers, "\(run)")

            #expect(!run.stdout.contains(0x1B), "a raw ESC reached the text output")
            #expect(
                String(decoding: run.stdout, as: UTF8.self).utf8.elementsEqual(run.stdout),
                "the text output is not valid UTF-8")
            let lines = run.stdout.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
                .map { String(decoding: $0, as: UTF8.self) }
            #expect(lines.first?.hasPrefix("TIME ") == true, "the header comes first: \(lines.first ?? "")")
            for line in lines.dropFirst() {
                #expect(
                    startsWithClockTime(line),
                    "a line that does not start with a time (a name split it?): \(line.debugDescription)")
            }
            let created = space.root + #"/new\nline\e[31mred"#
            let old = space.root + #"/pre\n\e[1mhostile"#
            let moved = space.root + #"/moved\t\e[2J\xff"#
            let text = lines.joined(separator: "\n")
            #expect(
                lines.contains { $0.contains(" create ") && $0.contains(created) },
                "no create line for \(created): \(text)")
            #expect(
                lines.contains { $0.contains(" rename ") && $0.contains(old) && $0.contains(moved) },
                "no rename line for \(old): \(text)")
            let summary = lines.filter { $0.contains(" summary ") }
            #expect(
                summary.contains { $0.contains(created) },
                "the summary lists \(created): \(summary.joined(separator: "\n"))")
            #expect(
                summary.contains { $0.contains(old) && $0.contains(moved) },
                "the summary lists the rename: \(summary.joined(separator: "\n"))")
        }

        /// `--io`: a write line per call, each with that call's bytes, adding up to the total.
        @Test func perCallWritesWithIO() throws {
            let scenario = FileScenario(
                name: "--io", setup: "",
                script: """
                    "$F" chunks chunks.bin 1000 2345 9000
                    head -c 12345 /dev/zero > zeros.bin
                    """)
            let space = try FileWorkspace(scenario: scenario)
            defer { space.remove() }
            let (_, objects) = try space.runJSON(scenario, options: ["--io"])
            let root = space.rootBytes
            let stream = FileStream(objects: objects, root: root)
            let chunks = stream.events("write", root + Array("/chunks.bin".utf8))
            #expect(
                chunks.map { $0.int("bytes") ?? -1 } == [1000, 2345, 9000],
                "one line per write call, in order: \(chunks)")
            #expect(chunks.allSatisfy { ($0.int("calls") ?? 1) == 1 }, "no per-file total lines with --io: \(chunks)")
            let zeros = stream.events("write", root + Array("/zeros.bin".utf8))
            #expect(
                zeros.count >= 1 && zeros.reduce(0) { $0 + ($1.int("bytes") ?? 0) } == 12_345,
                "head's writes add up to 12345: \(zeros)")
            #expect(zeros.allSatisfy { ($0.int("calls") ?? 1) == 1 && ($0.int("bytes") ?? 0) > 0 }, "\(zeros)")
            let summary = try #require(objects.ofType("summary").first)
            let buckets = try FileBuckets(summary: summary, under: root)
            #expect(
                buckets.created.map { render($0, root: root) } == ["<dir>/chunks.bin", "<dir>/zeros.bin"],
                "files.created")
        }

        /// Bytes written through an fd still open when the command's own process
        /// exits are reported at its exit: the kernel and user space count the
        /// fd-table generation of a process the monitor starts watching alike,
        /// so the totals are found where they were kept.
        @Test func writesThroughAnFdLeftOpenAtExit() throws {
            let scenario = FileScenario(
                name: "left open", setup: "",
                script: """
                    exec >left-open.bin
                    printf hello
                    """)
            let space = try FileWorkspace(scenario: scenario)
            defer { space.remove() }
            let (_, objects) = try space.runJSON(scenario)
            let root = space.rootBytes
            let writes = FileStream(objects: objects, root: root).events("write", root + Array("/left-open.bin".utf8))
            #expect(writes.map { $0.int("bytes") ?? -1 } == [5], "one total at exit: \(writes)")
        }

        /// Every read of a child the shell forks the moment the command starts is
        /// counted: the kernel's totals of a process whose fork user space has
        /// not yet decoded are kept, not swept away as a stale process's.
        @Test func readsOfAFreshChildAreAllCounted() throws {
            let scenario = FileScenario(
                name: "fresh child", setup: "head -c 50000 /dev/zero >source.bin",
                script: """
                    dd if=source.bin of=/dev/null bs=1 status=none
                    true
                    """)
            let space = try FileWorkspace(scenario: scenario)
            defer { space.remove() }
            let (_, objects) = try space.runJSON(scenario)
            let reads = FileStream(objects: objects, root: space.rootBytes)
                .events("read", space.rootBytes + Array("/source.bin".utf8))
            #expect(reads.map { $0.int("calls") ?? -1 } == [50_000], "one byte a call: \(reads)")
        }

        /// The summary's net effect against a before/after snapshot of the directory,
        /// objects followed by inode. The stream's creations name paths that really
        /// exist at the end, or that a later event removed.
        @Test(arguments: FileScenario.snapshotChecked)
        func summaryAgreesWithSnapshot(_ scenario: FileScenario) throws {
            let space = try FileWorkspace(scenario: scenario)
            defer { space.remove() }
            let before = try Snapshot.take(space.rootBytes)
            let (run, objects) = try space.runJSON(scenario)
            let after = try Snapshot.take(space.rootBytes)
            let root = space.rootBytes
            let summary = try #require(objects.ofType("summary").first, "\(run)")
            expectAgreement(
                try FileBuckets(summary: summary, under: root), before: before, after: after, root: root, scenario.name)
            let stream = FileStream(objects: objects, root: root)
            stream.expectAbsoluteAndNormalized()
            stream.expectCreationsReal(after: after)
        }
    }
}
