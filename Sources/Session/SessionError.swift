import Foundation

/// Errors about what the user asked for, as opposed to what the kernel offers.
public enum SessionError: Error, CustomStringConvertible {
    case noSuchProcess(Int32)
    case commandNotFound(String)
    case notExecutable(String)
    case launch(Int32)
    case output(String, Int32)
    /// An output file refused for safety (see OutputFile), with the reason.
    case unsafeOutput(String, String)

    public var exitCode: Int32 {
        switch self {
        case .noSuchProcess: return 66  // EX_NOINPUT
        case .commandNotFound: return 127  // as a shell
        case .notExecutable: return 126  // as a shell
        case .launch: return 71  // EX_OSERR
        case .output, .unsafeOutput: return 73  // EX_CANTCREAT
        }
    }

    public var description: String {
        switch self {
        case .noSuchProcess(let pid): return "no such process: \(pid)"
        case .commandNotFound(let name): return "command not found: \(name)"
        case .notExecutable(let name): return "permission denied: \(name) is not executable"
        case .launch(let code): return "could not start the command: \(String(cString: strerror(code)))"
        case .output(let path, let code): return "cannot write \(path): \(String(cString: strerror(code)))"
        case .unsafeOutput(let path, let reason): return "cannot write \(path): \(reason)"
        }
    }
}
