import Foundation
import Monitor
import Testing

/// JSON Lines: one parseable object per record, strings exact or flagged lossy.
@Suite struct JSONSinkTests {
    private func objects(_ records: [Record]) throws -> [[String: Any]] {
        let stream = MemoryStream()
        let sink = JSONSink(stream: stream)
        for record in records { sink.emit(record) }
        let lines = stream.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == records.count + 1 && lines.last == "")
        return try lines.dropLast().map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    private func event(comm: [UInt8]) -> ProcessRecord {
        ProcessRecord(time: testClock.wall(1_500), command: 2, pid: 7, tid: 8, ppid: 1, comm: comm, action: .exit)
    }

    @Test func everyControlCharacterRoundTrips() throws {
        let text = String(decoding: (1...0x7f).map(UInt8.init), as: UTF8.self) + "\u{85}\u{9f}\u{2028}\u{2029}\u{202e}"
        let object = try #require(try objects([.process(event(comm: utf8(text)))]).first)
        #expect(object["comm"] as? String == text)
        #expect(object["comm_hex"] == nil)
    }

    /// Each byte value, at each place in a long name (in the words tested eight
    /// bytes at a time and in the tail), comes out exact or flagged with hex.
    @Test func everyByteAtEveryPlaceRoundTrips() throws {
        var records: [Record] = []
        var names: [[UInt8]] = []
        for byte in 0...255 {
            for place in 0..<17 {
                var name = [UInt8](repeating: UInt8(ascii: "a"), count: 17)
                name[place] = UInt8(byte)
                names.append(name)
                records.append(.process(event(comm: name)))
            }
        }
        for (name, object) in zip(names, try objects(records)) {
            let valid = String(validating: name, as: UTF8.self)
            #expect(object["comm"] as? String == valid ?? String(decoding: name, as: UTF8.self))
            #expect((object["comm_hex"] != nil) == (valid == nil))
        }
    }

    @Test func rawOutputHasNoRawControls() {
        let stream = MemoryStream()
        JSONSink(stream: stream).emit(.process(event(comm: utf8("a\u{1b}\u{7f}\u{85}\u{2028}b"))))
        let line = stream.text.dropLast()
        #expect(line.contains(#""comm":"a\u001b\u007f\u0085\u2028b""#))
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7f..<0xa0).contains($0.value) })
    }

    @Test func invalidBytesAreFlaggedWithHex() throws {
        var record = event(comm: [0x61, 0xff])
        record.action = .exec
        record.path = [0x2f, 0xc3]
        record.argv = [utf8("ok"), [0xfe]]
        let object = try #require(try objects([.process(record)]).first)
        #expect(object["comm"] as? String == "a\u{fffd}")
        #expect(object["comm_hex"] as? String == "61ff")
        #expect(object["path_hex"] as? String == "2fc3")
        #expect(object["argv"] as? [String] == ["ok", "\u{fffd}"])
        #expect(object["argv_hex"] as? [String] == ["6f6b", "fe"])
    }

    @Test func exitFields() throws {
        var exited = event(comm: utf8("sh"))
        exited.termination = .exited(3)
        var killed = event(comm: utf8("sh"))
        killed.termination = .signaled(6, coreDumped: true)
        var vanished = event(comm: utf8("sh"))
        vanished.statusUnknown = true
        let list = try objects([.process(exited), .process(killed), .process(vanished)])
        #expect(list[0]["exit_code"] as? Int == 3 && list[0]["signal"] == nil)
        #expect(list[1]["signal"] as? Int == 6 && list[1]["signal_name"] as? String == "SIGABRT")
        #expect(list[1]["core_dumped"] as? Bool == true && list[1]["exit_code"] == nil)
        #expect(list[2]["status_unknown"] as? Bool == true)
        #expect(list[2]["exit_code"] == nil && list[2]["signal"] == nil)
        #expect(list.allSatisfy { $0["type"] as? String == "event" && $0["category"] as? String == "process" })
        #expect(
            list.allSatisfy {
                $0["action"] as? String == "exit" && $0["time"] as? String == "2026-11-26T15:20:00.000001Z"
            })
    }

    @Test func lostObject() throws {
        let lost = LostRecord(time: testClock.wall(0), counts: ["exit": 2, "fork": 0], total: 2)
        let object = try #require(try objects([.lost(lost)]).first)
        #expect(object["type"] as? String == "lost")
        #expect(object["command"] as? Int == 0)
        #expect(object["count"] as? Int == 2)
        #expect(object["where"] as? [String: Int] == ["exit": 2])
    }

    /// Numbers are written digit by digit: zero, negatives, the widest values.
    @Test func numbersAtTheirLimits() throws {
        var record = ActivityRecord(
            time: testClock.wall(0), command: 0, pid: Int32.max, tid: 0, ppid: 0, comm: Array("w".utf8),
            category: .file, action: .write)
        record.fd = Int32.min
        record.bytes = UInt64.max
        record.calls = 10
        let line = try #require(try objects([.activity(record)]).first)
        #expect(line["command"] as? Int == 0)
        #expect(line["pid"] as? Int == Int(Int32.max))
        #expect(line["tid"] as? Int == 0)
        #expect(line["fd"] as? Int == Int(Int32.min))
        #expect(line["bytes"] as? Int == Int.max)
        #expect(line["calls"] as? Int == 10)
        #expect(line["time"] as? String == TimeFormat.rfc3339(testClock.wall(0)))
    }

    @Test func statusFieldsKeepTheirTypes() throws {
        let status = StatusRecord(
            time: testClock.wall(0), message: "ready",
            fields: ["watching": "3", "seconds": "0.25", "probe": "tracepoint", "odd": "1e5x"])
        let object = try #require(try objects([.status(status)]).first)
        #expect(object["watching"] as? Int == 3)
        #expect(object["seconds"] as? Double == 0.25)
        #expect(object["probe"] as? String == "tracepoint")
        #expect(object["odd"] as? String == "1e5x")
    }

    /// Swift's Int(_:) and Double(_:) accept spellings that JSON does not.
    @Test(arguments: ["nan", "inf", "-infinity", "007", "+1", ".5", "1.", "0x10"])
    func statusValuesThatLookNumericStayValidJSON(value: String) {
        let stream = MemoryStream()
        JSONSink(stream: stream).emit(.status(StatusRecord(time: 0, message: "m", fields: ["v": value])))
        let line = Data(stream.text.utf8)
        #expect((try? JSONSerialization.jsonObject(with: line)) != nil, "\(stream.text)")
    }

    @Test func summaryObject() throws {
        let summary = CommandSummary(
            command: 1, pid: 10, argv: [utf8("make")], termination: .signaled(9, coreDumped: false),
            start: testClock.wall(1_000), end: testClock.wall(2_000_000),
            processes: [
                .init(
                    pid: 10, ppid: 1, comm: utf8("make"), argv: [utf8("make")],
                    termination: .signaled(9, coreDumped: false)),
                .init(pid: 11, ppid: 10, comm: utf8("cc"), argv: [utf8("cc")], termination: nil),
            ],
            threads: 4, lostEvents: 6)
        let object = try #require(try objects([.summary(summary)]).first)
        #expect(object["type"] as? String == "summary")
        #expect(object["command"] as? Int == 1)
        #expect(object["pid"] as? Int == 10)
        #expect(object["argv"] as? [String] == ["make"])
        #expect(object["signal"] as? Int == 9)
        #expect(object["start"] as? String == "2026-11-26T15:20:00.000001Z")
        #expect(object["end"] as? String == "2026-11-26T15:20:00.002000Z")
        #expect(object["time"] as? String == object["end"] as? String)
        #expect(object["threads"] as? Int == 4)
        #expect(object["lost_events"] as? Int == 6)
        let processes = try #require(object["processes"] as? [[String: Any]])
        #expect(processes.map { $0["pid"] as? Int } == [10, 11])
        #expect(processes.map { $0["ppid"] as? Int } == [1, 10])
        #expect(processes.allSatisfy { $0["scope"] as? String == "command" })
        #expect(processes[1]["exit_code"] == nil && processes[1]["signal"] == nil)
    }
}
