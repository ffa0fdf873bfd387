import Foundation
import Glibc
import Testing

/// Everything below a directory, by path: kind, inode, attributes and content
/// (a file's bytes, a symlink's target).
struct Snapshot {
    struct Node {
        enum Kind { case file, directory, symlink, other }
        var kind: Kind
        var inode: UInt64
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var mtime: Int
        var content: FilePath
    }

    var nodes: [FilePath: Node] = [:]

    static func take(_ root: FilePath) throws -> Snapshot {
        var snapshot = Snapshot()
        try snapshot.walk(root)
        return snapshot
    }

    private mutating func walk(_ directory: FilePath) throws {
        guard let handle = withCPath(directory, { opendir($0) }) else {
            throw HarnessError("opendir \(String(decoding: directory, as: UTF8.self)): \(errno)")
        }
        var names: [FilePath] = []
        while let entry = readdir(handle) {
            let name: FilePath = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        closedir(handle)
        for name in names {
            let path = directory + [slashByte] + name
            var info = stat()
            guard withCPath(path, { lstat($0, &info) }) == 0 else {
                throw HarnessError("lstat \(String(decoding: path, as: UTF8.self)): \(errno)")
            }
            let type = info.st_mode & S_IFMT
            let kind: Node.Kind =
                type == S_IFREG ? .file : type == S_IFDIR ? .directory : type == S_IFLNK ? .symlink : .other
            let content =
                kind == .file ? try Snapshot.contents(path) : kind == .symlink ? try Snapshot.target(path) : []
            nodes[path] = Node(
                kind: kind, inode: UInt64(info.st_ino), mode: UInt32(info.st_mode & 0o7777), uid: info.st_uid,
                gid: info.st_gid, mtime: info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec,
                content: content)
            if kind == .directory { try walk(path) }
        }
    }

    private static func contents(_ path: FilePath) throws -> FilePath {
        let fd = withCPath(path) { Glibc.open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw HarnessError("open \(String(decoding: path, as: UTF8.self)): \(errno)") }
        defer { close(fd) }
        var bytes: FilePath = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw HarnessError("read \(String(decoding: path, as: UTF8.self)): \(errno)") }
            if count == 0 { return bytes }
            bytes += buffer[0..<count]
        }
    }

    private static func target(_ path: FilePath) throws -> FilePath {
        var buffer = [UInt8](repeating: 0, count: 4097)
        let count = buffer.withUnsafeMutableBytes { raw in
            withCPath(path) { readlink($0, raw.baseAddress!.assumingMemoryBound(to: CChar.self), 4096) }
        }
        guard count >= 0 else { throw HarnessError("readlink \(String(decoding: path, as: UTF8.self)): \(errno)") }
        return Array(buffer[0..<count])
    }

    /// The buckets the contract requires for a run that turned `self` into `after`,
    /// as far as a snapshot can tell. Objects are followed by inode: one that ends
    /// at a new name while its old name lost it was renamed (a directory's entries
    /// move with it and are not renames of their own); one whose name now holds
    /// another object of its kind was replaced (a file: modified; a directory: no
    /// change). Content changes make a file modified; mode, owner or mtime alone
    /// (mode or owner for directories and symlinks, whose times change with their
    /// entries or cannot be set) make it metadata.
    func netEffect(to after: Snapshot) -> FileBuckets {
        var result = FileBuckets()
        var moved: [(from: FilePath, to: FilePath)] = []  // directory renames found so far
        func image(_ path: FilePath) -> FilePath {
            let match = moved.filter { isAt(path, orBelow: $0.from) }.max { $0.from.count < $1.from.count }
            guard let match else { return path }
            return match.to + path[match.from.count...]
        }
        func preimage(_ path: FilePath) -> FilePath {
            let match = moved.filter { isAt(path, orBelow: $0.to) }.max { $0.to.count < $1.to.count }
            guard let match else { return path }
            return match.from + path[match.to.count...]
        }
        func compare(_ old: Node, _ new: Node, at name: FilePath) {
            let attributes = old.mode != new.mode || old.uid != new.uid || old.gid != new.gid
            switch old.kind {
            case .file:
                if old.content != new.content {
                    result.modified.append(name)
                } else if attributes || old.mtime != new.mtime {
                    result.metadata.append(name)
                }
            case .other:
                if attributes || old.mtime != new.mtime { result.metadata.append(name) }
            case .directory, .symlink:
                if attributes { result.metadata.append(name) }
            }
        }

        var claimed = Set<FilePath>()
        let depth = { (path: FilePath) in path.filter { $0 == slashByte }.count }
        let originals = nodes.keys.sorted {
            depth($0) != depth($1) ? depth($0) < depth($1) : $0.lexicographicallyPrecedes($1)
        }
        for path in originals {
            let old = nodes[path]!
            let place = image(path)
            var now: FilePath?
            if let node = after.nodes[place], node.inode == old.inode, node.kind == old.kind {
                now = place
            } else {
                // Its other names that kept it (hard links) are not where it went.
                let stayed = Set(
                    nodes.filter { $0.value.inode == old.inode && after.nodes[image($0.key)]?.inode == old.inode }
                        .map { image($0.key) })
                let candidates = after.nodes.filter {
                    $0.value.inode == old.inode && $0.value.kind == old.kind && !stayed.contains($0.key)
                        && !claimed.contains($0.key)
                }.map(\.key)
                if candidates.count == 1 {
                    now = candidates[0]
                    result.renamed.append(FileRename(from: path, to: candidates[0]))
                    if old.kind == .directory { moved.append((path, candidates[0])) }
                }
            }
            if let now {
                claimed.insert(now)
                compare(old, after.nodes[now]!, at: now)
                continue
            }
            if let node = after.nodes[place], node.kind == old.kind, !claimed.contains(place) {
                claimed.insert(place)  // replaced by another object of its kind
                if old.kind != .directory { result.modified.append(place) }
                continue
            }
            if old.kind == .directory { result.directoriesDeleted.append(path) } else { result.deleted.append(path) }
        }
        for (path, node) in after.nodes where !claimed.contains(path) {
            // A name that held an object of this kind before, which went elsewhere: replaced.
            if let old = nodes[preimage(path)], old.kind == node.kind {
                if node.kind != .directory { result.modified.append(path) }
            } else if node.kind == .directory {
                result.directoriesCreated.append(path)
            } else {
                result.created.append(path)
            }
        }
        return result.sorted()
    }
}
