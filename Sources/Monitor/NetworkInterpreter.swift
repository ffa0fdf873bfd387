/// Socket syscalls: descriptor table entries for sockets, their addresses,
/// the process at the other end, and the command's endpoints.
extension Tracker {
    mutating func network(_ ctx: inout SyscallContext, files: inout FileTable) {
        let call = ctx.call
        let ret = call.ret
        switch ctx.meaning {
        case .socket:
            var record = ctx.record(.network, .socket)
            let socket = SocketState(family: SocketAddress.family(call.int(0)), type: SocketAddress.type(call.int(1)),
                                     inode: call.file?.inode)
            record.socket = socket
            if ret >= 0 {
                let fd = Int32(truncatingIfNeeded: ret)
                record.fd = fd
                files.close(fd)  // a number reused while still open: the old file is closed
                files.open(fd, OpenFile(kind: .socket, writable: true, socket: socket),
                           closeOnExec: call.arg(1) & Self.oCloexec != 0)
            }
            ctx.records.append(.activity(record))
        case .socketpair:
            var record = ctx.record(.network, .socket)
            let socket = SocketState(family: SocketAddress.family(call.int(0)), type: SocketAddress.type(call.int(1)))
            record.socket = socket
            if ret == 0, let (first, second) = SocketAddress.fdPair(call.sockaddr) {
                record.fd = first
                for fd in [first, second] {
                    files.open(fd, OpenFile(kind: .socket, writable: true, socket: socket),
                               closeOnExec: call.arg(1) & Self.oCloexec != 0)
                }
            }
            ctx.records.append(.activity(record))
        case .connect, .bind, .listen:
            let fd = call.int(0)
            var socket = files[fd]?.socket ?? SocketState(family: "unknown", type: "unknown")
            if socket.inode == nil { socket.inode = call.file?.inode }
            let address = SocketAddress.format(call.sockaddr)
            if let address { socket.family = address.family }
            let succeeded = ret == 0 || call.errno == Self.einprogress  // a non-blocking connect under way
            if ctx.meaning == .connect {
                socket.remote = address?.address
                if succeeded { learnEndpoint(&socket) }
                if succeeded, socket.peer == nil { socket.peer = system.listener(sockaddr: call.sockaddr) }
            } else if ctx.meaning == .bind {
                socket.local = address?.address
            }
            files.update(fd) { $0.socket = socket }
            if succeeded, ctx.meaning == .connect { _ = endpoint(for: socket, command: ctx.command) }
            var record = ctx.record(.network, ctx.meaning == .connect ? .connect : ctx.meaning == .bind ? .bind : .listen)
            if call.errno == Self.einprogress { record.error = nil }
            record.fd = fd
            record.socket = socket
            ctx.records.append(.activity(record))
        case .accept:
            let listener = files[call.int(0)]?.socket
            var socket = SocketState(family: listener?.family ?? "unknown", type: listener?.type ?? "unknown",
                                     inode: call.file?.inode, local: listener?.local)
            if let address = SocketAddress.format(call.sockaddr), !address.address.isEmpty { socket.remote = address.address }
            var record = ctx.record(.network, .accept)
            if ret >= 0 {
                let fd = Int32(truncatingIfNeeded: ret)
                learnEndpoint(&socket)
                files.close(fd)
                files.open(fd, OpenFile(kind: .socket, writable: true, socket: socket),
                           closeOnExec: (ctx.arg(ctx.arguments.flags) ?? 0) & Self.oCloexec != 0)
                _ = endpoint(for: socket, command: ctx.command)
                record.fd = fd
            }
            record.socket = socket
            ctx.records.append(.activity(record))
        case .send, .recv:
            var record = ctx.record(.network, ctx.meaning == .send ? .send : .recv)
            record.fd = call.int(0)
            record.socket = files[call.int(0)]?.socket
            if ret >= 0 { record.calls = UInt32(truncatingIfNeeded: ret) }
            ctx.records.append(.activity(record))
        default:
            break
        }
    }

    /// Fills in addresses and the peer from the system while the socket is still open.
    func learnEndpoint(_ socket: inout SocketState) {
        guard let inode = socket.inode, let known = system.socket(inode: inode, family: socket.family) else { return }
        // The kernel's answer wins: a bind to port 0 or a wildcard says little.
        socket.local = known.local ?? socket.local
        socket.remote = known.remote ?? socket.remote
        if known.family != "unknown" { socket.family = known.family }
        socket.peer = known.peer ?? socket.peer
    }

    /// The index of the command's summary entry for a socket, made on first
    /// use; nil when the command is over.
    mutating func endpoint(for socket: SocketState, command: Int) -> Int? {
        guard commands[command] != nil else { return nil }
        if let inode = socket.inode, let index = commands[command]?.endpoints[inode] { return index }
        var socket = socket
        if socket.peer == nil { learnEndpoint(&socket) }
        return commands[command]?.addEndpoint(socket)
    }
}
