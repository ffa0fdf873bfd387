import CBCC
import Foundation

/// The `events` perf buffers, one per online CPU, for kernels without the
/// ring buffer. Each CPU's records arrive in their order; the session's
/// Reorderer merges the CPUs by time. The CPUs are read one after another,
/// so a record stamped late on one may be in hand while an earlier one,
/// written to a CPU already read, is not: `deliveredBefore` tells how far
/// every CPU has been read. A record that finds its CPU's buffer full is
/// counted by the program that sent it, by kind, as with the ring.
final class PerfBuffer: EventBuffer {
    typealias Handler = (UnsafeRawBufferPointer) -> Void

    private final class Context {
        var handler: Handler = { _ in }
        var count = 0
    }

    private var readers: [OpaquePointer?] = []
    private let context = Context()
    private(set) var deliveredBefore: UInt64? = 0

    /// How long a program may take from stamping a record to writing it, at most.
    private static let stampToWrite: UInt64 = 1_000_000

    /// Opens a buffer of `pagesPerCPU` pages on each online CPU, waking the
    /// reader every `wakeupEvents` records, and puts it in the map at `mapFD`.
    init(mapFD: Int32, pagesPerCPU: Int32, wakeupEvents: Int32) throws {
        let raw: perf_reader_raw_cb = { cookie, data, size in
            let context = Unmanaged<Context>.fromOpaque(cookie!).takeUnretainedValue()
            context.count += 1
            // Samples are padded to 8 bytes: the record's header has its own size.
            var length = Int(size)
            if length >= MemoryLayout<UInt16>.size * 2 {
                let declared = Int(data!.load(fromByteOffset: MemoryLayout<UInt16>.size, as: UInt16.self))
                if declared <= length { length = declared }
            }
            context.handler(UnsafeRawBufferPointer(start: data, count: length))
        }
        // The same losses the programs count by kind (their output call failed): not counted twice.
        let lost: perf_reader_lost_cb = { _, _ in }
        let cookie = Unmanaged.passUnretained(context).toOpaque()
        for cpu in CPUs.listed("online") {
            var options = bcc_perf_buffer_opts(pid: -1, cpu: Int32(cpu), wakeup_events: wakeupEvents)
            guard let reader = bpf_open_perf_buffer_opts(raw, lost, cookie, pagesPerCPU, &options) else {
                throw KernelError.systemCall("bpf_open_perf_buffer(cpu \(cpu))", errno: errno)
            }
            readers.append(OpaquePointer(reader))
            var key = UInt32(cpu)
            var fd = perf_reader_fd(OpaquePointer(reader))
            guard bpf_update_elem(mapFD, &key, &fd, 0) == 0 else {
                throw KernelError.systemCall("bpf_update_elem(events)", errno: errno)
            }
        }
    }

    deinit {
        for reader in readers { perf_reader_free(UnsafeMutableRawPointer(reader)) }
    }

    func poll(timeoutMs: Int32, _ handler: @escaping Handler) -> Int {
        context.handler = handler
        context.count = 0
        let count = Int32(readers.count)
        _ = perf_reader_poll(count, &readers, timeoutMs)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let consumed = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        _ = perf_reader_consume(count, &readers)  // every CPU, woken or not, from `consumed` on
        deliveredBefore = consumed > Self.stampToWrite ? consumed - Self.stampToWrite : 0
        context.handler = { _ in }
        return context.count
    }
}
