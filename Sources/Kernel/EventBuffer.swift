/// The kernel's `events` output, as the reader sees it: a ring buffer or
/// per-CPU perf buffers.
protocol EventBuffer: AnyObject {
    /// Waits up to `timeoutMs` for a wakeup, then hands every pending record
    /// to `handler`, as raw bytes valid only during the call. Returns the
    /// record count.
    func poll(timeoutMs: Int32, _ handler: @escaping (UnsafeRawBufferPointer) -> Void) -> Int
}
