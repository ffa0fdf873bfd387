/// Flag bits and errno values of the Linux x86-64 syscall ABI that the
/// interpretation of syscalls branches on.
enum Linux {
    static let atFDCWD: Int32 = -100
    static let oCreat: UInt64 = 0o100, oTrunc: UInt64 = 0o1000, oCloexec: UInt64 = 0o2000000
    static let oAccmode: UInt64 = 3, oPath: UInt64 = 0o10000000, oTmpfile: UInt64 = 0o20000000
    static let oNofollow: UInt64 = 0o400000, oExcl: UInt64 = 0o200, oWronly: UInt64 = 1
    static let atRemovedir: UInt64 = 0x200, atSymlinkNofollow: UInt64 = 0x100
    static let renameNoreplace: UInt64 = 1, renameExchange: UInt64 = 2
    static let closeRangeCloexec: UInt64 = 4, fdCloexec: UInt64 = 1
    static let cloneNewns: UInt64 = 0x20000
    static let enoent: Int32 = 2, eexist: Int32 = 17, einprogress: Int32 = 115
}
