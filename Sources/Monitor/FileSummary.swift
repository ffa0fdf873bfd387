import Glibc

/// A command's net effect on the file system: the `files` and `directories`
/// buckets of the summary. Every list is sorted by path bytes and holds no
/// duplicates, so two runs that did the same compare equal.
public struct FileSummary: Equatable, Sendable {
    /// An object that existed before, by its name then and its name at the end.
    public struct Rename: Equatable, Sendable {
        public var from: [UInt8]
        public var to: [UInt8]

        public init(from: [UInt8], to: [UInt8]) {
            self.from = from
            self.to = to
        }
    }

    /// Exists at the end and did not before: files, symlinks, hard links, special files.
    public var created: [[UInt8]] = []
    /// Existed before and at the end, and the content was written or replaced (renamed over).
    public var modified: [[UInt8]] = []
    /// Existed before and is gone at the end, by its name when the command started.
    public var deleted: [[UInt8]] = []
    /// Objects that existed before and end under another name, chains collapsed. Directories
    /// too: the contract has no bucket of its own for them, and a moved tree is worth saying.
    public var renamed: [Rename] = []
    /// Files the command read itself and did not write, by their name at the end, or their
    /// original name if they are gone. A file that was read and then replaced or deleted is
    /// listed here as well as in `modified` or `deleted`: this says what the command looked at.
    public var read: [[UInt8]] = []
    /// What the dynamic loader read on the command's behalf, listed apart from `read`.
    public var loaded: [[UInt8]] = []
    /// Existed before and at the end, and only mode, owner, times or xattrs changed.
    /// Directories too, for the same reason as `renamed`.
    public var metadata: [[UInt8]] = []
    /// Touched by daemon work that may have been another client's (confidence
    /// "ambiguous"): kept out of the buckets above, whatever it did.
    public var ambiguous: [[UInt8]] = []
    /// Created and gone again, by the name it was created under. A name that exists at the end,
    /// or is listed as deleted, is not repeated here: its net effect is already said.
    public var temporary: [[UInt8]] = []
    /// The same rules, for directories. A directory removed and made again under the same
    /// name is in none of them: a snapshot shows the same directory, and its entries say the rest.
    public var directoriesCreated: [[UInt8]] = []
    public var directoriesDeleted: [[UInt8]] = []
    public var directoriesTemporary: [[UInt8]] = []
    /// Paths whose bucket rests on a guess (a rename target whose prior existence was unknown,
    /// taken as absent): listed so the report can say so.
    public var uncertain: [[UInt8]] = []

    public init() {}

    /// Nothing changed, read or loaded.
    public var isEmpty: Bool { self == FileSummary() }
}

extension FileLedger {
    /// The net effect so far. Pure: the ledger can keep recording afterwards.
    public func summary() -> FileSummary {
        var net = NetEffect()
        var originals = PathDictionary<Int>()  // original name -> the object that was there
        for (index, object) in objects.enumerated() {
            if let origin = object.origin { originals[origin] = index }
        }

        // Where an original name is at the end: moved along with its nearest ancestor
        // the ledger followed, or nil when that ancestor is gone.
        func image(of original: [UInt8]) -> [UInt8]? {
            for cut in FileLedger.ancestorCuts(original) {
                guard let ancestor = originals[Array(original[..<cut])] else { continue }
                guard let current = objects[ancestor].current else { return nil }
                return current + original[cut...]
            }
            return original
        }

        func holdsSameKind(_ name: [UInt8]?, as directory: Bool) -> Bool {
            guard let name, case .object(let index)? = names[name] else { return false }
            return objects[index].directory == directory
        }

        // Objects: what became of each.
        for object in objects {
            guard let origin = object.origin else {
                if object.current == nil { net.temporary(object.firstName, directory: object.directory) }
                continue
            }
            if let name = object.current {
                if name != image(of: origin) { net.renamed.append(FileSummary.Rename(from: origin, to: name)) }
                if object.wrote && !object.directory {
                    net.modified.insert(name)
                } else if object.metadata {
                    net.metadata.insert(name)
                }
            } else if !holdsSameKind(image(of: origin), as: object.directory) {
                // Gone, and nothing of its kind took its place (that would make the name "modified").
                net.deleted(origin, directory: object.directory)
            }
            guard !object.directory, !object.wrote else { continue }
            let name = object.current ?? origin
            if object.loaded { net.loaded.insert(name) }
            if object.openedToRead || (object.readBytes && !object.loaded) { net.read.insert(name) }
        }

        // Names: what is at each at the end, against what was there at the start.
        for (name, slot) in names.entries {
            guard case .object(let index) = slot else { continue }
            let object = objects[index]
            net.live.insert(name)
            let before = origin(of: name).flatMap { originals[$0] }
            if let before, objects[before].directory == object.directory {
                // Same kind at the same name. Another object in its place is a replaced file;
                // a directory replaced by a directory is no change a snapshot would show.
                if before != index && !object.directory { net.modified.insert(name) }
            } else if !object.existedBefore {
                if object.directory { net.directoriesCreated.insert(name) } else { net.created.insert(name) }
            }
        }
        return net.sorted(uncertain: guessed)
    }
}

/// The buckets while they are filled: sets, sorted once at the end.
private struct NetEffect {
    var created = PathSet(), modified = PathSet(), deleted = PathSet()
    var read = PathSet(), loaded = PathSet(), metadata = PathSet(), temporary = PathSet()
    var directoriesCreated = PathSet(), directoriesDeleted = PathSet()
    var directoriesTemporary = PathSet()
    var renamed: [FileSummary.Rename] = []
    /// Names that exist at the end.
    var live = PathSet()

    mutating func temporary(_ name: [UInt8], directory: Bool) {
        if directory { directoriesTemporary.insert(name) } else { temporary.insert(name) }
    }

    mutating func deleted(_ name: [UInt8], directory: Bool) {
        if directory { directoriesDeleted.insert(name) } else { deleted.insert(name) }
    }

    func sorted(uncertain: [[UInt8]]) -> FileSummary {
        var summary = FileSummary()
        summary.created = ordered(created)
        summary.modified = ordered(modified)
        summary.deleted = ordered(deleted)
        summary.renamed = renamed.sorted { a, b in
            a.from != b.from ? Paths.precedes(a.from, b.from) : Paths.precedes(a.to, b.to)
        }
        summary.read = ordered(read)
        summary.loaded = ordered(loaded)
        summary.metadata = ordered(metadata.subtracting(modified))
        summary.temporary = ordered(temporary.subtracting(live).subtracting(deleted))
        summary.directoriesCreated = ordered(directoriesCreated)
        summary.directoriesDeleted = ordered(directoriesDeleted)
        summary.directoriesTemporary = ordered(directoriesTemporary.subtracting(live).subtracting(directoriesDeleted))
        summary.uncertain = ordered(PathSet(uncertain))
        return summary
    }

    /// Sorted as `Paths.precedes` orders them, by index into one flat copy of
    /// every name: comparing the arrays themselves retains and releases both
    /// at each of the n log n comparisons.
    private func ordered(_ names: PathSet) -> [[UInt8]] {
        let paths = names.paths
        var flat: [UInt8] = []
        flat.reserveCapacity(paths.reduce(0) { $0 + $1.count })
        var spans: [(start: Int, count: Int)] = []
        spans.reserveCapacity(paths.count)
        for path in paths {
            spans.append((flat.count, path.count))
            flat.append(contentsOf: path)
        }
        let order = flat.withUnsafeBufferPointer { bytes in
            spans.indices.sorted { a, b in
                let x = spans[a], y = spans[b]
                let common = min(x.count, y.count)
                let sign = common == 0 ? 0 : memcmp(bytes.baseAddress! + x.start, bytes.baseAddress! + y.start, common)
                return sign != 0 ? sign < 0 : x.count < y.count
            }
        }
        return order.map { paths[$0] }
    }
}
