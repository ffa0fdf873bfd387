import Glibc

/// Timestamps as the output contract wants them.
public enum TimeFormat {
    /// RFC 3339, UTC, microseconds: 2026-11-26T15:20:01.123456Z.
    public static func rfc3339(_ nanoseconds: UInt64) -> String {
        var parts = tm()
        var seconds = time_t(nanoseconds / 1_000_000_000)
        gmtime_r(&seconds, &parts)
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + clock(parts, nanoseconds) + "Z"
    }

    /// Local time of day with microseconds, for the text columns.
    public static func timeOfDay(_ nanoseconds: UInt64, utc: Bool = false) -> String {
        var parts = tm()
        var seconds = time_t(nanoseconds / 1_000_000_000)
        if utc { gmtime_r(&seconds, &parts) } else { localtime_r(&seconds, &parts) }
        return clock(parts, nanoseconds)
    }

    private static func clock(_ parts: tm, _ nanoseconds: UInt64) -> String {
        "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))."
            + pad(Int(nanoseconds % 1_000_000_000 / 1000), 6)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
