import BPFSources

/// Read and write totals the kernel summed per fd: reported when the fd
/// closes, when exec or close_range ends the process's io generation, and
/// when the process or the trace ends; fed to the command's ledger and
/// network endpoints. Each call takes the descriptor table and the command
/// it acts on.
struct IOReport {
    let system: SystemQueries
    let endpoints: EndpointLookup

    init(system: SystemQueries) {
        self.system = system
        endpoints = EndpointLookup(system: system)
    }

    /// exec or close_range ended the process's io generation: its totals are
    /// final. Those of `closed` fds are reported; the rest are carried to their close.
    /// `kernelHoldsIO` false: the kernel said it holds no totals for the process, so none are looked up.
    func endGeneration(
        _ origin: RecordOrigin, files: inout FileTable, command: inout CommandState?,
        closed: [Int32: OpenFile], kernelHoldsIO: Bool = true
    ) -> [Record] {
        let pid = origin.pid
        let generation = files.ioGeneration
        let open = files.openDescriptors
        let taken =
            kernelHoldsIO
            ? system.takeIOTotals(pid: pid, fds: open + closed.keys, generations: generation...generation) : [:]
        files.ioGeneration = io_generation_after(generation)
        var records: [Record] = []
        for (fd, totals) in taken where closed[fd] == nil { files.carry(fd, totals) }
        for (fd, file) in closed.sorted(by: { $0.key < $1.key }) {
            let totals = files.takeCarried(fd, adding: taken[fd])
            records += reportIO(origin, fd: fd, file: file, totals: totals, closing: true, command: &command)
        }
        return records
    }

    /// At the end of a process, or of the trace: everything left, for every fd still open.
    func flushIO(
        _ origin: RecordOrigin, files: inout FileTable, command: inout CommandState?,
        kernelHoldsIO: Bool = true
    ) -> [Record] {
        let open = files.openDescriptors
        let taken =
            !kernelHoldsIO
            ? [:]
            : system.takeIOTotals(
                pid: origin.pid, fds: open,
                generations: 0...files.ioGeneration)
        var records: [Record] = []
        for fd in open {
            guard let file = files[fd] else { continue }
            let totals = files.takeCarried(fd, adding: taken[fd])
            records += reportIO(origin, fd: fd, file: file, totals: totals, closing: false, command: &command)
        }
        return records
    }

    /// The records of what went through `file` (fd `fd`), and of the fd's
    /// close when `closing`.
    func reportIO(
        _ origin: RecordOrigin, fd: Int32, file: OpenFile, totals: Event.IOTotals?, closing: Bool,
        command: inout CommandState?
    ) -> [Record] {
        if let totals { account(origin, file: file, totals: totals, command: &command) }
        // Pipes and nameless descriptors carry no data object of their own.
        guard file.kind != .pipe, file.path != nil || file.socket != nil else { return [] }
        var records: [Record] = []
        for (bytes, calls, reading) in [
            (totals?.bytesRead ?? 0, totals?.reads ?? 0, true),
            (totals?.bytesWritten ?? 0, totals?.writes ?? 0, false),
        ] where calls > 0 {
            var record = origin.activity(
                file.socket == nil ? .file : .network,
                file.socket == nil ? (reading ? .read : .write) : (reading ? .recv : .send))
            record.fd = fd
            record.path = file.path
            record.bytes = bytes
            record.calls = calls
            record.socket = file.socket.map { Self.named($0, by: command) }
            record.loader = file.loader
            records.append(.activity(record))
        }
        // Attribute changes made through the fd, kept by the kernel until now.
        let metadata = totals?.metadata ?? 0
        for (bit, action) in Self.metadataActions where metadata & bit != 0 {
            var record = origin.activity(.file, action)
            record.fd = fd
            record.path = file.path
            if bit == UInt32(FD_METADATA_MODE.rawValue) { record.mode = totals?.mode }
            records.append(.activity(record))
        }
        if metadata != 0, let path = file.path, !file.unlinked, file.kind == .file || file.kind == .directory {
            command?.changed(path, content: false, origin.confidence)
        }
        if closing, var socket = file.socket {
            var record = origin.activity(.network, .close)
            record.fd = fd
            socket = Self.named(socket, by: command)
            if socket.peer == nil, let inode = socket.inode {
                socket.peer = system.socket(inode: inode, family: socket.family)?.peer
            }
            record.socket = socket
            records.append(.activity(record))
        }
        return records
    }

    /// `socket` with the remote and peer its command's entry learnt: a
    /// datagram socket names them only once its reader has read (see
    /// CommandState.learnDestination).
    static func named(_ socket: SocketState, by command: CommandState?) -> SocketState {
        guard socket.peer == nil || socket.remote == nil, let inode = socket.inode,
            let index = command?.endpoints[inode], let entry = command?.network[index]
        else { return socket }
        var socket = socket
        socket.remote = socket.remote ?? entry.remote
        socket.peer = socket.peer ?? entry.peer
        return socket
    }

    /// The `enum fd_metadata` bits, and the action each reports.
    private static let metadataActions: [(UInt32, ActivityAction)] = [
        (UInt32(FD_METADATA_MODE.rawValue), .chmod), (UInt32(FD_METADATA_OWNER.rawValue), .chown),
        (UInt32(FD_METADATA_TIMES.rawValue), .utime), (UInt32(FD_METADATA_XATTR.rawValue), .xattr),
    ]

    /// Feeds bytes moved through `file` to `command`'s ledger or endpoints.
    func account(_ origin: RecordOrigin, file: OpenFile?, totals: Event.IOTotals, command: inout CommandState?) {
        guard let file, command != nil else { return }
        if let socket = file.socket {
            guard let index = endpoints.index(for: socket, in: &command) else { return }
            command?.network[index].bytesSent += totals.bytesWritten
            command?.network[index].bytesReceived += totals.bytesRead
        } else if let path = file.path, file.kind == .file, !file.unlinked {
            if totals.bytesWritten > 0 { command?.changed(path, content: true, origin.confidence) }
            if totals.bytesRead > 0 { command?.updateLedger(origin.confidence) { $0.read(path) } }
        }
    }
}
