/// One command's file-system operations, in the order they happened, turned
/// into the command's net effect: what a before/after snapshot would show,
/// plus what was read, loaded and thrown away.
///
/// The ledger follows *objects*, not names: a file keeps its identity across
/// renames, so `a -> b -> c` is one rename and a temp file renamed over its
/// target is a replacement, not a creation. Identity is the ledger's own: the
/// events name paths, not inodes, so a hard link is a new object, and writes
/// through it are not seen as writes to the other names of the inode.
///
/// Names live in two namespaces. *Current* names are what the paths in the
/// events mean now. *Original* names are what a path meant when the command
/// started: they differ only below a directory the command renamed. Prior
/// existence is knowledge about original names and is settled once, by the
/// first thing the ledger learns about a name; after that, anything that turns
/// up at a name the ledger knows to be empty is new.
///
/// Paths are absolute and normalized, as byte strings: Linux names are bytes.
public struct FileLedger: Sendable {
    /// What the ledger knows is at a current name.
    enum Slot: Equatable, Sendable {
        case object(Int)
        /// Known empty, and so is everything below it.
        case vacant
    }

    /// One file-system object the command touched.
    struct Object: Sendable {
        var directory: Bool
        /// The kind came from a call that says it (open, mkdir, unlink, rmdir), not a default.
        var kindKnown: Bool
        /// Its name when the command started; nil when the command brought it into being.
        var origin: [UInt8]?
        /// The name it came into being under, or was first seen under: a temporary is reported by it.
        var firstName: [UInt8]
        /// Its name now; nil once removed or displaced.
        var current: [UInt8]?
        var wrote = false
        var metadata = false
        var openedToRead = false
        var readBytes = false
        var loaded = false

        var existedBefore: Bool { origin != nil }
    }

    var objects: [Object] = []
    /// Current name -> what is there, for every name the ledger has knowledge of.
    var names = PathDictionary<Slot>()
    /// Path -> the paths directly below it that are in `names` or lead to one: a tree
    /// over `names`, so a rename or an rmdir visits its own subtree, not the whole ledger.
    var children = PathDictionary<Set<PathKey>>()
    /// Original name -> whether something was there when the command started.
    var prior = PathDictionary<Bool>()
    /// Rename targets whose prior existence was guessed (absent).
    var guessed: [[UInt8]] = []

    public init() {}

    /// open/openat/openat2/creat succeeded.
    /// - Parameters:
    ///   - created: the kernel says this open created the file (FMODE_CREATED): the honest
    ///     test for "did not exist before", where O_CREAT alone is not.
    ///   - writable: opened for writing (O_WRONLY/O_RDWR). Opening for writing changes nothing
    ///     by itself; only `wrote` or `truncated` does.
    ///   - truncated: O_TRUNC on an existing file: its content was replaced.
    ///   - loader: opened by the dynamic loader (shared library, ld.so.cache, locale data),
    ///     reported as "loaded" apart from the command's own reads.
    ///   - directory: the path is a directory (O_DIRECTORY, or the tracer knows the inode's kind).
    public mutating func opened(
        _ path: [UInt8], created: Bool, writable: Bool, truncated: Bool, loader: Bool,
        directory: Bool
    ) {
        if created {
            _ = bringIntoBeing(path, directory: directory)
            return
        }
        let index = occupant(path, directory: directory)
        if truncated && !directory { objects[index].wrote = true }
        if loader {
            objects[index].loaded = true
        } else if !writable {
            objects[index].openedToRead = true
        }
    }

    /// Bytes written, or truncate/ftruncate/fallocate: the content changed.
    public mutating func wrote(_ path: [UInt8]) {
        objects[occupant(path, directory: nil)].wrote = true
    }

    /// Bytes read. Reads through a file only the loader opened stay "loaded", not "read".
    public mutating func read(_ path: [UInt8]) {
        objects[occupant(path, directory: nil)].readBytes = true
    }

    /// chmod/chown/utimensat/setxattr family: the attributes changed, the content did not.
    public mutating func changedMetadata(_ path: [UInt8]) {
        objects[occupant(path, directory: nil)].metadata = true
    }

    /// unlink/unlinkat/rmdir succeeded. Anything the ledger still held below a removed
    /// directory is gone too: rmdir succeeds only on an empty directory, so its removal was missed.
    public mutating func removed(_ path: [UInt8], directory: Bool) {
        _ = occupant(path, directory: directory)
        vacate(path)
    }

    /// mkdir, mknod, symlink, or link (the new name) succeeded: the name did not exist before.
    public mutating func created(_ path: [UInt8], directory: Bool) {
        _ = bringIntoBeing(path, directory: directory)
    }

    /// rename/renameat/renameat2 succeeded. The object at `from`, and everything below it if
    /// it is a directory, now lives at `to`.
    /// - Parameters:
    ///   - replaced: whether `to` existed and was replaced, when the caller knows
    ///     (RENAME_NOREPLACE success => false; RENAME_EXCHANGE => both existed); nil when unknown.
    ///     It matters only when the ledger knows nothing yet about `to`. Unknown is taken as
    ///     "did not exist", and `to` is listed in `FileSummary.uncertain`.
    ///   - exchange: RENAME_EXCHANGE: the two objects swap names.
    public mutating func renamed(from: [UInt8], to: [UInt8], replaced: Bool?, exchange: Bool) {
        guard from != to else { return }  // rename(2) onto itself does nothing
        let source = occupant(from, directory: nil)
        if exchange {
            _ = occupant(to, directory: nil)
            swap(from, to)
            return
        }
        if names[to] == nil, let original = origin(of: to), prior[original] == nil {
            if replaced == true {
                prior[original] = true
                _ = make(to, origin: original, directory: objects[source].directory, kindKnown: false)
            } else {
                prior[original] = false
                if replaced == nil { guessed.append(to) }
            }
        }
        vacate(to)  // whatever was there is displaced
        move(from, to)
    }

    /// What a stat/access/failed open said about a path. It only settles whether the name
    /// existed before the command; once the ledger knows that, this says nothing new.
    public mutating func observed(_ path: [UInt8], exists: Bool) {
        guard names[path] == nil, let original = origin(of: path), prior[original] == nil else { return }
        prior[original] = exists
        if exists {
            _ = make(path, origin: original, directory: false, kindKnown: false)
        } else {
            set(path, .vacant)
        }
    }

    // MARK: - Objects and names

    /// The object at `path` now, first seen here if the ledger did not know it: it existed
    /// before the command unless the name was known empty or lies in something the command made.
    private mutating func occupant(_ path: [UInt8], directory: Bool?) -> Int {
        switch names[path] {
        case .object(let index)?:
            if let directory {
                objects[index].directory = directory
                objects[index].kindKnown = true
            }
            return index
        case .vacant?:
            // Known empty, yet something is here: its creation went unseen.
            return make(path, origin: nil, directory: directory ?? false, kindKnown: directory != nil)
        case nil:
            let original = origin(of: path)
            if let original, prior[original] == nil {
                prior[original] = true
                return make(path, origin: original, directory: directory ?? false, kindKnown: directory != nil)
            }
            return make(path, origin: nil, directory: directory ?? false, kindKnown: directory != nil)
        }
    }

    /// A new object at `path`. Something the ledger still held there was removed unseen.
    private mutating func bringIntoBeing(_ path: [UInt8], directory: Bool) -> Int {
        if names[path] == nil {
            if let original = origin(of: path), prior[original] == nil { prior[original] = false }
            // Nothing known at or below the name (most creations): nothing to vacate.
            if children[path] == nil { return make(path, origin: nil, directory: directory, kindKnown: true) }
        }
        vacate(path)
        return make(path, origin: nil, directory: directory, kindKnown: true)
    }

    private mutating func make(_ path: [UInt8], origin: [UInt8]?, directory: Bool, kindKnown: Bool) -> Int {
        // A tracked object with something below it is a directory, whatever the ledger assumed.
        if case .object(let parent)? = nearestAncestor(of: path)?.slot, !objects[parent].kindKnown {
            objects[parent].directory = true
        }
        let parentOfSomething = !kindKnown && children[path] != nil
        objects.append(
            Object(
                directory: directory || parentOfSomething, kindKnown: kindKnown, origin: origin,
                firstName: path, current: path))
        set(path, .object(objects.count - 1))
        return objects.count - 1
    }

    /// The original name of the current `path`, or nil when it lies below something the command
    /// created or emptied, where nothing can have existed before.
    func origin(of path: [UInt8]) -> [UInt8]? {
        guard let ancestor = nearestAncestor(of: path) else { return path }
        guard case .object(let index) = ancestor.slot, let base = objects[index].origin else { return nil }
        return base + path[ancestor.cut...]
    }

    /// The nearest proper ancestor of `path` the ledger has knowledge of: where it ends in `path`, and what is there.
    private func nearestAncestor(of path: [UInt8]) -> (cut: Int, slot: Slot)? {
        for cut in FileLedger.ancestorCuts(path) {
            if let slot = names[Array(path[..<cut])] { return (cut, slot) }
        }
        return nil
    }

    /// Empties `path` and everything below it: objects there are gone.
    private mutating func vacate(_ path: [UInt8]) {
        // A name with nothing below it (most files) is emptied in place: the
        // same end as taking it out of `children` and hanging it back in.
        if children[path] == nil, let slot = names[path] {
            if case .object(let index) = slot { objects[index].current = nil }
            names[path] = .vacant
            return
        }
        for (name, slot) in subtree(path) {
            if case .object(let index) = slot { objects[index].current = nil }
            remove(name)
        }
        set(path, .vacant)
    }

    /// Moves `from` and everything below it to `to`, which is empty.
    private mutating func move(_ from: [UInt8], _ to: [UInt8]) {
        let moving = subtree(from)
        for (name, _) in moving { remove(name) }
        place(moving, from: from, to: to)
        set(from, .vacant)
    }

    /// RENAME_EXCHANGE: the two subtrees trade places.
    private mutating func swap(_ a: [UInt8], _ b: [UInt8]) {
        let first = subtree(a)
        let second = subtree(b)
        for (name, _) in first + second { remove(name) }
        place(first, from: a, to: b)
        place(second, from: b, to: a)
    }

    private mutating func place(_ entries: [([UInt8], Slot)], from: [UInt8], to: [UInt8]) {
        for (name, slot) in entries {
            let renamed = to + name[from.count...]
            set(renamed, slot)
            if case .object(let index) = slot { objects[index].current = renamed }
        }
    }

    /// Entries at `path` and below it.
    private func subtree(_ path: [UInt8]) -> [([UInt8], Slot)] {
        var entries: [([UInt8], Slot)] = []
        var pending = [path]
        while let node = pending.popLast() {
            if let slot = names[node] { entries.append((node, slot)) }
            if let below = children[node] { pending.append(contentsOf: below.map(\.bytes)) }
        }
        return entries
    }

    private mutating func set(_ path: [UInt8], _ slot: Slot) {
        if names.updateValue(slot, forKey: path) == nil {
            link(path)
        }
    }

    private mutating func remove(_ path: [UInt8]) {
        guard names.removeValue(forKey: path) != nil else { return }
        unlink(path)
    }

    /// Hangs `path` into `children`, and its ancestors up to the first already there.
    private mutating func link(_ path: [UInt8]) {
        var node = path
        while let cut = FileLedger.parentCut(node) {
            let parent = Array(node[..<cut])
            let known = names[parent] != nil || children[parent] != nil
            children[parent, default: []].insert(PathKey(node))
            if known { return }
            node = parent
        }
    }

    /// Takes `path` out of `children` once nothing is at or below it, and ancestors left bare.
    private mutating func unlink(_ path: [UInt8]) {
        var node = path
        while names[node] == nil, children[node] == nil, let cut = FileLedger.parentCut(node) {
            let parent = Array(node[..<cut])
            children[parent]?.remove(PathKey(node))
            if children[parent]?.isEmpty == true { children[parent] = nil }
            node = parent
        }
    }

    // MARK: - Path bytes

    static let slash = UInt8(ascii: "/")

    /// Where each proper ancestor of an absolute path ends, nearest first: "/a/b/c" -> 4 ("/a/b"), 2 ("/a").
    /// The root is left out: it is never created, removed or renamed.
    static func ancestorCuts(_ path: [UInt8]) -> [Int] {
        var cuts: [Int] = []
        var index = path.count - 1
        while index > 0 {
            if path[index] == slash { cuts.append(index) }
            index -= 1
        }
        return cuts
    }

    /// Where the parent of an absolute path ends; nil for the root and its direct children.
    static func parentCut(_ path: [UInt8]) -> Int? {
        guard let cut = path.lastIndex(of: slash), cut > 0 else { return nil }
        return cut
    }
}
