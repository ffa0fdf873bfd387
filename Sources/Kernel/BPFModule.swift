import CBCC
import CBCCHooks
import Foundation
import Synchronization

/// A compiled BCC module: owns the module and the fds of its loaded programs
/// and attached probes. Closing an attach fd detaches, so deinit detaches all,
/// unless `release` handed them on first.
final class BPFModule {
    private let module: UnsafeMutableRawPointer
    private var programFDs: [String: Int32] = [:]
    private var attachFDs: [Int32] = []

    /// Flags for BCC's clang. Clang's -O2 pipeline is the only one that
    /// runs: the executable empties the -O3 pipeline BCC runs after it
    /// (`Sources/CBCCHooks/passes.c`). Where that replacement is not called
    /// (LLVM 15 and later), BCC's -O3 follows as BCC intends. (Without
    /// clang's pipeline, BPF's own IR passes in it do not run, and the
    /// verifier refuses the result; clang at -O1 followed by nothing leaves
    /// the daemon programs too complex for it.)
    ///
    /// Without debug info, which costs LLVM a fifth of its time. BCC takes
    /// the maps' BTF from it, and only local storage maps need BTF: the
    /// executable makes theirs (`Sources/CBCCHooks/maps.c`).
    ///
    /// Without the vectorizers: BPF has no vector registers, and the SLP
    /// vectorizer's merged loads and stores made 300 more instructions.
    /// Without the loop unroller: every loop in bpf/ says with a pragma
    /// whether to unroll it, and the pass honours a pragma even when off.
    /// Together about 30 ms of each compile.
    static let compilerFlags = ["-O2", "-g0", "-fno-vectorize", "-fno-slp-vectorize", "-fno-unroll-loops"]

    /// Compiles `text` with BCC's clang. Clang prints diagnostics to stderr,
    /// so they are captured there and carried in the error.
    init(text: String) throws {
        _ = bcc_hooks_linked() + bcc_hooks_passes_linked()  // keeps CBCCHooks' replacements in the link
        var compiled: UnsafeMutableRawPointer?
        let diagnostics = try capturingStandardError {
            withCStrings(Self.compilerFlags) { flags, count in
                let compile = { compiled = bpf_module_create_c_from_string(text, 0, flags, count, true, nil) }
                guard let firstPass = TracepointStructs.firstPass(of: text) else { return compile() }
                firstPass.withCString { handedOn in
                    bcc_hooks_program_text(handedOn, firstPass.utf8.count)
                    defer { bcc_hooks_program_text(nil, 0) }
                    compile()
                }
            }
        }
        guard let compiled else { throw KernelError.compileFailed(diagnostics: diagnostics) }
        module = compiled
    }

    deinit {
        for fd in attachFDs { close(fd) }
        for fd in programFDs.values { close(fd) }
        bpf_module_destroy(module)
    }

    /// The value size of map `table`, as clang laid out its type; 0 for no such map.
    func valueSize(ofMap table: String) -> Int { bpf_table_leaf_size(module, table) }

    /// Every map of the module, by name, with the module's fd of it.
    var tables: [(name: String, fd: Int32)] {
        (0..<bpf_num_tables(module)).compactMap { id in
            bpf_table_name(module, id).map { (String(cString: $0), bpf_table_fd_id(module, id)) }
        }
    }

    var functionNames: [String] {
        (0..<bpf_num_functions(module)).compactMap { id in
            bpf_function_name(module, id).map { String(cString: $0) }
        }
    }

    /// Loads one function into the kernel through the verifier.
    func load(_ name: String, type: bpf_prog_type) throws -> Int32 {
        if let fd = programFDs[name] { return fd }
        var fd: Int32 = -1
        let log = try capturingStandardError { fd = Self.rawLoad(module, name, type) }
        guard fd >= 0 else {
            if fd == -ENOENT && bpf_function_start(module, name) == nil {
                throw KernelError.loadFailed(program: name, errno: ENOENT, log: "no such function")
            }
            throw KernelError.loadFailed(program: name, errno: fd == -1 ? errno : -fd, log: log)
        }
        programFDs[name] = fd
        return fd
    }

    /// The program type a function's name prefix stands for: `tracepoint__`,
    /// `raw_tracepoint__` and the `tail__` programs they call, `kprobe__`,
    /// `kretprobe__` and `uprobe__` (nil for no known prefix).
    static func programType(of name: String) -> bpf_prog_type? {
        if name.hasPrefix("tracepoint__") { return BPF_PROG_TYPE_TRACEPOINT }
        if name.hasPrefix("raw_tracepoint__") || name.hasPrefix("tail__") { return BPF_PROG_TYPE_RAW_TRACEPOINT }
        if name.hasPrefix("kprobe__") || name.hasPrefix("kretprobe__") || name.hasPrefix("uprobe__") {
            return BPF_PROG_TYPE_KPROBE
        }
        return nil
    }

    /// Loads every function with a known prefix through the verifier, on a
    /// thread per CPU (at most 4): the kernel verifies a load on the CPU that
    /// asks, and start-up waits on the verifier more than on anything but
    /// clang. A program that fails is loaded again alone, so that its error
    /// carries its own verifier log.
    func loadAll() throws {
        let programs = functionNames.compactMap { name in Self.programType(of: name).map { (name, $0) } }
            .filter { programFDs[$0.0] == nil }
            .sorted { bpf_function_size(module, $0.0) > bpf_function_size(module, $1.0) }  // the longest first
        let threads = min(4, max(1, CPUs.listed("online").count), programs.count)
        let fds = try capturingStandardError {  // (each failure is loaded again below, alone, for its own log)
            ParallelLoad(module: module, programs: programs).run(threads: threads)
        }
        for (index, (name, _)) in programs.enumerated() where fds.result[index] >= 0 {
            programFDs[name] = fds.result[index]
        }
        for (name, type) in programs where programFDs[name] == nil { _ = try load(name, type: type) }
    }

    static func rawLoad(_ module: UnsafeMutableRawPointer, _ name: String, _ type: bpf_prog_type) -> Int32 {
        guard let start = bpf_function_start(module, name) else { return -ENOENT }
        return bcc_func_load(
            module, Int32(type.rawValue), name, start.assumingMemoryBound(to: bpf_insn.self),
            Int32(bpf_function_size(module, name)), bpf_module_license(module), bpf_module_kern_version(module),
            0, nil, 0, nil, -1)
    }

    /// Loads and attaches `tracepoint__<category>__<event>` to that tracepoint.
    func attachTracepoint(_ name: String) throws {
        let parts = name.components(separatedBy: "__")
        guard parts.count == 3 else { throw KernelError.attachFailed(probe: name, errno: EINVAL) }
        let fd = try load(name, type: BPF_PROG_TYPE_TRACEPOINT)
        let link = bpf_attach_tracepoint(fd, parts[1], parts[2])
        guard link >= 0 else {
            throw KernelError.attachFailed(probe: "tracepoint \(parts[1]):\(parts[2])", errno: errno)
        }
        attachFDs.append(link)
    }

    /// Loads and attaches `raw_tracepoint__<event>` to that raw tracepoint.
    func attachRawTracepoint(_ name: String) throws {
        let event = String(name.dropFirst("raw_tracepoint__".count))
        let fd = try load(name, type: BPF_PROG_TYPE_RAW_TRACEPOINT)
        let link = bpf_attach_raw_tracepoint(fd, event)
        guard link >= 0 else { throw KernelError.attachFailed(probe: "raw tracepoint \(event)", errno: errno) }
        attachFDs.append(link)
    }

    /// Loads and attaches `kprobe__<function>` or `kretprobe__<function>` to
    /// that kernel function's entry or return.
    func attachKprobe(_ name: String) throws {
        let returns = name.hasPrefix("kretprobe__")
        let function = String(name.dropFirst(returns ? "kretprobe__".count : "kprobe__".count))
        let fd = try load(name, type: BPF_PROG_TYPE_KPROBE)
        let event = "\(returns ? "r" : "p")_ebpf_monitor_\(function)_\(getpid())"
        let link = bpf_attach_kprobe(fd, returns ? BPF_PROBE_RETURN : BPF_PROBE_ENTRY, event, function, 0, 0)
        guard link >= 0 else {
            throw KernelError.attachFailed(probe: "\(returns ? "kretprobe" : "kprobe") \(function)", errno: errno)
        }
        attachFDs.append(link)
    }

    /// Loads the `tail__<name>` programs this module compiled (of the raw
    /// tracepoints' type, to be called from them) and puts each in the
    /// `tail_calls` program array at its index.
    func loadTailCalls(_ indexes: [String: UInt32]) throws {
        let compiled = Set(functionNames)
        for (name, index) in indexes where compiled.contains(name) {
            var fd = try load(name, type: BPF_PROG_TYPE_RAW_TRACEPOINT)
            var key = index
            try check("bpf_update_elem(tail_calls)", bpf_update_elem(try tableFD("tail_calls"), &key, &fd, 0))
        }
    }

    /// Hands the attached probes and duplicates of the named maps to a
    /// `ProbeHandles`, so the module and the compiler's memory can be freed
    /// while the probes stay attached.
    func release(tables: [String]) throws -> ProbeHandles {
        var maps: [String: Int32] = [:]
        // (Close-on-exec: the command the monitor launches must not inherit the maps.)
        for name in tables { maps[name] = try check("dup", fcntl(try tableFD(name), F_DUPFD_CLOEXEC, 0)) }
        let handles = ProbeHandles(links: attachFDs + Array(programFDs.values), maps: maps, programs: programFDs)
        attachFDs = []
        programFDs = [:]
        return handles
    }

    func tableFD(_ name: String) throws -> Int32 {
        let fd = bpf_table_fd(module, name)
        guard fd >= 0 else { throw KernelError.systemCall("bpf_table_fd(\(name))", errno: ENOENT) }
        return fd
    }
}

/// What keeps probes attached and maps reachable: closing them detaches.
final class ProbeHandles {
    private var links: [Int32]
    let maps: [String: Int32]
    /// Loaded programs by name (owned through `links`), for probes attached later.
    let programs: [String: Int32]

    init(links: [Int32], maps: [String: Int32], programs: [String: Int32]) {
        self.links = links
        self.maps = maps
        self.programs = programs
    }

    /// Keeps a probe attached after start-up until the handles go.
    func adopt(_ link: Int32) { links.append(link) }

    deinit {
        for fd in links { close(fd) }
        for fd in maps.values { close(fd) }
    }
}

/// Runs `body` with `strings` as an array of C strings, valid for its duration.
private func withCStrings(
    _ strings: [String], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>, Int32) -> Void
) {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    var pointers = copies.map { UnsafePointer($0) }
    pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!, Int32($0.count)) }
}

/// Runs `body` with fd 2 redirected to a temporary file and returns what it wrote.
/// LLVM ends the process with exit(1) on some errors (an unsupported atomic,
/// say); an exit handler then shows what it wrote and exits 70 like any
/// compile failure, so the diagnostics are never swallowed.
private func capturingStandardError(_ body: () -> Void) throws -> String {
    try capturingStandardError(body).output
}

/// `body`'s result, with what it wrote to fd 2.
private func capturingStandardError<Result>(_ body: () -> Result) throws -> (result: Result, output: String) {
    guard let file = tmpfile() else { throw KernelError.systemCall("tmpfile", errno: errno) }
    defer { fclose(file) }
    let capture = fileno(file)
    fflush(nil)
    let saved = try check("dup", dup(STDERR_FILENO))
    CaptureGuard.arm(saved: saved, capture: capture)
    dup2(capture, STDERR_FILENO)
    let result = body()
    fflush(nil)
    dup2(saved, STDERR_FILENO)
    CaptureGuard.disarm()
    close(saved)
    return (result, readAll(capture).trimmingCharacters(in: .whitespacesAndNewlines))
}

private func readAll(_ fd: Int32) -> String {
    let size = lseek(fd, 0, SEEK_END)
    guard size > 0 else { return "" }
    var bytes = [UInt8](repeating: 0, count: Int(size))
    _ = pread(fd, &bytes, bytes.count, 0)
    return String(decoding: bytes, as: UTF8.self)
}

/// The exit handler for a compile that LLVM aborts with exit().
private enum CaptureGuard {
    private static let fds = Atomic<Int64>(-1)  // saved << 32 | capture, or -1
    private static let installed = Atomic<Bool>(false)

    static func arm(saved: Int32, capture: Int32) {
        fds.store(Int64(saved) << 32 | Int64(capture), ordering: .sequentiallyConsistent)
        if !installed.exchange(true, ordering: .sequentiallyConsistent) {
            atexit {
                let value = CaptureGuard.fds.load(ordering: .sequentiallyConsistent)
                guard value >= 0 else { return }
                let saved = Int32(truncatingIfNeeded: value >> 32)
                let capture = Int32(truncatingIfNeeded: value & 0xffff_ffff)
                fflush(nil)
                dup2(saved, STDERR_FILENO)
                let message = "ebpf-monitor: error: BPF program failed to compile:\n" + readAll(capture)
                _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
                _exit(KernelError.compileFailed(diagnostics: "").exitCode)
            }
        }
    }

    static func disarm() { fds.store(-1, ordering: .sequentiallyConsistent) }
}

/// Programs of one module loaded on several threads. BCC only reads the
/// module here: each load builds its own request.
private struct ParallelLoad: @unchecked Sendable {
    let module: UnsafeMutableRawPointer
    let programs: [(String, bpf_prog_type)]

    /// Each program's fd, or a negative errno. Each thread takes the next
    /// program not yet taken, in order: the verifier's time for a program
    /// is not its length, and a thread that drew long ones must not be
    /// left with more while the others idle.
    func run(threads: Int) -> [Int32] {
        let fds = UnsafeMutableBufferPointer<Int32>.allocate(capacity: programs.count)
        defer { fds.deallocate() }
        let slots = Slots(fds: fds)
        let next = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            while case let index = next.wrappingAdd(1, ordering: .relaxed).oldValue, index < programs.count {
                slots.fds[index] = BPFModule.rawLoad(module, programs[index].0, programs[index].1)
            }
        }
        return Array(fds)
    }

    /// Each slot is written by the one thread that took its program.
    private struct Slots: @unchecked Sendable { let fds: UnsafeMutableBufferPointer<Int32> }
}
