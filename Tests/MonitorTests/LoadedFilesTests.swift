import Foundation
import Monitor
import Testing

/// The loader's files in the summary: counted in text unless asked for, always listed in JSON.
@Suite struct LoadedFilesTests {
    private static let loaded: [[UInt8]] = [
        "/etc/ld.so.cache", "/usr/lib/locale/C.utf8/LC_CTYPE", "/usr/lib/locale/locale-archive",
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libselinux.so", "/usr/share/locale/de/LC_MESSAGES/coreutils.mo",
    ].map(utf8)

    private static func summary() -> CommandSummary {
        var summary = CommandSummary(
            command: 1, pid: 10, argv: [utf8("ls")], termination: .exited(0), start: testClock.wall(0),
            end: testClock.wall(1_000_000), processes: [], threads: 0, lostEvents: 0)
        summary.files.read = [utf8("/etc/passwd")]
        summary.files.loaded = loaded
        summary.files.directoriesCreated = [utf8("/dev/shm/d")]
        return summary
    }

    private func text(listLoaded: Bool) -> [String] {
        let stream = MemoryStream()
        let sink = makeSink(.text, stream: stream, utc: true, listLoaded: listLoaded)
        sink.emit(.summary(Self.summary()))
        return stream.text.split(separator: "\n").dropFirst(2).map { String($0.dropFirst(29)) }
    }

    @Test func kinds() {
        #expect(LoadedFiles.kind(of: utf8("/usr/lib/x86_64-linux-gnu/libc.so.6")) == .libraries)
        #expect(LoadedFiles.kind(of: utf8("/lib64/ld-linux-x86-64.so.2")) == .libraries)
        #expect(LoadedFiles.kind(of: utf8("/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so")) == .libraries)
        #expect(LoadedFiles.kind(of: utf8("/usr/lib/locale/locale-archive")) == .locale)
        #expect(LoadedFiles.kind(of: utf8("/usr/share/locale/fr/LC_MESSAGES/ls.mo")) == .locale)
        #expect(LoadedFiles.kind(of: utf8("/etc/ld.so.cache")) == .other)
        #expect(LoadedFiles.kind(of: utf8("/etc/ld.so.preload")) == .other)
        #expect(LoadedFiles.kind(of: utf8("/opt/x.sox")) == .other)
    }

    @Test func countLine() {
        #expect(LoadedFiles.count(Self.loaded) == "7 files: 3 libraries, 3 locale, 1 other")
        #expect(LoadedFiles.count([utf8("/lib/libc.so.6")]) == "1 file: 1 library")
    }

    @Test func textCountsByDefaultInBucketOrder() {
        #expect(
            text(listLoaded: false) == [
                "read          /etc/passwd",
                "loaded        7 files: 3 libraries, 3 locale, 1 other (-v lists them)",
                "dir created   /dev/shm/d",
            ])
    }

    @Test func verboseTextListsThem() {
        #expect(
            text(listLoaded: true)
                == ["read          /etc/passwd"]
                + Self.loaded.map { "loaded        " + String(decoding: $0, as: UTF8.self) }
                + ["dir created   /dev/shm/d"])
    }

    @Test func jsonListsThemAlways() throws {
        let stream = MemoryStream()
        makeSink(.json, stream: stream, filter: EventFilter(summaryOnly: true)).emit(.summary(Self.summary()))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stream.text.utf8)) as? [String: Any])
        let files = try #require(object["files"] as? [String: Any])
        #expect(files["loaded"] as? [String] == Self.loaded.map { String(decoding: $0, as: UTF8.self) })
    }
}
