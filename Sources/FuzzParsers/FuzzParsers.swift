import CSockDiag
import Glibc
import Monitor

/// The parsers libFuzzer feeds, picked by an input's first byte (modulo
/// their count); the rest of the input is what the parser gets. One target
/// for all of them: each parser is small and fast, and a single run spends
/// its time wherever new coverage is, rather than in a split fixed ahead.
enum Parser: UInt8, CaseIterable {
    /// A sock_diag reply datagram to a UNIX_DIAG request.
    case unixReply
    /// A sock_diag reply datagram to an inet_diag dump of the TCP table.
    case tcpReply
    /// The same for the UDP table.
    case udpReply
    case stat
    case cmdline
    case status
    case fdinfo
    case mountinfo
    /// An fd link's target, "socket:[N]".
    case socketLink
}

/// The client inode the unix parser looks for in accept queues, as
/// `sockdiag_unix_listener_for` does. The seeds hold it.
let wantedIcon: UInt32 = 7

/// libFuzzer's entry. Nothing may trap or touch memory it does not own: a
/// malformed input gives an error or nothing, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0, let parser = Parser(rawValue: data[0] % UInt8(Parser.allCases.count)) else { return 0 }
    let body = UnsafeBufferPointer(start: data + 1, count: size - 1)
    switch parser {
    case .unixReply:
        var reader = sockdiag_unix_reader(
            icon: wantedIcon,
            each: { socket, holdsIcon, _ in
                guard let socket else { return 1 }
                // Every byte of the name it reports, so the sanitizer sees a read past it.
                let count = min(Int(socket.pointee.name_len), MemoryLayout.size(ofValue: socket.pointee.name))
                _ = withUnsafeBytes(of: socket.pointee.name) { $0.prefix(count).reduce(0, &+) }
                return holdsIcon
            }, ctx: nil)
        _ = sockdiag_unix_parse(body.baseAddress, body.count, &reader)
    case .tcpReply, .udpReply:
        var reader = sockdiag_inet_reader(
            protocol: UInt8(parser == .tcpReply ? IPPROTO_TCP : IPPROTO_UDP),
            each: { socket, _, _ in
                guard let socket else { return 1 }
                var text = [CChar](repeating: 0, count: 64)
                _ = sockdiag_inet_format(socket, 0, &text, text.count)
                _ = sockdiag_inet_format(socket, 1, &text, text.count)
                return 0
            }, ctx: nil)
        _ = sockdiag_inet_parse(body.baseAddress, body.count, &reader)
    case .stat:
        _ = ProcText.stat(Array(body))
    case .cmdline:
        _ = ProcText.cmdline(Array(body))
    case .status:
        _ = ProcText.statusField("VmRSS", in: Array(body))
    case .fdinfo:
        _ = ProcText.fdinfoFlags(Array(body))
    case .mountinfo:
        _ = MountInfo.parse(Array(body))
    case .socketLink:
        _ = body.withMemoryRebound(to: CChar.self) { sockdiag_socket_link_inode($0.baseAddress, $0.count) }
    }
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
@_cdecl("FuzzParsers_main")
public func fuzzParsersMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in fuzzParsers(data, size) }
}
