#!/usr/bin/env python3
"""The driver of the fixture daemons of this directory (protocol and options
in daemon.h): builds them, starts a design's daemons, unwatched noise clients
and one watched client under the monitor, stops them all, and reports what
happened: exit statuses, pids and addresses, the files the daemons made and
the task that wrote each.

This is the one copy of that logic. bench/attribution.py imports it, and the
integration tests (DaemonHarness.swift) run its command line as a subprocess
and read the JSON it prints. It is Python because the bench is: the other way
round, the bench would have to build and run the Swift test bundle. The
driver judges nothing: it reports every fact the tests check (each child's
exit status, timeout and leftovers, the listing of the daemons' files when the
watched client ended and at the end, each file's writer), and every
assertion stays in the tests.
Like the Swift harness, it starts every child in a process group of its own,
kills the group on a timeout, and ends whatever outlives a child's exit.

Command line (stdlib only, Python 3.11):

    driver.py scenario SPEC

SPEC is a JSON object:
    workdir          a directory that exists; bin/, files/, sockets, logs go there
    design           threadpool | forking | prefork | eventloop | chain | golock |
                     datagram | selfwake | pooleventfd | poolpipe | broker | batching |
                     threadcache
    monitor          the ebpf-monitor binary
    requests         requests of the watched client
    connections      its sequential connections (default 2)
    monitor_args     the monitor's flags before `--` (default [])
    transport        unix | tcp | udp (default unix); for the datagram design unix
                     is a unix datagram socket, and udp is for it only
    daemon_options   extra flags for every program of the design, after the
                     design's defaults (DESIGN_OPTIONS) (default [])
    client_options   extra flags for every client, watched and noise (default [])
    watched_options  extra flags for the watched client, after client_options (default [])
    noise            unwatched noise clients (default 0)
    bin              compiled programs to use (default: build into workdir/bin)
    watched_timeout  seconds the monitor may take (default 60)
    stop_timeout, noise_stop_timeout  seconds a daemon, a noise client may
                     take to end after SIGTERM (default 10, stop_timeout)

It prints one JSON object (see run_scenario) and exits 0 when it could run the
scenario, whatever the monitor did; 2, with the reason on stderr, when it
could not (a fixture did not build or start, or a noise client made no request).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

FIXTURES = os.path.dirname(os.path.abspath(__file__))

# The five server designs, and the Go daemon of the goroutine rules.
DESIGNS = ["threadpool", "forking", "prefork", "eventloop", "chain"]
# The designs of the runtimes real daemons are built on: datagrams, a loop
# that wakes itself, pools that complete through a wake-up of the loop, a
# broker in front of a service, a batching queue, a cache of threads that
# greet each client.
RUNTIME_DESIGNS = ["datagram", "selfwake", "pooleventfd", "poolpipe", "broker", "batching", "threadcache"]
ALL_DESIGNS = DESIGNS + ["golock"] + RUNTIME_DESIGNS

# Flags a design always gets, before the scenario's: the broker's service
# takes 1 ms a request, so that several clients' requests are in flight on
# the broker's one connection to it at once.
DESIGN_OPTIONS = {"broker": ["--work-us", "1000"]}
# Flags a design's clients always get: the thread cache greets each client.
DESIGN_CLIENT_OPTIONS = {"threadcache": ["--greeted"]}

# Programs that take no --dir and forward to the program started before them.
FORWARDERS = ("front", "broker")


class HarnessError(Exception):
    """The scenario could not run: a fixture or an unwatched client failed."""


def programs(design):
    """The programs of a design, in order of start; clients talk to the last one."""
    if design == "chain":
        return ["back", "front"]
    if design == "broker":
        return ["service", "broker"]
    return [design]


def wait_for(condition, timeout, interval=0.01):
    """Polls `condition` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def build(bin_dir, names):
    """Compiles the named programs (and nothing else) into `bin_dir`, which is made."""
    os.makedirs(bin_dir)
    for name in names:
        output = os.path.join(bin_dir, name)
        if name == "golock":
            go = shutil.which("go") or "/usr/bin/go"
            command = ["env", "GOCACHE=" + os.path.join(os.path.dirname(bin_dir), "gocache"), "GO111MODULE=off",
                       go, "build", "-o", output, os.path.join(FIXTURES, "golock.go")]
        else:
            command = ["cc", "-std=c11", "-Wall", "-Werror", "-O2", "-pthread", "-o", output,
                       os.path.join(FIXTURES, name + ".c")]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise HarnessError(f"building {name} failed: {error}")
        if result.returncode != 0:
            raise HarnessError(f"building {name} failed:\n{result.stderr}")


class Spawned:
    """A child in a process group of its own, stdout and stderr in files of `directory`."""

    def __init__(self, argv, directory, name):
        self.name = name
        self.argv = argv
        self.stdout_path = os.path.join(directory, name + ".stdout")
        self.stderr_path = os.path.join(directory, name + ".stderr")
        self.started = time.monotonic()
        self.ended = None
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, process_group=0)

    @property
    def pid(self):
        return self.process.pid

    def stdout(self):
        return read_text(self.stdout_path)

    def stderr(self):
        return read_text(self.stderr_path)

    def running(self):
        return self.process.poll() is None

    def signal(self, number):
        if self.running():
            self.process.send_signal(number)

    def wait(self, timeout):
        """Waits for the exit; after `timeout` seconds the whole group is killed.
        Anything left in the group once the child has exited is killed too. The
        status is shell-style: the exit code, or 128 + the signal."""
        if self.ended is not None:
            return self.ended
        timed_out = False
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill_group()
            self.process.wait()
        leftovers = self._kill_group()
        code = self.process.returncode
        self.ended = {
            "name": self.name,
            "pid": self.pid,
            "status": code if code >= 0 else 128 - code,
            "timed_out": timed_out,
            "leftovers": leftovers,
            "seconds": round(time.monotonic() - self.started, 3),
            "stdout": self.stdout_path,
            "stderr": self.stderr_path,
        }
        return self.ended

    def stop(self, timeout=10):
        """SIGTERM to the child, then wait(timeout)."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        """Kills the group and reaps, if not done yet. For clean-up paths."""
        if self.ended is None:
            self._kill_group()
            self.wait(10)
        return self.ended

    def _kill_group(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
            return True
        except ProcessLookupError:
            return False

    def describe(self):
        return (f"{self.name} ({' '.join(self.argv)}): status {self.process.poll()}, "
                f"stderr: {self.stderr().strip()!r}")


class Daemon:
    """One design's daemons, listening (chain: back, then front, which connects
    to back once, now, before any monitor runs; broker: service, then broker,
    the same way). `extra` goes to every program of the design, after the
    common options and the design's own (DESIGN_OPTIONS)."""

    def __init__(self, design, bins, workdir, transport, extra=()):
        if (transport == "udp" and design != "datagram") or (design == "datagram" and transport == "tcp"):
            raise HarnessError(f"design {design} does not serve over {transport}")
        self.design = design
        self.transport = transport
        self.files = os.path.join(workdir, "files")
        os.makedirs(self.files, exist_ok=True)
        self.processes = []
        extra = DESIGN_OPTIONS.get(design, []) + list(extra)
        try:
            for program in programs(design):
                options = ["--dir", self.files] + extra
                if program in FORWARDERS:
                    back = self.processes[-1][1]
                    options = ["--back-unix" if transport == "unix" else "--back-tcp", back] + extra
                self._start(bins, program, workdir, options)
        except BaseException:
            self.kill()
            raise
        # Clients talk to the last one started (front for the chain, broker for the broker).
        self.address = self.processes[-1][1]
        if design == "datagram":
            flag = "--unix-dgram" if transport == "unix" else "--udp"
        else:
            flag = "--unix" if transport == "unix" else "--tcp"
        self.client_flags = [flag, self.address] + DESIGN_CLIENT_OPTIONS.get(design, [])

    def _start(self, bins, program, workdir, options):
        if self.transport == "unix":
            listen = ["--unix", os.path.join(workdir, program + ".sock")]
        else:
            listen = ["--" + self.transport, "0"]
        spawned = Spawned([os.path.join(bins, program)] + listen + options, workdir, program)
        ready = []

        def is_ready():
            ready[:] = [line for line in spawned.stdout().splitlines() if line == "ready" or line.startswith("ready ")]
            return bool(ready) or not spawned.running()

        if not wait_for(is_ready, 10) or not ready:
            spawned.kill()
            raise HarnessError(f"{program} did not get ready: {spawned.describe()}")
        address = listen[1] if self.transport == "unix" else ready[0][len("ready "):]
        self.processes.append((spawned, address))

    @property
    def pids(self):
        """The pids of the daemon processes started (not their forked children)."""
        return [spawned.pid for spawned, _ in self.processes]

    def describe(self):
        return [{"program": spawned.name, "pid": spawned.pid, "address": address} for spawned, address in self.processes]

    def stop(self, timeout=10):
        """SIGTERM in reverse order of start; each should exit 0 by itself. Returns each one's end."""
        return [spawned.stop(timeout) for spawned, _ in reversed(self.processes)]

    def kill(self):
        for spawned, _ in reversed(self.processes):
            spawned.kill()


class Clients:
    """Unwatched clients (prefix `<tag><j>`) repeating rounds of requests."""

    def __init__(self, bins, daemon, workdir, count, tag, extra):
        self.spawned = []
        for j in range(1, count + 1):
            argv = [os.path.join(bins, "client")] + daemon.client_flags + ["--prefix", f"{tag}{j}"] + list(extra)
            self.spawned.append(Spawned(argv, workdir, f"{tag}{j}"))

    def wait_served(self, files, timeout=10):
        """Waits until each has been served at least once (its file `<tag><j>-1` exists)."""
        served = wait_for(lambda: all(os.path.exists(os.path.join(files, s.name + "-1")) for s in self.spawned),
                          timeout)
        if not served:
            states = "; ".join(s.describe() for s in self.spawned)
            self.kill()
            raise HarnessError(f"noise clients made no request: {states}")

    def stop(self, timeout=10):
        """SIGTERM to each: it stops after the request in flight and exits 0. Returns each one's end."""
        return [self.ended(spawned, spawned.stop(timeout)) for spawned in self.spawned]

    def wait(self, timeout=60):
        """Waits for each to end by itself (a bounded run). Returns each one's end."""
        return [self.ended(spawned, spawned.wait(timeout)) for spawned in self.spawned]

    @staticmethod
    def ended(spawned, ended):
        """The end, with `requests`: the replies it counted ("requests N" on stdout), or None."""
        match = re.search(r"^requests (\d+)$", spawned.stdout(), re.M)
        return dict(ended, requests=int(match.group(1)) if match else None)

    def kill(self):
        for spawned in self.spawned:
            spawned.kill()


def writer(path):
    """The task that created a daemon's file, from the line the daemon wrote
    into it ("<name> pid P tid T"): [pid, tid], or None."""
    words = read_text(path).split()
    if len(words) != 5 or words[1] != "pid" or words[3] != "tid" or not (words[2].isdigit() and words[4].isdigit()):
        return None
    return [int(words[2]), int(words[4])]


def run_scenario(spec):
    """Runs one scenario: the design's daemons, `noise` noise clients (each
    served once before the watched command starts; `client_options` go to
    them and to the watched client), the watched client
    (`client --prefix watched`) under `monitor monitor_args -- client ...`,
    then SIGTERM to the noise clients and to the daemons. Returns:

        files            the directory the daemons make their files in
        daemons          [{program, pid, address}], in order of start
        watched          the monitor's end: {name, pid, status, timed_out,
                         leftovers, seconds, stdout, stderr} (stdout and stderr
                         are file paths; the trace is in stdout unless
                         monitor_args send it elsewhere), and its argv
        names_after_watched  the names in `files` when the watched client ended
        noise            each noise client's end, with `requests`
        daemon_stops     each daemon's end, in order of stopping
        writers          {name: [pid, tid] or None} for every file at the end
    """
    workdir = spec["workdir"]
    design = spec["design"]
    if design not in ALL_DESIGNS:
        raise HarnessError(f"unknown design {design!r}; known: {ALL_DESIGNS}")
    transport = spec.get("transport", "unix")
    client_options = spec.get("client_options", [])
    bins = spec.get("bin")
    if bins is None:
        bins = os.path.join(workdir, "bin")
        build(bins, programs(design) + ["client"])
    stop_timeout = spec.get("stop_timeout", 10)
    daemon = Daemon(design, bins, workdir, transport, spec.get("daemon_options", []))
    noise = None
    try:
        count = spec.get("noise", 0)
        if count > 0:
            noise = Clients(bins, daemon, workdir, count, "noise",
                            ["--count", "10", "--connections", "2", "--forever"] + client_options)
            noise.wait_served(daemon.files)
        client = [os.path.join(bins, "client")] + daemon.client_flags + [
            "--prefix", "watched", "--count", str(spec["requests"]), "--connections", str(spec.get("connections", 2))]
        client += client_options + spec.get("watched_options", [])
        argv = [spec["monitor"]] + spec.get("monitor_args", []) + ["--"] + client
        watched = dict(Spawned(argv, workdir, "watched").wait(spec.get("watched_timeout", 60)), argv=argv)
        names_after_watched = sorted(os.listdir(daemon.files))
        noise_ends = noise.stop(spec.get("noise_stop_timeout", stop_timeout)) if noise else []
        noise = None
        daemon_stops = daemon.stop(stop_timeout)
    finally:
        if noise is not None:
            noise.kill()
        daemon.kill()
    return {
        "files": daemon.files,
        "daemons": daemon.describe(),
        "watched": watched,
        "names_after_watched": names_after_watched,
        "noise": noise_ends,
        "daemon_stops": daemon_stops,
        "writers": {name: writer(os.path.join(daemon.files, name)) for name in sorted(os.listdir(daemon.files))},
    }


def main(argv):
    if len(argv) != 3 or argv[1] != "scenario":
        print(__doc__, file=sys.stderr)
        return 2
    try:
        spec = json.loads(argv[2])
        report = run_scenario(spec)
    except (HarnessError, KeyError, ValueError) as error:
        print(f"driver: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
