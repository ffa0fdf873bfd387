import Foundation
import Glibc
import Testing

extension IntegrationTests {
    /// Names at the kernel's limits: a file of a 255-byte name at the end of
    /// an absolute path longer than PATH_MAX (reached by relative steps), an
    /// argument of 100,000 bytes, and a unix socket address of the full 107
    /// bytes of `sun_path`. Each is reported, cut where the records' room ends
    /// and marked `truncated`, and nothing is lost.
    @Test func namesAtTheirLimits() throws {
        let directory = try Harness.temporaryDirectory()
        // (rm walks the tree by relative steps; FileManager stops at PATH_MAX and would leave it.)
        defer { _ = try? Harness.runTool(["/bin/rm", "-rf", directory]) }
        let component = String(repeating: "n", count: 250)
        let file = String(repeating: "f", count: 255)
        let socketPath = directory + "/" + String(repeating: "s", count: 107 - directory.utf8.count - 1)
        let script = """
            cd "$1"
            for i in $(seq 18); do mkdir \(component) && cd \(component); done
            touch \(file)
            /bin/true "$(head -c 100000 /dev/zero | tr '\\0' a)"
            python3 -c 'import socket, sys
            s = socket.socket(socket.AF_UNIX)
            try: s.connect(sys.argv[1])
            except OSError: pass' "$2"
            """
        let run = try Harness.monitor(
            ["--format", "json", "--", "/bin/sh", "-c", script, "sh", directory, socketPath], timeout: 60)
        #expect(run.status == 0, "\(run)")
        let objects = try run.json()
        #expect(objects.lost(at: "syscall") == 0 && objects.ofType("lost").isEmpty, "\(objects.ofType("lost"))")

        // (The shell's cd stops where the absolute path would pass PATH_MAX: 16 levels down.)
        let created = objects.events("create").compactMap { $0.string("path") }
        let deep = created.first { path in
            guard path.hasPrefix(directory + "/"), path.hasSuffix("/" + file) else { return false }
            let middle = path.dropFirst(directory.count + 1).dropLast(file.count + 1).split(separator: "/")
            return middle.count >= 16 && middle.allSatisfy { $0 == component }
        }
        #expect((deep?.utf8.count ?? 0) > 4096, "the file, past PATH_MAX: \(created.map { $0.utf8.count })")

        let long = objects.events("exec").first {
            $0.string("path") == "/usr/bin/true" || $0.string("path") == "/bin/true"
        }
        let argument = long?.strings("argv")?.last ?? ""
        #expect(long?["truncated"] as? Bool == true, "\(long ?? [:])")
        #expect(
            argument.count > 1000 && argument.allSatisfy { $0 == "a" }, "the argument, cut: \(argument.count) bytes")

        let connects = objects.events("connect").compactMap { $0.string("remote") }
        #expect(connects.contains(socketPath), "the 107-byte address: \(connects)")
    }
}
