/// What the dynamic loader read for a command, by kind. The text summary
/// counts these files by default: a plain `ls` loads a dozen locale files,
/// which would bury the lines that say what the command did.
public enum LoadedFiles {
    public enum Kind: String, CaseIterable, Sendable {
        /// Shared objects: `libc.so.6`, `ld-linux-x86-64.so.2`, gconv modules.
        case libraries
        /// Locale data under `/usr/lib/locale` or `/usr/share/locale`.
        case locale
        /// The rest, such as `/etc/ld.so.cache`.
        case other
    }

    public static func kind(of path: [UInt8]) -> Kind {
        if path.starts(with: "/usr/lib/locale/".utf8) || path.starts(with: "/usr/share/locale/".utf8) {
            return .locale
        }
        let name = path.lastIndex(of: UInt8(ascii: "/")).map { path[($0 + 1)...] } ?? path[...]
        return isSharedObject(name) ? .libraries : .other
    }

    /// `x.so`, or `x.so.` followed by a version number; `ld.so.cache` is no library.
    static func isSharedObject(_ name: ArraySlice<UInt8>) -> Bool {
        let suffix = Array(".so".utf8)
        var index = name.startIndex
        while index + suffix.count <= name.endIndex {
            if name[index..<index + suffix.count].elementsEqual(suffix) {
                let after = index + suffix.count
                if after == name.endIndex { return true }
                if name[after] == UInt8(ascii: "."), after + 1 < name.endIndex,
                    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(name[after + 1])
                {
                    return true
                }
            }
            index += 1
        }
        return false
    }

    /// "14 files: 3 libraries, 10 locale, 1 other": the count the text summary shows.
    public static func count(_ paths: [[UInt8]]) -> String {
        var counts: [Kind: Int] = [:]
        for path in paths { counts[kind(of: path), default: 0] += 1 }
        let kinds = Kind.allCases.compactMap { kind in
            counts[kind].map { "\($0) " + (kind == .libraries && $0 == 1 ? "library" : kind.rawValue) }
        }
        return "\(paths.count) \(paths.count == 1 ? "file" : "files"): " + kinds.joined(separator: ", ")
    }
}
