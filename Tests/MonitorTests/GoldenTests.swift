import Foundation
import Monitor
import Testing

/// The whole output contract on one fixed story. Regenerate with UPDATE_GOLDEN=1
/// after an intended format change, then read the diff before committing it.
@Suite struct GoldenTests {
    private static let update = ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1"

    private func render(_ sink: Sink, _ stream: MemoryStream) -> String {
        for record in GoldenSequence.records() { sink.emit(record) }
        sink.flush()
        return stream.text
    }

    private func text() -> String {
        let stream = MemoryStream()
        return render(TextSink(stream: stream, utc: true), stream)
    }

    private func json() -> String {
        let stream = MemoryStream()
        return render(JSONSink(stream: stream), stream)
    }

    private func compare(_ actual: String, golden name: String) throws {
        if Self.update {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Golden").appendingPathComponent(name)
            try actual.write(to: source, atomically: true, encoding: .utf8)
            return
        }
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Golden"),
            "missing Golden/\(name); run with UPDATE_GOLDEN=1")
        let expected = try String(contentsOf: url, encoding: .utf8)
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, (have, want)) in zip(actualLines, expectedLines).enumerated() where have != want {
            Issue.record("Golden/\(name) line \(index + 1):\n  want: \(want)\n  have: \(have)")
        }
        #expect(actualLines.count == expectedLines.count, "Golden/\(name) line count")
    }

    @Test func textGolden() throws {
        try compare(text(), golden: "events.txt")
    }

    @Test func jsonGolden() throws {
        try compare(json(), golden: "events.jsonl")
    }

    @Test func textLinesAreSafe() {
        let output = text()
        #expect(output.hasSuffix("\n"))
        #expect(
            !output.unicodeScalars.contains { scalar in
                (scalar.value < 0x20 && scalar != "\n") || (0x7f..<0xa0).contains(scalar.value)
                    || (0x202a...0x202e).contains(scalar.value) || scalar == "\u{fffd}"
            })
        // A grep for the hostile process finds whole lines, each with the time and the command column.
        let lines = output.split(separator: "\n").filter { $0.contains(" 203 ") }
        #expect(lines.count >= 3)
        #expect(lines.allSatisfy { $0.hasPrefix("15:20:0") && $0.dropFirst(16).hasPrefix("  1 ") })
    }

    @Test func everyJSONLineParses() throws {
        let lines = json().split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "")
        var types: [String] = []
        for line in lines.dropLast() {
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not an object: \(line)")
            let type = try #require(object["type"] as? String)
            types.append(type)
            #expect(["event", "summary", "lost", "status"].contains(type))
            #expect(object["command"] is Int, "command in \(line)")
            let time = try #require(object["time"] as? String)
            #expect(time.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/) != nil, "time \(time)")
            if type == "event" {
                for key in ["pid", "tid", "comm", "category", "action"] {
                    #expect(object[key] != nil, "\(key) in \(line)")
                }
            }
        }
        #expect(types.filter { $0 == "summary" }.count == 5)
        #expect(types.filter { $0 == "lost" }.count == 1)
    }

    @Test func hostileNamesRoundTripThroughJSON() throws {
        let lines = json().split(separator: "\n")
        let exec = try #require(lines.first { $0.contains("\"action\":\"exec\"") && $0.contains("\"pid\":203") })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(exec.utf8)) as? [String: Any])
        #expect(object["comm"] as? String == "ev\n\u{1b}[31m\u{fffd}")
        #expect(object["comm_hex"] as? String == Escaping.hex(GoldenSequence.hostileComm))
        #expect(object["path_hex"] as? String == Escaping.hex(GoldenSequence.hostilePath))
        let argv = try #require(object["argv"] as? [String])
        #expect(argv == ["evil", "two\nlines", "\u{1b}[2J", "\u{fffd}(", "it's", "", "\u{202e}gpj.exe"])
        #expect(object["argv_hex"] as? [String] == GoldenSequence.hostileArgv.map(Escaping.hex))
    }
}
