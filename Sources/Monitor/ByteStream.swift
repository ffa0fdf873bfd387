import Glibc

/// Where sinks write. Output is buffered and written once per poll batch, so
/// `| grep` sees lines live without a syscall per line.
public protocol ByteStream: AnyObject {
    func write(_ text: String)
    /// UTF-8 bytes, as the JSON sink builds its lines.
    func write(bytes: [UInt8])
    /// Lets `body` append UTF-8 bytes in place, where the stream keeps them
    /// (the JSON sink's lines): no line buffer to allocate and copy from.
    func append(_ body: (inout [UInt8]) -> Void)
    func flush()
    var failed: Bool { get }
}

extension ByteStream {
    public func write(bytes: [UInt8]) { write(String(decoding: bytes, as: UTF8.self)) }

    public func append(_ body: (inout [UInt8]) -> Void) {
        var bytes: [UInt8] = []
        body(&bytes)
        write(bytes: bytes)
    }
}

/// A file descriptor (stdout or --output FILE), written on flush.
public final class FileStream: ByteStream {
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    /// Set when a write failed (EPIPE: the reader went away).
    public private(set) var failed = false

    public init(fd: Int32, ownsDescriptor: Bool = false) {
        self.fd = fd
        self.ownsDescriptor = ownsDescriptor
        buffer.reserveCapacity(1 << 16)
    }

    deinit {
        flush()
        if ownsDescriptor { close(fd) }
    }

    public func write(_ text: String) { append { $0.append(contentsOf: text.utf8) } }

    public func write(bytes: [UInt8]) { append { $0.append(contentsOf: bytes) } }

    public func append(_ body: (inout [UInt8]) -> Void) {
        body(&buffer)
        if buffer.count >= 1 << 20 { flush() }
    }

    public func flush() {
        var offset = 0
        while offset < buffer.count, !failed {
            let written = buffer[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failed = true
            } else {
                offset += written
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Collects output in memory: for tests and golden files.
public final class MemoryStream: ByteStream {
    public private(set) var text = ""
    public let failed = false
    public init() {}
    public func write(_ text: String) { self.text += text }
    public func flush() {}
}

extension [UInt8] {
    /// The digits of `value`, at least `width` of them, without a String in between.
    mutating func appendDecimal(_ value: UInt, width: Int = 1) {
        var scale: UInt = 1
        var digits = 1
        while scale <= value / 10 || digits < width {
            scale *= 10
            digits += 1
        }
        while scale > 0 {
            append(UInt8(ascii: "0") + UInt8(value / scale % 10))
            scale /= 10
        }
    }
}
