import Foundation

enum CPUs {
    /// The CPUs in a sysfs list, `possible` or `online`: "0-1" or "0,2-5".
    static func listed(_ name: String) -> [Int] {
        guard let text = try? String(contentsOfFile: "/sys/devices/system/cpu/\(name)", encoding: .utf8) else {
            return Array(0..<ProcessInfo.processInfo.activeProcessorCount)
        }
        var cpus: [Int] = []
        for range in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let ends = range.split(separator: "-").compactMap { Int($0) }
            if let first = ends.first, let last = ends.last, first <= last { cpus += Array(first...last) }
        }
        return cpus
    }
}
