/// The kernel's `events` output, as the reader sees it: a ring buffer or
/// per-CPU perf buffers.
protocol EventBuffer: AnyObject {
    /// Waits up to `timeoutMs` for a wakeup, then hands every pending record
    /// to `handler`, as raw bytes valid only during the call. Returns the
    /// record count.
    func poll(timeoutMs: Int32, _ handler: @escaping (UnsafeRawBufferPointer) -> Void) -> Int

    /// A kernel time (CLOCK_MONOTONIC ns) before which every record has
    /// been handed over by the last poll; nil where the buffer cannot say.
    var deliveredBefore: UInt64? { get }
}
