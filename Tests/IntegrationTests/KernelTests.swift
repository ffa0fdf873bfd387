import Foundation
import Glibc
import Kernel
import Testing

extension IntegrationTests {
    /// The kprobe variant cannot attach here (no kprobes), but it must still
    /// compile and pass the verifier, so that it works where kprobes exist:
    /// kernels older than this one, whose exit tracepoint has no `group_dead`
    /// and which have no `sock:sk_data_ready` tracepoint, nor the ring buffer,
    /// task storage and the BTF task helpers, nor atomic fetch operations,
    /// nor (before 5.5) the split user and kernel probe reads: the programs
    /// that 5.4 would get.
    @Test func kprobeVariantPassesVerifier() throws {
        let names = try Tracer.verify(
            forkProbe: .kprobe, exitHasGroupDead: false, dataReadyProbe: .kprobe, buffer: .perf, taskState: .maps,
            probeReadSplit: false, atomicFetch: false)
        #expect(names.contains("kretprobe__copy_process"), "\(names)")
        #expect(names.contains("kprobe__sock_def_readable"), "\(names)")
        #expect(!names.contains("tracepoint__sock__sk_data_ready"), "\(names)")
        #expect(
            !names.contains("tracepoint__task__task_newtask"),
            "the kprobe variant replaces the fork tracepoint: \(names)")
        #expect(names.contains("tracepoint__sched__sched_process_exec"), "\(names)")
        #expect(names.contains("tracepoint__sched__sched_process_exit"), "\(names)")
    }

    /// And with nothing to see datagrams land (no tracepoint, no kprobes).
    @Test func tracepointVariantPassesVerifier() throws {
        let names = try Tracer.verify(forkProbe: .tracepoint, dataReadyProbe: .unavailable)
        #expect(names.contains("tracepoint__task__task_newtask"), "\(names)")
        #expect(!names.contains("kretprobe__copy_process"), "\(names)")
        #expect(!names.contains("tracepoint__sock__sk_data_ready") && !names.contains("kprobe__sock_def_readable"))
        #expect(names.contains("tracepoint__sched__sched_process_exec"), "\(names)")
        #expect(names.contains("tracepoint__sched__sched_process_exit"), "\(names)")
    }

    /// The helper process that compiles part 2 at start-up only puts its
    /// programs in `tail_calls` (SplitCompile): every program is in one part
    /// exactly, and part 2 holds tail calls alone. Each part passes the
    /// verifier on its own, with maps of its own here.
    @Test func programPartsSplitTheProgramsInTwo() throws {
        let whole = Set(try Tracer.verify(forkProbe: .tracepoint))
        let first = Set(try Tracer.verify(forkProbe: .tracepoint, parts: [1]))
        let second = Set(try Tracer.verify(forkProbe: .tracepoint, parts: [2]))
        #expect(first.union(second) == whole, "missing from the parts: \(whole.subtracting(first.union(second)))")
        #expect(first.isDisjoint(with: second), "in both parts: \(first.intersection(second))")
        #expect(second.allSatisfy { $0.hasPrefix("tail__") }, "part 2 has programs to attach: \(second)")
        #expect(!second.isEmpty && first.contains("raw_tracepoint__sys_enter"), "\(first) / \(second)")
    }

    /// The offsets uprobes are attached at point at the functions' code: the
    /// bytes there in the file are those the loader mapped at their addresses.
    @Test func elfSymbolOffsetsPointAtTheFunctions() throws {
        let maps = String(
            decoding: try FileHandle(forReadingAtPath: "/proc/self/maps")?.readToEnd() ?? Data(), as: UTF8.self)
        let library = try #require(
            maps.split(separator: "\n").compactMap { $0.split(separator: " ").last }.first {
                $0.hasSuffix("/libc.so.6")
            })
        let offsets = ELFSymbols.offsets(of: ["getpid", "qsort", "no_such_function_here"], in: String(library))
        #expect(offsets.keys.sorted() == ["getpid", "qsort"])
        let file = try #require(FileHandle(forReadingAtPath: String(library)))
        defer { try? file.close() }
        for (name, offset) in offsets {
            let code = try #require(dlsym(nil, name))  // nil: RTLD_DEFAULT
            try file.seek(toOffset: offset)
            let bytes = try #require(try file.read(upToCount: 32))
            #expect(Array(bytes) == Array(UnsafeRawBufferPointer(start: code, count: 32)), "\(name)")
        }
    }

    /// Offsets resolved through libbpf agree with `bpftool btf dump ... format raw`,
    /// walked independently here, for every field the BPF text reads.
    @Test func btfOffsetsMatchBpftool() throws {
        let resolved = try #require(try KernelOffsets.fromBTF(), "this kernel has BTF (/sys/kernel/btf/vmlinux)")
        let bpftool = try #require(
            ["/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool"]
                .first { FileManager.default.isExecutableFile(atPath: $0) },
            "bpftool is not installed: apt-get install -y bpftool")
        let dump = try Harness.runTool([bpftool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "raw"])
        try #require(dump.status == 0, "bpftool failed: \(dump.stderr)")
        let btf = RawBTF(dump.stdout)
        try #require(btf.count > 1000, "bpftool printed too few types")

        #expect(Set(resolved.offsets.keys) == Set(KernelOffsets.required))
        for path in KernelOffsets.required {
            let parts = path.split(separator: ".").map(String.init)
            let bits = btf.bitOffset(struct: parts[0], member: parts[1])
            #expect(bits != nil, "bpftool's dump has no \(path)")
            guard let bits else { continue }
            #expect(bits % 8 == 0, "\(path) is a bitfield")
            #expect(
                resolved.offsets[path] == bits / 8,
                "\(path): KernelOffsets \(resolved.offsets[path] ?? -1), bpftool \(bits / 8)")
        }
        // The 6.1 headers put task_struct.mm elsewhere; the macros must carry the BTF values.
        for (name, value) in resolved.macros {
            let path = String(name.dropFirst("OFF_".count)).replacingOccurrences(of: "__", with: ".")
            #expect(value == String(resolved.offsets[path] ?? -1), "\(name)")
        }
    }

    /// Where BTF is hidden, clang's offsetof over the kernel headers gives
    /// the offsets. This machine's headers are another kernel's (design
    /// notes), so only fields laid out alike in every kernel since 4.x are
    /// compared here; the QEMU guests (make test-kernels) run the whole
    /// scenario set with the offsets from their own matching headers.
    @Test func headerOffsetsCoverEveryField() throws {
        let fromHeaders = try KernelOffsets.fromHeaders()
        #expect(fromHeaders.source == .headers)
        #expect(Set(fromHeaders.offsets.keys) == Set(KernelOffsets.required))
        let fromBTF = try #require(try KernelOffsets.fromBTF())
        for path in [
            "sk_buff_head.prev", "path.dentry", "qstr.name", "sock_common.skc_daddr", "sock_common.skc_rcv_saddr",
            "sock_common.skc_family", "eventfd_ctx.count",
        ] {
            #expect(fromHeaders.offsets[path] == fromBTF.offsets[path], "\(path)")
        }
        #expect(
            fromHeaders.offsets["task_struct.files"] != fromBTF.offsets["task_struct.files"],
            "the headers match this kernel after all: the design notes' premise changed")
    }
}

/// Just enough of `bpftool btf dump format raw` to find member offsets:
///
///     [123] STRUCT 'task_struct' size=9792 vlen=260
///             'thread_info' type_id=145 bits_offset=0
///             '(anon)' type_id=160 bits_offset=192
///     [160] UNION '(anon)' size=4 vlen=2
///     [170] TYPEDEF 'pid_t' type_id=171
struct RawBTF {
    struct Member {
        var name: String
        var type: Int
        var bits: Int
    }

    struct TypeInfo {
        var kind: String
        var name: String
        var type: Int?  // modifiers and typedefs: the type they refer to
        var members: [Member] = []
    }

    private var types: [Int: TypeInfo] = [:]
    private var structs: [String: Int] = [:]

    var count: Int { types.count }

    init(_ bytes: [UInt8]) {
        var current: Int?
        for line in bytes.split(separator: 0x0A) {
            if line.first == UInt8(ascii: "[") {
                current = nil
                guard let close = line.firstIndex(of: UInt8(ascii: "]")),
                    let id = Int(String(decoding: line[line.index(after: line.startIndex)..<close], as: UTF8.self))
                else { continue }
                let text = String(decoding: line[line.index(after: close)...], as: UTF8.self)
                let fields = text.split(separator: " ", maxSplits: 2).map(String.init)
                guard fields.count >= 2 else { continue }
                let kind = fields[0]
                let name = Self.quoted(fields[1])
                var info = TypeInfo(kind: kind, name: name)
                if ["TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"].contains(kind) {
                    info.type = Self.value("type_id", in: text)
                }
                types[id] = info
                if kind == "STRUCT" || kind == "UNION" {
                    current = id
                    if kind == "STRUCT", structs[name] == nil { structs[name] = id }
                }
            } else if let id = current, line.first == 0x09 || line.first == 0x20 {
                let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
                guard text.hasPrefix("'"), let type = Self.value("type_id", in: text),
                    let bits = Self.value("bits_offset", in: text)
                else { continue }
                let name = Self.quoted(String(text.split(separator: " ", maxSplits: 1)[0]))
                types[id]?.members.append(Member(name: name, type: type, bits: bits))
            }
        }
    }

    /// Bit offset of `member` in the struct named `name`, looking inside
    /// anonymous struct and union members in declaration order.
    func bitOffset(struct name: String, member: String) -> Int? {
        guard let id = structs[name] else { return nil }
        return bitOffset(in: id, member: member)
    }

    private func bitOffset(in id: Int, member: String) -> Int? {
        guard let info = types[id] else { return nil }
        for field in info.members {
            if field.name == member { return field.bits }
            if field.name == "(anon)", let inner = bitOffset(in: resolve(field.type), member: member) {
                return field.bits + inner
            }
        }
        return nil
    }

    /// Follows typedefs and modifiers to the underlying type.
    private func resolve(_ id: Int) -> Int {
        var id = id
        for _ in 0..<32 {
            guard let next = types[id]?.type else { return id }
            id = next
        }
        return id
    }

    private static func quoted(_ text: String) -> String {
        text.hasPrefix("'") && text.hasSuffix("'") && text.count >= 2 ? String(text.dropFirst().dropLast()) : text
    }

    private static func value(_ key: String, in text: String) -> Int? {
        guard let range = text.range(of: " " + key + "=") else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }
}
