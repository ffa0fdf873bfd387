/// Socket syscalls: descriptor table entries for sockets, their addresses,
/// the process at the other end, and the command's endpoints. Each call
/// takes the caller's descriptor table and its command.
struct NetworkInterpreter {
    let system: SystemQueries
    let endpoints: EndpointLookup

    init(system: SystemQueries) {
        self.system = system
        endpoints = EndpointLookup(system: system)
    }

    func interpret(_ ctx: inout SyscallContext, files: inout FileTable, command: inout CommandState?) {
        let call = ctx.call
        let ret = call.ret
        switch ctx.meaning {
        case .socket:
            var record = ctx.record(.network, .socket)
            let socket = SocketState(
                family: SocketAddress.family(call.int(0)), type: SocketAddress.type(call.int(1)),
                inode: call.file?.inode)
            record.socket = socket
            if ret >= 0 {
                let fd = Int32(truncatingIfNeeded: ret)
                record.fd = fd
                files.close(fd)  // a number reused while still open: the old file is closed
                files.open(
                    fd, OpenFile(kind: .socket, writable: true, socket: socket),
                    closeOnExec: call.arg(1) & Linux.oCloexec != 0)
            }
            ctx.records.append(.activity(record))
        case .socketpair:
            var record = ctx.record(.network, .socket)
            let socket = SocketState(family: SocketAddress.family(call.int(0)), type: SocketAddress.type(call.int(1)))
            record.socket = socket
            if ret == 0, let (first, second) = SocketAddress.fdPair(call.sockaddr) {
                record.fd = first
                for fd in [first, second] {
                    files.open(
                        fd, OpenFile(kind: .socket, writable: true, socket: socket),
                        closeOnExec: call.arg(1) & Linux.oCloexec != 0)
                }
            }
            ctx.records.append(.activity(record))
        case .connect, .bind, .listen:
            let fd = call.int(0)
            var socket = files[fd]?.socket ?? SocketState(family: "unknown", type: "unknown")
            if socket.inode == nil { socket.inode = call.file?.inode }
            let address = SocketAddress.format(call.sockaddr)
            if let address { socket.family = address.family }
            let succeeded = ret == 0 || call.errno == Linux.einprogress  // a non-blocking connect under way
            if ctx.meaning == .connect {
                socket.remote = address?.address
                if succeeded { endpoints.learn(&socket) }
                if succeeded, socket.peer == nil { socket.peer = system.listener(sockaddr: call.sockaddr) }
            } else if ctx.meaning == .bind {
                socket.local = address?.address
            }
            files.update(fd) { $0.socket = socket }
            if succeeded, ctx.meaning == .connect { _ = endpoints.index(for: socket, in: &command) }
            var record = ctx.record(
                .network, ctx.meaning == .connect ? .connect : ctx.meaning == .bind ? .bind : .listen)
            if call.errno == Linux.einprogress { record.error = nil }
            record.fd = fd
            record.socket = socket
            ctx.records.append(.activity(record))
        case .accept:
            let listener = files[call.int(0)]?.socket
            var socket = SocketState(
                family: listener?.family ?? "unknown", type: listener?.type ?? "unknown",
                inode: call.file?.inode, local: listener?.local)
            if let address = SocketAddress.format(call.sockaddr), !address.address.isEmpty {
                socket.remote = address.address
            }
            var record = ctx.record(.network, .accept)
            if ret >= 0 {
                let fd = Int32(truncatingIfNeeded: ret)
                endpoints.learn(&socket)
                files.close(fd)
                files.open(
                    fd, OpenFile(kind: .socket, writable: true, socket: socket),
                    closeOnExec: (ctx.arg(ctx.arguments.flags) ?? 0) & Linux.oCloexec != 0)
                _ = endpoints.index(for: socket, in: &command)
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
}
