import Foundation
import Glibc
import Testing

// MARK: - Workspace

/// A fresh directory on /dev/shm for one scenario, the fixture compiled into a
/// directory of its own (so it is no part of the snapshot), both removed by `remove()`.
struct FileWorkspace {
    let root: String
    let tools: String
    let fixture: String

    var rootBytes: FilePath { Array(root.utf8) }

    init(scenario: FileScenario) throws {
        var template = Array("/dev/shm/ebpf-monitor-files-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp on /dev/shm: \(errno)") }
        root = String(cString: made)
        do {
            tools = try Harness.temporaryDirectory()
        } catch {
            rmdir(root)
            throw error
        }
        fixture = tools + "/files"
        do {
            if scenario.script.contains("$F") {
                let source = Harness.packageRoot.appendingPathComponent("Tests/IntegrationTests/Fixtures/files.c").path
                let cc = try Harness.runTool(["/usr/bin/cc", "-Wall", "-Werror", "-O1", "-o", fixture, source])
                guard cc.status == 0 else { throw HarnessError("cc failed: \(cc)") }
            }
            if !scenario.setup.isEmpty {
                let setup = try Harness.runTool(["/bin/sh", "-c", "set -e; cd \"$1\"\n" + scenario.setup, "sh", root])
                guard setup.status == 0 else { throw HarnessError("set-up failed: \(setup)") }
            }
        } catch {
            remove()
            throw error
        }
    }

    /// The command for `-- ...`.
    func command(_ scenario: FileScenario) -> [String] {
        ["/bin/sh", "-c", "set -e; cd \"$1\"; F=\"$2\"\n" + scenario.script, "sh", root, fixture]
    }

    /// Runs the scenario under `--format json`; the command and the monitor must succeed.
    func runJSON(
        _ scenario: FileScenario, options: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> (Finished, [[String: Any]]) {
        let run = try Harness.monitor(["--format", "json"] + options + ["--"] + command(scenario))
        try #require(
            !run.timedOut && run.status == 0, "the script must succeed: \(run)", sourceLocation: sourceLocation)
        #expect(!run.leftovers, "processes outlived the monitor", sourceLocation: sourceLocation)
        let objects = try run.json()
        #expect(objects.lostTotal == 0, "events lost: \(objects.ofType("lost"))", sourceLocation: sourceLocation)
        return (run, objects)
    }

    /// Names may be any bytes: rm, not FileManager.
    func remove() {
        _ = try? Harness.runTool(["/bin/rm", "-rf", "--", root, tools])
    }
}

// MARK: - Paths as bytes

typealias FilePath = [UInt8]

let slashByte = UInt8(ascii: "/")

func unhex(_ text: String) -> FilePath? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: FilePath = []
    var index = 0
    while index < digits.count {
        guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
            return nil
        }
        bytes.append(byte)
        index += 2
    }
    return bytes
}

/// A path field of an event, exact: from `<key>_hex` when the name is not UTF-8.
func pathField(_ object: [String: Any], _ key: String) -> FilePath? {
    if let hex = object.string(key + "_hex") { return unhex(hex) }
    return object.string(key).map { Array($0.utf8) }
}

/// A list of paths, exact: from `<key>_hex` when some name is not UTF-8.
func pathList(_ object: [String: Any], _ key: String) -> [FilePath]? {
    if let hex = object[key + "_hex"] as? [String] { return hex.map { unhex($0) ?? [] } }
    return object.strings(key)?.map { Array($0.utf8) }
}

func isAt(_ path: FilePath, orBelow root: FilePath) -> Bool {
    path == root || (path.count > root.count && path.starts(with: root) && path[root.count] == slashByte)
}

/// For messages: relative to the directory, with every byte that is not printable ASCII as `\xNN`.
func render(_ path: FilePath, root: FilePath) -> String {
    let shown = isAt(path, orBelow: root) ? Array(path.dropFirst(root.count)) : path
    let text = shown.map {
        (0x20..<0x7F).contains($0) && $0 != 0x5C ? String(UnicodeScalar($0)) : String(format: "\\x%02x", $0)
    }
    .joined()
    return isAt(path, orBelow: root) ? "<dir>" + text : text
}

func withCPath<T>(_ path: FilePath, _ body: (UnsafePointer<CChar>) -> T) -> T {
    (path.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { body($0.baseAddress!) }
}

// MARK: - Buckets

struct FileRename: Equatable {
    var from: FilePath
    var to: FilePath
}

/// The summary's `files` and `directories` buckets (or what a snapshot says they
/// must be), each sorted by path bytes.
struct FileBuckets: Equatable {
    var created: [FilePath] = [], modified: [FilePath] = [], deleted: [FilePath] = []
    var renamed: [FileRename] = []
    var read: [FilePath] = [], loaded: [FilePath] = [], metadata: [FilePath] = [], temporary: [FilePath] = []
    var uncertain: [FilePath] = []
    var directoriesCreated: [FilePath] = [], directoriesDeleted: [FilePath] = [], directoriesTemporary: [FilePath] = []

    static var lists: [(String, WritableKeyPath<FileBuckets, [FilePath]>)] {
        [
            ("files.created", \.created), ("files.modified", \.modified), ("files.deleted", \.deleted),
            ("files.read", \.read), ("files.loaded", \.loaded), ("files.metadata", \.metadata),
            ("files.temporary", \.temporary), ("files.uncertain", \.uncertain),
            ("directories.created", \.directoriesCreated), ("directories.deleted", \.directoriesDeleted),
            ("directories.temporary", \.directoriesTemporary),
        ]
    }

    init() {}

    /// From a summary object: the entries at or below `root` (a rename when either name is).
    init(summary: [String: Any], under root: FilePath) throws {
        let files = try #require(summary["files"] as? [String: Any], "summary without files: \(summary)")
        let directories = try #require(
            summary["directories"] as? [String: Any], "summary without directories: \(summary)")
        for (key, list) in FileBuckets.lists {
            let parts = key.split(separator: ".")
            let object = parts[0] == "files" ? files : directories
            let paths = try #require(pathList(object, String(parts[1])), "summary without \(key): \(object)")
            self[keyPath: list] = paths.filter { isAt($0, orBelow: root) }
        }
        let renames = try #require(files["renamed"] as? [[String: Any]], "summary without files.renamed: \(files)")
        for entry in renames {
            let from = try #require(pathField(entry, "from"), "a rename without from: \(entry)")
            let to = try #require(pathField(entry, "to"), "a rename without to: \(entry)")
            if isAt(from, orBelow: root) || isAt(to, orBelow: root) { renamed.append(FileRename(from: from, to: to)) }
        }
        self = sorted()
    }

    func sorted() -> FileBuckets {
        var copy = self
        for (_, list) in FileBuckets.lists { copy[keyPath: list].sort { $0.lexicographicallyPrecedes($1) } }
        copy.renamed.sort {
            $0.from == $1.from ? $0.to.lexicographicallyPrecedes($1.to) : $0.from.lexicographicallyPrecedes($1.from)
        }
        return copy
    }

    /// What a snapshot can see: not reads, loads or things gone again, nor what was a guess.
    var netEffect: FileBuckets {
        var copy = self
        copy.read = []
        copy.loaded = []
        copy.temporary = []
        copy.uncertain = []
        copy.directoriesTemporary = []
        return copy
    }
}

/// Bucket by bucket, so a failure names the bucket and shows both lists (rendered relative to the directory).
func expectBuckets(
    _ actual: FileBuckets, equal expected: FileBuckets, root: FilePath, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    for (name, list) in FileBuckets.lists {
        let got = actual[keyPath: list].map { render($0, root: root) }
        let want = expected[keyPath: list].map { render($0, root: root) }
        #expect(got == want, "\(what): \(name)", sourceLocation: sourceLocation)
    }
    let show = { (renames: [FileRename]) in
        renames.map { render($0.from, root: root) + " -> " + render($0.to, root: root) }
    }
    let got = show(actual.renamed), want = show(expected.renamed)
    #expect(got == want, "\(what): files.renamed", sourceLocation: sourceLocation)
}

/// The summary's buckets a snapshot can see against what it saw.
func expectAgreement(
    _ actual: FileBuckets, before: Snapshot, after: Snapshot, root: FilePath, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let uncertain = actual.uncertain.map { render($0, root: root) }
    expectBuckets(
        actual.netEffect, equal: before.netEffect(to: after), root: root,
        "\(what) (summary vs snapshot\(uncertain.isEmpty ? "" : "; the summary says uncertain: \(uncertain)"))",
        sourceLocation: sourceLocation)
}

// MARK: - Stream

/// The file events of a run.
struct FileStream {
    let events: [[String: Any]]
    let root: FilePath

    init(objects: [[String: Any]], root: FilePath) {
        events = objects.filter { $0.isEvent && $0.string("category") == "file" }
        self.root = root
    }

    /// Events that name a path in the directory.
    var inRoot: [[String: Any]] {
        events.filter { event in
            ["path", "from", "to"].contains { key in pathField(event, key).map { isAt($0, orBelow: root) } ?? false }
        }
    }

    func all(_ action: String) -> [[String: Any]] { events.filter { $0.action == action } }

    func events(_ action: String, _ path: FilePath) -> [[String: Any]] {
        events.filter { $0.action == action && pathField($0, "path") == path }
    }

    func renames(from: FilePath, to: FilePath) -> [[String: Any]] {
        all("rename").filter { pathField($0, "from") == from && pathField($0, "to") == to && $0.string("error") == nil }
    }

    /// The byte total of `read` or `write` lines for a path.
    func bytes(_ action: String, _ path: FilePath) -> Int {
        events(action, path).reduce(0) { $0 + ($1.int("bytes") ?? 0) }
    }

    /// Every path is absolute (a symlink's `to` is its content, not a path the call resolved);
    /// those in the directory are normalized: no empty, `.` or `..` components.
    func expectAbsoluteAndNormalized(sourceLocation: SourceLocation = #_sourceLocation) {
        for event in events {
            for key in ["path", "from", "to"] where !(key == "to" && event.action == "symlink") {
                guard let path = pathField(event, key) else { continue }
                #expect(path.first == slashByte, "a relative \(key): \(event)", sourceLocation: sourceLocation)
                guard isAt(path, orBelow: root) else { continue }
                let parts = path.split(separator: slashByte, omittingEmptySubsequences: false).dropFirst()
                let clean = parts.allSatisfy {
                    !$0.isEmpty && !$0.elementsEqual([0x2E]) && !$0.elementsEqual([0x2E, 0x2E])
                }
                #expect(
                    clean, "\(key) not normalized: \(render(path, root: root)) in \(event)",
                    sourceLocation: sourceLocation)
            }
        }
    }

    /// Each name the stream says was brought into being (create, mkdir, mknod, symlink, the
    /// new name of link and rename) exists at the end, or a later event removed it or
    /// renamed it (or a directory above it) away.
    func expectCreationsReal(after: Snapshot, sourceLocation: SourceLocation = #_sourceLocation) {
        for (index, event) in events.enumerated() where event.string("error") == nil {
            let key: String
            switch event.action {
            case "create", "mkdir", "mknod", "symlink": key = "path"
            case "link", "rename": key = "to"
            default: continue
            }
            guard let path = pathField(event, key), isAt(path, orBelow: root), path != root else { continue }
            if after.nodes[path] != nil { continue }
            let later = events[(index + 1)...].contains { other in
                guard other.string("error") == nil else { return false }
                switch other.action {
                case "unlink", "rmdir": return pathField(other, "path") == path
                case "rename": return pathField(other, "from").map { isAt(path, orBelow: $0) } ?? false
                default: return false
                }
            }
            #expect(
                later,
                "\(event.action ?? "") names \(render(path, root: root)), which does not exist at the end and was not removed: \(event)",
                sourceLocation: sourceLocation)
        }
    }
}

/// `HH:MM:SS.uuuuuu `
func startsWithClockTime(_ line: String) -> Bool {
    let bytes = Array(line.utf8.prefix(16))
    guard bytes.count == 16 else { return false }
    let digits = [0, 1, 3, 4, 6, 7, 9, 10, 11, 12, 13, 14]
    return digits.allSatisfy { (0x30...0x39).contains(bytes[$0]) }
        && bytes[2] == 0x3A && bytes[5] == 0x3A && bytes[8] == 0x2E && bytes[15] == 0x20
}
