import Glibc
import Synchronization

/// Timestamps as the output contract wants them.
public enum TimeFormat {
    /// RFC 3339, UTC, microseconds: 2026-11-26T15:20:01.123456Z.
    public static func rfc3339(_ nanoseconds: UInt64) -> String {
        var bytes: [UInt8] = []
        appendRFC3339(nanoseconds, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// rfc3339's bytes, appended: the JSON sink writes one for every event.
    public static func appendRFC3339(_ nanoseconds: UInt64, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: rfc3339Second(nanoseconds / 1_000_000_000))
        bytes.append(UInt8(ascii: "."))
        bytes.appendDecimal(UInt(nanoseconds % 1_000_000_000 / 1000), width: 6)
        bytes.append(UInt8(ascii: "Z"))
    }

    /// "2026-11-26T15:20:01" for a second since the epoch; events come in
    /// bursts within one second, so the last one is kept.
    private static func rfc3339Second(_ second: UInt64) -> [UInt8] {
        if let cached = lastSecond.withLock({ $0 }), cached.second == second { return cached.text }
        var parts = tm()
        var seconds = time_t(second)
        gmtime_r(&seconds, &parts)
        var text: [UInt8] = []
        let fields = [
            (parts.tm_year + 1900, 4, "-"), (parts.tm_mon + 1, 2, "-"), (parts.tm_mday, 2, "T"),
            (parts.tm_hour, 2, ":"), (parts.tm_min, 2, ":"), (parts.tm_sec, 2, ""),
        ]
        for (value, width, separator) in fields {
            text.appendDecimal(UInt(max(0, value)), width: width)
            text.append(contentsOf: separator.utf8)
        }
        lastSecond.withLock { $0 = (second, text) }
        return text
    }

    private static let lastSecond = Mutex<(second: UInt64, text: [UInt8])?>(nil)

    /// Local time of day with microseconds, for the text columns.
    public static func timeOfDay(_ nanoseconds: UInt64, utc: Bool = false) -> String {
        var parts = tm()
        var seconds = time_t(nanoseconds / 1_000_000_000)
        if utc { gmtime_r(&seconds, &parts) } else { localtime_r(&seconds, &parts) }
        return clock(parts, nanoseconds)
    }

    private static func clock(_ parts: tm, _ nanoseconds: UInt64) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(15)
        for (index, value) in [parts.tm_hour, parts.tm_min, parts.tm_sec].enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ":")) }
            bytes.appendDecimal(UInt(max(0, value)), width: 2)
        }
        bytes.append(UInt8(ascii: "."))
        bytes.appendDecimal(UInt(nanoseconds % 1_000_000_000 / 1000), width: 6)
        return String(decoding: bytes, as: UTF8.self)
    }
}
