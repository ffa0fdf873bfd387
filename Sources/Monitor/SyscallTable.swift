import BPFSources

/// Every syscall the monitor traces, what the kernel should capture for it,
/// and what it means to the model. The kernel's `syscall_specs` map is
/// filled from here, so the BPF code stays generic.
public struct SyscallInfo: Sendable {
    public enum Meaning: Sendable {
        case open, close, closeRange, read, write, transfer, truncate
        case unlink, rmdir, mkdir, mknod, rename, link, symlink
        case chmod, chown, utime, xattr, mount, umount
        case chdir, fchdir, changeRoot, joinNamespace, dup, fcntl, pipe
        case socket, socketpair, connect, bind, listen, accept, send, recv, shutdown
        case kill
    }

    /// Where the interpreter finds what it reads from the call's arguments,
    /// numbered from 0 as in `Event.Syscall.args`. The kernel's own positions
    /// (paths, the fd) are in `spec`.
    public struct Arguments: Sendable {
        /// The directory fd each path is relative to (the first path, the second);
        /// nil: the working directory.
        public var dirfd: Int? = nil
        public var secondDirfd: Int? = nil
        /// O_* flags (open, dup3, pipe2, accept4), AT_* flags (unlinkat, fchownat,
        /// utimensat) or RENAME_* flags (renameat2).
        public var flags: Int? = nil
        /// creat: the open flags it implies.
        public var impliedFlags: UInt64? = nil
        /// The mode of chmod and its kin.
        public var mode: Int? = nil
        /// lchown, lsetxattr, lremovexattr: the call acts on a symlink itself.
        public var noFollow = false
        /// utimensat: an empty path means the dirfd's own file.
        public var emptyPathMeansDirfd = false
        /// sendfile, copy_file_range, splice: the fd read from. The fd written to is the spec's fd.
        public var input: Int? = nil
        /// kill, tkill, tgkill: the pid or tid signalled, and the signal.
        public var target: Int? = nil
        public var signal: Int? = nil
    }

    public let nr: Int
    public let name: String
    public let meaning: Meaning
    /// What the kernel captures; see `struct syscall_spec` in bpf/events.h.
    public let spec: syscall_spec
    public let arguments: Arguments

    /// The fd the call acts on, numbered from 0; nil when it takes none.
    public var fd: Int? { spec.fd_arg == 0 ? nil : Int(spec.fd_arg) - 1 }

    /// Reads and writes the kernel sums per fd instead of recording each call.
    public var summed: Bool {
        spec.action == UInt8(SYSCALL_IO_READ.rawValue) || spec.action == UInt8(SYSCALL_IO_WRITE.rawValue)
    }
}

public enum SyscallTable {
    public static let all: [SyscallInfo] = files + descriptors + network + signals

    public static let byNumber: [Int: SyscallInfo] = Dictionary(uniqueKeysWithValues: all.map { ($0.nr, $0) })

    /// The kernel side's view: number -> spec.
    public static var specs: [Int: syscall_spec] { byNumber.mapValues(\.spec) }

    // The spec's arguments are numbered from 1: 0 means none. `arguments` counts from 0.
    private static func entry(
        _ nr: Int32, _ name: String, _ meaning: SyscallInfo.Meaning,
        _ action: syscall_action = SYSCALL_RECORD, paths: (UInt8, UInt8) = (0, 0),
        fd: UInt8 = 0, fdResult: Bool = false,
        sockaddr: UInt8 = 0, length: UInt8 = 0,
        lengthKind: sockaddr_length = SOCKADDR_LEN_VALUE, ioFD: UInt8 = 0,
        newGeneration: Bool = false, fdMetadata: fd_metadata? = nil,
        ioLength: io_length = IO_LENGTH_NONE, ioFlags: UInt8 = 0, source: UInt8 = 0,
        fdCommand: UInt8 = 0, args arguments: SyscallInfo.Arguments = .init()
    ) -> SyscallInfo {
        let spec = syscall_spec(
            action: UInt8(action.rawValue), path_args: paths, fd_arg: fd, fd_result: fdResult ? 1 : 0,
            sockaddr_arg: sockaddr, sockaddr_len_arg: length, sockaddr_len_kind: UInt8(lengthKind.rawValue),
            io_fd_arg: ioFD, new_generation: newGeneration ? 1 : 0,
            fd_metadata: UInt8(fdMetadata?.rawValue ?? 0), io_length: UInt8(ioLength.rawValue), io_flags_arg: ioFlags,
            fd_command_arg: fdCommand, source_arg: source, _pad: 0)
        return SyscallInfo(nr: Int(nr), name: name, meaning: meaning, spec: spec, arguments: arguments)
    }

    private static let files: [SyscallInfo] = [
        entry(__NR_open, "open", .open, paths: (1, 0), fdResult: true, args: .init(flags: 1)),
        entry(__NR_openat, "openat", .open, paths: (2, 0), fdResult: true, args: .init(dirfd: 0, flags: 2)),
        entry(__NR_openat2, "openat2", .open, paths: (2, 0), fdResult: true, args: .init(dirfd: 0)),
        entry(
            __NR_creat, "creat", .open, paths: (1, 0), fdResult: true,
            args: .init(impliedFlags: Linux.oCreat | Linux.oTrunc | Linux.oWronly)),
        entry(__NR_read, "read", .read, SYSCALL_IO_READ, fd: 1),
        entry(__NR_pread64, "pread64", .read, SYSCALL_IO_READ, fd: 1),
        entry(__NR_readv, "readv", .read, SYSCALL_IO_READ, fd: 1),
        entry(__NR_write, "write", .write, SYSCALL_IO_WRITE, fd: 1, ioLength: IO_LENGTH_COUNT),
        entry(__NR_pwrite64, "pwrite64", .write, SYSCALL_IO_WRITE, fd: 1, ioLength: IO_LENGTH_COUNT),
        entry(__NR_writev, "writev", .write, SYSCALL_IO_WRITE, fd: 1, ioLength: IO_LENGTH_IOVEC),
        entry(__NR_sendfile, "sendfile", .transfer, fd: 1, args: .init(input: 1)),
        entry(__NR_copy_file_range, "copy_file_range", .transfer, fd: 3, args: .init(input: 0)),
        entry(__NR_splice, "splice", .transfer, fd: 3, args: .init(input: 0)),
        entry(__NR_truncate, "truncate", .truncate, paths: (1, 0)),
        entry(__NR_ftruncate, "ftruncate", .truncate, fd: 1),
        entry(__NR_fallocate, "fallocate", .truncate, fd: 1),
        entry(__NR_unlink, "unlink", .unlink, paths: (1, 0)),
        entry(__NR_unlinkat, "unlinkat", .unlink, paths: (2, 0), args: .init(dirfd: 0, flags: 2)),
        entry(__NR_rmdir, "rmdir", .rmdir, paths: (1, 0)),
        entry(__NR_mkdir, "mkdir", .mkdir, paths: (1, 0)),
        entry(__NR_mkdirat, "mkdirat", .mkdir, paths: (2, 0), args: .init(dirfd: 0)),
        entry(__NR_mknod, "mknod", .mknod, paths: (1, 0)),
        entry(__NR_mknodat, "mknodat", .mknod, paths: (2, 0), args: .init(dirfd: 0)),
        entry(__NR_rename, "rename", .rename, paths: (1, 2)),
        entry(__NR_renameat, "renameat", .rename, paths: (2, 4), args: .init(dirfd: 0, secondDirfd: 2)),
        entry(__NR_renameat2, "renameat2", .rename, paths: (2, 4), args: .init(dirfd: 0, secondDirfd: 2, flags: 4)),
        entry(__NR_link, "link", .link, paths: (1, 2)),
        entry(__NR_linkat, "linkat", .link, paths: (2, 4), args: .init(dirfd: 0, secondDirfd: 2)),
        entry(__NR_symlink, "symlink", .symlink, paths: (1, 2)),
        entry(__NR_symlinkat, "symlinkat", .symlink, paths: (1, 3), args: .init(secondDirfd: 1)),
        entry(__NR_chmod, "chmod", .chmod, paths: (1, 0), args: .init(mode: 1)),
        entry(__NR_fchmod, "fchmod", .chmod, fd: 1, fdMetadata: FD_METADATA_MODE, args: .init(mode: 1)),
        entry(__NR_fchmodat, "fchmodat", .chmod, paths: (2, 0), args: .init(dirfd: 0, mode: 2)),
        entry(__NR_fchmodat2, "fchmodat2", .chmod, paths: (2, 0), args: .init(dirfd: 0, mode: 2)),
        entry(__NR_chown, "chown", .chown, paths: (1, 0)),
        entry(__NR_lchown, "lchown", .chown, paths: (1, 0), args: .init(noFollow: true)),
        entry(__NR_fchown, "fchown", .chown, fd: 1, fdMetadata: FD_METADATA_OWNER),
        entry(__NR_fchownat, "fchownat", .chown, paths: (2, 0), args: .init(dirfd: 0, flags: 4)),
        entry(
            __NR_utimensat, "utimensat", .utime, paths: (2, 0), fdMetadata: FD_METADATA_TIMES,
            args: .init(dirfd: 0, flags: 3, emptyPathMeansDirfd: true)),
        entry(__NR_setxattr, "setxattr", .xattr, paths: (1, 0)),
        entry(__NR_lsetxattr, "lsetxattr", .xattr, paths: (1, 0), args: .init(noFollow: true)),
        entry(__NR_fsetxattr, "fsetxattr", .xattr, fd: 1, fdMetadata: FD_METADATA_XATTR),
        entry(__NR_removexattr, "removexattr", .xattr, paths: (1, 0)),
        entry(__NR_lremovexattr, "lremovexattr", .xattr, paths: (1, 0), args: .init(noFollow: true)),
        entry(__NR_fremovexattr, "fremovexattr", .xattr, fd: 1, fdMetadata: FD_METADATA_XATTR),
        entry(__NR_mount, "mount", .mount, paths: (1, 2)),
        entry(__NR_umount2, "umount2", .umount, paths: (1, 0)),
    ]

    private static let descriptors: [SyscallInfo] = [
        entry(__NR_close, "close", .close, ioFD: 1),
        entry(__NR_close_range, "close_range", .closeRange, newGeneration: true),
        entry(__NR_chdir, "chdir", .chdir, paths: (1, 0)),
        entry(__NR_fchdir, "fchdir", .fchdir, fd: 1),
        entry(__NR_chroot, "chroot", .changeRoot, paths: (1, 0)),
        entry(__NR_pivot_root, "pivot_root", .changeRoot, paths: (1, 2)),
        entry(__NR_setns, "setns", .joinNamespace, fd: 1),
        entry(__NR_dup, "dup", .dup, fdResult: true),
        entry(__NR_dup2, "dup2", .dup, fdResult: true, ioFD: 2),
        entry(__NR_dup3, "dup3", .dup, fdResult: true, ioFD: 2, args: .init(flags: 2)),
        entry(__NR_fcntl, "fcntl", .fcntl, fdCommand: 2),
        entry(__NR_pipe, "pipe", .pipe, sockaddr: 1, lengthKind: SOCKADDR_LEN_FD_PAIR),
        entry(__NR_pipe2, "pipe2", .pipe, sockaddr: 1, lengthKind: SOCKADDR_LEN_FD_PAIR, args: .init(flags: 1)),
    ]

    private static let network: [SyscallInfo] = [
        entry(__NR_socket, "socket", .socket, fdResult: true),
        entry(__NR_socketpair, "socketpair", .socketpair, sockaddr: 4, lengthKind: SOCKADDR_LEN_FD_PAIR),
        entry(__NR_connect, "connect", .connect, fd: 1, sockaddr: 2, length: 3),
        entry(__NR_bind, "bind", .bind, fd: 1, sockaddr: 2, length: 3),
        entry(__NR_listen, "listen", .listen, fd: 1),
        entry(__NR_accept, "accept", .accept, fdResult: true, sockaddr: 2, length: 3, lengthKind: SOCKADDR_LEN_POINTER),
        entry(
            __NR_accept4, "accept4", .accept, fdResult: true, sockaddr: 2, length: 3, lengthKind: SOCKADDR_LEN_POINTER,
            args: .init(flags: 3)),
        // sendto's destination (a datagram's) names the channel it goes to.
        entry(
            __NR_sendto, "sendto", .send, SYSCALL_IO_WRITE, fd: 1, sockaddr: 5, length: 6,
            ioLength: IO_LENGTH_COUNT),
        entry(__NR_sendmsg, "sendmsg", .send, SYSCALL_IO_WRITE, fd: 1, ioLength: IO_LENGTH_MSGHDR),
        // A UDP datagram's sender (src_addr, msg_name) tells whose segment the read took.
        entry(__NR_recvfrom, "recvfrom", .recv, SYSCALL_IO_READ, fd: 1, ioFlags: 4, source: 5),
        entry(__NR_recvmsg, "recvmsg", .recv, SYSCALL_IO_READ, fd: 1, ioLength: IO_LENGTH_MSGHDR, ioFlags: 3),
        // These return message counts: the kernel sums the msg_len of each message as their bytes.
        entry(__NR_sendmmsg, "sendmmsg", .send, SYSCALL_IO_WRITE, fd: 1, ioLength: IO_LENGTH_MMSGHDR),
        entry(__NR_recvmmsg, "recvmmsg", .recv, SYSCALL_IO_READ, fd: 1, ioLength: IO_LENGTH_MMSGHDR, ioFlags: 4),
        entry(__NR_shutdown, "shutdown", .shutdown, fd: 1),
    ]

    private static let signals: [SyscallInfo] = [
        entry(__NR_kill, "kill", .kill, args: .init(target: 0, signal: 1)),
        entry(__NR_tkill, "tkill", .kill, args: .init(target: 0, signal: 1)),
        entry(__NR_tgkill, "tgkill", .kill, args: .init(target: 1, signal: 2)),
    ]
}
