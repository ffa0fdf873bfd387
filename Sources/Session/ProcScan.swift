import Foundation

/// Reads /proc for the processes that exist before the probes see them.
enum ProcScan {
    struct Process {
        var pid: Int32
        var ppid: Int32
        var comm: [UInt8]
        var argv: [[UInt8]]
        var threads: [Int32]
    }

    static func exists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    static func read(_ pid: Int32) -> Process? {
        guard let stat = bytes("/proc/\(pid)/stat"),
              let open = stat.firstIndex(of: UInt8(ascii: "(")),
              let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let fields = stat[(close + 2)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let ppid = Int32(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        var argv = (bytes("/proc/\(pid)/cmdline") ?? []).split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
        if argv.last?.isEmpty == true { argv.removeLast() }
        return Process(pid: pid, ppid: ppid, comm: Array(stat[(open + 1)..<close]), argv: argv, threads: threads(pid))
    }

    static func threads(_ pid: Int32) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return names.compactMap(Int32.init).sorted()
    }

    /// `root` and all its descendants, parents before children.
    static func tree(_ root: Int32) -> [Process] {
        var byParent: [Int32: [Int32]] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var all: [Int32: Process] = [:]
        for pid in names.compactMap(Int32.init) {
            guard let process = read(pid) else { continue }
            all[pid] = process
            byParent[process.ppid, default: []].append(pid)
        }
        guard let first = all[root] else { return [] }
        var result = [first]
        var index = 0
        while index < result.count {
            for child in (byParent[result[index].pid] ?? []).sorted() {
                if let process = all[child] { result.append(process) }
            }
            index += 1
        }
        return result
    }

    /// The open flags of an fd, from /proc/PID/fdinfo (octal "flags:" line).
    static func fdFlags(pid: Int32, fd: Int32) -> UInt64? {
        let text = String(decoding: bytes("/proc/\(pid)/fdinfo/\(fd)") ?? [], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }) else { return nil }
        return UInt64(line.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces), radix: 8)
    }

    /// A field of /proc/self/status in KiB, e.g. VmRSS; "?" if absent.
    static func memory(_ field: String) -> String {
        let text = String(decoding: bytes("/proc/self/status") ?? [], as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") }
        return line?.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
    }

    private static func bytes(_ path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return [UInt8](data)
    }
}
