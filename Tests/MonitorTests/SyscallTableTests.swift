import BPFSources
import Monitor
import Testing

/// The argument positions the interpreter reads agree with the kernel's spec
/// of the same syscall.
@Suite struct SyscallTableTests {
    /// A dirfd comes right before the path it is for.
    @Test func dirfdsPrecedeTheirPaths() {
        for info in SyscallTable.all {
            let (first, second) = info.spec.path_args
            if let dirfd = info.arguments.dirfd { #expect(dirfd == Int(first) - 2, "\(info.name)") }
            if let dirfd = info.arguments.secondDirfd { #expect(dirfd == Int(second) - 2, "\(info.name)") }
        }
    }

    /// Every *at call that takes a path says where its dirfd is (creat is no *at call).
    @Test func atCallsHaveADirfd() {
        let atCalls = SyscallTable.all.filter {
            ($0.name.hasSuffix("at") || $0.name.hasSuffix("at2")) && $0.name != "creat"
        }
        for info in atCalls where info.spec.path_args.0 != 0 {
            #expect(info.arguments.dirfd != nil || info.arguments.secondDirfd != nil, "\(info.name)")
        }
    }

    /// Each meaning that needs an argument position has it in every entry.
    @Test func meaningsHaveTheArgumentsTheyNeed() {
        for info in SyscallTable.all {
            switch info.meaning {
            case .transfer: #expect(info.fd != nil && info.arguments.input != nil, "\(info.name)")
            case .kill: #expect(info.arguments.target != nil && info.arguments.signal != nil, "\(info.name)")
            case .chmod: #expect(info.arguments.mode != nil, "\(info.name)")
            default: break
            }
        }
    }

    /// Sends and receives are summed per fd, and each says how the kernel
    /// finds its length: sendmmsg and recvmmsg return message counts, so
    /// their bytes come from each mmsghdr's msg_len.
    @Test func datagramCallsAreSummedIO() throws {
        let byName = Dictionary(uniqueKeysWithValues: SyscallTable.all.map { ($0.name, $0) })
        for name in ["sendto", "sendmsg", "sendmmsg"] {
            let info = try #require(byName[name])
            #expect(info.summed && info.spec.action == UInt8(SYSCALL_IO_WRITE.rawValue), "\(name)")
            #expect(info.spec.io_length != UInt8(IO_LENGTH_NONE.rawValue), "\(name)")
            #expect(info.fd == 0, "\(name)")
        }
        for name in ["recvfrom", "recvmsg", "recvmmsg"] {
            let info = try #require(byName[name])
            #expect(info.summed && info.spec.action == UInt8(SYSCALL_IO_READ.rawValue), "\(name)")
            #expect(info.spec.io_flags_arg != 0, "\(name): MSG_PEEK is seen")
        }
        for name in ["sendmmsg", "recvmmsg"] {
            #expect(byName[name]?.spec.io_length == UInt8(IO_LENGTH_MMSGHDR.rawValue), "\(name)")
        }
        // sendto's destination: struct sockaddr * and its length, the fifth and sixth arguments.
        let sendto = try #require(byName["sendto"])
        #expect(sendto.spec.sockaddr_arg == 5 && sendto.spec.sockaddr_len_arg == 6)
        #expect(sendto.spec.sockaddr_len_kind == UInt8(SOCKADDR_LEN_VALUE.rawValue))
        #expect(byName["recvmmsg"]?.spec.io_flags_arg == 4, "recvmmsg(fd, msgvec, vlen, flags, timeout)")
        // A datagram's sender: recvfrom's src_addr (then its length's pointer), or the msghdr's msg_name.
        #expect(byName["recvfrom"]?.spec.source_arg == 5, "recvfrom(fd, buf, len, flags, src_addr, addrlen)")
        #expect(byName["recvmsg"]?.spec.io_length == UInt8(IO_LENGTH_MSGHDR.rawValue))
    }
}
