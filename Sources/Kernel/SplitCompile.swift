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
/// parts declare the same maps. The process whose compile ends first
/// creates them and lends them to the other over the socket, whose BCC
/// takes them instead of creating its own (`Sources/CBCCHooks/maps.c`), and
/// goes on to load its programs while the other still compiles. The helper
/// loads its programs, which are all tail calls, puts them in `tail_calls`
/// (the map keeps them loaded once the helper has gone), sends back its
/// error, if any, as JSON, and exits.
public final class SplitCompile {
    private var pid: pid_t
    private let socket: Int32
    private let claim: UnsafeMutableRawPointer  // (maps.c: which process creates the maps)

    /// The helper's comm.
    public static let name = "ebpf-mon-part2"

    private init(pid: pid_t, socket: Int32, claim: UnsafeMutableRawPointer) {
        self.pid = pid
        self.socket = socket
        self.claim = claim
    }

    deinit {
        munmap(claim, Self.claimSize)
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
        guard let claim = mmap(nil, claimSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0),
            claim != MAP_FAILED
        else { return nil }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            munmap(claim, claimSize)
            return nil
        }
        defer { close(pair[1]) }
        bcc_hooks_share_maps(pair[1], claim.assumingMemoryBound(to: Int32.self))  // (the helper's copy)
        let pid = Array(text.utf8).withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { text in
                fork_helper(name, pair[1], pair[0], serveForked, text.baseAddress, text.count)
            }
        }
        guard pid > 0 else {
            bcc_hooks_share_maps(-1, nil)
            munmap(claim, claimSize)
            close(pair[0])
            return nil
        }
        bcc_hooks_share_maps(pair[0], claim.assumingMemoryBound(to: Int32.self))
        return SplitCompile(pid: pid, socket: pair[0], claim: claim)
    }

    private static let claimSize = 4096

    /// Compiles this process's part, and lends its maps to the helper if
    /// this process made them.
    func compile(_ text: String) throws -> BPFModule {
        defer { bcc_hooks_share_maps(-1, nil) }
        let module: BPFModule
        do {
            module = try BPFModule(text: text)
        } catch {
            // The helper was to lend the maps and did not: its own error says why.
            if bcc_hooks_lender_failed() != 0 { try finish() }
            throw error
        }
        if bcc_hooks_lends_maps() != 0 { Self.lend(module, over: socket) }
        return module
    }

    /// Lends every map of `module` over `socket`. A process that cannot
    /// take them has failed, and says why itself.
    private static func lend(_ module: BPFModule, over socket: Int32) {
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
    /// with the maps shared over `socket`, loads its programs, and reports.
    /// Returns the exit status.
    private static func serve(socket: Int32, text: String) -> Int32 {
        // A monitor that dies while starting takes its helper along; one that died already closed its socket.
        var peer = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)  // (POLLHUP comes unasked)
        guard die_with_parent() == 0, poll(&peer, 1, 0) == 0 else { return 1 }
        do {
            let module = try BPFModule(text: text)
            if bcc_hooks_lends_maps() != 0 { lend(module, over: socket) }
            try module.loadAll()
            try module.loadTailCalls(Tracer.tailCalls)
            return 0
        } catch {
            // A monitor that failed before it lent the maps knows why.
            if bcc_hooks_lender_failed() != 0 { return 1 }
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
