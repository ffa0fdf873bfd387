import Glibc

/// Absolute paths as byte strings: Linux names are bytes, not text.
public enum Paths {
    static let slash = UInt8(ascii: "/")

    public static func isAbsolute(_ path: [UInt8]) -> Bool { path.first == slash }

    /// `path` against `base` (absolute), with `.` and `..` removed lexically.
    /// Lexical `..` is what the kernel does unless a symlink is in the way.
    public static func resolve(_ path: [UInt8], against base: [UInt8]) -> [UInt8] {
        normalize(isAbsolute(path) ? path : base + [slash] + path)
    }

    public static func normalize(_ path: [UInt8]) -> [UInt8] {
        if isNormal(path) { return path }
        var parts: [ArraySlice<UInt8>] = []
        for part in path.split(separator: slash) {
            if part.elementsEqual([UInt8(ascii: ".")]) { continue }
            if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        var result: [UInt8] = []
        for part in parts { result.append(slash); result.append(contentsOf: part) }
        return result.isEmpty ? [slash] : result
    }

    /// Absolute, with no empty, `.` or `..` component and no trailing slash:
    /// what normalize would return unchanged. Most paths are.
    public static func isNormal(_ path: [UInt8]) -> Bool {
        guard path.first == slash else { return false }
        let dot = UInt8(ascii: ".")
        var start = 1  // of the current component
        for index in 1...path.count where index == path.count || path[index] == slash {
            let length = index - start
            if length == 0 && path.count > 1 { return false }
            if length == 1 && path[start] == dot || length == 2 && path[start] == dot && path[start + 1] == dot {
                return false
            }
            start = index + 1
        }
        return true
    }

    /// `/proc/self` and `/proc/thread-self` name whoever resolves them: the
    /// caller's own entries, as the calling thread `pid`/`tid` saw them, are
    /// `/proc/PID` and `/proc/PID/task/TID`. Other paths are returned as they are.
    public static func procSelf(_ path: [UInt8], pid: Int32, tid: Int32) -> [UInt8] {
        guard path.starts(with: procDirectory) else { return path }  // most paths: one comparison
        let name = path[procDirectory.count...]
        let entry = name.prefix { $0 != slash }
        if entry.elementsEqual("self".utf8) {
            return Array("/proc/\(pid)".utf8) + name[entry.endIndex...]
        }
        if entry.elementsEqual("thread-self".utf8) {
            return Array("/proc/\(pid)/task/\(tid)".utf8) + name[entry.endIndex...]
        }
        return path
    }

    private static let procDirectory = Array("/proc/".utf8)

    /// The descriptor `/proc/PID/fd/N` (or `/proc/PID/task/TID/fd/N`, or
    /// `/dev/fd/N`) names for process `pid` itself, and the rest of the path
    /// after it. The link is the file the descriptor holds when the call is
    /// made, which the monitor, reading `/proc` later, may no longer see.
    public static func descriptorLink(_ path: [UInt8], pid: Int32) -> (fd: Int32, rest: ArraySlice<UInt8>)? {
        var name = path[...]
        if path.starts(with: devFD) {
            name = name.dropFirst(devFD.count)
        } else {
            guard path.starts(with: procDirectory) else { return nil }
            name = name.dropFirst(procDirectory.count)
            guard let owner = number(&name), owner == pid, name.first == slash else { return nil }
            name = name.dropFirst()
            if name.starts(with: task) {
                name = name.dropFirst(task.count)
                guard number(&name) != nil, name.first == slash else { return nil }
                name = name.dropFirst()
            }
            guard name.starts(with: fd) else { return nil }
            name = name.dropFirst(fd.count)
        }
        guard let descriptor = number(&name), name.isEmpty || name.first == slash else { return nil }
        return (descriptor, name)
    }

    /// The decimal number at the front of `name`, taken off it; nil if there is none or it is too long.
    private static func number(_ name: inout ArraySlice<UInt8>) -> Int32? {
        let digits = name.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !digits.isEmpty, digits.count <= 9 else { return nil }
        name = name.dropFirst(digits.count)
        return digits.reduce(0) { $0 * 10 + Int32($1 - UInt8(ascii: "0")) }
    }

    private static let devFD = Array("/dev/fd/".utf8)
    private static let task = Array("task/".utf8)
    private static let fd = Array("fd/".utf8)

    /// Byte order, as `lexicographicallyPrecedes` has it, by memcmp: summaries sort thousands of names.
    public static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let common = min(a.count, b.count)
        let order = a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in common == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, common) }
        }
        return order != 0 ? order < 0 : a.count < b.count
    }

    /// Shared libraries, the loader's cache and locale data: what the
    /// dynamic loader and libc read on a program's behalf.
    public static func isLoaderFile(_ path: [UInt8]) -> Bool {
        if path.elementsEqual("/etc/ld.so.cache".utf8) || path.elementsEqual("/etc/ld.so.preload".utf8) { return true }
        if path.starts(with: "/usr/lib/locale/".utf8) || path.starts(with: "/usr/share/locale/".utf8) { return true }
        let name = path.lastIndex(of: slash).map { path[($0 + 1)...] } ?? path[...]
        if name.count >= 3, name.suffix(3).elementsEqual(".so".utf8) { return true }
        return contains(name, ".so.") || contains(path[...], "/gconv/")
    }

    /// Whether `needle` occurs in `bytes`: memchr finds each place its first
    /// byte is, memcmp checks the rest. Every open's path is asked.
    private static func contains(_ bytes: ArraySlice<UInt8>, _ needle: StaticString) -> Bool {
        let pattern = UnsafeRawPointer(needle.utf8Start)
        let length = needle.utf8CodeUnitCount
        return bytes.withUnsafeBytes { haystack in
            guard let base = haystack.baseAddress, haystack.count >= length else { return false }
            let first = Int32(needle.utf8Start.pointee)
            var offset = 0
            while offset + length <= haystack.count, let found = memchr(base + offset, first, haystack.count - offset) {
                let at = base.distance(to: UnsafeRawPointer(found))
                if at + length > haystack.count { return false }
                if memcmp(found, pattern, length) == 0 { return true }
                offset = at + 1
            }
            return false
        }
    }
}

/// A path as a hash key: hashed and compared as one block of bytes, not
/// byte by byte as `[UInt8]` is.
public struct PathKey: Hashable, Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The path folded 8 bytes at a time into one word, which alone goes
    /// through the hasher: SipHash over every byte cost the file ledger a
    /// tenth of the monitor's time. The fold starts from a secret seed, so
    /// that a traced command cannot pick names that all collide.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(Self.fold(bytes))
    }

    private static let seed = UInt64.random(in: .min ... .max)

    static func fold(_ bytes: [UInt8]) -> UInt64 {
        let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
        var word = seed ^ UInt64(bytes.count)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset + 8 <= raw.count {
                word = (word ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* multiplier
                word ^= word >> 32
                offset += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < raw.count {
                tail |= UInt64(raw[offset]) << shift
                shift += 8
                offset += 1
            }
            word = (word ^ tail) &* multiplier
            word ^= word >> 32
        }
        return word
    }

    public static func == (a: PathKey, b: PathKey) -> Bool {
        a.bytes.count == b.bytes.count
            && a.bytes.withUnsafeBytes { x in
                b.bytes.withUnsafeBytes { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
            }
    }
}

/// A set of paths, with `PathKey`'s fast hashing.
public struct PathSet: Sendable {
    private var storage = Set<PathKey>()

    public init() {}
    public init(_ paths: some Sequence<[UInt8]>) { storage = Set(paths.lazy.map(PathKey.init)) }

    public mutating func insert(_ path: [UInt8]) { storage.insert(PathKey(path)) }
    public func subtracting(_ other: PathSet) -> PathSet {
        var result = PathSet()
        result.storage = storage.subtracting(other.storage)
        return result
    }
    public var paths: [[UInt8]] { storage.map(\.bytes) }
}

/// A dictionary keyed by paths, with `PathKey`'s fast hashing.
public struct PathDictionary<Value: Sendable>: Sendable {
    private var storage: [PathKey: Value] = [:]

    public init() {}

    // `_modify` yields the stored value in place: `set` alone would copy a
    // directory's whole child set on every insert.
    public subscript(path: [UInt8]) -> Value? {
        get { storage[PathKey(path)] }
        _modify { yield &storage[PathKey(path)] }
    }

    public subscript(path: [UInt8], default value: @autoclosure () -> Value) -> Value {
        get { storage[PathKey(path), default: value()] }
        _modify { yield &storage[PathKey(path), default: value()] }
    }

    @discardableResult
    public mutating func updateValue(_ value: Value, forKey path: [UInt8]) -> Value? {
        storage.updateValue(value, forKey: PathKey(path))
    }

    @discardableResult
    public mutating func removeValue(forKey path: [UInt8]) -> Value? {
        storage.removeValue(forKey: PathKey(path))
    }

    public var entries: [(path: [UInt8], value: Value)] { storage.map { ($0.key.bytes, $0.value) } }
}
