import Foundation
import Monitor

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
        guard let stat = bytes("/proc/\(pid)/stat").flatMap(ProcText.stat) else { return nil }
        let argv = ProcText.cmdline(bytes("/proc/\(pid)/cmdline") ?? [])
        return Process(pid: pid, ppid: stat.ppid, comm: stat.comm, argv: argv, threads: threads(pid))
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

    /// The open flags of an fd, from /proc/PID/fdinfo.
    static func fdFlags(pid: Int32, fd: Int32) -> UInt64? {
        bytes("/proc/\(pid)/fdinfo/\(fd)").flatMap(ProcText.fdinfoFlags)
    }

    /// A field of /proc/self/status in KiB, e.g. VmRSS; "?" if absent.
    static func memory(_ field: String) -> String {
        ProcText.statusField(field, in: bytes("/proc/self/status") ?? []) ?? "?"
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
        for mount in MountInfo.parse(bytes("/proc/self/mountinfo") ?? []) {
            guard mount.device == device, mount.root == Array("/".utf8) else { continue }
            if let mounted = status(of: mount.mountPoint), mounted.st_dev == root.st_dev, mounted.st_ino == root.st_ino
            {
                return mount.mountPoint
            }
        }
        return nil
    }

    /// stat(2) of a path given as bytes: a mount point need not be UTF-8.
    private static func status(of path: [UInt8]) -> stat? {
        var info = stat()
        let result = (path + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { stat($0.baseAddress!, &info) }
        }
        return result == 0 ? info : nil
    }

    private static func bytes(_ path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return [UInt8](data)
    }
}
