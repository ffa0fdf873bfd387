import Foundation

/// What the machine offers, checked before compiling anything so that each
/// missing piece gets its own error and fix instead of a clang wall of text.
public enum Preflight {
    public static let tracefs = "/sys/kernel/tracing"

    public static func requireRoot() throws {
        guard geteuid() == 0 else { throw KernelError.notRoot }
    }

    /// Mounts tracefs when it is absent: BCC reads tracepoint formats from it.
    public static func requireTracefs() throws {
        let events = tracefs + "/events"
        if FileManager.default.fileExists(atPath: events) { return }
        _ = mount("tracefs", tracefs, "tracefs", 0, nil)
        guard FileManager.default.fileExists(atPath: events) else { throw KernelError.noTracefs }
    }

    public static func requireKernelHeaders() throws {
        let release = kernelRelease
        guard FileManager.default.fileExists(atPath: "/lib/modules/\(release)/build/include") else {
            throw KernelError.noKernelHeaders(release: release)
        }
    }

    public static func hasTracepoint(_ event: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(tracefs)/events/\(event)/format")
    }

    /// Whether tracepoint `event` ("sched/sched_process_exit") has `field`:
    /// fields come and go between kernel releases.
    public static func tracepoint(_ event: String, hasField field: String) -> Bool {
        guard let format = tracepointFormat(event) else { return false }
        return format.split(separator: "\n").contains { $0.contains("field:") && $0.contains(" \(field);") }
    }

    /// The format file of tracepoint `event` ("sched/sched_process_exit"), nil when it has none.
    static func tracepointFormat(_ event: String) -> String? {
        try? String(contentsOfFile: "\(tracefs)/events/\(event)/format", encoding: .utf8)
    }

    public static var hasKprobes: Bool {
        FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/kprobe")
            || FileManager.default.fileExists(atPath: tracefs + "/kprobe_events")
    }

    public static var kernelRelease: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// `auto` picks the kprobe where the kernel has kprobes, as the original design did.
    public static func resolve(_ requested: ForkProbe?) throws -> ForkProbe {
        switch requested {
        case nil: return hasKprobes ? .kprobe : .tracepoint
        case .kprobe?:
            guard hasKprobes else { throw KernelError.kprobesUnavailable(option: "fork-probe") }
            return .kprobe
        case .tracepoint?: return .tracepoint
        }
    }
}
