import CSockDiag
import Foundation
import Glibc
import Monitor

/// Names the process at the other end of a socket, as `ss -p` does: the
/// kernel's sock_diag interface gives the socket at the other end, and the
/// `/proc/*/fd` links give the processes that hold it. Unlike `SO_PEERCRED`
/// or `sk_peer_pid`, which name whoever created the socket, this names who
/// holds it now, so inherited and socket-activated sockets resolve to the
/// daemon that serves them. It works for sockets opened before the monitor
/// started, since it asks the kernel about the present state only.
///
/// Not thread-safe: use one resolver from one thread (the poll loop).
public final class PeerResolver {
    /// The process at the other end and the socket it holds there.
    public struct Peer: Equatable, Sendable {
        /// The holder chosen by `pickHolder` (see there).
        public var pid: Int32
        public var comm: [UInt8]
        /// The inode of the socket at the other end.
        public var inode: UInt64
        /// The other end's own addresses, from its point of view: for a
        /// client of a server, `local` is the server's address.
        public var local: String
        public var remote: String
        /// `unix`, `inet` or `inet6`: the other end's family, which may
        /// differ from ours (an IPv4 client of a dual-stack IPv6 server).
        public var family: String
        /// Every process that holds the other end's socket, sorted. Several
        /// when it was inherited or passed on.
        public var holders: [Int32]
        /// The other end is still in a listener's accept queue: `inode`,
        /// `local` and the holders are the listener's, which will accept it.
        /// Ask again later for the accepted socket.
        public var pending: Bool = false

        public init(
            pid: Int32, comm: [UInt8], inode: UInt64, local: String, remote: String, family: String,
            holders: [Int32] = [], pending: Bool = false
        ) {
            self.pid = pid
            self.comm = comm
            self.inode = inode
            self.local = local
            self.remote = remote
            self.family = family
            self.holders = holders
            self.pending = pending
        }
    }

    /// A socket's own addresses. Addresses follow the output contract: a unix
    /// path, `@abstract`, `1.2.3.4:80` or `[::1]:80`; "" when there is none
    /// (an unbound unix socket, an unconnected one, a listener's remote).
    public struct Endpoint: Equatable, Sendable {
        public var family: String
        /// `stream`, `dgram` or `seqpacket`.
        public var sockType: String
        public var local: String
        public var remote: String

        public init(family: String, sockType: String, local: String, remote: String) {
            self.family = family
            self.sockType = sockType
            self.local = local
            self.remote = remote
        }
    }

    /// Full scans of /proc take at most this share of the time (0 < share
    /// <= 1): after a scan that took t seconds, the next waits t * (1 - share)
    /// / share. A scan reads every fd link on the host.
    public let scanShare: Double
    /// A socket still without a holder after a full scan does not cause
    /// another for this many seconds (a socket held only by a message in
    /// flight, or by a process in another pid namespace, would otherwise
    /// cause a scan per lookup).
    public let missBackoff: Double
    /// How many full scans of /proc were made, for tests and status lines.
    public private(set) var scans = 0

    private var holdersByInode: [UInt32: [Holder]] = [:]
    private var inodesByPid: [Int32: [UInt32]] = [:]
    /// Processes recently named as peers (daemons), rescanned alone first on
    /// a miss: a daemon's new connections are found without a full scan.
    private var recentPeers: [Int32: Double] = [:]
    private var missedAt: [UInt32: Double] = [:]
    private var lastScanEnd = -Double.infinity
    private var lastScanDuration = 0.0
    private var inodeBuffer = [UInt32](repeating: 0, count: 256)
    private var fdBuffer = [Int32](repeating: 0, count: 256)

    private struct Holder: Equatable {
        var pid: Int32
        var fd: Int32
    }

    public init(scanShare: Double = 0.25, missBackoff: Double = 0.5) {
        self.scanShare = min(max(scanShare, 0.01), 1)
        self.missBackoff = missBackoff
    }

    // MARK: - Queries

    /// The process at the other end of the socket with this inode, when it is
    /// on this host. `excluding` names processes that do not count as the
    /// other end (say, the watched command itself, which may hold both ends
    /// of a socketpair). Nil when there is no local peer: a remote host, a
    /// listener, an unconnected socket, a peer that closed, or a socket that
    /// is gone; and when no process holds the other end any more.
    public func peer(ofSocketInode socketInode: UInt64, excluding: Set<Int32> = [], unixOnly: Bool = false) -> Peer? {
        guard let inode = UInt32(exactly: socketInode), inode != 0 else { return nil }
        var unix = sockdiag_unix()
        if sockdiag_unix_query(inode, &unix) == 0 {
            return unixPeer(unix, excluding: excluding)
        }
        if unixOnly { return nil }  // an inet lookup by inode dumps every TCP and UDP socket
        var inet = sockdiag_inet()
        if sockdiag_inet_query(inode, 0, &inet) == 0 {
            return inetPeer(inet, excluding: excluding)
        }
        return nil
    }

    /// The process listening at a `struct sockaddr` (a unix name, or a TCP
    /// address and port): who serves a connection whose sockets are already
    /// closed by the time the trace is read.
    public func listener(atSockaddr address: [UInt8], excluding: Set<Int32> = []) -> Peer? {
        guard address.count >= 2 else { return nil }
        let family = Int32(address[0]) | Int32(address[1]) << 8
        switch family {
        case AF_UNIX:
            var name = Array(address.dropFirst(2))
            if name.first != 0 { name = Array(name.prefix { $0 != 0 }) }  // a path ends at its NUL
            var socket = sockdiag_unix()
            guard !name.isEmpty, sockdiag_unix_listener_named(name, name.count, &socket) == 0 else { return nil }
            return named(
                inode: socket.inode, local: Self.unixName(socket), remote: "", family: Self.unixFamily,
                pending: false, excluding: excluding)
        case AF_INET, AF_INET6:
            let v4 = family == AF_INET
            guard address.count >= (v4 ? 8 : 24) else { return nil }
            let port = UInt16(address[2]) << 8 | UInt16(address[3])
            let bytes = v4 ? Array(address[4..<8]) : Array(address[8..<24])
            var socket = sockdiag_inet()
            guard sockdiag_inet_listener_at(UInt8(family), bytes, port, &socket) == 0 else { return nil }
            return named(
                inode: socket.inode, local: Self.format(socket, remote: false), remote: "",
                family: Self.familyName(socket), pending: false, excluding: excluding)
        default:
            return nil
        }
    }

    /// The socket's own family, type and addresses. For a unix socket,
    /// `remote` is the name of the socket at the other end (the server's path
    /// for a client), as far as the kernel still knows it.
    public func endpoint(ofSocketInode socketInode: UInt64, unixOnly: Bool = false) -> Endpoint? {
        guard let inode = UInt32(exactly: socketInode), inode != 0 else { return nil }
        var unix = sockdiag_unix()
        if sockdiag_unix_query(inode, &unix) == 0 {
            var remote = ""
            var other = sockdiag_unix()
            if unix.has_peer != 0, unix.peer_inode != 0, sockdiag_unix_query(unix.peer_inode, &other) == 0 {
                remote = Self.unixName(other)
            } else if Self.awaitsAccept(unix), sockdiag_unix_listener_for(inode, &other) == 0 {
                remote = Self.unixName(other)
            }
            return Endpoint(
                family: Self.unixFamily, sockType: SocketAddress.type(Int32(unix.type)),
                local: Self.unixName(unix), remote: remote)
        }
        if unixOnly { return nil }
        var inet = sockdiag_inet()
        if sockdiag_inet_query(inode, 0, &inet) == 0 {
            let type = inet.protocol == UInt8(IPPROTO_TCP) ? SOCK_STREAM : SOCK_DGRAM
            return Endpoint(
                family: Self.familyName(inet), sockType: SocketAddress.type(Int32(type.rawValue)),
                local: Self.format(inet, remote: false), remote: Self.format(inet, remote: true))
        }
        return nil
    }

    /// Every process holding the socket, sorted by pid. A cached answer is
    /// checked against its fd links first. On a miss, the processes recently
    /// named as peers are rescanned alone, then all of /proc if `scanShare`
    /// and `missBackoff` allow. Empty when no holder is known yet: ask again
    /// on a later event.
    public func holders(ofSocketInode socketInode: UInt64) -> [Int32] {
        guard let inode = UInt32(exactly: socketInode), inode != 0 else { return [] }
        if let cached = holdersByInode[inode] {
            let live = cached.filter { sockdiag_fd_socket_inode($0.pid, $0.fd) == Int64(inode) }
            if !live.isEmpty && live.count == cached.count { return Self.pids(live) }
            for pid in Set(cached.map(\.pid)) { scan(pid) }
            if let found = holdersByInode[inode], !found.isEmpty { return Self.pids(found) }
        }
        for pid in recentPeers.keys { scan(pid) }
        if let found = holdersByInode[inode], !found.isEmpty { return Self.pids(found) }
        let now = Self.now()
        let gap = lastScanDuration * (1 - scanShare) / scanShare
        guard now - lastScanEnd >= gap, now - (missedAt[inode] ?? -Double.infinity) >= missBackoff else { return [] }
        rescan()
        guard let found = holdersByInode[inode], !found.isEmpty else {
            missedAt[inode] = now
            return []
        }
        return Self.pids(found)
    }

    /// Rebuilds the socket-inode map from every `/proc/PID/fd`, now.
    public func rescan() {
        let start = Self.now()
        scans += 1
        holdersByInode = [:]
        inodesByPid = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in names.compactMap(Int32.init) { scan(pid) }
        recentPeers = recentPeers.filter { inodesByPid[$0.key] != nil && start - $0.value < 600 }
        missedAt = missedAt.filter { start - $0.value < missBackoff }
        lastScanEnd = Self.now()
        lastScanDuration = lastScanEnd - start
    }

    /// Replaces one process's entries with what its fd directory holds now.
    private func scan(_ pid: Int32) {
        for inode in inodesByPid.removeValue(forKey: pid) ?? [] {
            holdersByInode[inode]?.removeAll { $0.pid == pid }
            if holdersByInode[inode]?.isEmpty == true { holdersByInode[inode] = nil }
        }
        var capacity = inodeBuffer.count
        var count = Int(sockdiag_process_sockets(pid, &inodeBuffer, &fdBuffer, capacity))
        if count > capacity {
            capacity = count * 2
            inodeBuffer = [UInt32](repeating: 0, count: capacity)
            fdBuffer = [Int32](repeating: 0, count: capacity)
            count = Int(sockdiag_process_sockets(pid, &inodeBuffer, &fdBuffer, capacity))
        }
        guard count > 0 else {
            if count < 0 { recentPeers[pid] = nil }
            return
        }
        var inodes: [UInt32] = []
        for index in 0..<min(count, capacity) {
            let inode = inodeBuffer[index]
            holdersByInode[inode, default: []].append(Holder(pid: pid, fd: fdBuffer[index]))
            inodes.append(inode)
        }
        inodesByPid[pid] = inodes
    }

    /// The holder to name as the peer: among those not in `excluding`, drop
    /// any that is an ancestor of another (a socket-activating init, a
    /// prefork master: the child serves), then take the lowest pid. Nil when
    /// every holder is excluded.
    public static func pickHolder(
        _ holders: [Int32], excluding: Set<Int32> = [],
        parent: (Int32) -> Int32? = PeerResolver.parentPid
    ) -> Int32? {
        let candidates = Set(holders.filter { !excluding.contains($0) })
        guard candidates.count > 1 else { return candidates.first }
        var ancestors: Set<Int32> = []
        for candidate in candidates {
            var pid = candidate
            var steps = 0
            while let up = parent(pid), up > 0, up != pid, steps < 4096 {
                if candidates.contains(up) { ancestors.insert(up) }
                pid = up
                steps += 1
            }
        }
        let rest = candidates.subtracting(ancestors)
        return (rest.isEmpty ? candidates : rest).min()
    }

    /// The parent pid from /proc/PID/stat; nil if the process is gone.
    public static func parentPid(_ pid: Int32) -> Int32? {
        FileManager.default.contents(atPath: "/proc/\(pid)/stat").flatMap { ProcText.stat([UInt8]($0))?.ppid }
    }

    /// /proc/PID/comm without its newline; nil if the process is gone.
    public static func comm(_ pid: Int32) -> [UInt8]? {
        guard var bytes = FileManager.default.contents(atPath: "/proc/\(pid)/comm").map([UInt8].init) else {
            return nil
        }
        if bytes.last == 0x0A { bytes.removeLast() }
        return bytes
    }

    // MARK: - Unix

    private func unixPeer(_ mine: sockdiag_unix, excluding: Set<Int32>) -> Peer? {
        guard mine.has_peer != 0 else { return nil }
        var other = sockdiag_unix()
        var pending = false
        if mine.peer_inode != 0 {
            guard sockdiag_unix_query(mine.peer_inode, &other) == 0 else { return nil }
        } else {
            // The other end has no file: queued for accept, or closed.
            guard Self.awaitsAccept(mine), sockdiag_unix_listener_for(mine.inode, &other) == 0 else { return nil }
            pending = true
        }
        // The other end's remote is this socket (for a connected pair).
        let remote = pending ? "" : Self.unixName(mine)
        return named(
            inode: other.inode, local: Self.unixName(other), remote: remote, family: Self.unixFamily,
            pending: pending, excluding: excluding)
    }

    /// A connected stream whose peer has no file and has not shut it down:
    /// the peer is an embryo in a listener's queue.
    private static func awaitsAccept(_ socket: sockdiag_unix) -> Bool {
        socket.has_peer != 0 && socket.peer_inode == 0 && socket.shutdown == 0
            && socket.type != UInt8(SOCK_DGRAM.rawValue)
    }

    /// A path as is; an abstract name as `@name`, its NULs shown as `@` (as `ss` does).
    static func unixName(_ socket: sockdiag_unix) -> String {
        let count = min(Int(socket.name_len), 108)
        guard count > 0 else { return "" }
        let bytes = withUnsafeBytes(of: socket.name) { Array($0.prefix(count)) }
        if bytes[0] == 0 {
            return "@" + String(decoding: bytes.dropFirst().map { $0 == 0 ? UInt8(ascii: "@") : $0 }, as: UTF8.self)
        }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static let unixFamily = SocketAddress.family(AF_UNIX)

    // MARK: - Inet

    private func inetPeer(_ mine: sockdiag_inet, excluding: Set<Int32>) -> Peer? {
        var mine = mine
        var other = sockdiag_inet()
        var kind: Int32 = 0
        guard sockdiag_inet_peer(&mine, &other, &kind) == 0, kind != Int32(SOCKDIAG_PEER_NONE) else { return nil }
        let pending = kind == Int32(SOCKDIAG_PEER_LISTENER) && mine.protocol == UInt8(IPPROTO_TCP)
        return named(
            inode: other.inode, local: Self.format(other, remote: false), remote: Self.format(other, remote: true),
            family: Self.familyName(other), pending: pending, excluding: excluding)
    }

    private static func familyName(_ socket: sockdiag_inet) -> String {
        SocketAddress.family(Int32(socket.family))
    }

    /// "1.2.3.4:80" or "[::1]:80"; "" for a side that is not set (port 0).
    static func format(_ socket: sockdiag_inet, remote: Bool) -> String {
        if remote && socket.remote_port == 0 { return "" }
        var socket = socket
        var text = [CChar](repeating: 0, count: 64)
        guard sockdiag_inet_format(&socket, remote ? 1 : 0, &text, text.count) > 0 else { return "" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Holders

    private func named(
        inode: UInt32, local: String, remote: String, family: String, pending: Bool,
        excluding: Set<Int32>
    ) -> Peer? {
        guard inode != 0 else { return nil }
        let holders = holders(ofSocketInode: UInt64(inode))
        guard let pid = Self.pickHolder(holders, excluding: excluding), let comm = Self.comm(pid) else { return nil }
        if recentPeers.count >= 64, let oldest = recentPeers.min(by: { $0.value < $1.value }) {
            recentPeers[oldest.key] = nil
        }
        recentPeers[pid] = Self.now()
        return Peer(
            pid: pid, comm: comm, inode: UInt64(inode), local: local, remote: remote, family: family,
            holders: holders, pending: pending)
    }

    private static func pids(_ holders: [Holder]) -> [Int32] {
        Array(Set(holders.map(\.pid))).sorted()
    }

    private static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
