import Foundation
import Glibc
import Testing

/// Debian's Chromium, headless, for the tests that open the `--report` page
/// as a user would: the DOM after the page's script ran, and a screenshot.
/// `scripts/setup.sh --tests` installs it (make test runs that). The tests
/// fail, never skip, when it is missing.
enum Chromium {
    static let binary = "/usr/bin/chromium"

    /// Where the screenshots and pages are kept after the run, for a person to look at.
    static let outputDirectory = Harness.packageRoot.appendingPathComponent(".build/test-output/report").path

    static func require() throws {
        guard access(binary, X_OK) == 0 else {
            throw HarnessError("no \(binary): run `sh scripts/setup.sh --tests` (make test does)")
        }
    }

    /// "Chromium 156.0.8078.114 built on Debian GNU/Linux 12 (bookworm)".
    static func version() throws -> String {
        try run(["--version"], headless: false).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The page's DOM once its script has run, serialized.
    static func dumpDOM(_ page: String) throws -> String {
        let finished = try run(["--dump-dom", "file://" + page])
        guard finished.status == 0, !finished.timedOut else { throw HarnessError("chromium --dump-dom: \(finished)") }
        return finished.stdoutText
    }

    /// A 1400x1000 screenshot of the page's top, as PNG.
    static func screenshot(_ page: String, to png: String) throws {
        let finished = try run(["--screenshot=" + png, "--window-size=1400,1000", "file://" + page])
        guard finished.status == 0, !finished.timedOut else { throw HarnessError("chromium --screenshot: \(finished)") }
    }

    /// A fresh profile each run (no state shared with other runs or users),
    /// removed afterwards; no sandbox, as root; no GPU in this VM. Chromium
    /// runs in its own process group: whatever it leaves running is killed when it exits.
    private static func run(_ arguments: [String], headless: Bool = true) throws -> Finished {
        guard headless else { return try Harness.runTool([binary] + arguments, timeout: 120) }
        let profile = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let options = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile,
        ]
        return try Harness.runTool([binary] + options + arguments, timeout: 120)
    }
}

/// Reading the dumped DOM of a report.
struct ReportDOM {
    let html: String

    /// The file table's rows: bucket -> the paths shown in it, as the page shows them.
    var buckets: [String: [String]] {
        var found: [String: [String]] = [:]
        let row = /<tr class="file" data-bucket="([^"]+)"[^>]*><td>[^<]*<\/td><td class="path">([^<]*)/
        for match in html.matches(of: row) {
            found[Self.unescape(String(match.1)), default: []].append(Self.unescape(String(match.2)))
        }
        return found
    }

    /// The process graph's nodes: (kind classes, comm, pid).
    var nodes: [(classes: String, comm: String, pid: Int)] {
        let node = /<g class="node ([^"]+)" data-pid="(\d+)" data-comm="([^"]*)"/
        return html.matches(of: node).map { (String($0.1), Self.unescape(String($0.3)), Int($0.2) ?? 0) }
    }

    /// The "daemon chains" list: each path from the command into daemon work.
    var chains: [String] {
        html.matches(of: /<li class="chain mono">([^<]*)<\/li>/).map { Self.unescape(String($0.1)) }
    }

    /// How often `marker` occurs in the DOM: graph edges, timeline bars and marks.
    func count(_ marker: String) -> Int { html.components(separatedBy: marker).count - 1 }

    /// The lost-events banner is shown.
    var lostBannerShown: Bool { html.contains("<div id=\"lost\" class=\"lost\">") }

    /// The entities Chromium's serializer writes in text and attributes.
    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&nbsp;", with: "\u{a0}")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}
