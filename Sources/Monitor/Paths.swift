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

    /// Shared libraries, the loader's cache and locale data: what the
    /// dynamic loader and libc read on a program's behalf.
    public static func isLoaderFile(_ path: [UInt8]) -> Bool {
        let text = String(decoding: path, as: UTF8.self)
        if text == "/etc/ld.so.cache" || text == "/etc/ld.so.preload" { return true }
        if text.hasPrefix("/usr/lib/locale/") || text.hasPrefix("/usr/share/locale/") || text.contains("/gconv/") {
            return true
        }
        let name = text.split(separator: "/").last ?? ""
        return name.hasSuffix(".so") || name.contains(".so.")
    }
}
