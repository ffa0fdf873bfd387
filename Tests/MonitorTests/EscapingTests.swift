import Monitor
import Testing

/// Names from the kernel are untrusted: nothing may reach a terminal raw or break a line.
@Suite struct EscapingTests {
    @Test(arguments: [
        ("plain name.txt", "plain name.txt"),
        ("a\nb", "a\\nb"),
        ("a\tb", "a\\tb"),
        ("a\rb", "a\\rb"),
        ("\u{1b}[31mred", "\\e[31mred"),
        ("back\\slash", "back\\\\slash"),
        ("del\u{7f}", "del\\x7f"),
        ("nul\u{0}bell\u{7}", "nul\\x00bell\\x07"),
        ("c1\u{85}\u{9b}", "c1\\u{85}\\u{9b}"),
        ("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe"),
        ("\u{202a}\u{2066}\u{2069}", "\\u{202a}\\u{2066}\\u{2069}"),
        ("héllo wörld ✓ 日本", "héllo wörld ✓ 日本"),
        ("emoji 🙂", "emoji 🙂"),
    ])
    func text(input: String, expected: String) {
        #expect(Escaping.text(utf8(input)) == expected)
    }

    @Test(arguments: [
        ([0xff] as [UInt8], "\\xff"),
        ([0x61, 0xc3], "a\\xc3"),  // cut two-byte sequence
        ([0xe2, 0x82, 0x61], "\\xe2\\x82a"),  // cut three-byte sequence, then ASCII
        ([0xc0, 0x80], "\\xc0\\x80"),  // overlong NUL
        ([0xed, 0xa0, 0x80], "\\xed\\xa0\\x80"),  // UTF-16 surrogate
        ([0xf4, 0x90, 0x80, 0x80], "\\xf4\\x90\\x80\\x80"),  // above U+10FFFF
        ([0x80, 0x41], "\\x80A"),  // stray continuation byte
        ([0xc3, 0xa9, 0xfe], "é\\xfe"),
    ])
    func invalidUTF8InText(input: [UInt8], expected: String) {
        #expect(Escaping.text(input) == expected)
    }

    @Test func textNeverContainsControlsOrNewlines() {
        let every = (0...255).map(UInt8.init)
        let escaped = Escaping.text(every)
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7f..<0xa0).contains($0.value) })
        #expect(escaped.unicodeScalars.allSatisfy { $0.isASCII })  // 0x80...0xff alone are all invalid UTF-8
    }

    @Test func jsonKeepsValidTextExactly() {
        let input = "line\nbreak \u{1b}[0m \u{202e} ✓"
        let (string, lossless) = Escaping.json(utf8(input))
        #expect(string == input)
        #expect(lossless)
    }

    @Test func jsonReplacesInvalidBytes() {
        let (string, lossless) = Escaping.json([0x61, 0xff, 0x62, 0xc3])
        #expect(string == "a\u{fffd}b\u{fffd}")
        #expect(!lossless)
        #expect(Escaping.hex([0x61, 0xff, 0x00, 0x0a]) == "61ff000a")
    }

    @Test(arguments: [
        (["ls", "-l", "/tmp/a_b.c"], "ls -l /tmp/a_b.c"),
        (["echo", "hello world"], "echo 'hello world'"),
        (["sh", "-c", "echo $HOME; rm *"], "sh -c 'echo $HOME; rm *'"),
        (["printf", "it's"], "printf 'it'\\''s'"),
        (["touch", ""], "touch ''"),
        (["env", "A=1", "key:v,w+x@y%z^"], "env A=1 key:v,w+x@y%z^"),
        (["cat", "a\nb"], "cat 'a\\nb'"),
        (["x", "\u{1b}[2J"], "x '\\e[2J'"),
        (["grep", "naïve"], "grep naïve"),
    ])
    func shellQuoting(argv: [String], expected: String) {
        #expect(Escaping.arguments(argv.map(utf8)) == expected)
    }

    @Test func shellQuotingInvalidBytes() {
        #expect(Escaping.arguments([utf8("rm"), [0x66, 0xff]]) == "rm 'f\\xff'")
        #expect(Escaping.arguments([]) == "")
    }
}
