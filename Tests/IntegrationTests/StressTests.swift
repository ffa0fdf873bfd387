import Foundation
import Glibc
import Testing

extension IntegrationTests {
    static let burst = 2000

    /// 2,000 short-lived `/bin/true` in a burst, with the default buffer and
    /// with a one-page one that cannot keep up, both for the ring buffer and
    /// for per-CPU perf buffers: every one is reported, or the shortfall is
    /// reported as lost. Nothing is silently lost.
    ///
    /// A suite of its own (for `--filter ExecBurstTests`) nested in the
    /// serialized `IntegrationTests`, so it never runs alongside the other probe tests.
    @Suite struct ExecBurstTests {
        /// One burst under `--format json`, with `--buffer` and, when given,
        /// `--buffer-pages`; the tests below each check one part of it.
        struct ExecBurst: @unchecked Sendable {  // immutable once made
            let script = "for i in $(seq \(IntegrationTests.burst)); do /bin/true & done; wait"
            let run: Finished
            let objects: [[String: Any]]

            init(buffer: String, bufferPages: String?) throws {
                let options = ["--buffer", buffer] + (bufferPages.map { ["--buffer-pages", $0] } ?? [])
                run = try Harness.monitor(options + ["--format", "json", "--", "/bin/sh", "-c", script], timeout: 90)
                do { objects = try run.json() } catch { throw HarnessError("\(error); \(run)") }
            }

            /// The shell's pid, from its exec.
            func shellPid() throws -> Int {
                let shell = try #require(
                    objects.events("exec").first { $0.strings("argv") == ["/bin/sh", "-c", script] },
                    "the shell's exec is missing: \(run)")
                return try #require(shell.int("pid"))
            }

            var trueExecs: [[String: Any]] { objects.events("exec").filter { $0.strings("argv") == ["/bin/true"] } }

            func forks(of shellPid: Int) -> [[String: Any]] {
                objects.events("fork").filter { $0.int("pid") == shellPid }
            }
        }

        /// Made by the first test that needs them; a failed run fails each test that reads it.
        static let runs = [
            "ring": Result { try ExecBurst(buffer: "ring", bufferPages: nil) },
            "ring 1": Result { try ExecBurst(buffer: "ring", bufferPages: "1") },
            "perf": Result { try ExecBurst(buffer: "perf", bufferPages: nil) },
            "perf 1": Result { try ExecBurst(buffer: "perf", bufferPages: "1") },
        ]
        /// `buffer`: "ring" or "perf", then the page count when not the default.
        static func burst(_ buffer: String) throws -> ExecBurst { try runs[buffer]!.get() }
        static let buffers = ["ring", "ring 1", "perf", "perf 1"]

        @Test(arguments: buffers)
        func monitorEndsWithTheShellsStatus(buffer: String) throws {
            let run = try Self.burst(buffer).run
            #expect(!run.timedOut, "\(run)")
            #expect(!run.leftovers)
            #expect(run.status == 0, "\(run)")
        }

        /// exec: each /bin/true exec'd once, or its record is counted as lost.
        @Test(arguments: buffers)
        func everyExecReportedOrLost(buffer: String) throws {
            let burst = try Self.burst(buffer)
            let objects = burst.objects
            let (lostExec, lostUnfollowed, lostDecode) = (
                objects.lost(at: "exec"), objects.lost(at: "watch_map_full"), objects.lost(at: "decode")
            )
            _ = try burst.shellPid()
            let trueExecs = burst.trueExecs
            #expect(Set(trueExecs.compactMap { $0.int("pid") }).count == trueExecs.count, "an exec reported twice")
            #expect(trueExecs.count <= IntegrationTests.burst)
            #expect(
                trueExecs.count + lostExec + lostUnfollowed + lostDecode >= IntegrationTests.burst,
                "\(IntegrationTests.burst - trueExecs.count) /bin/true execs missing, but only \(lostExec) exec, \(lostUnfollowed) unfollowed, \(lostDecode) undecodable reported lost"
            )
        }

        /// fork: the shell forks the 2,000 children and one for $(seq ...).
        @Test(arguments: buffers)
        func everyForkReportedOrLost(buffer: String) throws {
            let burst = try Self.burst(buffer)
            let lostFork = burst.objects.lost(at: "fork")
            let forks = burst.forks(of: try burst.shellPid())
            #expect(
                forks.count + lostFork >= IntegrationTests.burst + 1,
                "\(IntegrationTests.burst + 1 - forks.count) forks of the shell missing, \(lostFork) reported lost")
            #expect(forks.count <= IntegrationTests.burst + 1)
        }

        /// exit: every child of the shell ends, with a status or as vanished after a loss.
        @Test(arguments: buffers)
        func everyChildEnds(buffer: String) throws {
            let burst = try Self.burst(buffer)
            let objects = burst.objects
            let (lostExit, lostDecode) = (objects.lost(at: "exit"), objects.lost(at: "decode"))
            let children = Set(burst.forks(of: try burst.shellPid()).compactMap { $0.int("child") })
            let exits = objects.events("exit").filter { children.contains($0.int("pid") ?? -1) }
            let unknown = exits.filter { $0["status_unknown"] as? Bool == true }
            #expect(
                exits.count == children.count, "\(children.count - exits.count) forked children never reported as ended"
            )
            #expect(
                unknown.count <= lostExit + lostDecode,
                "\(unknown.count) exits without status but \(lostExit) exits reported lost")
            for exit in exits where exit["status_unknown"] as? Bool != true {
                #expect(exit.int("exit_code") == 0, "\(exit)")
            }
        }

        /// One summary, for command 1, that says how much was lost.
        @Test(arguments: buffers)
        func summarySaysWhatWasLost(buffer: String) throws {
            let burst = try Self.burst(buffer)
            let objects = burst.objects
            let shellPid = try burst.shellPid()
            let children = Set(burst.forks(of: shellPid).compactMap { $0.int("child") })
            let summaries = objects.ofType("summary")
            #expect(summaries.count == 1, "summaries: \(summaries.count)")
            let summary = try #require(summaries.first)
            #expect(summary.int("command") == 1 && summary.int("pid") == shellPid)
            if summary["exit_code"] == nil {
                // Only when the shell's own exit record was lost: then its exit is
                // reported with status_unknown and the summary admits the loss.
                let shellExit = objects.events("exit").first { $0.int("pid") == shellPid }
                #expect(
                    shellExit?["status_unknown"] as? Bool == true && objects.lost(at: "exit") > 0,
                    "summary without exit_code, but the shell's exit was not lost: \(shellExit ?? [:])")
                #expect(summary.int("lost_events") ?? 0 > 0)
            } else {
                #expect(summary.int("exit_code") == 0, "\(summary)")
            }
            #expect(summary.int("lost_events") == objects.lostTotal, "summary lost_events vs lost objects")
            let processes = (summary["processes"] as? [[String: Any]]) ?? []
            #expect(
                processes.count >= 1 + children.count,
                "summary lists \(processes.count) processes for \(children.count) children")
        }

        /// The end status and the end line on stderr agree with the lost objects,
        /// and each lost object's places add up to its count.
        @Test(arguments: buffers)
        func lostCountsAgree(buffer: String) throws {
            let burst = try Self.burst(buffer)
            let (objects, run) = (burst.objects, burst.run)
            let end = try #require(objects.last)
            #expect(end.type == "status" && end.string("message") == "end")
            #expect(
                end.int("lost") == objects.lostTotal,
                "end status lost=\(end.int("lost") ?? -1), lost objects sum \(objects.lostTotal)")
            #expect(run.stderrLines.last?.contains("lost=\(objects.lostTotal)") == true, "\(run.stderr)")
            for lost in objects.ofType("lost") {
                #expect(lost.int("count") ?? 0 > 0, "\(lost)")
                let places = (lost["where"] as? [String: Any]) ?? [:]
                #expect(
                    places.values.compactMap { ($0 as? NSNumber)?.intValue }.reduce(0, +) == lost.int("count"),
                    "\(lost)")
            }
        }

        /// A one-page (4 KiB) buffer cannot keep up with the burst: the loss is reported.
        @Test(arguments: ["ring 1", "perf 1"])
        func onePageBufferReportsLoss(buffer: String) throws {
            let objects = try Self.burst(buffer).objects
            #expect(
                objects.lostTotal > 0 && !objects.ofType("lost").isEmpty,
                "a 4 KiB buffer kept up with the burst, so this case does not exercise loss reporting")
        }

        /// 2,000 execs of ~1 KiB fit the default 32 MiB many times over: nothing is lost.
        @Test(arguments: ["ring", "perf"])
        func defaultBufferLosesNothing(buffer: String) throws {
            let burst = try Self.burst(buffer)
            #expect(burst.objects.lostTotal == 0, "losses with the default buffer: \(burst.objects.ofType("lost"))")
            #expect(burst.trueExecs.count == IntegrationTests.burst)
        }
    }

    /// 2,000 children forked as fast as C can, all alive at once, with and
    /// without a watch map too small to hold them: the children that cannot be followed are flagged and counted.
    @Test(arguments: [nil, "64"] as [String?])
    func stressForkBurst(maxTasks: String?) throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixture = try Fixture.compile(into: directory)
        let options = maxTasks.map { ["--max-tasks", $0] } ?? []
        let run = try Harness.monitor(
            options + ["--format", "json", "--", fixture, directory + "/report", "burst", "\(Self.burst)"],
            timeout: 90)
        #expect(!run.timedOut, "\(run)")
        #expect(!run.leftovers)
        #expect(run.status == 0, "\(run)")
        let objects = try run.json()
        let root = try #require(objects.events("exec").first?.int("pid"))

        let forks = objects.events("fork").filter { $0.int("pid") == root }
        let lostFork = objects.lost(at: "fork")
        #expect(forks.count + lostFork == Self.burst, "\(forks.count) fork events, \(lostFork) reported lost")
        let unfollowed = forks.filter { $0["followed"] as? Bool == false }
        let lostUnfollowed = objects.lost(at: "watch_map_full")
        #expect(
            unfollowed.count <= lostUnfollowed && lostUnfollowed <= unfollowed.count + lostFork,
            "\(unfollowed.count) fork events say not followed, \(lostUnfollowed) counted as watch_map_full")

        let followed = Set(forks.filter { $0["followed"] as? Bool != false }.compactMap { $0.int("child") })
        let exits = objects.events("exit").filter { followed.contains($0.int("pid") ?? -1) }
        #expect(
            exits.count == followed.count, "\(followed.count - exits.count) followed children never reported as ended")
        let unknown = exits.filter { $0["status_unknown"] as? Bool == true }
        #expect(unknown.count <= objects.lost(at: "exit") + objects.lost(at: "decode"))
        if maxTasks == nil {
            #expect(unfollowed.isEmpty && lostUnfollowed == 0)
            #expect(objects.lostTotal == 0, "\(objects.ofType("lost"))")
        } else {
            // 64 slots cannot hold 2,000 children that live side by side until reaped.
            #expect(lostUnfollowed > 0 && !unfollowed.isEmpty, "a 64-task watch map never filled up")
        }
        let summaries = objects.ofType("summary")
        #expect(summaries.count == 1)
        #expect(summaries.first?.int("lost_events") == objects.lostTotal)
        #expect(objects.last?.string("message") == "end" && objects.last?.int("lost") == objects.lostTotal)
    }
}
