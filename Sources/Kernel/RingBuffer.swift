import CBCC
import Foundation

/// The `events` ring buffer. Records arrive in reservation order across all
/// CPUs; the callback sees each one as raw bytes valid only during the call.
final class RingBuffer: EventBuffer {
    typealias Handler = (UnsafeRawBufferPointer) -> Void

    private final class Context {
        var handler: Handler = { _ in }
        var count = 0
    }

    /// Records taken in one poll at most, so a producer faster than the
    /// reader cannot keep the poll from returning.
    static let batchLimit = 32_768

    private let ring: OpaquePointer
    private let context = Context()

    init(mapFD: Int32) throws {
        let callback: ring_buffer_sample_fn = { ctx, data, size in
            let context = Unmanaged<Context>.fromOpaque(ctx!).takeUnretainedValue()
            context.count += 1
            context.handler(UnsafeRawBufferPointer(start: data, count: size))
            return context.count >= RingBuffer.batchLimit ? -1 : 0  // stops after this record
        }
        guard let ring = bpf_new_ringbuf(mapFD, callback, Unmanaged.passUnretained(context).toOpaque()) else {
            throw KernelError.systemCall("bpf_new_ringbuf", errno: errno)
        }
        self.ring = OpaquePointer(ring)
    }

    deinit { bpf_free_ringbuf(ring) }

    /// One buffer in reservation order: the session's reorder window is enough.
    var deliveredBefore: UInt64? { nil }

    func poll(timeoutMs: Int32, _ handler: @escaping Handler) -> Int {
        context.handler = handler
        context.count = 0
        _ = bpf_poll_ringbuf(ring, timeoutMs)
        if context.count < Self.batchLimit { _ = bpf_consume_ringbuf(ring) }
        context.handler = { _ in }
        return context.count
    }
}
