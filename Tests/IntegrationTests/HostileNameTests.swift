import Foundation
import Glibc
import Testing

/// Names with a newline, an ESC and invalid UTF-8: in a program path, in
/// arguments and in a comm. They must never reach the output raw.
private struct HostileRun {
    let directory: String
    let link: String
    let fixture: String
    let report: String
    let command: [String]

    static let esc: UInt8 = 0x1B

    init() throws {
        directory = try Harness.temporaryDirectory()
        link = directory + "/tr\nu\u{1B}[1me"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/bin/true")
        fixture = try Fixture.compile(into: directory)
        report = directory + "/report"
        // The arguments are made by printf inside the command, so they reach exec byte for byte.
        let script =
            #""$1" "$(printf 'a\nb')" "$(printf '\033[2J')" "$(printf 'x\377y')"; "$2" "$3" comm "$(printf 'c\033\n\377')""#
        command = ["/bin/sh", "-c", script, "sh", link, fixture, report]
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

extension IntegrationTests {
    @Test func hostileNamesInText() throws {
        let hostile = try HostileRun()
        defer { hostile.remove() }
        let run = try Harness.monitor(["--"] + hostile.command)
        #expect(!run.timedOut && run.status == 0, "\(run)")

        #expect(!run.stdout.contains(HostileRun.esc), "a raw ESC reached the text output")
        #expect(
            String(decoding: run.stdout, as: UTF8.self).utf8.elementsEqual(run.stdout),
            "the text output is not valid UTF-8")
        let lines = run.stdout.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
        #expect(lines.first?.hasPrefix("TIME ") == true, "the header comes first: \(lines.first ?? "")")
        for line in lines.dropFirst() {
            #expect(
                startsWithTime(line),
                "a line that does not start with a time (a name split it?): \(line.debugDescription)")
        }
        let text = lines.joined(separator: "\n")
        let escapedLink = hostile.directory + #"/tr\nu\e[1me"#
        let execLine = lines.first { $0.contains(" exec ") && $0.contains(escapedLink + " argv: ") }
        #expect(execLine != nil, "no exec line for the link: \(text)")
        if let execLine {
            #expect(execLine.contains(#"a\nb"#), "\(execLine)")
            #expect(execLine.contains(#"\e[2J"#), "\(execLine)")
            #expect(execLine.contains(#"x\xffy"#), "\(execLine)")
        }
        #expect(
            lines.contains { $0.contains(#"c\e\n\xff"#) && $0.contains(" exit ") },
            "the comm with hostile bytes, escaped: \(text)")
    }

    @Test func hostileNamesInJSON() throws {
        let hostile = try HostileRun()
        defer { hostile.remove() }
        let run = try Harness.monitor(["--format", "json", "--"] + hostile.command)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        #expect(!run.stdout.contains(HostileRun.esc), "a raw ESC in JSON output")
        #expect(
            String(decoding: run.stdout, as: UTF8.self).utf8.elementsEqual(run.stdout),
            "the JSON output is not valid UTF-8")
        let objects = try run.json()  // throws on any line that is not a JSON object

        let exec = try #require(objects.events("exec").first { $0.string("path") == hostile.link }, "\(run)")
        let argv = exec.strings("argv") ?? []
        #expect(argv.count == 4, "\(exec)")
        #expect(argv.first == hostile.link)
        #expect(argv.dropFirst().first == "a\nb")
        #expect(argv.dropFirst(2).first == "\u{1B}[2J")
        #expect(argv.dropFirst(3).first == "x\u{FFFD}y")
        let hex = exec.strings("argv_hex")
        #expect(hex == [hexString(hostile.link), "610a62", "1b5b324a", "78ff79"], "argv_hex: \(exec)")

        let exit = try #require(
            objects.events("exit").first { $0.string("comm_hex") != nil }, "no exit with comm_hex: \(run)")
        #expect(exit.string("comm_hex") == "631b0aff", "\(exit)")
        #expect(exit.string("comm") == "c\u{1B}\n\u{FFFD}", "\(exit)")
    }

    /// The same bytes given to the monitor itself, `-- /bin/true ARGS`: the
    /// command must receive them unchanged, and the trace must show them.
    @Test func hostileArgumentsPassedThrough() throws {
        let arguments: [[UInt8]] = [Array("a\nb".utf8), [0x1B] + Array("[31m".utf8), Array("bad".utf8) + [0xFF, 0xFE]]
        let run = try Harness.monitor(
            bytes: [Array("--format".utf8), Array("json".utf8), Array("--".utf8), Array("/bin/true".utf8)] + arguments)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let objects = try run.json()
        let exec = try #require(objects.events("exec").first, "\(run)")
        #expect(exec.strings("argv") == ["/bin/true", "a\nb", "\u{1B}[31m", "bad\u{FFFD}\u{FFFD}"], "\(exec)")
        #expect(
            exec.strings("argv_hex") == ["2f62696e2f74727565", "610a62", "1b5b33316d", "626164fffe"],
            "the command must get the argument bytes unchanged (0xff 0xfe, not U+FFFD): \(exec)")
    }
}

private func hexString(_ string: String) -> String {
    string.utf8.map { String(format: "%02x", $0) }.joined()
}

/// `HH:MM:SS.uuuuuu `
private func startsWithTime(_ line: String) -> Bool {
    let bytes = Array(line.utf8.prefix(16))
    guard bytes.count == 16 else { return false }
    let digits = [0, 1, 3, 4, 6, 7, 9, 10, 11, 12, 13, 14]
    return digits.allSatisfy { (0x30...0x39).contains(bytes[$0]) }
        && bytes[2] == 0x3A && bytes[5] == 0x3A && bytes[8] == 0x2E && bytes[15] == 0x20
}
