import Foundation
import Glibc

/// A cgroup of its own under the pids controller, so that a test can let
/// processes multiply (a fork bomb) without harming the machine: the kernel
/// refuses any fork past `pids.max`. cgroup v2 is used where its root has
/// the pids controller enabled, else the v1 pids hierarchy (this project's
/// machine mounts the controllers as v1). `destroy()` kills what is left in
/// it and removes it; it also runs on deinit, so a failed test leaves nothing.
final class PidsCgroup {
    /// The cgroup's directory.
    let path: String
    private var removed = false

    /// A new cgroup that holds at most `limit` tasks.
    init(limit: Int) throws {
        let root = try Self.hierarchy()
        var template = Array("\(root)/ebpf-monitor-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdir under \(root): errno \(errno)") }
        path = String(cString: made)
        do {
            try write("\(limit)", to: "pids.max")
            let written = String(decoding: Harness.read(path + "/pids.max"), as: UTF8.self)
            guard written.trimmingCharacters(in: .whitespacesAndNewlines) == "\(limit)" else {
                throw HarnessError("\(path)/pids.max reads \(written), not \(limit)")
            }
        } catch {
            destroy()
            throw error
        }
    }

    deinit { destroy() }

    /// The file a process writes its pid to (`echo $$ > ...`) to join the cgroup.
    var procsPath: String { path + "/cgroup.procs" }

    /// The processes in the cgroup now.
    var pids: [Int32] {
        String(decoding: Harness.read(procsPath), as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
    }

    /// Forks refused for the limit so far (`max` in pids.events).
    var refusals: Int {
        let events = String(decoding: Harness.read(path + "/pids.events"), as: UTF8.self)
        return events.split(separator: "\n").compactMap { line -> Int? in
            let words = line.split(separator: " ")
            return words.count == 2 && words[0] == "max" ? Int(words[1]) : nil
        }.first ?? 0
    }

    /// Whether the directory is gone.
    var isRemoved: Bool { access(path, F_OK) != 0 }

    /// Kills every process left in the cgroup, then removes it. A process
    /// forked while the list was read is killed on the next pass; the limit
    /// keeps the passes few. Waits at most 10 s.
    func destroy() {
        guard !removed else { return }
        let done = Harness.waitUntil(timeout: 10) {
            for pid in pids { kill(pid, SIGKILL) }
            return rmdir(path) == 0 || errno == ENOENT
        }
        removed = done
    }

    private func write(_ text: String, to file: String) throws {
        let fd = open(path + "/" + file, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError("open \(path)/\(file): errno \(errno)") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            throw HarnessError("write \(text) to \(path)/\(file): errno \(errno)")
        }
    }

    /// Where to make the cgroup: a cgroup v2 mount whose root has pids in
    /// `cgroup.subtree_control`, else the v1 mount of the pids controller.
    private static func hierarchy() throws -> String {
        let mounts = String(decoding: Harness.read("/proc/self/mounts"), as: UTF8.self)
        var v1: String?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 4 else { continue }
            let (point, type, options) = (fields[1], fields[2], fields[3].split(separator: ","))
            if type == "cgroup2" {
                let enabled = String(decoding: Harness.read(point + "/cgroup.subtree_control"), as: UTF8.self)
                if enabled.split(whereSeparator: \.isWhitespace).contains("pids") { return point }
            } else if type == "cgroup", options.contains("pids") {
                v1 = point
            }
        }
        guard let v1 else { throw HarnessError("no cgroup hierarchy with the pids controller in /proc/self/mounts") }
        return v1
    }
}
