import Foundation

/// Go programs already running: the daemons a command may reach. Their
/// goroutines are probed before the trace starts, because a request is
/// often served before the daemon could be probed on discovery.
enum GoPrograms {
    /// One pid per distinct Go executable among running processes, outside `excluded`.
    static func running(excluding excluded: Set<Int32>) -> [Int32] {
        var seen = Set<String>()
        var pids: [Int32] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), !excluded.contains(pid),
                let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                seen.insert(exe).inserted, isGo("/proc/\(pid)/exe")
            else { continue }
            pids.append(pid)
        }
        return pids
    }

    /// An ELF file with Go's build-info section: a look at its section names only.
    static func isGo(_ path: String) -> Bool {
        guard let file = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? file.close() }
        guard let header = try? file.read(upToCount: 64), header.count == 64,
            header.starts(with: [0x7F, 0x45, 0x4C, 0x46]), header[4] == 2  // ELF, 64-bit
        else { return false }
        func u16(_ data: Data, _ at: Int) -> Int {
            Int(data[data.startIndex + at]) | Int(data[data.startIndex + at + 1]) << 8
        }
        func u64(_ data: Data, _ at: Int) -> UInt64 {
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[data.startIndex + at + $1]) << (8 * $1) }
        }
        let sectionTable = u64(header, 0x28), entrySize = u16(header, 0x3A), count = u16(header, 0x3C)
        let namesIndex = u16(header, 0x3E)
        guard entrySize == 64, count > 0, namesIndex < count, count < 4096,
            (try? file.seek(toOffset: sectionTable)) != nil,
            let sections = try? file.read(upToCount: entrySize * count), sections.count == entrySize * count
        else {
            return false
        }
        let names = namesIndex * entrySize
        let namesOffset = u64(sections, names + 0x18), namesSize = u64(sections, names + 0x20)
        guard namesSize < 1 << 20, (try? file.seek(toOffset: namesOffset)) != nil,
            let table = try? file.read(upToCount: Int(namesSize))
        else { return false }
        return table.range(of: Data(".go.buildinfo".utf8)) != nil
            || table.range(of: Data(".note.go.buildid".utf8)) != nil
    }
}
