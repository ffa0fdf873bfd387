import CBCC
import CBCCHooks
import CSpawn
import Foundation

/// A second process that compiles and loads part 2 of the programs
/// (`#if PART(2)` in bpf/) while this one compiles part 1. LLVM works on one
/// thread, and its work is most of the time to `ready`: two processes put
/// the machine's second core to it. (Processes, not threads: libbcc does not
/// say that two of its compiles may run at once in one process.)
///
/// The helper is a fork of this process, named `ebpf-mon-part2`, with the
/// program text in its copy of memory and a unix socket to this process. A
/// fork skips the dynamic loader's relocation of libLLVM and libclang-cpp,
/// which an exec would pay again before its compile could start. Both
/// parts declare the same maps; this process creates them and lends them,
/// over the socket, once its compile has ended, and the helper's BCC takes
/// them instead of creating its own (`Sources/CBCCHooks/maps.c`). The helper
/// loads its programs, which are all tail calls, puts them in `tail_calls`
/// (the map keeps them loaded once the helper has gone), sends back its
/// error, if any, as JSON, and exits.
public final class SplitCompile {
    private var pid: pid_t
    private let socket: Int32

    /// The helper's comm.
    public static let name = "ebpf-mon-part2"

    private init(pid: pid_t, socket: Int32) {
        self.pid = pid
        self.socket = socket
    }

    deinit {
        close(socket)
        if pid > 0 {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
    }

    /// Starts the helper on `text`; nil when it cannot start (or this
    /// process has other threads to fork with it), and then the caller
    /// compiles both parts itself.
    static func start(text: String) -> SplitCompile? {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            return nil
        }
        defer { close(pair[1]) }
        let pid = Array(text.utf8).withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { text in
                fork_helper(name, pair[1], pair[0], serveForked, text.baseAddress, text.count)
            }
        }
        guard pid > 0 else {
            close(pair[0])
            return nil
        }
        return SplitCompile(pid: pid, socket: pair[0])
    }

    /// Lends the helper every map of `module`, this process's compile of
    /// part 1. The helper's compile waits for them at its end. A helper
    /// that cannot take them has failed, and `finish` reports why.
    func lend(_ module: BPFModule) {
        for table in module.tables where bcc_hooks_lend_map(socket, table.name, table.fd) != 0 { return }
        _ = bcc_hooks_lend_map(socket, "", -1)
    }

    /// Waits for the helper to end with its programs in `tail_calls`, and
    /// throws its error if it had one.
    func finish() throws {
        let reply = Self.readAll(socket)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        pid = 0
        if let error = try? JSONDecoder().decode(KernelError.self, from: Data(reply)) { throw error }
        guard status == 0 else {
            let end = status & 0x7f == 0 ? "exit status \(status >> 8 & 0xff)" : "signal \(status & 0x7f)"
            throw KernelError.compileFailed(
                diagnostics: "the process compiling part 2 of the programs ended with \(end)")
        }
    }

    /// `serve`, as the C function the fork runs.
    private static let serveForked: @convention(c) (Int32, UnsafePointer<CChar>?, Int) -> Int32 = {
        socket, text, length in
        SplitCompile.serve(
            socket: socket, text: String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self))
    }

    /// The helper's side, in the process `start` forked: compiles `text`
    /// with the maps lent on `socket`, loads its programs, and reports.
    /// Returns the exit status.
    private static func serve(socket: Int32, text: String) -> Int32 {
        // A monitor that dies while starting takes its helper along; one that died already closed its socket.
        var peer = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)  // (POLLHUP comes unasked)
        guard die_with_parent() == 0, poll(&peer, 1, 0) == 0 else { return 1 }
        bcc_hooks_borrow_maps(socket)
        do {
            let module = try BPFModule(text: text)
            try module.loadAll()
            try module.loadTailCalls(Tracer.tailCalls)
            return 0
        } catch {
            let failure = error as? KernelError ?? .compileFailed(diagnostics: "\(error)")
            if let encoded = try? JSONEncoder().encode(failure) { _ = writeAll(socket, Array(encoded)) }
            return 1
        }
    }

    /// What `fd` holds up to its end (or an error).
    private static func readAll(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return bytes }
            bytes += buffer[0..<count]
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }
}
