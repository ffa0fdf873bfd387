import Monitor
import Testing

/// ProcText on /proc contents as the kernel writes them, and as a process
/// naming itself, or a fuzzer, can make them.
@Suite struct ProcTextTests {
    @Test func statOfAProcess() {
        let stat = ProcText.stat(utf8("11440 (cat) R 11438 11438 3797 0 -1 4194304 100 0 0 0 0\n"))
        #expect(stat == ProcText.Stat(comm: utf8("cat"), ppid: 11438))
    }

    @Test(arguments: [
        ("a) (b", "5 (a) (b) S 3 5 5 0\n"),
        (") 9 R 1 (", "5 () 9 R 1 () S 3 5 5 0\n"),
        ("x y", "5 (x y) S 3 5\n"),
        ("", "5 () S 3 5\n"),
        ("new\nline", "5 (new\nline) S 3 5\n"),
    ])
    func statCommMayHoldSpacesAndParentheses(comm: String, line: String) {
        #expect(ProcText.stat(utf8(line)) == ProcText.Stat(comm: utf8(comm), ppid: 3))
    }

    @Test(arguments: [
        "",
        "5 cat S 3",
        "5 (cat S 3",
        "5 cat) S 3",
        "5 (cat)",
        "5 (cat) ",
        "5 (cat) S",
        "5 (cat) S x 5",
        "5 (cat) S 99999999999 5",
        "5 (cat) S -99999999999 5",
        "5 (cat) S 18446744073709551615 5",
    ])
    func statMissingOrImpossibleFieldsGiveNil(line: String) {
        #expect(ProcText.stat(utf8(line)) == nil)
    }

    /// Inputs on which the fuzzer found ProcText.stat trapping: a first "("
    /// after the last ")", and a ")" as the last byte.
    @Test(
        arguments: [
            [
                0x37, 0x37, 0x20, 0x2c, 0x61, 0x29, 0x20, 0x28, 0x62, 0x43, 0x6f, 0x6c, 0x6c, 0x65, 0x63, 0x74, 0x69,
                0x6f,
                0x53, 0x20, 0x31, 0x20, 0x37, 0x37, 0x20, 0x37, 0x37, 0x20, 0x30, 0x5d, 0x2d, 0x31, 0x0a,
            ],
            [
                0x37, 0x37, 0x20, 0x28, 0x61, 0x29, 0x20, 0x28, 0x62, 0xdf, 0xdf, 0xad, 0xdf, 0x38, 0x53, 0x43, 0x6f,
                0x6c,
                0x6c, 0x65, 0x63, 0x74, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61, 0x29,
            ],
        ] as [[UInt8]])
    func statFoundByTheFuzzer(bytes: [UInt8]) {
        #expect(ProcText.stat(bytes) == nil)
    }

    @Test func statWithoutFieldsAfterComm() {
        #expect(ProcText.stat(utf8("1 (a)")) == nil)
        #expect(ProcText.stat(utf8(")")) == nil)
        #expect(ProcText.stat(utf8("()")) == nil)
        #expect(ProcText.stat(utf8(") (")) == nil)
    }

    @Test func cmdline() {
        #expect(ProcText.cmdline(utf8("sh\0-c\0echo hi\0")) == [utf8("sh"), utf8("-c"), utf8("echo hi")])
        #expect(ProcText.cmdline(utf8("a\0\0b\0")) == [utf8("a"), [], utf8("b")])
        #expect(ProcText.cmdline(utf8("no terminator")) == [utf8("no terminator")])
        #expect(ProcText.cmdline([]) == [])
        #expect(ProcText.cmdline([0]) == [[]])  // one empty argument
    }

    @Test func statusField() {
        let status = utf8("Name:\tbash\nVmHWM:\t    1744 kB\nVmRSS:\t    1720 kB\nThreads:\t1\n")
        #expect(ProcText.statusField("VmRSS", in: status) == "1720")
        #expect(ProcText.statusField("VmHWM", in: status) == "1744")
        #expect(ProcText.statusField("VmSwap", in: status) == nil)
        #expect(ProcText.statusField("Vm", in: status) == nil)
    }

    @Test func statusValueWiderThanItsPadding() {
        // Past 8 digits the kernel's padding is gone: the value follows the tab.
        #expect(ProcText.statusField("VmRSS", in: utf8("VmRSS:\t123456789 kB\n")) == "123456789")
    }

    @Test(arguments: ["VmRSS:", "VmRSS:\t", "VmRSS:\t   \n", "VmRSS"])
    func statusFieldWithoutAValue(text: String) {
        #expect(ProcText.statusField("VmRSS", in: utf8(text)) == nil)
    }

    @Test func fdinfoFlags() {
        #expect(ProcText.fdinfoFlags(utf8("pos:\t0\nflags:\t0100002\nmnt_id:\t24\n")) == 0o100002)
        #expect(ProcText.fdinfoFlags(utf8("flags:  02  \n")) == 0o2)
    }

    @Test(arguments: [
        "", "pos:\t0\n", "flags:\n", "flags:\t\n", "flags:\t9\n", "flags:\t0x10\n", "flags:\t-1\n",
        "flags:\t7777777777777777777777777\n",
    ])
    func fdinfoFlagsMissingOrNotOctal(text: String) {
        #expect(ProcText.fdinfoFlags(utf8(text)) == nil)
    }
}
