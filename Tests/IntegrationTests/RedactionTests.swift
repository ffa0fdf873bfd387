import Foundation
import Glibc
import Testing

/// Secrets on real programs' command lines (a MariaDB client, curl and git,
/// each failing at once against a port where nothing listens): kept out of
/// the trace file and the report by default, kept in with `--no-redact`.
extension IntegrationTests {
    @Suite struct RedactionTests {
        static let secrets = ["Sq1-pass-8d2", "tok-77f3a", "gh-pw-51c"]
        static let script = """
            mariadb -h 127.0.0.1 -P 1 -uroot -pSq1-pass-8d2 -e 'select 1'
            curl -s -H 'Authorization: Bearer tok-77f3a' http://127.0.0.1:1/
            git ls-remote https://bob:gh-pw-51c@127.0.0.1:1/repo.git
            true
            """

        init() throws {
            try #require(geteuid() == 0, "the redaction tests load BPF programs and must run as root")
        }

        @Test func secretsStayOutOfFilesByDefault() throws {
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let trace = directory + "/trace.jsonl", page = directory + "/report.html"
            let run = try Harness.monitor(
                ["--format", "json", "--output", trace, "--report", page, "--", "/bin/sh", "-c", Self.script])
            #expect(run.status == 0, "\(run)")
            let written = String(decoding: Harness.read(trace), as: UTF8.self)
            let report = String(decoding: Harness.read(page), as: UTF8.self)
            for secret in Self.secrets {
                #expect(!written.contains(secret) && !report.contains(secret), "\(secret) was written out")
            }
            let execs = try JSONLines.parse(Harness.read(trace)).events("exec").compactMap { $0.strings("argv") }
            #expect(execs.contains { $0.contains("-p***") }, "the client's argv, masked: \(execs)")
            #expect(execs.contains { $0.contains("Authorization: ***") }, "\(execs)")
            #expect(execs.contains { $0.contains("https://bob:***@127.0.0.1:1/repo.git") }, "\(execs)")
        }

        @Test func noRedactKeepsThem() throws {
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let trace = directory + "/trace.jsonl"
            let run = try Harness.monitor(
                ["--no-redact", "--format", "json", "--output", trace, "--", "/bin/sh", "-c", Self.script])
            #expect(run.status == 0, "\(run)")
            let written = String(decoding: Harness.read(trace), as: UTF8.self)
            for secret in Self.secrets { #expect(written.contains(secret), "\(secret) kept with --no-redact") }
        }
    }
}
