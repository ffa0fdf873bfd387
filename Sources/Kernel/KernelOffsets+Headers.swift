/// Struct offsets from the kernel headers BCC compiles against, for a
/// kernel whose BTF is absent or hidden. They are right only where the
/// headers are the running kernel's own, as on a stock distribution kernel
/// with its headers package; on this project's development machine they
/// are not (design notes), so BTF always comes first.
///
/// Clang computes each `offsetof`. A one-entry map per field, whose value
/// is `offset + 1` bytes, carries the number out of the compiled module:
/// BCC reports each map's value size.
extension KernelOffsets {
    public static func fromHeaders(fields: [String] = required) throws -> KernelOffsets {
        let module = try BPFModule(text: headerText(fields: fields))
        var offsets: [String: Int] = [:]
        for (index, path) in fields.enumerated() {
            let size = module.valueSize(ofMap: "offset_\(index)")
            guard size > 0 else { throw KernelError.noBPF("the kernel headers give no offset for \(path)") }
            offsets[path] = size - 1
        }
        return KernelOffsets(offsets: offsets, source: .headers)
    }

    static func headerText(fields: [String]) -> String {
        var lines = [
            "#include <linux/sched.h>",
            "#include <linux/sched/signal.h>",
            "#include <linux/mm_types.h>",
            "#include <linux/fdtable.h>",
            "#include <linux/fs.h>",
            "#include <linux/dcache.h>",
            "#include <linux/path.h>",
            "#include <linux/net.h>",
            "#include <linux/skbuff.h>",
            "#include <linux/udp.h>",
            "#include <net/sock.h>",
            "#include <net/af_unix.h>",
            // fs/eventfd.c keeps this struct to itself; its head has been this since Linux 2.6.
            "struct eventfd_ctx { struct kref kref; wait_queue_head_t wqh; __u64 count; };",
        ]
        for (index, path) in fields.enumerated() {
            let parts = path.split(separator: ".", maxSplits: 1)
            lines.append("struct offset_\(index) { char at[offsetof(struct \(parts[0]), \(parts[1])) + 1]; };")
            lines.append("BPF_ARRAY(offset_\(index), struct offset_\(index), 1);")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
