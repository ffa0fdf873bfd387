/// Socket syscalls: descriptor table entries for sockets, their addresses,
/// the process at the other end, and the command's endpoints.
extension Tracker {
    mutating func network(_ out: inout Output) {
        let call = out.call
        let pid = out.event.pid
        let ret = call.ret
        switch out.info.meaning {
        case .socket:
            var record = out.record(.network, "socket")
            let socket = SocketState(family: SocketAddress.family(call.int(0)), type: SocketAddress.type(call.int(1)),
                                     inode: call.file?.inode)
            record.socket = socket
            if ret >= 0 {
                let fd = Int32(truncatingIfNeeded: ret)
                record.fd = fd
                replaceDescriptor(&out, fd)
                live[pid]?.files.open(fd, OpenFile(kind: .socket, writable: true, socket: socket),
                                      closeOnExec: call.arg(1) & Self.oCloexec != 0)
            }
            out.records.append(.activity(record))
        case .socketpair:
            var record = out.record(.network, "socket")
            let socket = SocketState(family: SocketAddress.family(call.int(0)), type: SocketAddress.type(call.int(1)))
            record.socket = socket
            if ret == 0, let (first, second) = SocketAddress.fdPair(call.sockaddr) {
                record.fd = first
                for fd in [first, second] {
                    live[pid]?.files.open(fd, OpenFile(kind: .socket, writable: true, socket: socket),
                                          closeOnExec: call.arg(1) & Self.oCloexec != 0)
                }
            }
            out.records.append(.activity(record))
        case .connect, .bind, .listen:
            let fd = call.int(0)
            var socket = files(out)[fd]?.socket ?? SocketState(family: "unknown", type: "unknown")
            if socket.inode == nil { socket.inode = call.file?.inode }
            let address = SocketAddress.format(call.sockaddr)
            if let address { socket.family = address.family }
            let succeeded = ret == 0 || call.errno == 115  // EINPROGRESS: a non-blocking connect under way
            if out.info.meaning == .connect {
                socket.remote = address?.address
                if succeeded { learnEndpoint(&socket) }
                if succeeded, socket.peer == nil { socket.peer = system.listener(sockaddr: call.sockaddr) }
            } else if out.info.meaning == .bind {
                socket.local = address?.address
            }
            live[pid]?.files.update(fd) { $0.socket = socket }
            if succeeded, out.info.meaning == .connect { _ = endpoint(for: socket, command: out.state.command) }
            var record = out.record(.network, out.info.name)
            if call.errno == 115 { record.error = nil }
            record.fd = fd
            record.socket = socket
            out.records.append(.activity(record))
        case .accept:
            let listener = files(out)[call.int(0)]?.socket
            var socket = SocketState(family: listener?.family ?? "unknown", type: listener?.type ?? "unknown",
                                     inode: call.file?.inode, local: listener?.local)
            if let address = SocketAddress.format(call.sockaddr), !address.address.isEmpty { socket.remote = address.address }
            var record = out.record(.network, "accept")
            if ret >= 0 {
                let fd = Int32(truncatingIfNeeded: ret)
                learnEndpoint(&socket)
                replaceDescriptor(&out, fd)
                live[pid]?.files.open(fd, OpenFile(kind: .socket, writable: true, socket: socket),
                                      closeOnExec: out.info.name == "accept4" && call.arg(3) & Self.oCloexec != 0)
                _ = endpoint(for: socket, command: out.state.command)
                record.fd = fd
            }
            record.socket = socket
            out.records.append(.activity(record))
        case .send, .recv:
            var record = out.record(.network, out.info.meaning == .send ? "send" : "recv")
            record.fd = call.int(0)
            record.socket = files(out)[call.int(0)]?.socket
            if ret >= 0 { record.calls = UInt32(truncatingIfNeeded: ret) }
            out.records.append(.activity(record))
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

    /// The command's summary entry for a socket, made on first use.
    mutating func endpoint(for socket: SocketState, command: Int) -> Int {
        if let inode = socket.inode, let index = commands[command]?.endpoints[inode] { return index }
        var socket = socket
        if socket.peer == nil { learnEndpoint(&socket) }
        let entry = NetworkEndpoint(family: socket.family, type: socket.type, local: socket.local, remote: socket.remote,
                                    peer: socket.peer)
        commands[command]!.network.append(entry)
        commands[command]!.endpointInodes.append(socket.inode ?? 0)
        let index = commands[command]!.network.count - 1
        if let inode = socket.inode { commands[command]!.endpoints[inode] = index }
        return index
    }
}
