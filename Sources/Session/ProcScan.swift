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
            let close = stat.lastIndex(of: UInt8(ascii: ")"))
        else { return nil }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let fields = stat[(close + 2)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let ppid = Int32(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        var argv = (bytes("/proc/\(pid)/cmdline") ?? []).split(separator: 0, omittingEmptySubsequences: false).map(
            Array.init)
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

    /// Where `pid`'s root directory is mounted in the monitor's mount
    /// namespace: the mount of the same file system whose root is that
    /// directory (/proc/self/mountinfo), checked by device and inode. nil
    /// for the host's own root, or when none matches.
    static func mountedRoot(of pid: Int32) -> [UInt8]? {
        var root = stat(), own = stat()
        guard stat("/proc/\(pid)/root", &root) == 0, stat("/", &own) == 0 else { return nil }
        if root.st_dev == own.st_dev && root.st_ino == own.st_ino { return nil }
        let dev = UInt64(root.st_dev)  // glibc's major() and minor(), which Swift does not import
        let device = "\((dev >> 8) & 0xfff | (dev >> 32) & ~0xfff):\(dev & 0xff | (dev >> 12) & ~0xff)"
        let text = String(decoding: bytes("/proc/self/mountinfo") ?? [], as: UTF8.self)
        for line in text.split(separator: "\n") {
            // ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ...: spaces in paths are escaped as \040.
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[2] == device, fields[3] == "/" else { continue }
            let point = unescapeMountPath(fields[4])
            var mounted = stat()
            if stat(String(decoding: point, as: UTF8.self), &mounted) == 0, mounted.st_dev == root.st_dev,
                mounted.st_ino == root.st_ino
            {
                return point
            }
        }
        return nil
    }

    /// mountinfo's octal escapes (\040 for a space) undone.
    private static func unescapeMountPath(_ field: Substring) -> [UInt8] {
        let raw = Array(field.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < raw.count {
            if raw[i] == UInt8(ascii: "\\"), i + 3 < raw.count,
                let value = UInt8(String(decoding: raw[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                out.append(value)
                i += 4
            } else {
                out.append(raw[i])
                i += 1
            }
        }
        return out
    }

    private static func bytes(_ path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return [UInt8](data)
    }
}
