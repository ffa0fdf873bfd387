import Foundation
import Glibc
import Testing

/// `--report FILE.html` opened in a real browser: the real monitor traces a
/// command with `--report`, headless Chromium runs the page's script, and the
/// DOM it leaves must show the command's objects where they belong. Each test
/// keeps the page and a screenshot in `.build/test-output/report/`.
///
/// A suite of its own (for `--filter ReportBrowserTests`) nested in the
/// serialized `IntegrationTests`, so it never runs alongside the other probe tests.
extension IntegrationTests {
    @Suite struct ReportBrowserTests {
        init() throws {
            try #require(geteuid() == 0, "the report tests load BPF programs and must run as root")
            try Chromium.require()
        }

        /// Files created, modified, renamed, deleted and made and removed on
        /// /dev/shm, one of them named like markup: each in its bucket, the
        /// markup shown as text.
        @Test func fileScenarioInTheBrowser() throws {
            let scenario = FileScenario(
                name: "report",
                setup: """
                    printf 'old\\n' > pre.txt
                    printf 'move me\\n' > ren.txt
                    printf 'bye\\n' > del.txt
                    """,
                script: """
                    printf 'new\\n' > created.txt
                    printf 'more\\n' >> pre.txt
                    mv ren.txt moved.txt
                    rm del.txt
                    printf 'tmp' > tmp.txt; rm tmp.txt
                    mkdir newdir
                    printf 'x' > "$(printf '<img src=x onerror=alert(1)>\\n&"q"')"
                    """)
            let space = try FileWorkspace(scenario: scenario)
            defer { space.remove() }
            let (run, objects, dom) = try traceAndOpen(
                ["--format", "json", "--"] + space.command(scenario), name: "files")
            #expect(run.status == 0 && !run.timedOut, "\(run)")

            let path = { (name: String) in space.root + "/" + name }
            let buckets = dom.buckets
            #expect(buckets["created"]?.contains(path("created.txt")) == true, "created: \(buckets)")
            #expect(
                buckets["created"]?.contains(path("<img src=x onerror=alert(1)>\\n&\"q\"")) == true,
                "the markup name as text: \(buckets)")
            #expect(buckets["modified"] == [path("pre.txt")], "modified: \(buckets)")
            #expect(buckets["deleted"] == [path("del.txt")], "deleted: \(buckets)")
            #expect(buckets["renamed"] == [path("ren.txt") + " -> " + path("moved.txt")], "renamed: \(buckets)")
            #expect(buckets["temporary"] == [path("tmp.txt")], "temporary: \(buckets)")
            #expect(buckets["dir created"] == [path("newdir")], "dir created: \(buckets)")
            #expect(!dom.html.contains("<img"), "no element made from a file name")

            // The trace and the page tell the same story.
            let summary = try #require(objects.ofType("summary").first, "\(run)")
            #expect(summary.summaryFiles("created").count == buckets["created"]?.count, "\(summary)")
            let processes = summary.summaryProcesses.count
            #expect(dom.nodes.count == processes, "a graph node per process: \(dom.nodes)")
            #expect(dom.nodes.allSatisfy { $0.classes.hasPrefix("command") }, "\(dom.nodes)")
            #expect(dom.count("class=\"bar command\"") == processes, "a timeline bar per process")
            #expect(dom.count("class=\"mark command\"") > 0, "events on the timeline")
            #expect(
                dom.lostBannerShown == (objects.lostTotal > 0), "the lost banner when, and only when, events were lost")
        }

        /// `docker run --rm IMAGE sh -c 'echo hi > /tmp/x'`: the graph shows
        /// dockerd and containerd as daemons and the shim, runc and the
        /// container's sh as work done for the command, chained from the client.
        @Test func dockerRunInTheBrowser() throws {
            let docker = try DockerFixture.require()
            let (run, objects, dom) = try traceAndOpen(
                [
                    "--format", "json", "--", DockerFixture.client, "run", "--rm", DockerFixture.image, "sh", "-c",
                    "echo hi > /tmp/x",
                ], name: "docker", timeout: 180)
            #expect(run.status == 0 && !run.timedOut, "\(run)")
            let summary = try #require(objects.ofType("summary").first { $0.int("command") == 1 }, "\(run)")

            let nodes = dom.nodes
            func node(_ comm: String) -> (classes: String, comm: String, pid: Int)? {
                nodes.first { $0.comm == comm || (comm.hasSuffix("*") && $0.comm.hasPrefix(comm.dropLast())) }
            }
            let dockerd = try #require(node("dockerd"), "dockerd in the graph: \(nodes)")
            #expect(dockerd.classes.hasPrefix("daemon") && docker.dockerd.contains(dockerd.pid), "\(dockerd)")
            let containerd = try #require(node("containerd"), "containerd in the graph: \(nodes)")
            #expect(containerd.classes.hasPrefix("daemon") && docker.containerd.contains(containerd.pid), "\(nodes)")
            for comm in ["containerd-shim*", "runc"] {
                let work = try #require(node(comm), "\(comm) in the graph: \(nodes)")
                #expect(work.classes.hasPrefix("work") || work.classes.hasPrefix("daemon"), "\(work)")
            }
            let client = try #require(node("docker"), "\(nodes)")
            #expect(client.classes.hasPrefix("command leader"), "\(client)")
            #expect(dom.count("class=\"edge request") >= 1, "a request edge into dockerd")

            // The chain from the client down to the container's sh, as text.
            let shell = summary.summaryProcesses.first { $0.strings("argv") == ["sh", "-c", "echo hi > /tmp/x"] }
            let shellPid = try #require(shell?.int("pid"), "the container's sh in the summary: \(summary)")
            let chain = try #require(dom.chains.first { $0.hasSuffix("sh (\(shellPid))") }, "\(dom.chains)")
            for hop in ["docker (", "dockerd (", "containerd (", "containerd-shim"] {
                #expect(chain.contains(hop), "\(hop) in \(chain)")
            }
            #expect(dom.count("class=\"mark daemon") > 0, "daemon work on the timeline")
            #expect(dom.count("class=\"lane\"") >= 1, "a lane for a daemon's own work")
        }

        // MARK: - Helpers

        /// Runs the monitor with `--report` added, then opens the page in
        /// Chromium: the run, the trace's objects (stdout) and the DOM. Keeps
        /// the page and a screenshot as `<name>.html` and `<name>.png`.
        private func traceAndOpen(
            _ arguments: [String], name: String, timeout: Double = 60
        ) throws -> (Finished, [[String: Any]], ReportDOM) {
            try FileManager.default.createDirectory(atPath: Chromium.outputDirectory, withIntermediateDirectories: true)
            let page = Chromium.outputDirectory + "/\(name).html"
            let png = Chromium.outputDirectory + "/\(name).png"
            try? FileManager.default.removeItem(atPath: png)
            let directory = try Harness.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let trace = directory + "/trace.json"
            let run = try Harness.monitor(["--report", page, "--output", trace] + arguments, timeout: timeout)
            let objects = try JSONLines.parse(Harness.read(trace))
            let started = Harness.monotonic()
            let dom = ReportDOM(html: try Chromium.dumpDOM(page))
            try Chromium.screenshot(page, to: png)
            print(
                "report test \(name): \(try Chromium.version()); page \(page), screenshot \(png), browser "
                    + String(format: "%.1f s", Harness.monotonic() - started))
            let image = Harness.read(png)
            #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG at \(png)")
            #expect(image.count > 20_000, "a screenshot with content: \(image.count) bytes at \(png)")
            #expect(dom.html.contains("<section class=\"command\""), "the script drew the commands")
            return (run, objects, dom)
        }
    }
}
