import CSpawn
import Foundation
import Monitor

/// Starts `-- CMD` stopped at a gate: the child is forked, then waits on a
/// pipe until its pid is in the watched set, so the probes see it from its
/// first instruction after exec.
final class Launcher {
    let pid: Int32
    private var gate: Int32

    /// Resolves the program like a shell would, before any fork.
    static func resolve(_ name: [UInt8]) throws -> String {
        let program = String(decoding: name, as: UTF8.self)
        if program.contains("/") {
            guard FileManager.default.fileExists(atPath: program) else { throw SessionError.commandNotFound(program) }
            guard access(program, X_OK) == 0 else { throw SessionError.notExecutable(program) }
            return program
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw SessionError.commandNotFound(program)
    }

    init(arguments: [[UInt8]]) throws {
        let path = try Self.resolve(arguments[0])
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SessionError.launch(errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let flat: [UInt8] = arguments.flatMap { $0 + [0] }
        let child = spawn_gated(
            path, flat.map { CChar(bitPattern: $0) }, flat.count, Int32(arguments.count), fds[0], fds[1])
        let spawnErrno = errno
        close(fds[0])
        guard child > 0 else {
            close(fds[1])
            throw SessionError.launch(spawnErrno)
        }
        pid = child
        gate = fds[1]
    }

    deinit {
        if gate >= 0 { close(gate) }
    }

    /// Lets the child exec.
    func release() {
        var go: UInt8 = 1
        _ = write(gate, &go, 1)
        close(gate)
        gate = -1
    }

    /// Reaps the child if it has ended; the shell-style status once known.
    @discardableResult
    func poll() -> Int32? {
        if status == nil {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { termination = Termination(kernelCode: UInt32(bitPattern: raw)) }
        }
        return status
    }

    /// How the child ended, from waitpid: authoritative even when its exit event was lost.
    private(set) var termination: Termination?

    var status: Int32? { termination?.shellStatus }

    func signal(_ number: Int32) {
        if status == nil { kill(pid, number) }
    }
}
