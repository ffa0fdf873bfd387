#!/usr/bin/env python3
"""The scenario set a test-kernels guest runs (matrix.py puts it at
/opt/kernel-matrix with the monitor, the fixtures and the fixture daemons'
driver). Each check prints one line to the console:

    KCHECK {"check": NAME, "ok": true|false, "detail": "..."}

and the set ends with `KCHECK-END`, which tells matrix.py the guest did not
die half way. Stdlib only: the guest has Debian's python3 and nothing else.

1. `workload` under the monitor with --fork-probe left to auto, then again
   with --fork-probe tracepoint. The workload is the tree fixture (a child
   and grandchild that exec, 8 threads, a child that exits at once, one
   killed by SIGTERM, exit codes 7, 11, 12, 3), file changes in a directory
   snapshotted before and after, and a client of a unix and a TCP server
   started outside the watched tree. Auto must pick the kprobe where the
   kernel has kprobes, and both runs must give the same, right, result.
   A third run forces the fallbacks of kernels older than these: per-CPU
   perf buffers (--buffer perf), per-thread state in hashes by tid
   (--task-state maps), and struct offsets from the
   kernel headers, with BTF hidden in a mount namespace of its own. It must agree too. Where
   the kernel itself lacks task storage (5.10), auto picks the hashes.
2. A fixture daemon (thread pool) with a concurrent unwatched client: the
   watched client gets exactly its own files and the daemon.
3. The Go daemon fixture, whose goroutines the Go uprobes follow, and the
   unix datagram server (whose datagrams the sk_data_ready tracepoint or,
   before Linux 6.6, the sock_def_readable kprobe follows): the same.

A kernel older than the monitor supports must be refused at start with its
own status and the feature it lacks; that is then the one check.
"""

import json
import os
import shutil
import subprocess
import sys
import time

HOME = os.path.dirname(os.path.abspath(__file__))
MONITOR = "/usr/local/bin/ebpf-monitor"
BIN = os.path.join(HOME, "bin")
DRIVER = os.path.join(HOME, "daemons", "driver.py")
# A monitor start compiles the BPF programs under emulation: a minute or more.
MONITOR_TIMEOUT = 900
# The monitor refuses older kernels with this status (README, "Exit statuses").
KERNEL_TOO_OLD = 78
MINIMUM_KERNEL = "5.4"
UNSUPPORTED = "unsupported"


def release_at_least(version):
    """Whether the running kernel is `version` ("5.15") or later."""
    release = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])
    return release >= tuple(int(part) for part in version.split("."))


def report(check, ok, detail=""):
    print("KCHECK " + json.dumps({"check": check, "ok": bool(ok), "detail": str(detail)[:4000]}), flush=True)


def stderr_gist(text):
    """The lines of a monitor's stderr that say what went wrong, and its end
    (where a verifier log gives its reason)."""
    lines = text.splitlines()
    errors = [line for line in lines if "error" in line][:8]
    return "\n".join(errors + ["..."] + lines[-12:])


def trace(path):
    with open(path, errors="replace") as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def summary_of(objects, command=1):
    return next((o for o in objects if o.get("type") == "summary" and o.get("command") == command), None)


def ready_of(objects):
    return next((o for o in objects if o.get("type") == "status" and o.get("message") == "ready"), {})


# MARK: - The workload: process tree, files, network peers


def snapshot(directory):
    """name -> (inode, is_dir, mtime_ns, ctime_ns, mode) of each entry."""
    entries = {}
    for name in os.listdir(directory):
        st = os.lstat(os.path.join(directory, name))
        entries[name] = (st.st_ino, os.path.isdir(os.path.join(directory, name)), st.st_mtime_ns, st.st_ctime_ns,
                         st.st_mode)
    return entries


def expected_buckets(before, after, temporary):
    """The summary's buckets, from the two snapshots (design.md, "summary"):
    inodes tell a rename from a delete and a create."""
    inodes_before = {entry[0]: name for name, entry in before.items()}
    inodes_after = {entry[0]: name for name, entry in after.items()}
    files = {"created": [], "modified": [], "deleted": [], "metadata": [], "renamed": []}
    dirs = {"created": [], "deleted": []}
    for name, entry in after.items():
        bucket = dirs if entry[1] else files
        if entry[0] not in inodes_before:
            bucket["created"].append(name)
        elif inodes_before[entry[0]] != name:
            files["renamed"].append((inodes_before[entry[0]], name))
        elif entry[2] != before[name][2]:
            files["modified"].append(name)
        elif entry[3] != before[name][3]:
            files["metadata"].append(name)
    for name, entry in before.items():
        if entry[0] not in inodes_after:
            (dirs if entry[1] else files)["deleted"].append(name)
    files["temporary"] = [name for name, is_dir in temporary if not is_dir]
    dirs["temporary"] = [name for name, is_dir in temporary if is_dir]
    return {"files": {k: sorted(v) for k, v in files.items()}, "directories": {k: sorted(v) for k, v in dirs.items()}}


def reported_buckets(summary, directory):
    prefix = directory + "/"

    def local(paths):
        return sorted(p[len(prefix):] for p in paths if p.startswith(prefix) and "/" not in p[len(prefix):])

    files = summary.get("files", {})
    dirs = summary.get("directories", {})
    got_files = {k: local(files.get(k, [])) for k in ("created", "modified", "deleted", "metadata", "temporary")}
    got_files["renamed"] = sorted(
        (r["from"][len(prefix):], r["to"][len(prefix):]) for r in files.get("renamed", [])
        if r.get("from", "").startswith(prefix))
    return {"files": got_files, "directories": {k: local(dirs.get(k, [])) for k in ("created", "deleted", "temporary")}}


PEER = r"""
import os, socket, sys, threading
def serve(listener):
    while True:
        conn, _ = listener.accept()
        data = conn.recv(64)
        conn.sendall(b"pong " + data)
        conn.close()
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen(8)
path = sys.argv[1]
unix = socket.socket(socket.AF_UNIX); unix.bind(path); unix.listen(8)
for listener in (tcp, unix):
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
print(tcp.getsockname()[1], flush=True)
sys.stdin.read()
"""

CLIENT = r"""
import socket, sys
for family, address in ((socket.AF_INET, ("127.0.0.1", int(sys.argv[1]))), (socket.AF_UNIX, sys.argv[2])):
    s = socket.socket(family); s.connect(address); s.sendall(b"ping"); assert s.recv(64) == b"pong ping"; s.close()
"""


class Workload:
    """The files directory, the peers, and what the workload's run must show."""

    def __init__(self, name):
        self.root = f"/tmp/workload-{name}"
        shutil.rmtree(self.root, ignore_errors=True)
        self.files = os.path.join(self.root, "files")
        os.makedirs(self.files)
        for existing in ("unchanged.txt", "modified.txt", "deleted.txt", "old-name.txt", "metadata.txt"):
            with open(os.path.join(self.files, existing), "w") as f:
                f.write("before\n")
        os.mkdir(os.path.join(self.files, "gone-dir"))
        self.tree_report = os.path.join(self.root, "tree-report")
        self.unix_path = os.path.join(self.root, "peer.sock")
        self.peer = subprocess.Popen([sys.executable, "-c", PEER, self.unix_path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.peer.stdout.readline())
        self.before = snapshot(self.files)
        time.sleep(0.05)  # so that every time the workload sets differs from these

    def script(self):
        client = os.path.join(self.root, "client.py")
        with open(client, "w") as f:
            f.write(CLIENT)
        return "\n".join([
            f"{BIN}/tree {self.tree_report} main 7",
            f"cd {self.files}",
            "echo new > created.txt",
            "echo more >> modified.txt",
            "rm deleted.txt",
            "mv old-name.txt new-name.txt",
            "chmod 600 metadata.txt",
            "echo t > temporary.txt; rm temporary.txt",
            "mkdir made-dir",
            "mkdir temp-dir; rmdir temp-dir",
            "rmdir gone-dir",
            f"python3 {client} {self.port} {self.unix_path}",
        ])

    temporary = [("temporary.txt", False), ("temp-dir", True)]

    def stop(self):
        self.peer.kill()
        self.peer.wait()


def tree_roles(report_path):
    """pid -> role, and the threads' tids, from the tree fixture's report."""
    roles, parents, threads = {}, {}, set()
    with open(report_path) as f:
        for line in f:
            role, ident, parent = line.split()
            if role == "thread":
                threads.add(int(ident))
            else:
                roles[int(ident)] = role
                parents[int(ident)] = int(parent)
    return roles, parents, threads


def tree_outcome(objects, summary, report_path):
    """The tree as roles, for comparing runs: (role, parent role, end) each,
    and the threads seen. Problems found on the way are returned too."""
    roles, parents, threads = tree_roles(report_path)
    problems = []
    by_pid = {p.get("pid"): p for p in summary.get("processes", [])}
    shape = []
    for pid, role in sorted(roles.items(), key=lambda item: item[1]):
        entry = by_pid.get(pid)
        if entry is None:
            problems.append(f"{role} ({pid}) not among the processes")
            continue
        if entry.get("ppid") != parents[pid]:
            problems.append(f"{role} ({pid}): ppid {entry.get('ppid')}, truly {parents[pid]}")
        end = f"signal {entry['signal']}" if "signal" in entry else f"exit {entry.get('exit_code')}"
        shape.append((role, roles.get(parents[pid], "outside"), end))
    seen_threads = {o.get("child") for o in objects if o.get("action") == "thread" and o.get("command") == 1}
    if not threads <= seen_threads:
        problems.append(f"threads not seen: {sorted(threads - seen_threads)}")
    expected_ends = {"main": "exit 7", "child": "exit 11", "grandchild": "exit 12", "quick": "exit 3",
                     "victim": "signal 15"}
    for role, _, end in shape:
        if expected_ends.get(role) != end:
            problems.append(f"{role} ended with {end}, truly {expected_ends.get(role)}")
    return {"shape": sorted(shape), "threads": len(threads & seen_threads)}, problems


def network_outcome(summary, workload):
    """The peer the summary names for each server: (comm, whether the pid is the server's)."""
    servers = {f"127.0.0.1:{workload.port}": "tcp", workload.unix_path: "unix"}
    found = {}
    for entry in summary.get("network", []):
        if entry.get("remote") in servers:
            peer = entry.get("peer") or {}
            found[servers[entry["remote"]]] = (peer.get("comm"), peer.get("pid") == workload.peer.pid)
    return found


# Runs its arguments with /sys/kernel/btf hidden, in a mount namespace of their own.
WITHOUT_BTF = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount -t tmpfs none /sys/kernel/btf && exec "$@"', "sh"]


def run_workload(name, flags, fork_probe, task_state, buffer="ring", offsets="btf", wrapper=()):
    """Runs the workload under the monitor with `flags`, inside `wrapper`;
    its ready line must name `fork_probe`, `task_state`, `buffer`, whether it has quiet spells and where
    its `offsets` came from. Reports each check and returns the outcome (None when the
    monitor failed)."""
    workload = Workload(name)
    out = os.path.join(workload.root, "trace.json")
    script = os.path.join(workload.root, "workload.sh")
    with open(script, "w") as f:
        f.write(workload.script() + "\n")
    argv = list(wrapper) + [MONITOR, "--format", "json", "--output", out] + flags + ["--", "/bin/sh", script]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=MONITOR_TIMEOUT)
    except subprocess.TimeoutExpired:
        report(f"{name}: monitor", False, f"timed out after {MONITOR_TIMEOUT} s")
        return None
    finally:
        workload.stop()
    if run.returncode == KERNEL_TOO_OLD:
        report(f"{name}: refuses a kernel older than {MINIMUM_KERNEL}, naming what it lacks",
               not release_at_least(MINIMUM_KERNEL) and "needs Linux" in run.stderr, run.stderr.strip())
        return UNSUPPORTED
    after = snapshot(workload.files)
    objects = trace(out) if os.path.exists(out) else []
    summary = summary_of(objects)
    report(f"{name}: monitor", run.returncode == 0 and summary is not None,
           f"exit {run.returncode}; stderr: {stderr_gist(run.stderr)}")
    if summary is None:
        return None
    ready = ready_of(objects)
    report(f"{name}: ready names the fork probe", ready.get("fork_probe") == fork_probe,
           f"ready {ready}; kprobes {os.path.exists('/sys/kernel/tracing/kprobe_events')}")
    report(f"{name}: records through the {buffer} buffer", ready.get("buffer") == buffer, f"ready {ready}")
    report(f"{name}: thread state in {task_state}", ready.get("task_state") == task_state, f"ready {ready}")
    report(f"{name}: offsets from {offsets}", ready.get("offsets") == offsets, f"ready {ready}")
    quiet = "on" if release_at_least("5.12") else "off"
    report(f"{name}: quiet spells {quiet}", ready.get("quiet_spells") == quiet, f"ready {ready}")
    tree, problems = tree_outcome(objects, summary, workload.tree_report)
    report(f"{name}: process tree, threads, exit codes, signals", not problems and len(tree["shape"]) == 5,
           "; ".join(problems) or tree)
    want = expected_buckets(workload.before, after, Workload.temporary)
    got = reported_buckets(summary, workload.files)
    report(f"{name}: files against the snapshot", got == want, f"summary {got}; snapshot {want}")
    network = network_outcome(summary, workload)
    want_network = {"tcp": ("python3", True), "unix": ("python3", True)}
    report(f"{name}: peers named as processes", network == want_network, f"{network}; summary {summary.get('network')}")
    lost = sum(o.get("count", 0) for o in objects if o.get("type") == "lost")
    report(f"{name}: no events lost", lost == 0 and summary.get("lost_events", 0) == 0, f"lost {lost}")
    return {"tree": tree, "files": got, "network": network}


# MARK: - Fixture daemons


def run_daemon(design, requests=5):
    """The design's daemon, one unwatched noise client and the watched client
    under the monitor (the fixture daemons' driver): exactly the watched
    client's files and the design's daemons."""
    workdir = f"/tmp/daemon-{design}"
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    out = os.path.join(workdir, "trace.json")
    spec = {"workdir": workdir, "design": design, "noise": 1, "requests": requests, "bin": BIN,
            "monitor": MONITOR, "monitor_args": ["--format", "json", "--output", out],
            "watched_timeout": MONITOR_TIMEOUT, "client_options": ["--delay-us", "2000"]}
    run = subprocess.run([sys.executable, "-B", DRIVER, "scenario", json.dumps(spec)], capture_output=True, text=True,
                         timeout=MONITOR_TIMEOUT + 120)
    if run.returncode != 0:
        report(f"{design}: scenario", False, run.stderr[-1500:])
        return
    result = json.loads(run.stdout)
    watched = result["watched"]
    objects = trace(out) if os.path.exists(out) else []
    summary = summary_of(objects)
    report(f"{design}: scenario", watched["status"] == 0 and summary is not None,
           f"monitor {watched['status']}, timed out {watched['timed_out']}; "
           f"stderr: {stderr_gist(open(watched['stderr'], errors='replace').read())}")
    if summary is None:
        return
    prefix = result["files"] + "/"
    files = summary.get("files", {})
    credited = {p[len(prefix):] for bucket in ("created", "modified", "temporary") for p in files.get(bucket, [])
                if p.startswith(prefix)}
    truth = {f"watched-{i}" for i in range(1, requests + 1)}
    report(f"{design}: exactly the watched client's files", credited == truth,
           f"credited {sorted(credited)}; ambiguous {files.get('ambiguous')}")
    daemon_pids = {d["pid"] for d in result["daemons"]}
    listed = {d.get("pid") for d in summary.get("daemons", [])}
    report(f"{design}: its daemons and no other", listed == daemon_pids,
           f"listed {summary.get('daemons')}; the design's {result['daemons']}")


def main():
    print(f"KCHECK-START kernel {os.uname().release}", flush=True)
    outcomes = {}
    kprobes = os.path.exists("/sys/kernel/tracing/kprobe_events")
    fork_probe = "kprobe" if kprobes else "tracepoint"
    # Task storage and the BTF task helpers all came by Linux 5.15.
    task_state = "storage" if release_at_least("5.15") else "maps"
    # With /sys/kernel/btf hidden, the monitor on 6.12 still finds the
    # kernel's BTF through libbpf (not yet explained); 5.10 and 6.1 fall
    # back to the headers.
    hidden_offsets = "headers" if not release_at_least("6.12") else "btf"
    for name, run in (
            ("auto", lambda: run_workload("auto", [], fork_probe, task_state)),
            ("tracepoint", lambda: run_workload("tracepoint", ["--fork-probe", "tracepoint"], "tracepoint",
                                                task_state)),
            ("fallbacks", lambda: run_workload("fallbacks", ["--buffer", "perf", "--task-state", "maps"],
                                               fork_probe, "maps", buffer="perf", offsets=hidden_offsets,
                                               wrapper=WITHOUT_BTF))):
        started = time.monotonic()
        outcomes[name] = run()
        print(f"kernel-matrix: {name} took {time.monotonic() - started:.0f} s", flush=True)
        if outcomes[name] == UNSUPPORTED:  # (the refusal is the check: nothing else can run)
            print("KCHECK-END", flush=True)
            return
    for other in ("tracepoint", "fallbacks"):
        if outcomes["auto"] and outcomes[other]:
            report(f"auto and {other} agree", outcomes["auto"] == outcomes[other],
                   f"auto {outcomes['auto']}; {other} {outcomes[other]}")
    for design in ("threadpool", "golock", "datagram"):
        started = time.monotonic()
        run_daemon(design)
        print(f"kernel-matrix: {design} took {time.monotonic() - started:.0f} s", flush=True)
    print("KCHECK-END", flush=True)


if __name__ == "__main__":
    main()
