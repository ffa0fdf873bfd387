import Monitor
import Testing

/// Paths: relative names against a base, `.` and `..` removed lexically, bytes kept as bytes.
@Suite struct PathsTests {
    @Test(arguments: [
        ("f.txt", "/home/u", "/home/u/f.txt"),
        ("sub/f.txt", "/home/u", "/home/u/sub/f.txt"),
        ("../f.txt", "/home/u", "/home/f.txt"),
        ("../../../../f", "/home/u", "/f"),
        ("./f", "/home/u", "/home/u/f"),
        ("a/./b/../c", "/home/u", "/home/u/a/c"),
        ("a//b///c", "/home/u", "/home/u/a/b/c"),
        ("a/b/", "/home/u", "/home/u/a/b"),
        (".", "/home/u", "/home/u"),
        ("..", "/home/u", "/home"),
        ("..", "/", "/"),
        ("f", "/", "/f"),
        ("f", "//", "/f"),
        ("f", "/home/u/", "/home/u/f"),
        // An absolute name ignores the base, but is still normalized.
        ("/etc/passwd", "/home/u", "/etc/passwd"),
        ("/etc/../var//log/./x", "/home/u", "/var/log/x"),
        ("//etc", "/home/u", "/etc"),
        // Only `.` and `..` are special: these are ordinary names.
        ("...", "/t", "/t/..."),
        (".hidden/..x/x..", "/t", "/t/.hidden/..x/x.."),
    ])
    func resolve(path: String, base: String, expected: String) {
        #expect(text(Paths.resolve(bytes(path), against: bytes(base))) == expected)
    }

    @Test(arguments: [
        ("/", "/"),
        ("//", "/"),
        ("///a//", "/a"),
        ("/.", "/"),
        ("/..", "/"),
        ("/../../a", "/a"),
        ("/a/b/..", "/a"),
        ("/a/b/../..", "/"),
        ("/a/./b/.", "/a/b"),
        ("/a/b/c/../../d", "/a/d"),
        ("/a/", "/a"),
        ("/a/.../b", "/a/.../b"),
        ("/a/..b/.", "/a/..b"),
    ])
    func normalize(path: String, expected: String) {
        #expect(text(Paths.normalize(bytes(path))) == expected)
    }

    @Test func normalizeIsIdempotent() {
        for path in ["/", "/a/b", "/a/../b/./c//d/", "/../x"] {
            let once = Paths.normalize(bytes(path))
            #expect(Paths.normalize(once) == once, "\(path)")
        }
    }

    /// The shortcut for paths already normal takes exactly those.
    @Test func normalPathsAreKnownAsSuch() {
        for path in [
            "/", "//", "/a", "/a/", "/a//b", "/a/./b", "/a/.", "/a/..", "/..", "/.x", "/..x", "/x.", "/...", "a/b", "",
        ] {
            #expect(Paths.isNormal(bytes(path)) == (Paths.normalize(bytes(path)) == bytes(path)), "\(path)")
        }
    }

    /// Linux names are bytes: invalid UTF-8, newlines and ESC pass through untouched.
    @Test func bytesAreKeptExactly() {
        let name: [UInt8] = [0xff, 0xfe, 0x0a, 0x1b, UInt8(ascii: "["), UInt8(ascii: "m")]
        #expect(Paths.resolve(name, against: bytes("/t")) == bytes("/t/") + name)
        #expect(Paths.resolve(bytes("../") + name, against: bytes("/t/d")) == bytes("/t/") + name)
        #expect(Paths.normalize(bytes("/t/") + name + bytes("/./")) == bytes("/t/") + name)
    }

    @Test func absoluteMeansLeadingSlash() {
        #expect(Paths.isAbsolute(bytes("/")))
        #expect(Paths.isAbsolute(bytes("/a")))
        #expect(!Paths.isAbsolute(bytes("a/b")))
        #expect(!Paths.isAbsolute(bytes("./a")))
        #expect(!Paths.isAbsolute([]))
    }

    @Test func loaderFiles() {
        for path in [
            "/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/libz.so",
            "/usr/lib/locale/C.utf8/LC_CTYPE", "/usr/share/locale/locale.alias",
            "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", "/gconv/x", "/opt/..so.1", "/opt/s.so.",
        ] {
            #expect(Paths.isLoaderFile(bytes(path)), "\(path)")
        }
        for path in [
            "/etc/passwd", "/home/u/so", "/home/u/notes.solar", "/tmp/x.sock", "/usr/gconv", "/x.so/y", "/a.sox",
            "/a.so.d/b", "",
        ] {
            #expect(!Paths.isLoaderFile(bytes(path)), "\(path)")
        }
    }

    /// The summaries' sort order is the bytes' order, high bytes after ASCII, a prefix first.
    @Test func precedesIsByteOrder() {
        let names: [[UInt8]] = [
            [], [0x2F], [0x2F, 0x61], [0x2F, 0x62], [0x2F, 0x61, 0x00], [0xFF], [0x7F, 0x80], [0x80],
        ]
        for a in names {
            for b in names {
                #expect(Paths.precedes(a, b) == a.lexicographicallyPrecedes(b), "\(a) \(b)")
            }
        }
    }

    /// `/proc/self` is the caller's entry, so the monitor never resolves it as its own.
    @Test(arguments: [
        ("/proc/self/exe", "/proc/42/exe"),
        ("/proc/self", "/proc/42"),
        ("/proc/thread-self/comm", "/proc/42/task/43/comm"),
        ("/proc/selfish/x", "/proc/selfish/x"),
        ("/proc/42/exe", "/proc/42/exe"),
        ("/srv/proc/self/x", "/srv/proc/self/x"),
    ])
    func procSelfIsTheCallers(path: String, expected: String) {
        #expect(text(Paths.procSelf(bytes(path), pid: 42, tid: 43)) == expected)
    }

    @Test(
        arguments: [
            ("/proc/42/fd/3", "3", ""),
            ("/proc/42/fd/12/sub/x", "12", "/sub/x"),
            ("/proc/42/task/43/fd/0", "0", ""),
            ("/dev/fd/7", "7", ""),
            ("/proc/41/fd/3", nil, nil),
            ("/proc/42/fdinfo/3", nil, nil),
            ("/proc/42/fd/3x", nil, nil),
            ("/proc/42/fd/", nil, nil),
            ("/proc/42", nil, nil),
            ("/dev/fd/99999999999", nil, nil),
        ] as [(String, String?, String?)])
    func descriptorLinksOfTheCaller(path: String, fd: String?, rest: String?) {
        let link = Paths.descriptorLink(bytes(path), pid: 42)
        #expect(link.map { String($0.fd) } == fd)
        #expect(link.map { text(Array($0.rest)) } == rest)
    }

    /// Paths that differ in one byte anywhere, in a whole word or the partial
    /// one at the end, or only in their length, hash apart; equal ones meet.
    @Test func pathKeysHashEveryByte() {
        var names: [[UInt8]] = (0...20).map { [UInt8](repeating: 0, count: $0) }
        for index in 0..<20 {
            var name = [UInt8](repeating: UInt8(ascii: "a"), count: 20)
            name[index] = UInt8(ascii: "b")
            names.append(name)
        }
        let keys = Set(names.map(PathKey.init))
        #expect(keys.count == names.count)
        for name in names { #expect(keys.contains(PathKey(Array(name)))) }
        #expect(Set(names.map { PathKey($0).hashValue }).count == names.count)
    }
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
