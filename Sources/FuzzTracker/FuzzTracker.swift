import BPFSources
import Monitor

/// libFuzzer's entry: the input is a stream of records as the kernel's buffer
/// would deliver them, each taken at the length its header claims (short,
/// oversized and impossible ones included). Each goes through the decoder
/// and, decoded, through the tracker, whose records go to the text and JSON
/// sinks, the redactor and the report. Its first byte picks `--pid` or
/// `-- CMD` mode. Nothing may trap: a failed decode is an error the session
/// counts, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTracker(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let first = input.first else { return 0 }
    let root: Int32 = 100
    var tracker = Tracker(mode: first & 1 == 0 ? .command(root: root) : .shell(root: root), clock: WallClock(offset: 0))
    let report = ReportSink(stream: MemoryStream())
    let sink = RedactingSink(TeeSink([TextSink(stream: MemoryStream()), JSONSink(stream: MemoryStream()), report]))
    let decoder = Decoder()
    let header = MemoryLayout<event_header>.size
    var offset = 1
    var ktime: UInt64 = 0
    while offset < size {
        let claimed = offset + 4 <= size ? Int(input.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self)) : 0
        let length = min(max(claimed, 1), size - offset)
        let record = UnsafeRawBufferPointer(rebasing: input[offset..<(offset + length)])
        offset += length
        guard length >= header, let event = try? decoder.decode(record) else { continue }
        ktime = max(ktime, event.ktime)
        for output in tracker.handle(event) { sink.emit(output) }
        if first & 2 != 0 {
            for output in tracker.lost(["syscall": 1], ktime: event.ktime) { sink.emit(output) }
        }
    }
    for output in tracker.expire(ktime: ktime &+ 10_000_000_000) { sink.emit(output) }
    for output in tracker.finish(ktime: ktime &+ 10_000_000_000) { sink.emit(output) }
    sink.flush()
    _ = report.finish()
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// The program's entry (SwiftPM names an executable's main `<target>_main`):
/// libFuzzer's driver, with the arguments libFuzzer takes.
@_cdecl("FuzzTracker_main")
public func fuzzTrackerMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in fuzzTracker(data, size) }
}
