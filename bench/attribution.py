#!/usr/bin/env python3
"""make attribution-bench: how well ebpf-monitor credits daemon work to the
command that asked for it, and what watching a daemon costs it.

The fixture daemons are started and driven by the driver of
Tests/IntegrationTests/Fixtures/daemons/ (driver.py), which the integration
tests use too; this file measures and reports.

Accuracy. For each fixture daemon design (Tests/IntegrationTests/Fixtures/
daemons/: the five server designs, and the runtime designs: datagram,
selfwake, pooleventfd, poolpipe, broker, batching, threadcache) and each
number of concurrent clients: a fresh daemon, clients-1 unwatched noise
clients looping requests, and exactly one watched client
under `$MONITOR --format json --output FILE -- client ... --prefix watched`.
Ground truth: the files <dir>/watched-<i> the daemon created. Attributed:
the paths under <dir> in the summary of command 1, buckets files.created,
files.modified and files.temporary. Precision = |attributed & truth| /
|attributed| (1.0 when nothing is attributed: no wrong credit), recall =
|attributed & truth| / |truth|. Also shown: the JSON events with
"scope":"daemon", and the summary's `unattributed` count when it has one
(daemon work seen but credited to no command; a recall below 1 with no
such count is a silent miss).

Throughput against no monitor. For each design, one daemon: NOISE
clients send requests for SECONDS, and their replies per second are the
daemon's throughput. A slow background client (100 requests/s at most) runs
alongside in both variants: plain, or under the monitor (so the daemon is
watched as that command's daemon). ROUNDS watched rounds alternate with
ROUNDS+1 unwatched ones (U W U ... W U). The ratio is the median, over the
watched rounds, of each one's rate over the mean of the unwatched rounds on
either side: this VM's speed drifts over seconds, and neighbours share it.
The null ratio does the same for each inner unwatched round against its
unwatched neighbours: what the measure reads where there is no difference.
The watched ratio holds two costs: the syscall hooks', which every process on the
machine pays whether or not anything it does is watched, and the cost of
being followed.

Cost of being followed (watching a daemon must not slow it down; target
0.95). The rounds above start a monitor for each watched
round, so they cannot alternate faster than every few seconds, and this VM's
speed moves more than the cost between rounds. So, per design, two copies of
the daemon run under one monitor: the background client keeps one followed,
the other is its twin, never followed. Noise load goes to each in turn, for
TURNS turns of TURN_MS each, after a pair of turns not counted that warms
both up; the ratio is the median of the turns' followed/twin ratios. One
turn's ratio moves by up to 30%, so the median of 10 moves by about 5
points, as much as the cost measured; of 30, by about 3. The cost every
process pays for the syscall hooks is the same for both, so it is not in
this figure. With TWIN_BPF=1, kernel.bpf_stats_enabled is on for these
turns, and each design also shows the run time of all the monitor's BPF
programs per reply, median of the followed turns and of the twin turns: the
BPF part of the cost, far steadier than throughput (the stats add two clock
reads to each program run, in both).

Real servers. Each of Debian's servers that the integration tests start
(Tests/IntegrationTests/Fixtures/servers/servers.py: Apache with mod_cgid,
nginx with php-fpm, a JDK HTTP server, the same on an IPv4 socket, MariaDB,
memcached), with each number of clients: clients-1 unwatched clients making
requests all the while, and one watched client making SERVER_REQUESTS
requests under the monitor. Scored as the fixtures are, on the files the
requests made (memcached makes none: its row shows the daemons only);
targets precision 0.99 and recall 0.95. Also shown: the files credited as
ambiguous, and whether the daemons listed are all the server's processes.

Cost of the syscall hooks to untraced processes (it must not grow). With
kernel.bpf_stats_enabled=1 (restored at the end), a monitor watches only a
`sleep`, and an untraced workload runs beside it: HOOK_CALLS one-byte reads
and writes (dd), then 100 runs of /bin/true. The kernel's run_time_ns and
run_cnt of the monitor's sys_enter and sys_exit programs (`bpftool prog
show`, found by the monitor's pid in `bpftool perf show`) over that
window give the nanoseconds each program spends per call, and both together
per syscall. Each call on the machine is counted, the workload's and
others'; the watched `sleep` makes none. With BASELINE=path (another
ebpf-monitor binary, e.g. a build of the previous commit) the baseline is
measured in the same run, alternating with the monitor for HOOK_ROUNDS
rounds; the medians are shown side by side.

Environment: MONITOR (the ebpf-monitor binary; default
.build/release/ebpf-monitor), DESIGNS (space-separated subset of
threadpool forking prefork eventloop chain datagram selfwake pooleventfd
poolpipe broker batching threadcache; default all), CLIENTS (default "1 2 8"),
REQUESTS (per watched client, default 50), CONNECTIONS (the watched client's
sequential connections, default 2), SECONDS (throughput window, default 3),
ROUNDS (watched throughput rounds, default 9; 0 skips throughput), TURNS (turns of
the followed/twin measure, default 30; 0 skips it), TURN_MS (default 1000),
TWIN_BPF (1: the BPF time per reply, above), NOISE (throughput noise clients,
default 4), TRANSPORT (unix | tcp, default unix; with tcp the datagram design
runs over UDP), MONITOR_ARGS (extra monitor flags),
SERVERS (space-separated subset of apache nginx-php java java-ipv4 mariadb
memcached; default all; "none" skips them), SERVER_REQUESTS (default 10),
HOOK_ROUNDS (rounds of the hook cost, default 3; 0 skips it), HOOK_CALLS
(one-byte reads and writes of its workload, default 400000), BASELINE (a
second ebpf-monitor binary for the hook cost), OUT_DIR (default bench-results).

Needs root. Exits non-zero only when the harness could not measure (a
fixture or an unwatched client failed), never for a missed target; a
monitor that fails, hangs or prints no summary is reported as a miss. Raw results go to
OUT_DIR/attribution-<date>.json. Everything temporary lives on /dev/shm.
"""

import contextlib
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Tests", "IntegrationTests", "Fixtures", "daemons"))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(ROOT, "Tests", "IntegrationTests", "Fixtures", "servers"))
import driver  # noqa: E402  (the fixture daemons' driver, shared with the integration tests)
import servers  # noqa: E402  (the real servers' driver, shared with RealServerTests)
from driver import Clients, Daemon, HarnessError, Spawned, read_text, wait_for  # noqa: E402

ALL_DESIGNS = driver.DESIGNS + driver.RUNTIME_DESIGNS
PROGRAMS = [program for design in ALL_DESIGNS for program in driver.programs(design)] + ["client"]
BUCKETS = ("created", "modified", "temporary")

# Targets: precision everywhere; recall with up to FEW_CLIENTS clients, and
# with more; throughput ratio against no monitor; followed against its twin.
TARGET_PRECISION = 1.0
FEW_CLIENTS = 2
TARGET_ONE = 0.99
TARGET_MANY = 0.95
TARGET_THROUGHPUT = 0.90
TARGET_SERVER_PRECISION = 0.99
TARGET_SERVER_RECALL = 0.95
TARGET_FOLLOWED = 0.95

# Seconds a watched client's run may take before the monitor counts as hung,
# and seconds the monitor gets to end after SIGTERM in the throughput runs.
WATCHED_TIMEOUT = 120
STOP_TIMEOUT = 30


class MonitorFailure(Exception):
    """The monitor failed, hung or printed no summary: a result (a miss), not a harness error."""


def log(message):
    print("attribution-bench: " + message, file=sys.stderr, flush=True)


def env_int(name, default, minimum=0):
    text = os.environ.get(name, str(default))
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        sys.exit(f"attribution-bench: {name} must be an integer >= {minimum}, not {text!r}")
    return value


def failed(ended):
    return ended["status"] != 0 or ended["timed_out"]


def describe(ended):
    """An ended child of the driver, for a message."""
    return (f"{ended['name']}: status {ended['status']}{' (timed out)' if ended['timed_out'] else ''}, "
            f"stderr: {read_text(ended['stderr']).strip()!r}")


def stop_daemon(daemon):
    """SIGTERM in reverse order of start; each must exit 0."""
    check_daemon_stops(daemon.stop())


def check_daemon_stops(ends):
    bad = [describe(ended) for ended in ends if failed(ended)]
    if bad:
        raise HarnessError("daemon exited badly: " + "; ".join(bad))


def replies(ends):
    """The replies each client counted; each must have exited 0 and said how many."""
    for ended in ends:
        if failed(ended) or ended["requests"] is None:
            raise HarnessError(f"client failed: {describe(ended)}")
    return [ended["requests"] for ended in ends]


def read_trace(path):
    """The JSON objects of a trace file, and how many lines were not JSON objects."""
    objects, bad = [], 0
    for line in read_text(path).splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(item, dict):
            objects.append(item)
        else:
            bad += 1
    return objects, bad


def find_key(value, key):
    """Every value of `key` anywhere inside a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield v
            yield from find_key(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from find_key(v, key)


def ended_well(watched):
    """The watched client's end, when the monitor ended in time and with status 0."""
    if watched["timed_out"]:
        raise MonitorFailure(f"no end within {WATCHED_TIMEOUT} s (killed); {tail(read_text(watched['stderr']))}")
    if watched["status"] != 0:
        raise MonitorFailure(f"exit status {watched['status']}; {tail(read_text(watched['stderr']))}")
    return watched


def traced(trace):
    """The trace's objects, its lines that were not objects, and command 1's summary."""
    objects, bad_lines = read_trace(trace)
    summary = next((o for o in objects if o.get("type") == "summary" and o.get("command") == 1), None)
    if summary is None:
        raise MonitorFailure(f"no summary for command 1 in {trace}")
    return objects, bad_lines, summary


def lost_count(objects):
    return sum(o.get("count", 0) for o in objects if o.get("type") == "lost" and isinstance(o.get("count"), int))


def bucket_paths(summary, directory):
    paths = set()
    files = summary.get("files") or {}
    for bucket in BUCKETS:
        for entry in files.get(bucket) or []:
            path = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(path, str) and path.startswith(directory + "/"):
                paths.add(path)
    return paths


def scores(attributed, truth):
    hits = len(attributed & truth)
    # Nothing credited is no wrong credit: precision 1.0, and recall tells the miss.
    precision = hits / len(attributed) if attributed else 1.0
    recall = hits / len(truth) if truth else 1.0
    return precision, recall


def server_run(shm, monitor, monitor_args, server, clients, requests):
    """One real server with clients-1 unwatched clients and one watched client (servers.run)."""
    workdir = os.path.join(shm, f"server-{server}-{clients}")
    os.makedirs(workdir)
    os.chmod(workdir, 0o755)
    trace = os.path.join(workdir, "trace.json")
    report = servers.run({
        "workdir": workdir, "server": server, "requests": requests, "noise": clients - 1,
        "monitor": monitor, "monitor_args": monitor_args + ["--format", "json", "--output", trace],
        "watched_timeout": WATCHED_TIMEOUT,
    })
    watched = ended_well(report["watched"])
    truth = set(report["truth"])
    if set(report["truth_present"]) != truth:
        raise HarnessError(f"{server} did not make the watched client's files")
    objects, _, summary = traced(trace)
    files = report["files"]
    attributed = bucket_paths(summary, files)
    ambiguous = {p for p in (summary.get("files") or {}).get("ambiguous") or [] if p.startswith(files + "/")}
    precision, recall = scores(attributed, truth)
    server_pids = {int(pid) for pid in list(report["pids_before"]) + list(report["pids_after"])}
    daemons = summary.get("daemons") or []
    return {
        "server": server,
        "clients": clients,
        "requests": requests,
        "files": bool(truth),
        "precision": precision,
        "recall": recall,
        "ambiguous": len(ambiguous & truth),
        "other_clients_files": len((attributed | ambiguous) & set(report["noise_paths"])),
        "daemons": sorted({d.get("comm", "?") for d in daemons}),
        "daemons_are_the_servers": bool(daemons) and all(d.get("pid") in server_pids for d in daemons),
        "lost_events": lost_count(objects),
        "noise": report["noise"],
        "watched_seconds": round(watched["seconds"], 3),
    }


def design_transport(design, transport):
    """The transport a design runs over: the datagram server serves unix
    datagrams or UDP, so TRANSPORT=tcp means UDP for it."""
    return "udp" if design == "datagram" and transport == "tcp" else transport


def accuracy_run(bins, shm, monitor, monitor_args, design, clients, requests, connections, transport):
    """One cell of the table: a fresh daemon, clients-1 noise clients, one watched client."""
    workdir = os.path.join(shm, f"accuracy-{design}-{clients}")
    os.makedirs(workdir)
    trace = os.path.join(workdir, "trace.json")
    report = driver.run_scenario({
        "workdir": workdir, "bin": bins, "design": design, "transport": design_transport(design, transport),
        "noise": clients - 1,
        "monitor": monitor, "monitor_args": monitor_args + ["--format", "json", "--output", trace],
        "requests": requests, "connections": connections,
        "watched_timeout": WATCHED_TIMEOUT, "noise_stop_timeout": 30,
    })
    watched = ended_well(report["watched"])
    noise_requests = sum(replies(report["noise"]))
    check_daemon_stops(report["daemon_stops"])
    daemon_pids = [d["pid"] for d in report["daemons"]]
    seconds = watched["seconds"]
    files = report["files"]

    truth = {os.path.join(files, name) for name in report["writers"] if re.fullmatch(r"watched-\d+", name)}
    if len(truth) != requests:
        raise HarnessError(f"the watched client made {len(truth)} files, not {requests}")
    objects, bad_lines, summary = traced(trace)
    attributed = bucket_paths(summary, files)
    precision, recall = scores(attributed, truth)
    unattributed_values = list(find_key(summary, "unattributed"))
    unattributed = None
    if unattributed_values:
        unattributed = sum(v if isinstance(v, int) else len(v) if isinstance(v, (list, dict)) else 0
                           for v in unattributed_values)
    events = [o for o in objects if o.get("type") == "event"]
    return {
        "design": design,
        "clients": clients,
        "requests": requests,
        "precision": precision,
        "recall": recall,
        "truth": len(truth),
        "attributed": len(attributed),
        "false_positives": sorted(os.path.basename(p) for p in attributed - truth)[:20],
        "missed": sorted(os.path.basename(p) for p in truth - attributed)[:20],
        "daemon_events": sum(1 for o in events if o.get("scope") == "daemon"),
        "daemon_events_command_1": sum(1 for o in events if o.get("scope") == "daemon" and o.get("command") == 1),
        "ambiguous_events": sum(1 for o in events if o.get("confidence") == "ambiguous"),
        "unattributed": unattributed,
        "daemons": summary.get("daemons"),
        "daemon_pids": daemon_pids,
        "lost_events": lost_count(objects),
        "summary_lost_events": summary.get("lost_events"),
        "bad_lines": bad_lines,
        "noise_requests": noise_requests,
        "watched_seconds": round(seconds, 3),
    }


def throughput_runs(bins, shm, monitor, monitor_args, design, rounds, seconds, noise_count, transport):
    """Noise replies per second with the daemon unwatched and watched: unwatched rounds with a watched
    round between each two (U W U W ... U), so each watched round is compared with the rounds on both
    sides of it."""
    workdir = os.path.join(shm, f"throughput-{design}")
    os.makedirs(workdir)
    daemon = Daemon(design, bins, workdir, design_transport(design, transport))
    rates = {"unwatched": [], "watched": []}
    watched_seen, stop_seconds, hung = [], [], 0
    background = ["--prefix", "watched", "--count", "10", "--delay-us", "10000", "--forever"]
    noise_flags = ["--count", "10", "--connections", "2", "--repeat-ms", str(seconds * 1000)]
    try:
        for r, variant in enumerate(["unwatched"] + ["watched", "unwatched"] * rounds):
            rundir = os.path.join(workdir, f"round{r}-{variant}")
            os.makedirs(rundir)
            client = [os.path.join(bins, "client")] + daemon.client_flags + background
            trace = os.path.join(rundir, "trace.json")
            if variant == "watched":
                argv = [monitor] + monitor_args + ["--format", "json", "--output", trace, "--"] + client
            else:
                argv = client
            slow = Spawned(argv, rundir, "background")
            try:
                if variant == "watched":
                    if not wait_for(lambda: "ebpf-monitor: ready " in slow.stderr()
                                    or slow.process.poll() is not None, 30):
                        raise MonitorFailure(f"never ready; {tail(slow.stderr())}")
                    if slow.process.poll() is not None:
                        raise MonitorFailure(f"exited at start; {tail(slow.stderr())}")
                    # Give the monitor time to find the daemon; proceed anyway after 5 s.
                    seen = wait_for(lambda: daemon_is_watched(read_trace(trace)[0]), 5, 0.05)
                noise = Clients(bins, daemon, rundir, noise_count, "tput", noise_flags)
                try:
                    served = sum(replies(noise.wait()))
                finally:
                    noise.kill()
                # SIGTERM: the client stops; under the monitor, the monitor passes it
                # on and ends with the client. A monitor that does not end is noted
                # and killed; the rate was measured before, and stands.
                stopping = time.monotonic()
                slow.process.send_signal(signal.SIGTERM)
                try:
                    status = slow.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    if variant != "watched":
                        raise HarnessError(f"the background client did not stop: {slow.describe()}")
                    status = 0
                    hung += 1
                    log(f"throughput {design}: the monitor did not end within {STOP_TIMEOUT} s of SIGTERM; killed")
                if variant == "watched":
                    stop_seconds.append(round(time.monotonic() - stopping, 3))
                if status != 0:
                    failure = HarnessError if variant == "unwatched" else MonitorFailure
                    raise failure(f"the background client's run ended with status {status}: {slow.describe()}")
            finally:
                slow.kill()
            if variant == "watched":
                watched_seen.append(seen or daemon_is_watched(read_trace(trace)[0]))
            rates[variant].append(served / seconds)
            log(f"throughput {design} round {r + 1}/{2 * rounds + 1} {variant}: {served / seconds:.0f} requests/s")
        stop_daemon(daemon)
    finally:
        daemon.kill()
    unwatched, watched = rates["unwatched"], rates["watched"]
    # Each watched round against the mean of the unwatched rounds on either side of it: the VM's speed
    # drifts over seconds, and the rounds next to a watched one have the closest speed.
    sandwiched = [w / ((before + after) / 2) for w, before, after in zip(watched, unwatched, unwatched[1:])]
    # The same for each inner unwatched round against the unwatched rounds beside it (two rounds away,
    # so a wider span than the watched rounds'): what the measure reads with no difference at all.
    null = [u / ((before + after) / 2) for before, u, after in zip(unwatched, unwatched[1:], unwatched[2:])]
    return {
        "design": design,
        "seconds": seconds,
        "noise_clients": noise_count,
        "rounds": rounds,
        "unwatched_rps": unwatched,
        "watched_rps": watched,
        "unwatched_median_rps": statistics.median(unwatched),
        "watched_median_rps": statistics.median(watched),
        "ratio": statistics.median(sandwiched),
        "round_ratios": sandwiched,
        "ratio_of_medians": statistics.median(watched) / statistics.median(unwatched),
        "null_ratios": null,
        "daemon_watched_each_round": watched_seen,
        "monitor_stop_seconds": stop_seconds,
        "monitor_hung_at_stop": hung,
    }


def twin_runs(bins, shm, monitor, monitor_args, design, windows, window_ms, noise_count, transport):
    """Two copies of one design under one monitor: the followed one (a watched
    client talks to it) and its twin (no watched client does), noise load on
    each in turn. The monitor's cost to every process is the same for both,
    and short turns cancel the VM's drift: what is left is the cost of being
    followed."""
    workdir = os.path.join(shm, f"twins-{design}")
    for name in ("followed", "twin"):
        os.makedirs(os.path.join(workdir, name))
    transport = design_transport(design, transport)
    followed = Daemon(design, bins, os.path.join(workdir, "followed"), transport)
    rates = {"followed": [], "twin": []}
    bpf_ns = {"followed": [], "twin": []}
    background = ["--prefix", "watched", "--count", "10", "--delay-us", "10000", "--forever"]
    noise_flags = ["--count", "10", "--connections", "2", "--repeat-ms", str(window_ms)]
    trace = os.path.join(workdir, "trace.json")
    client = [os.path.join(bins, "client")] + followed.client_flags + background
    twin = slow = twin_background = None
    try:
        twin = Daemon(design, bins, os.path.join(workdir, "twin"), transport)
        # The same background client talks to the twin, unwatched: both copies serve the same load (a
        # thread cache gives the client a thread of its own) and differ only in being followed.
        twin_background = Spawned([os.path.join(bins, "client")] + twin.client_flags + background, workdir,
                                  "twin-background")
        slow = Spawned([monitor] + monitor_args + ["--format", "json", "--output", trace, "--"] + client, workdir,
                       "background")
        if not wait_for(lambda: "ebpf-monitor: ready " in slow.stderr() or slow.process.poll() is not None, 30):
            raise MonitorFailure(f"never ready; {tail(slow.stderr())}")
        if not wait_for(lambda: daemon_is_watched(read_trace(trace)[0]), 10, 0.05):
            raise MonitorFailure(f"the daemon was never followed; {tail(slow.stderr())}")
        programs = monitor_programs(slow.pid) if bpf_stats_on() else []
        # A first pair of turns warms both copies up (and the monitor, just done finding the daemon); it is not counted.
        for w in range(-1, windows):
            order = [("followed", followed), ("twin", twin)]
            for name, daemon in order if w % 2 == 0 else reversed(order):
                before = bpf_run_time(programs)
                noise = Clients(bins, daemon, os.path.join(workdir, name), noise_count, f"w{w}-", noise_flags)
                try:
                    served = sum(replies(noise.wait()))
                finally:
                    noise.kill()
                if w < 0:
                    continue
                rates[name].append(served * 1000 / window_ms)
                if programs and served:
                    bpf_ns[name].append((bpf_run_time(programs) - before) / served)
        slow.process.send_signal(signal.SIGTERM)
        slow.process.wait(STOP_TIMEOUT)
        twin_background.kill()
        twin.stop()
        followed.stop()
    finally:
        for process in (slow, twin_background, twin, followed):
            if process:
                process.kill()
    pairs = [f / t for f, t in zip(rates["followed"], rates["twin"]) if t]
    return {
        "design": design,
        "windows": windows,
        "window_ms": window_ms,
        "followed_rps": rates["followed"],
        "twin_rps": rates["twin"],
        "ratio": statistics.median(pairs) if pairs else None,
        "window_ratios": pairs,
        "bpf_ns_per_reply": bpf_ns,
    }


HOOKS = ("sys_enter", "sys_exit")


BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"


@contextlib.contextmanager
def bpf_stats(on=True):
    """kernel.bpf_stats_enabled on for the time (each program's run_time_ns and run_cnt count), then as it was."""
    if not on:
        yield
        return
    if shutil.which("bpftool") is None:
        raise HarnessError("bpftool is missing (Debian: bpftool); HOOK_ROUNDS=0 and TWIN_BPF=0 do without it")
    saved = read_text(BPF_STATS).strip() or "0"
    with open(BPF_STATS, "w") as f:
        f.write("1")
    try:
        yield
    finally:
        with open(BPF_STATS, "w") as f:
            f.write(saved)


def bpf_stats_on():
    """Whether the kernel counts BPF programs' run time."""
    return read_text(BPF_STATS).strip() == "1"


def monitor_programs(pid):
    """The ids of the BPF programs of the monitor process `pid`: those that share a map with the syscall hooks
    it attached (the tail-called programs are attached nowhere)."""
    hooks = set(hook_programs(pid).values())
    programs = bpftool_json("prog", "show")
    maps = {m for p in programs if p["id"] in hooks for m in p.get("map_ids", [])}
    return [p["id"] for p in programs if maps.intersection(p.get("map_ids", []))]


def bpf_run_time(ids):
    """The summed run_time_ns of the programs `ids` names."""
    wanted = set(ids)
    return sum(p.get("run_time_ns", 0) for p in bpftool_json("prog", "show") if p["id"] in wanted) if ids else 0


def bpftool_json(*args):
    """`bpftool --json ARGS`, parsed."""
    try:
        result = subprocess.run(["bpftool", "--json"] + list(args), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise HarnessError(f"bpftool {' '.join(args)}: {error}")
    if result.returncode != 0:
        raise HarnessError(f"bpftool {' '.join(args)}: {result.stderr.strip()}")
    return json.loads(result.stdout or "[]")


def hook_programs(pid):
    """{hook: prog id} of the sys_enter and sys_exit programs a monitor process
    attached: `bpftool perf show` lists each process's raw tracepoint fds."""
    return {attached["tracepoint"]: attached["prog_id"] for attached in bpftool_json("perf", "show")
            if attached.get("pid") == pid and attached.get("tracepoint") in HOOKS}


def hook_counters(ids):
    """{hook: (run_time_ns, run_cnt)} of the programs `ids` names."""
    by_id = {p["id"]: p for p in bpftool_json("prog", "show")}
    return {hook: (by_id[i].get("run_time_ns", 0), by_id[i].get("run_cnt", 0)) for hook, i in ids.items() if i in by_id}


def hook_workload(calls):
    """Untraced syscalls: `calls` one-byte reads and as many writes, then 100 runs of /bin/true."""
    subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={calls}"], capture_output=True, check=True)
    subprocess.run(["sh", "-c", "i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done"], check=True)


def hook_round(binary, monitor_args, workdir, calls):
    """One monitor watching a `sleep` while the untraced workload runs: per-call
    ns of each hook, and of both per syscall."""
    os.makedirs(workdir)
    argv = [binary] + monitor_args + ["--format", "json", "--output", os.path.join(workdir, "trace.json"), "--",
                                      "sleep", "600"]
    watching = Spawned(argv, workdir, "monitor")
    try:
        if not wait_for(lambda: "ebpf-monitor: ready " in watching.stderr() or not watching.running(), 60):
            raise MonitorFailure(f"never ready; {tail(watching.stderr())}")
        if not watching.running():
            raise MonitorFailure(f"exited at start; {tail(watching.stderr())}")
        ids = hook_programs(watching.pid)
        missing = [hook for hook in HOOKS if hook not in ids]
        if missing:
            raise MonitorFailure(f"no {' or '.join(missing)} program found for pid {watching.pid} in bpftool's listing")
        before = hook_counters(ids)
        started = time.monotonic()
        hook_workload(calls)
        seconds = time.monotonic() - started
        after = hook_counters(ids)
        watching.stop(STOP_TIMEOUT)
    finally:
        watching.kill()
    ns = {hook: after[hook][0] - before[hook][0] for hook in HOOKS}
    runs = {hook: after[hook][1] - before[hook][1] for hook in HOOKS}
    per_call = {hook: ns[hook] / runs[hook] if runs[hook] else None for hook in HOOKS}
    enters = runs["sys_enter"]
    return {
        "per_call_ns": per_call,
        "per_syscall_ns": sum(ns.values()) / enters if enters else None,
        "runs": runs,
        "workload_seconds": round(seconds, 3),
    }


def hook_costs(binaries, monitor_args, shm, rounds, calls):
    """The hooks' per-call cost for each {label: binary}, alternating them
    round by round, with kernel.bpf_stats_enabled on for the time."""
    rows = {label: [] for label in binaries}
    with bpf_stats():
        for r in range(rounds):
            labels = list(binaries) if r % 2 == 0 else list(reversed(binaries))
            for label in labels:
                log(f"hook cost round {r + 1}/{rounds}: {label}")
                rows[label].append(hook_round(binaries[label], monitor_args, os.path.join(shm, f"hooks-{label}-{r}"),
                                              calls))

    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    return [{
        "binary": label,
        "path": binaries[label],
        "rounds": rows[label],
        "sys_enter_ns": median([row["per_call_ns"]["sys_enter"] for row in rows[label]]),
        "sys_exit_ns": median([row["per_call_ns"]["sys_exit"] for row in rows[label]]),
        "per_syscall_ns": median([row["per_syscall_ns"] for row in rows[label]]),
    } for label in binaries]


def measured(results, label, cell, run):
    """Appends run()'s result, or the cell with what failed; 1 when the harness could not measure."""
    try:
        results.append(run())
    except MonitorFailure as failure:
        log(f"{label}: the monitor failed: {failure}")
        results.append(dict(cell, monitor_failure=str(failure)))
    except HarnessError as error:
        log(f"{label}: {error}")
        results.append(dict(cell, error=str(error)))
        return 1
    return 0


def tail(text, lines=3):
    """The last lines of a program's stderr, for a one-line message."""
    kept = [line for line in text.strip().splitlines() if line][-lines:]
    return "stderr: " + (" | ".join(kept) if kept else "(empty)")


def daemon_is_watched(objects):
    """The monitor follows the daemon: a peer event, or any daemon-side event."""
    return any(o.get("type") == "event" and (o.get("action") == "peer" or o.get("scope") == "daemon") for o in objects)


def spread(ratios):
    """Lowest-highest of single rounds or turns."""
    return f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def print_accuracy(results, errors):
    print()
    print("Attribution accuracy: files the watched command's summary lists, against the files")
    print(f"its requests made; targets precision {TARGET_PRECISION:.2f}, recall >= {TARGET_ONE} with up to "
          f"{FEW_CLIENTS} clients, >= {TARGET_MANY} with more.")
    print(f"  {'design':<11} {'clients':>7} {'precision':>9} {'recall':>7} {'target':>6} {'daemon_events':>13} "
          f"{'unattributed':>12} {'lost':>5}  verdict")
    for r in results:
        if "error" in r:
            print(f"  {r['design']:<11} {r['clients']:>7} {'ERROR':>9}   {r['error'].splitlines()[0][:100]}")
            continue
        if "monitor_failure" in r:
            print(f"  {r['design']:<11} {r['clients']:>7} {'FAIL':>9}   MISS: the monitor failed: "
                  f"{r['monitor_failure'].splitlines()[0][:100]}")
            continue
        target = TARGET_ONE if r["clients"] <= FEW_CLIENTS else TARGET_MANY
        misses = []
        if r["precision"] < TARGET_PRECISION:
            misses.append("precision")
        if r["recall"] < target:
            misses.append("recall")
        verdict = "MISS " + "+".join(misses) if misses else "ok"
        if r["recall"] < 1.0 and not r["unattributed"]:
            verdict += " (silent miss: no unattributed count)"
        print(f"  {r['design']:<11} {r['clients']:>7} {fmt(r['precision']):>9} {fmt(r['recall']):>7} {target:>6} "
              f"{r['daemon_events']:>13} {('-' if r['unattributed'] is None else r['unattributed']):>12} "
              f"{r['lost_events']:>5}  {verdict}")
    if errors:
        print(f"  {errors} cell(s) could not be measured: see the messages above")


def print_servers(results):
    print()
    print(f"Real servers from Debian's packages: the watched client's files in its summary (certain), against "
          f"the files its requests made; targets precision >= {TARGET_SERVER_PRECISION}, recall >= "
          f"{TARGET_SERVER_RECALL}. daemons: those listed, and whether all are the server's processes.")
    print(f"  {'server':<10} {'clients':>7} {'precision':>9} {'recall':>7} {'ambiguous':>9} {'others':>6} "
          f"{'lost':>5}  {'daemons':<32} verdict")
    for r in results:
        if "error" in r or "monitor_failure" in r:
            kind = "ERROR" if "error" in r else "FAIL"
            print(f"  {r['server']:<10} {r['clients']:>7} {kind:>9}   "
                  f"{(r.get('error') or r['monitor_failure']).splitlines()[0][:100]}")
            continue
        misses = []
        if r["files"] and r["precision"] < TARGET_SERVER_PRECISION:
            misses.append("precision")
        if r["files"] and r["recall"] < TARGET_SERVER_RECALL:
            misses.append("recall")
        if not r["daemons_are_the_servers"]:
            misses.append("daemons")
        verdict = "MISS " + "+".join(misses) if misses else "ok"
        shown = (lambda v: fmt(v) if r["files"] else "-")
        daemons = ",".join(r["daemons"]) + ("" if r["daemons_are_the_servers"] else " (not all the server's)")
        print(f"  {r['server']:<10} {r['clients']:>7} {shown(r['precision']):>9} {shown(r['recall']):>7} "
              f"{r['ambiguous']:>9} {r['other_clients_files']:>6} {r['lost_events']:>5}  {daemons[:32]:<32} {verdict}")


def print_twins(results):
    print()
    print("Cost of being followed: two copies of each daemon under one monitor, noise "
          "load on each in turn; followed / not followed, median of the turns' ratios (turns: lowest-highest); "
          f"target >= {TARGET_FOLLOWED}.")
    print(f"  {'design':<11} {'followed':>10} {'twin':>10} {'ratio':>6} {'turns':>11}  verdict")
    for r in results:
        if "error" in r or "monitor_failure" in r:
            print(f"  {r['design']:<11} {'FAIL':>10}   {(r.get('error') or r['monitor_failure']).splitlines()[0][:100]}")
            continue
        verdict = "ok" if r["ratio"] is not None and r["ratio"] >= TARGET_FOLLOWED else "MISS"
        bpf = r["bpf_ns_per_reply"]
        cost = (f"  BPF us a reply: followed {statistics.median(bpf['followed']) / 1000:.2f}, "
                f"twin {statistics.median(bpf['twin']) / 1000:.2f}") if bpf["followed"] and bpf["twin"] else ""
        print(f"  {r['design']:<11} {statistics.median(r['followed_rps']):>10.0f} {statistics.median(r['twin_rps']):>10.0f} "
              f"{fmt(r['ratio'], 2):>6} {spread(r['window_ratios']):>11}  {verdict}{cost}")


def print_hooks(results):
    print()
    print("Syscall hooks' cost to untraced processes (bpf_stats): ns per call of the monitor's sys_enter and "
          "sys_exit programs while an untraced workload runs, median of the rounds; it must not grow against "
          "the baseline.")
    print(f"  {'binary':<13} {'sys_enter':>9} {'sys_exit':>9} {'per syscall':>11} {'calls/round':>11}")
    for r in results:
        if "error" in r or "monitor_failure" in r:
            print(f"  {r['binary']:<13} {'FAIL':>9}   {(r.get('error') or r['monitor_failure']).splitlines()[0][:100]}")
            continue
        calls = statistics.median([row["runs"]["sys_enter"] for row in r["rounds"]]) if r["rounds"] else 0
        print(f"  {r['binary']:<13} {fmt(r['sys_enter_ns'], 1):>9} {fmt(r['sys_exit_ns'], 1):>9} "
              f"{fmt(r['per_syscall_ns'], 1):>11} {calls:>11.0f}")
    if len(results) == 2 and all(r.get("per_syscall_ns") for r in results):
        print(f"  monitor / baseline per syscall: {results[0]['per_syscall_ns'] / results[1]['per_syscall_ns']:.2f}")


def print_throughput(results):
    print()
    print(f"Daemon throughput with the monitor against none: noise replies/s, median of the rounds; ratio: "
          f"median of each watched round over the mean of the unwatched rounds on either side (lowest-highest); "
          f"null: the same for each inner unwatched round (lowest-highest), the noise floor. It adds the syscall "
          f"hooks' cost to every process to the cost of being followed; shown against {TARGET_THROUGHPUT}.")
    print(f"  {'design':<11} {'unwatched':>10} {'watched':>10} {'ratio':>6} {'rounds':>11} {'null':>6} "
          f"{'null rounds':>11}  verdict")
    for r in results:
        if "error" in r:
            print(f"  {r['design']:<11} {'ERROR':>10}   {r['error'].splitlines()[0][:100]}")
            continue
        if "monitor_failure" in r:
            print(f"  {r['design']:<11} {'FAIL':>10}   MISS: the monitor failed: {r['monitor_failure'].splitlines()[0][:100]}")
            continue
        verdict = "ok" if r["ratio"] is not None and r["ratio"] >= TARGET_THROUGHPUT else f"below {TARGET_THROUGHPUT}"
        if not all(r["daemon_watched_each_round"]):
            verdict += " (in some rounds the monitor never followed the daemon: no peer or daemon event)"
        if r["monitor_hung_at_stop"]:
            verdict += f" (the monitor did not end within {STOP_TIMEOUT} s of SIGTERM in {r['monitor_hung_at_stop']} round(s))"

        null = fmt(statistics.median(r["null_ratios"]), 2) if r["null_ratios"] else "-"
        print(f"  {r['design']:<11} {r['unwatched_median_rps']:>10.0f} {r['watched_median_rps']:>10.0f} "
              f"{fmt(r['ratio'], 2):>6} {spread(r['round_ratios']):>11} {null:>6} {spread(r['null_ratios']):>11}"
              f"  {verdict}")


def main():
    if os.geteuid() != 0:
        sys.exit("attribution-bench: needs root (run: sudo make attribution-bench)")
    monitor = os.path.abspath(os.environ.get("MONITOR", ".build/release/ebpf-monitor"))
    if not os.access(monitor, os.X_OK):
        sys.exit(f"attribution-bench: no {monitor}; run: make attribution-bench (it builds the release binary)")
    if shutil.which("cc") is None:
        sys.exit("attribution-bench: cc is missing; run: make setup")
    designs = os.environ.get("DESIGNS", " ".join(ALL_DESIGNS)).split()
    unknown = [d for d in designs if d not in ALL_DESIGNS]
    if unknown:
        sys.exit(f"attribution-bench: unknown design(s) {unknown}; known: {ALL_DESIGNS}")
    try:
        clients = [int(c) for c in os.environ.get("CLIENTS", "1 2 8").split()]
    except ValueError:
        sys.exit("attribution-bench: CLIENTS must be integers, e.g. '1 2 8'")
    if any(c < 1 for c in clients):
        sys.exit("attribution-bench: every CLIENTS value must be >= 1")
    requests = env_int("REQUESTS", 50, 1)
    connections = env_int("CONNECTIONS", 2, 1)
    if connections > requests:
        sys.exit("attribution-bench: CONNECTIONS must not exceed REQUESTS")
    seconds = env_int("SECONDS", 3, 1)
    rounds = env_int("ROUNDS", 9, 0)
    turns = env_int("TURNS", 30, 0)
    turn_ms = env_int("TURN_MS", 1000, 100)
    twin_bpf = env_int("TWIN_BPF", 0, 0) > 0
    noise_count = env_int("NOISE", 4, 1)
    transport = os.environ.get("TRANSPORT", "unix")
    if transport not in ("unix", "tcp"):
        sys.exit("attribution-bench: TRANSPORT must be unix or tcp")
    monitor_args = shlex.split(os.environ.get("MONITOR_ARGS", ""))
    server_names = os.environ.get("SERVERS", " ".join(servers.SERVERS)).split()
    if server_names == ["none"]:
        server_names = []
    unknown = [name for name in server_names if name not in servers.SERVERS]
    if unknown:
        sys.exit(f"attribution-bench: unknown server(s) {unknown}; known: {servers.SERVERS}")
    server_requests = env_int("SERVER_REQUESTS", 10, 1)
    hook_rounds = env_int("HOOK_ROUNDS", 3, 0)
    hook_calls = env_int("HOOK_CALLS", 400000, 1)
    binaries = {"ebpf-monitor": monitor}
    if os.environ.get("BASELINE"):
        baseline = os.path.abspath(os.environ["BASELINE"])
        if not os.access(baseline, os.X_OK):
            sys.exit(f"attribution-bench: no {baseline} (BASELINE must be an ebpf-monitor binary)")
        binaries["baseline"] = baseline
    out_dir = os.path.join(ROOT, os.environ.get("OUT_DIR", "bench-results"))

    started = datetime.datetime.now(datetime.timezone.utc)
    shm = tempfile.mkdtemp(prefix="ebpf-monitor-attribution-bench.", dir="/dev/shm")
    os.chmod(shm, 0o755)
    accuracy, real_servers, throughput, twins, hooks, errors = [], [], [], [], [], 0
    try:
        bins = os.path.join(shm, "bin")
        driver.build(bins, PROGRAMS)
        for design in designs:
            for n in clients:
                log(f"accuracy {design} with {n} client(s)")
                errors += measured(accuracy, f"accuracy {design} with {n} client(s)", {"design": design, "clients": n},
                                   lambda: accuracy_run(bins, shm, monitor, monitor_args, design, n, requests,
                                                        connections, transport))
        for name in server_names:
            for n in clients:
                log(f"real server {name} with {n} client(s)")
                errors += measured(real_servers, f"server {name} with {n} client(s)", {"server": name, "clients": n},
                                   lambda: server_run(shm, monitor, monitor_args, name, n, server_requests))
        for design in designs if rounds > 0 else []:
            errors += measured(throughput, f"throughput {design}", {"design": design},
                               lambda: throughput_runs(bins, shm, monitor, monitor_args, design, rounds, seconds,
                                                       noise_count, transport))
        with bpf_stats(twin_bpf and turns > 0):
            for design in designs if turns > 0 else []:
                log(f"followed and not followed: {design}")
                errors += measured(twins, f"twins {design}", {"design": design},
                                   lambda: twin_runs(bins, shm, monitor, monitor_args, design, turns, turn_ms,
                                                     noise_count, transport))
        if hook_rounds > 0:
            try:
                hooks = hook_costs(binaries, monitor_args, shm, hook_rounds, hook_calls)
            except MonitorFailure as failure:
                log(f"hook cost: the monitor failed: {failure}")
                hooks = [{"binary": label, "monitor_failure": str(failure)} for label in binaries]
    except HarnessError as error:
        log(str(error))
        errors += 1
    finally:
        shutil.rmtree(shm, ignore_errors=True)

    print(f"ebpf-monitor attribution bench, {started:%Y-%m-%d %H:%M} UTC; machine: {os.uname().sysname} "
          f"{os.uname().release}, {os.cpu_count()} cpus; transport {transport}; {requests} requests per watched client "
          f"over {connections} connection(s)")
    print_accuracy(accuracy, sum(1 for r in accuracy if "error" in r))
    if real_servers:
        print_servers(real_servers)
    if throughput:
        print_throughput(throughput)
    if twins:
        print_twins(twins)
    if hooks:
        print_hooks(hooks)

    os.makedirs(out_dir, exist_ok=True)
    report = os.path.join(out_dir, f"attribution-{started:%Y%m%d-%H%M%S}.json")
    with open(report, "w") as f:
        json.dump({
            "date": started.isoformat(),
            "machine": {"kernel": os.uname().release, "cpus": os.cpu_count()},
            "monitor": monitor,
            "monitor_args": monitor_args,
            "settings": {"designs": designs, "clients": clients, "requests": requests, "connections": connections,
                         "seconds": seconds, "rounds": rounds, "turns": turns, "turn_ms": turn_ms,
                         "noise": noise_count, "transport": transport, "servers": server_names,
                         "server_requests": server_requests, "hook_rounds": hook_rounds,
                         "hook_calls": hook_calls, "binaries": binaries},
            "targets": {"precision": TARGET_PRECISION, "few_clients": FEW_CLIENTS, "few_clients_recall": TARGET_ONE,
                        "many_clients_recall": TARGET_MANY, "throughput": TARGET_THROUGHPUT,
                        "followed": TARGET_FOLLOWED, "server_precision": TARGET_SERVER_PRECISION,
                        "server_recall": TARGET_SERVER_RECALL},
            "accuracy": accuracy,
            "servers": real_servers,
            "throughput": throughput,
            "twins": twins,
            "hooks": hooks,
            "errors": errors,
        }, f, indent=2)
        f.write("\n")
    shown = os.path.relpath(report, ROOT) if report.startswith(ROOT + os.sep) else report
    print(f"\nraw results: {shown}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
