import Foundation
import Glibc
import Testing

/// `--summary-only` and `--changes` on a real command, read back as JSON
/// Lines: the events left out must be gone, and the summary must be whole.
extension IntegrationTests {
    @Suite struct DetailLevelTests {
        /// Reads a file, writes to /dev/null, creates F, fails to remove G
        /// (absent) and removes E, which exists before.
        private static func run(_ options: [String]) throws -> (objects: [[String: Any]], directory: String) {
            var template = Array("/dev/shm/ebpf-monitor-detail-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp on /dev/shm: \(errno)") }
            let directory = String(cString: made)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try Data("e\n".utf8).write(to: URL(fileURLWithPath: directory + "/E"))
            let script = "cd '\(directory)' && cat /etc/hostname >/dev/null; echo x > F; rm -f G; rm E"
            let run = try Harness.monitor(["--format", "json"] + options + ["--", "sh", "-c", script])
            guard !run.timedOut && run.status == 0 else { throw HarnessError("the script must succeed: \(run)") }
            return (try run.json(), directory)
        }

        @Test func summaryOnlyPrintsNoEvents() throws {
            let (objects, directory) = try Self.run(["--summary-only"])
            #expect(objects.filter(\.isEvent).isEmpty, "events: \(objects.filter(\.isEvent))")
            #expect(Set(objects.compactMap(\.type)).isSubset(of: ["summary", "lost", "status"]))
            #expect(objects.ofType("status").compactMap { $0.string("message") } == ["ready", "end"])
            let summaries = objects.ofType("summary")
            #expect(summaries.count == 1)
            let files = try #require(summaries.first?["files"] as? [String: Any])
            #expect(files["created"] as? [String] == [directory + "/F"])
            #expect(files["deleted"] as? [String] == [directory + "/E"])
            #expect((files["read"] as? [String])?.contains("/etc/hostname") == true)
            #expect((files["loaded"] as? [String])?.isEmpty == false, "JSON lists the loader's files")
        }

        @Test func changesPrintsOnlyStateChanges() throws {
            let (objects, directory) = try Self.run(["--changes"])
            let events = objects.filter(\.isEvent)
            func has(_ action: String, _ path: String) -> Bool {
                events.contains { $0.action == action && $0.string("path") == path }
            }
            #expect(has("create", directory + "/F"), "\(events)")
            #expect(has("write", directory + "/F"))
            #expect(has("unlink", directory + "/E"))
            #expect(events.events("exec").compactMap { $0.strings("argv")?.first } == ["sh", "cat", "rm", "rm"])
            #expect(events.events("exit").count == 4)
            // Left out: failed calls, reads, opens to read (the loader's too), and /dev/null.
            #expect(events.allSatisfy { $0["error"] == nil }, "failed calls: \(events)")
            #expect(!events.contains { $0.string("path") == directory + "/G" })
            #expect(events.events("read").isEmpty && events.events("recv").isEmpty && events.events("send").isEmpty)
            #expect(events.events("open").isEmpty, "opens: \(events.events("open"))")
            #expect(!events.contains { $0.string("path") == "/dev/null" })
            // The summary is whole.
            let files = try #require(objects.ofType("summary").first?["files"] as? [String: Any])
            #expect((files["read"] as? [String])?.contains("/etc/hostname") == true)
            #expect(files["deleted"] as? [String] == [directory + "/E"])
        }
    }
}
