import Foundation
import Glibc
import Kernel
import Testing

/// The exit statuses the monitor promises (Sources/Kernel/KernelError.swift,
/// Sources/Session/SessionError.swift, and ArgumentParser's EX_USAGE).
enum ExitStatus {
    static let usage: Int32 = 64  // EX_USAGE
    static let noSuchProcess: Int32 = 66  // EX_NOINPUT
    static let noKernelHeaders: Int32 = 72  // EX_OSFILE
    static let cannotWrite: Int32 = 73  // EX_CANTCREAT
    static let kprobesUnavailable: Int32 = 76
    static let notRoot: Int32 = 77  // EX_NOPERM
    static let commandNotFound: Int32 = 127
}

extension IntegrationTests {
    /// Runs a monitor that must fail: one stderr line `ebpf-monitor: error: ...`,
    /// nothing on stdout, the given status, and no probes left behind.
    private func expectFailure(
        _ arguments: [String], status: Int32, mentioning words: [String],
        prefix: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let run = try Harness.monitor(arguments, timeout: 20, prefix: prefix)
        #expect(!run.timedOut, "\(run)", sourceLocation: sourceLocation)
        #expect(run.status == status, "expected exit status \(status): \(run)", sourceLocation: sourceLocation)
        #expect(run.stderrLines.count == 1, "expected one stderr line: \(run.stderr)", sourceLocation: sourceLocation)
        let line = run.stderrLines.first ?? ""
        #expect(line.hasPrefix("ebpf-monitor: error: "), "\(line)", sourceLocation: sourceLocation)
        for word in words {
            #expect(
                line.contains(word), "the message should mention \"\(word)\": \(line)", sourceLocation: sourceLocation)
        }
        #expect(run.stdout.isEmpty, "nothing on stdout: \(run.stdoutText)", sourceLocation: sourceLocation)
    }

    @Test func errorNoSuchPid() throws {
        // pid_max itself is never handed out.
        let pidMax = String(decoding: Harness.read("/proc/sys/kernel/pid_max"), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(Int(pidMax) != nil)
        try expectFailure(
            ["--pid=\(pidMax)"], status: ExitStatus.noSuchProcess, mentioning: ["no such process", pidMax])
    }

    @Test func errorKprobeForkProbeWithoutKprobes() throws {
        try #require(
            !FileManager.default.fileExists(atPath: "/sys/kernel/tracing/kprobe_events"),
            "this test expects a kernel without kprobes (CONFIG_KPROBES off, as on the machines these tests run on)")
        try expectFailure(
            ["--fork-probe", "kprobe", "--", "/bin/true"], status: ExitStatus.kprobesUnavailable,
            mentioning: ["kprobe", "no kprobes"])
        try expectFailure(
            ["--fork-probe=kprobe", "--pid=1"], status: ExitStatus.kprobesUnavailable,
            mentioning: ["no kprobes"])
        try expectFailure(
            ["--datagram-probe", "kprobe", "--", "/bin/true"], status: ExitStatus.kprobesUnavailable,
            mentioning: ["--datagram-probe kprobe", "no kprobes"])
    }

    /// `--report` to a place that cannot be written fails at start, before the command runs.
    @Test func errorReportCannotBeWritten() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let page = directory + "/missing/report.html"
        try expectFailure(
            ["--report", page, "--", "/bin/sh", "-c", "touch \"$1\"", "sh", directory + "/ran"],
            status: ExitStatus.cannotWrite, mentioning: ["cannot write", page])
        #expect(!FileManager.default.fileExists(atPath: directory + "/ran"), "the command must not run")
    }

    /// `--output` and `--report` in a sticky world-writable directory, as /tmp
    /// is: a symlink, another user's file and a hard-linked file are refused
    /// before the command runs, and the files they lead to are left as they were.
    @Test(arguments: ["--output", "--report"])
    func errorUnsafeOutputRefused(option: String) throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(chmod(directory, 0o1777) == 0)
        let precious = directory + "/precious"
        try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: precious))
        let ran = directory + "/ran"
        let command = ["--", "/bin/sh", "-c", "touch \"$1\"", "sh", ran]

        let link = directory + "/link.out"
        #expect(Glibc.symlink(precious, link) == 0)
        try expectFailure(
            [option, link] + command, status: ExitStatus.cannotWrite, mentioning: [link, "symbolic link"])

        let foreign = directory + "/foreign.out"
        try Data("theirs\n".utf8).write(to: URL(fileURLWithPath: foreign))
        #expect(chown(foreign, 65534, 65534) == 0)
        try expectFailure(
            [option, foreign] + command, status: ExitStatus.cannotWrite, mentioning: [foreign, "owned by uid 65534"])

        let hard = directory + "/hard.out"
        #expect(Glibc.link(precious, hard) == 0)
        try expectFailure([option, hard] + command, status: ExitStatus.cannotWrite, mentioning: [hard, "hard links"])

        #expect(String(decoding: Harness.read(precious), as: UTF8.self) == "keep me\n")
        #expect(String(decoding: Harness.read(foreign), as: UTF8.self) == "theirs\n")
        #expect(!FileManager.default.fileExists(atPath: ran), "the command must not run")
    }

    /// A new output file is created with mode 0600, whatever the umask: traces hold command lines and paths.
    @Test func outputFilesArePrivate() throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let trace = directory + "/trace.jsonl", page = directory + "/report.html"
        let run = try Harness.monitor(["--format", "json", "--output", trace, "--report", page, "--", "/bin/true"])
        #expect(run.status == 0, "\(run)")
        for path in [trace, page] {
            var info = stat()
            #expect(
                stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600,
                "\(path): mode \(String(info.st_mode & 0o777, radix: 8))")
        }
    }

    @Test func errorCommandNotFound() throws {
        try expectFailure(
            ["--", "ebpf-monitor-no-such-command"], status: ExitStatus.commandNotFound,
            mentioning: ["command not found", "ebpf-monitor-no-such-command"])
        try expectFailure(
            ["--", "/nonexistent/ebpf-monitor-test"], status: ExitStatus.commandNotFound,
            mentioning: ["/nonexistent/ebpf-monitor-test"])
    }

    @Test func errorNotRoot() throws {
        // The binary lives under the build directory; nobody must be able to run it for this to test anything.
        let binary = try Harness.monitorBinary()
        let probe = try Harness.runTool([
            "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
            "/usr/bin/test", "-x", binary,
        ])
        try #require(probe.status == 0, "nobody cannot execute \(binary)")
        let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        try expectFailure(["--", "/bin/true"], status: ExitStatus.notRoot, mentioning: ["root"], prefix: nobody)
        try expectFailure(
            ["--pid=1", "--format", "json"], status: ExitStatus.notRoot, mentioning: ["root"], prefix: nobody)
    }

    /// No headers at /lib/modules/$(uname -r): shown in a private mount
    /// namespace, where a tmpfs hides the directory from the monitor only.
    /// The real /lib/modules is not touched.
    @Test func errorNoKernelHeaders() throws {
        let release = Preflight.kernelRelease
        let build = "/lib/modules/\(release)/build/include"
        try #require(FileManager.default.fileExists(atPath: build))
        let hide = [
            "/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            "mount -t tmpfs -o size=1m,mode=0755 ebpf-monitor-test \"/lib/modules/$(uname -r)\" && exec \"$@\"", "sh",
        ]
        try expectFailure(
            ["--", "/bin/true"], status: ExitStatus.noKernelHeaders,
            mentioning: ["kernel headers", "/lib/modules/\(release)/build", "make setup"], prefix: hide)
        #expect(FileManager.default.fileExists(atPath: build), "the host's headers must still be there")
        let mounts = String(decoding: Harness.read("/proc/self/mountinfo"), as: UTF8.self)
        #expect(!mounts.contains("ebpf-monitor-test"), "the tmpfs must not leak out of its namespace")
    }

    /// Usage errors: status 64 and one `ebpf-monitor: error:` line that names the problem.
    @Test(arguments: [
        (["--format", "xml", "--", "/bin/true"], "xml"),
        (["--bogus", "--", "/bin/true"], "--bogus"),
        (["--pid=1", "--", "/bin/true"], "--pid"),
        (["--pid=0"], "--pid"),
        (["--pid=abc"], "abc"),
        (["--fork-probe", "uprobe", "--", "/bin/true"], "uprobe"),
        (["--buffer-pages", "3", "--", "/bin/true"], "--buffer-pages"),
        (["--pidd=5"], "--pidd"),  // a typo of the one option --pid mode needs: the message must name it
        ([], "--pid"),
    ])
    func errorUsage(arguments: [String], word: String) throws {
        let run = try Harness.monitor(arguments, timeout: 20)
        #expect(!run.timedOut)
        #expect(run.status == ExitStatus.usage, "\(arguments): \(run)")
        #expect(run.stderrLines.count == 1, "\(arguments): one line: \(run.stderr)")
        let line = run.stderrLines.first ?? ""
        #expect(
            line.hasPrefix("ebpf-monitor: error: ") && line.contains(word),
            "\(arguments): the line names the problem: \(run.stderr)")
        #expect(run.stdout.isEmpty)
    }

    /// Each failure has its own status, so scripts can tell them apart; the
    /// statuses checked above are the ones the kernel-side errors declare.
    @Test func errorStatusesAreDistinct() {
        #expect(KernelError.notRoot.exitCode == ExitStatus.notRoot)
        #expect(KernelError.noKernelHeaders(release: "x").exitCode == ExitStatus.noKernelHeaders)
        #expect(KernelError.kprobesUnavailable(option: "fork-probe").exitCode == ExitStatus.kprobesUnavailable)
        let statuses = [
            ExitStatus.usage, ExitStatus.noSuchProcess, ExitStatus.noKernelHeaders,
            ExitStatus.kprobesUnavailable, ExitStatus.notRoot, ExitStatus.commandNotFound,
            KernelError.noTracefs.exitCode, KernelError.compileFailed(diagnostics: "").exitCode,
            KernelError.noBPF("").exitCode,
        ]
        #expect(Set(statuses).count == statuses.count, "\(statuses)")
        #expect(!statuses.contains(0) && !statuses.contains(1))
    }
}
