import Foundation
import Glibc
import Testing

extension IntegrationTests {
    /// The bomb's cgroup limit, and how long it bombs.
    static let bombLimit = 200
    static let bombMilliseconds = 3000

    /// A true fork bomb inside the watched command (every process forks
    /// again and again, each child too; `tree bomb`), held by a pids cgroup
    /// of 200 tasks and a 3 s deadline, with the default watch map and with
    /// `--max-tasks 32`. The monitor reports while the bomb runs, flags every
    /// child it cannot follow and counts it as lost at `watch_map_full`, sees
    /// nothing of the children it does not follow, ends within 2 s of the
    /// command with its summary and `end` line, and the lost counts add up.
    /// Afterwards no process is left in the cgroup and the cgroup is gone.
    @Test(arguments: [nil, "32"] as [String?])
    func stressForkBomb(maxTasks: String?) throws {
        let directory = try Harness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixture = try Fixture.compile(into: directory)
        let cgroup = try PidsCgroup(limit: Self.bombLimit)
        defer { cgroup.destroy() }
        let report = directory + "/report"
        // The command joins the cgroup, then becomes the bomb: its pid is the bomb's first process.
        let script = "echo $$ > \(cgroup.procsPath) && exec \(fixture) \(report) bomb \(Self.bombMilliseconds)"
        let options = maxTasks.map { ["--max-tasks", $0] } ?? []
        let monitor = try Harness.startMonitor(
            options + ["--format", "json", "--", "/bin/sh", "-c", script], directory: directory)
        defer { monitor.kill() }

        // While the bomb runs, its forks (and with a small map, the loss) are printed already.
        let shownLive = Harness.waitUntil(timeout: Harness.readyTimeout + Double(Self.bombMilliseconds) / 1000) {
            let objects = monitor.jsonSoFar()
            let forks = objects.events("fork").count
            let lossShown = maxTasks == nil || objects.lost(at: "watch_map_full") > 0
            return (forks >= 32 && lossShown) || kill(monitor.pid, 0) != 0
        }
        let bombRunning = !cgroup.pids.isEmpty && Fixture.report(report).isEmpty
        #expect(shownLive && bombRunning, "forks and losses must show while the bomb runs")

        let run = monitor.wait(timeout: 60)
        #expect(!run.timedOut, "\(run)")
        #expect(!run.leftovers, "bomb processes outlived the monitor")
        #expect(run.status == 0, "\(run)")
        let objects = try run.json()
        let bomb = try #require(Fixture.report(report).first { $0.role == "bomb" }, "the bomb did not report: \(run)")
        let (made, refused) = (bomb.id, bomb.parent)
        #expect(
            // At least the cgroup's room: a fork can still succeed after others past their deadline were reaped.
            refused > 0 && made >= Self.bombLimit - 1,
            "the cgroup must have held the bomb: \(made) forks made, \(refused) refused")

        let root = try #require(objects.events("exec").first?.int("pid"))
        let forks = objects.events("fork")
        let unfollowed = forks.filter { $0["followed"] as? Bool == false }
        let followed = Set([root] + forks.filter { $0["followed"] as? Bool != false }.compactMap { $0.int("child") })
        let (lostFork, lostUnfollowed) = (objects.lost(at: "fork"), objects.lost(at: "watch_map_full"))
        #expect(
            unfollowed.count <= lostUnfollowed && lostUnfollowed <= unfollowed.count + lostFork,
            "\(unfollowed.count) fork events say not followed, \(lostUnfollowed) counted as watch_map_full")
        #expect(forks.count + lostFork <= made, "\(forks.count) fork events, \(lostFork) lost, \(made) made")
        let recursive = forks.filter { $0.int("pid") != root }
        #expect(!recursive.isEmpty, "no child forked again: a flat burst, not a bomb")
        let strangers = objects.filter { $0.isEvent && !followed.contains($0.int("pid") ?? -1) }
        #expect(strangers.isEmpty, "events of processes not followed: \(strangers.prefix(5))")

        if let maxTasks, let slots = Int(maxTasks) {
            #expect(followed.count <= slots, "\(followed.count) processes followed with \(slots) slots")
            #expect(!unfollowed.isEmpty && lostUnfollowed > 0, "a \(slots)-task watch map never filled up")
        } else {
            // Every fork the bomb made is reported: it is held by the cgroup, not the map.
            #expect(unfollowed.isEmpty && lostUnfollowed == 0)
            #expect(forks.count + lostFork == made, "\(forks.count) fork events, \(lostFork) lost, \(made) made")
        }

        // Every followed process ends, with status 0 unless its exit was lost.
        let exits = objects.events("exit").filter { followed.contains($0.int("pid") ?? -1) }
        #expect(Set(exits.compactMap { $0.int("pid") }) == followed, "followed processes never reported as ended")
        let unknown = exits.filter { $0["status_unknown"] as? Bool == true }
        #expect(unknown.count <= objects.lost(at: "exit") + objects.lost(at: "decode"))
        for exit in exits where exit["status_unknown"] as? Bool != true {
            #expect(exit.int("exit_code") == 0, "\(exit)")
        }

        let summaries = objects.ofType("summary")
        #expect(summaries.count == 1)
        let summary = try #require(summaries.first)
        #expect(summary.int("command") == 1 && summary.int("pid") == root && summary.int("exit_code") == 0)
        #expect(summary.int("lost_events") == objects.lostTotal)
        #expect(((summary["processes"] as? [[String: Any]]) ?? []).count == followed.count)
        let end = try #require(objects.last)
        #expect(end.type == "status" && end.string("message") == "end" && end.int("lost") == objects.lostTotal)
        #expect(run.stderrLines.last?.contains("lost=\(objects.lostTotal)") == true, "\(run.stderr)")
        for lost in objects.ofType("lost") {
            let places = (lost["where"] as? [String: Any]) ?? [:]
            #expect(places.values.compactMap { ($0 as? NSNumber)?.intValue }.reduce(0, +) == lost.int("count"))
        }

        // The monitor ends soon after its command: it kept up with the bomb.
        let rootExit = try #require(objects.events("exit").first { $0.int("pid") == root }, "the root's exit")
        let tail = try #require(Timestamp.seconds(end, since: rootExit))
        #expect(tail < 2, "the end line came \(tail) s after the command's exit")

        // The machine is as it was: nothing left in the cgroup, and the cgroup removed.
        #expect(Harness.waitUntil(timeout: 5) { cgroup.pids.isEmpty }, "left in the cgroup: \(cgroup.pids)")
        cgroup.destroy()
        #expect(cgroup.isRemoved, "\(cgroup.path) could not be removed")
    }
}

/// The `time` field of the JSON objects (RFC 3339, UTC, microseconds).
enum Timestamp {
    /// Seconds since the Unix epoch, to the microsecond.
    static func seconds(_ object: [String: Any]) -> Double? {
        // "2026-12-04T17:51:25.278150Z": the date and time fields, then the fraction.
        guard let text = object.string("time"), text.hasSuffix("Z"), let dot = text.lastIndex(of: ".") else {
            return nil
        }
        let fields = text[..<dot].split(whereSeparator: { "-T:".contains($0) }).compactMap { Int32($0) }
        guard fields.count == 6, let fraction = Double("0" + text[dot..<text.index(before: text.endIndex)]) else {
            return nil
        }
        var parts = tm()
        (parts.tm_year, parts.tm_mon, parts.tm_mday) = (fields[0] - 1900, fields[1] - 1, fields[2])
        (parts.tm_hour, parts.tm_min, parts.tm_sec) = (fields[3], fields[4], fields[5])
        return Double(timegm(&parts)) + fraction
    }

    /// Seconds from `earlier`'s time to `later`'s.
    static func seconds(_ later: [String: Any], since earlier: [String: Any]) -> Double? {
        guard let end = seconds(later), let start = seconds(earlier) else { return nil }
        return end - start
    }
}
