import Foundation

/// Every way the kernel side can fail, each with its own exit status so that
/// scripts can tell "install headers" from "run as root" without parsing text.
public enum KernelError: Error, CustomStringConvertible, Equatable, Codable {
    case notRoot
    case noTracefs
    case noKernelHeaders(release: String)
    case noBPF(String)
    case kprobesUnavailable(option: String)
    case kernelTooOld(feature: String, since: String, release: String, minimum: String)
    case compileFailed(diagnostics: String)
    case loadFailed(program: String, errno: Int32, log: String)
    case attachFailed(probe: String, errno: Int32)
    case systemCall(String, errno: Int32)

    /// Exit statuses follow sysexits(3) where one fits; see the README's table.
    public var exitCode: Int32 {
        switch self {
        case .notRoot: return 77  // EX_NOPERM
        case .noTracefs: return 69  // EX_UNAVAILABLE
        case .noKernelHeaders: return 72  // EX_OSFILE
        case .noBPF, .loadFailed, .attachFailed, .systemCall: return 71  // EX_OSERR
        case .kprobesUnavailable: return 76  // EX_PROTOCOL: the kernel lacks the requested probe type
        case .compileFailed: return 70  // EX_SOFTWARE
        case .kernelTooOld: return 78  // EX_CONFIG: the kernel is older than the monitor supports
        }
    }

    public var description: String {
        switch self {
        case .notRoot:
            return "must run as root (or with CAP_BPF and CAP_PERFMON): try sudo"
        case .noTracefs:
            return
                "no tracefs at /sys/kernel/tracing and it could not be mounted: mount -t tracefs tracefs /sys/kernel/tracing"
        case .noKernelHeaders(let release):
            return
                "no kernel headers at /lib/modules/\(release)/build: run 'sudo make setup' (installs headers and links them)"
        case .noBPF(let why):
            return "BPF is unavailable: \(why)"
        case .kprobesUnavailable(let option):
            return
                "--\(option) kprobe: this kernel has no kprobes (CONFIG_KPROBES off); use another --\(option), or auto"
        case .kernelTooOld(let feature, let since, let release, let minimum):
            return
                "this kernel (\(release)) has no \(feature) (Linux \(since)): ebpf-monitor needs Linux \(minimum) or later"
        case .compileFailed(let diagnostics):
            return "BPF program failed to compile:\n\(diagnostics)"
        case .loadFailed(let program, let errno, let log):
            return "BPF program \(program) failed to load: \(errnoName(errno))\(log.isEmpty ? "" : "\n" + log)"
        case .attachFailed(let probe, let errno):
            return "could not attach \(probe): \(errnoName(errno))"
        case .systemCall(let call, let errno):
            return "\(call) failed: \(errnoName(errno))"
        }
    }
}

/// Runs a C call that reports failure as a negative return (or -1 plus errno)
/// and turns it into a typed error carrying the errno.
@discardableResult
func check(_ call: String, _ result: Int32) throws -> Int32 {
    guard result >= 0 else {
        throw KernelError.systemCall(call, errno: result == -1 ? errno : -result)
    }
    return result
}

func errnoName(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}
