import CLibbpf

/// Kernel struct field offsets: every field the BPF code reads takes its
/// offset from here. They come from the running kernel's BTF, or where it
/// has none, from its headers (`fromHeaders`). Installed headers may
/// describe another kernel (6.1 headers on 6.18 here): BTF comes first.
public struct KernelOffsets: Sendable {
    public enum Source: String, Sendable {
        case btf
        case headers
    }

    /// The fields the BPF text reads, as `struct.field` paths. A path may name
    /// a field inside anonymous structs and unions; the walk finds it.
    public static let required = [
        "task_struct.pid", "task_struct.tgid", "task_struct.real_parent",
        "task_struct.mm", "task_struct.exit_code", "task_struct.stack", "task_struct.signal", "signal_struct.live",
        "mm_struct.arg_start", "mm_struct.arg_end",
        "task_struct.files", "files_struct.fdt", "fdtable.max_fds", "fdtable.fd",
        "file.f_inode", "file.f_mode", "inode.i_ino", "inode.i_mode", "inode.i_sb", "super_block.s_dev",
        "file.private_data", "socket.sk", "unix_sock.peer", "sock.sk_socket", "socket_alloc.vfs_inode",
        "sock_common.skc_family", "sock_common.skc_num", "sock_common.skc_dport",
        "sock_common.skc_rcv_saddr", "sock_common.skc_daddr", "sock_common.skc_v6_rcv_saddr",
        "sock_common.skc_v6_daddr",
        "sock.sk_receive_queue", "sk_buff_head.qlen", "sk_buff_head.prev", "sk_buff.prev", "sk_buff.sk", "sock.sk_type",
        "file.f_path", "path.dentry", "dentry.d_name", "qstr.name", "eventfd_ctx.count",
        "unix_sock.addr", "unix_address.len", "unix_address.name", "udp_sock.reader_queue",
        "sock.sk_peer_pid", "pid.numbers",
    ]

    /// Byte offsets keyed by `struct.field`.
    public let offsets: [String: Int]
    public let source: Source

    public init(offsets: [String: Int], source: Source) {
        self.offsets = offsets
        self.source = source
    }

    /// Reads `/sys/kernel/btf/vmlinux`; nil when the kernel has no BTF.
    public static func fromBTF(fields: [String] = required) throws -> KernelOffsets? {
        // libbpf would print its search for a BTF file that is not there: nil says it.
        let printer = libbpf_set_print(nil)
        let loaded = btf__load_vmlinux_btf()
        libbpf_set_print(printer)
        guard let btf = loaded else { return nil }
        defer { btf__free(btf) }
        var offsets: [String: Int] = [:]
        for path in fields {
            let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
            let id = btf__find_by_name_kind(btf, parts[0], UInt32(BTF_KIND_STRUCT))
            guard id > 0, let bits = findMember(btf, typeID: UInt32(id), name: parts[1]) else {
                throw KernelError.noBPF("kernel BTF has no field \(path)")
            }
            offsets[path] = bits / 8
        }
        return KernelOffsets(offsets: offsets, source: .btf)
    }

    /// The BPF text macros: `#define OFF_task_struct__mm 1824`.
    public var macros: [String: String] {
        Dictionary(
            uniqueKeysWithValues: offsets.map { path, offset in
                (Self.macroName(path), String(offset))
            })
    }

    public static func macroName(_ path: String) -> String {
        "OFF_" + path.replacingOccurrences(of: ".", with: "__")
    }

    /// Bit offset of `name` in the struct or union `typeID`, descending into anonymous members.
    private static func findMember(_ btf: OpaquePointer, typeID: UInt32, name: String) -> Int? {
        guard let type = btf__type_by_id(btf, typeID) else { return nil }
        let kind = Int32(btf_kind(type))
        guard kind == BTF_KIND_STRUCT || kind == BTF_KIND_UNION, let members = btf_members(type) else { return nil }
        for index in 0..<Int(btf_vlen(type)) {
            let member = members[index]
            let bitOffset = Int(btf_member_bit_offset(type, UInt32(index)))
            let memberName = String(cString: btf__name_by_offset(btf, member.name_off))
            if memberName == name { return bitOffset }
            if memberName.isEmpty {
                let resolved = btf__resolve_type(btf, member.type)
                if resolved > 0, let inner = findMember(btf, typeID: UInt32(resolved), name: name) {
                    return bitOffset + inner
                }
            }
        }
        return nil
    }
}
