import Monitor
import Testing

/// task->exit_code as wait(2) reads it: status << 8, or the signal number with 0x80 for a core dump.
@Suite struct TerminationTests {
    @Test(arguments: [(UInt32(0), Int32(0)), (1 << 8, 1), (2 << 8, 2), (127 << 8, 127), (255 << 8, 255)])
    func exitStatusIsTheSecondByte(code: UInt32, status: Int32) {
        #expect(Termination(kernelCode: code) == .exited(status))
        #expect(Termination(kernelCode: code).shellStatus == status)
    }

    @Test func signalWithoutCore() {
        #expect(Termination(kernelCode: 9) == .signaled(9, coreDumped: false))
        #expect(Termination(kernelCode: 15) == .signaled(15, coreDumped: false))
        #expect(Termination(kernelCode: 9).shellStatus == 137)
    }

    @Test func coreFlagIsNotPartOfTheSignal() {
        #expect(Termination(kernelCode: 11 | 0x80) == .signaled(11, coreDumped: true))
        #expect(Termination(kernelCode: 6 | 0x80) == .signaled(6, coreDumped: true))
        #expect(Termination(kernelCode: 11 | 0x80).shellStatus == 139)
    }

    @Test func exitEventExposesTheStatus() {
        #expect(Event.Exit(code: 3 << 8, groupDead: true, parentPid: 1).status == .exited(3))
        #expect(Event.Exit(code: 2, groupDead: true, parentPid: 1).status == .signaled(2, coreDumped: false))
    }

    @Test func signalNames() {
        #expect(Signals.name(9) == "SIGKILL")
        #expect(Signals.name(11) == "SIGSEGV")
        #expect(Signals.name(15) == "SIGTERM")
        #expect(Signals.name(31) == "SIGSYS")
        #expect(Signals.name(34) == "SIGRTMIN+0")
        #expect(Signals.name(64) == "SIGRTMIN+30")
    }
}
