/// A command's network endpoints as the system describes them: addresses
/// and the process at the other end, asked while the socket is still open.
struct EndpointLookup {
    let system: SystemQueries

    /// Fills in addresses and the peer from the system while the socket is still open.
    func learn(_ socket: inout SocketState) {
        guard let inode = socket.inode, let known = system.socket(inode: inode, family: socket.family) else { return }
        // The kernel's answer wins: a bind to port 0 or a wildcard says little.
        socket.local = known.local ?? socket.local
        socket.remote = known.remote ?? socket.remote
        if known.family != "unknown" { socket.family = known.family }
        socket.peer = known.peer ?? socket.peer
    }

    /// The index of `command`'s summary entry for a socket, made on first
    /// use; nil when the command is over.
    func index(for socket: SocketState, in command: inout CommandState?) -> Int? {
        guard command != nil else { return nil }
        if let inode = socket.inode, let index = command?.endpoints[inode] { return index }
        var socket = socket
        if socket.peer == nil { learn(&socket) }
        return command?.addEndpoint(socket)
    }
}
