import Monitor
import Testing

/// MountInfo: mountinfo lines, their octal escapes undone, and what is not
/// an escape kept as it is.
@Suite struct MountInfoTests {
    @Test func linesAreParsed() {
        let text = """
            22 27 0:21 / /proc rw,relatime - proc proc rw
            27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
            301 27 0:52 /srv/data /var/lib/docker/overlay2/ab\\040cd/merged rw - overlay overlay rw

            """
        #expect(
            MountInfo.parse(utf8(text)) == [
                MountInfo(device: "0:21", root: utf8("/"), mountPoint: utf8("/proc")),
                MountInfo(device: "254:0", root: utf8("/"), mountPoint: utf8("/")),
                MountInfo(
                    device: "0:52", root: utf8("/srv/data"), mountPoint: utf8("/var/lib/docker/overlay2/ab cd/merged")),
            ])
    }

    @Test func shortLinesAreSkipped() {
        #expect(MountInfo.parse(utf8("22 27 0:21 /\n\n \n27 1 254:0 / /\n")).map(\.mountPoint) == [utf8("/")])
        #expect(MountInfo.parse([]) == [])
    }

    @Test(arguments: [
        ("/a\\040b", "/a b"),
        ("/tab\\011nl\\012bs\\134", "/tab\tnl\nbs\\"),
        ("/\\000", "/\0"),
        ("/\\377", "/\u{ff}"),
        // Not three octal digits, or past a byte: kept as is.
        ("/a\\09", "/a\\09"),
        ("/a\\9", "/a\\9"),
        ("/a\\", "/a\\"),
        ("/a\\0", "/a\\0"),
        ("/a\\04", "/a\\04"),
        ("/a\\400", "/a\\400"),
        ("/a\\777", "/a\\777"),
        ("/a\\+12", "/a\\+12"),
        ("/a\\-01", "/a\\-01"),
        ("/a\\x40", "/a\\x40"),
        ("\\\\040", "\\ "),
        ("\\0401", " 1"),
    ])
    func escapes(field: String, expected: String) {
        let line = "1 2 0:1 / \(field) rw - tmpfs tmpfs rw"
        let expectedBytes = expected == "/\u{ff}" ? [UInt8(ascii: "/"), 0xff] : utf8(expected)
        #expect(MountInfo.parse(utf8(line)).map(\.mountPoint) == [expectedBytes])
    }

    @Test func mountPointNeedNotBeUTF8() {
        let line: [UInt8] = utf8("1 2 0:1 / /mnt/") + [0xff, 0xfe] + utf8(" rw - tmpfs tmpfs rw\n")
        #expect(MountInfo.parse(line).map(\.mountPoint) == [utf8("/mnt/") + [0xff, 0xfe]])
    }
}
