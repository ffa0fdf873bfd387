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
}
