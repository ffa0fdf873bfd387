#!/usr/bin/env python3
"""Real servers from Debian's packages, for the attribution tests
(RealServerTests.swift): each is started on private ports and sockets under a
work directory, with its own configuration (never the system's instance,
never through systemd). One watched client runs under the monitor while
unwatched noise clients of the same server run at the same time; then
everything is stopped and the facts are printed as one JSON object. The
driver judges nothing: the tests do.

Servers, and what one request does:
    apache     Apache httpd, event MPM, mod_cgid: a shell CGI creates files/NAME
    nginx-php  nginx in front of php-fpm (FastCGI): a PHP script creates files/NAME
    java       com.sun.net.httpserver on a fixed thread pool: creates files/NAME
               (the JDK's default dual-stack socket: IPv4 clients arrive v4-mapped)
    java-ipv4  the same with java.net.preferIPv4Stack: an IPv4 socket
    mariadb    mariadbd: CREATE TABLE t.NAME creates db/t/NAME.frm and NAME.ibd
    memcached  memcached with worker threads: set and get of key NAME (no file)

The watched client makes `requests` requests named watched-1.. (MariaDB:
watched_1..), in one process over one connection: curl for HTTP, the mariadb
client, memclient.py. Noise client j (a thread of this driver, so unwatched)
makes requests noise<j>-1.. (noise<j>_1..) one after another until stopped.

Command line (stdlib only, Python 3.11):

    servers.py run SPEC

SPEC is a JSON object:
    workdir          an empty directory that exists (mode 0755 or wider)
    server           apache | nginx-php | java | mariadb | memcached
    monitor          the ebpf-monitor binary
    monitor_args     the monitor's flags before `--` (default [])
    requests         requests of the watched client (default 10)
    noise            noise clients (default 3)
    watched_timeout  seconds the monitor may take (default 60)

It prints one JSON object (see run) and exits 0 when it could run the
scenario, whatever the monitor did; 2, with the reason on stderr, when it
could not (a server did not start, or a noise client made no request).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "daemons"))
from driver import HarnessError, Spawned, read_text, wait_for  # noqa: E402

SERVERS = ["apache", "nginx-php", "java", "java-ipv4", "mariadb", "memcached"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def fill(template, destination, values):
    """Copies a configuration file of this directory with @KEY@ replaced."""
    text = read_text(os.path.join(HERE, template))
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    with open(destination, "w") as f:
        f.write(text)


def process_tree(roots):
    """The pids of `roots` and of all their descendants, with each one's comm."""
    parents, comms = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = read_text(f"/proc/{entry}/stat")
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            comms[int(entry)] = comm
        except (ValueError, IndexError):
            continue
    found = {pid for pid in roots if pid in comms}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return {pid: comms[pid] for pid in sorted(found)}


class Server:
    """One server: `start` launches it and waits until it serves; `watched_argv`
    is the watched client; `request` makes one noise request; `paths` are the
    files a request named `name` makes."""

    separator = "-"

    def __init__(self, workdir):
        self.workdir = workdir
        self.files = os.path.join(workdir, "files")
        os.makedirs(self.files)
        os.chmod(self.files, 0o777)
        self.spawned = []

    def spawn(self, argv, name):
        child = Spawned(argv, self.workdir, name)
        self.spawned.append(child)
        return child

    def ready(self, condition, what, timeout=30):
        if not wait_for(lambda: condition() or not all(s.running() for s in self.spawned), timeout, 0.05) \
                or not all(s.running() for s in self.spawned):
            states = "; ".join(s.describe() for s in self.spawned)
            raise HarnessError(f"{what} did not get ready: {states}")

    def paths(self, name):
        return [os.path.join(self.files, name)]

    @property
    def pids(self):
        return [s.pid for s in self.spawned]

    def stop(self, timeout=20):
        return [s.stop(timeout) for s in reversed(self.spawned)]

    def kill(self):
        for s in reversed(self.spawned):
            s.kill()


class HTTPServer(Server):
    """A server answering GET `path`?name=NAME on 127.0.0.1:port."""

    path = "/"

    def url(self, name):
        return f"http://127.0.0.1:{self.port}{self.path}?name={name}"

    def watched_argv(self, requests):
        # One curl, one connection kept alive, the URLs one after another.
        return ["curl", "--silent", "--show-error", "--fail", "--output", "/dev/null",
                self.url(f"watched-[1-{requests}]")]

    def request(self, state, name):
        for attempt in range(2):
            if state.get("connection") is None:
                state["connection"] = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                state["connection"].request("GET", self.url(name))
                response = state["connection"].getresponse()
                response.read()
                return response.status == 200
            except (OSError, http.client.HTTPException):
                state["connection"].close()
                state["connection"] = None
        return False


class Apache(HTTPServer):
    path = "/cgi/write.cgi"

    def start(self):
        self.port = free_port()
        os.makedirs(os.path.join(self.workdir, "cgi"))
        shutil.copy(os.path.join(HERE, "write.cgi"), os.path.join(self.workdir, "cgi", "write.cgi"))
        os.chmod(os.path.join(self.workdir, "cgi", "write.cgi"), 0o755)
        config = os.path.join(self.workdir, "apache.conf")
        fill("apache.conf", config, {"WORK": self.workdir, "PORT": self.port, "FILES": self.files})
        self.spawn(["/usr/sbin/apache2", "-f", config, "-DFOREGROUND"], "apache")
        # mod_cgid's daemon listens on the ScriptSock path with the parent's pid appended.
        cgid = lambda: any(n.startswith("cgid.sock") for n in os.listdir(self.workdir))  # noqa: E731
        self.ready(lambda: listening(self.port) and cgid(), "apache")


class NginxPHP(HTTPServer):
    path = "/write.php"

    def start(self):
        self.port = free_port()
        www = os.path.join(self.workdir, "www")
        os.makedirs(www)
        shutil.copy(os.path.join(HERE, "write.php"), os.path.join(www, "write.php"))
        os.chmod(www, 0o755)
        os.chmod(os.path.join(www, "write.php"), 0o644)
        values = {"WORK": self.workdir, "PORT": self.port, "FILES": self.files}
        fill("php-fpm.conf", os.path.join(self.workdir, "php-fpm.conf"), values)
        fill("nginx.conf", os.path.join(self.workdir, "nginx.conf"), values)
        php = shutil.which("php-fpm") or sorted(p for p in os.listdir("/usr/sbin") if p.startswith("php-fpm"))[-1:]
        php = php if isinstance(php, str) else os.path.join("/usr/sbin", php[0]) if php else "php-fpm"
        self.spawn([php, "--nodaemonize", "--fpm-config", os.path.join(self.workdir, "php-fpm.conf")], "php-fpm")
        socket_path = os.path.join(self.workdir, "php.sock")
        self.ready(lambda: os.path.exists(socket_path), "php-fpm")
        self.spawn(["/usr/sbin/nginx", "-p", self.workdir + "/", "-e", os.path.join(self.workdir, "nginx-error.log"),
                    "-c", os.path.join(self.workdir, "nginx.conf")], "nginx")
        self.ready(lambda: listening(self.port), "nginx")


class Java(HTTPServer):
    path = "/write"
    options = []

    def start(self):
        self.port = free_port()
        child = self.spawn(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1"] + self.options + [
                            os.path.join(HERE, "Server.java"), str(self.port), self.files, "4"], "java")
        self.ready(lambda: "ready" in child.stdout().split(), "java", timeout=60)


class JavaIPv4(Java):
    options = ["-Djava.net.preferIPv4Stack=true"]


class MariaDB(Server):
    separator = "_"

    def start(self):
        self.data = os.path.join(self.workdir, "db")
        self.socket = os.path.join(self.workdir, "mariadb.sock")
        install = subprocess.run(
            ["mariadb-install-db", "--no-defaults", "--datadir=" + self.data, "--user=root", "--skip-test-db",
             "--auth-root-authentication-method=normal"], capture_output=True, text=True, timeout=120)
        if install.returncode != 0:
            raise HarnessError(f"mariadb-install-db failed: {install.stderr[-2000:]}")
        self.spawn(["mariadbd", "--no-defaults", "--datadir=" + self.data, "--socket=" + self.socket,
                    "--skip-networking", "--user=root", "--pid-file=" + os.path.join(self.workdir, "mariadb.pid"),
                    "--log-error=" + os.path.join(self.workdir, "mariadb.log"), "--innodb-buffer-pool-size=32M",
                    "--skip-grant-tables"], "mariadbd")
        self.ready(lambda: self.sql("SELECT 1", check=False), "mariadbd", timeout=60)
        if not self.sql("CREATE DATABASE t"):
            raise HarnessError("CREATE DATABASE failed")
        # Tables are made under the database's directory; that is where files are scored.
        self.files = os.path.join(self.data, "t")

    def client(self, statements):
        return ["mariadb", "--no-defaults", "--socket=" + self.socket, "--user=root", "-e", statements]

    def sql(self, statements, check=True):
        result = subprocess.run(self.client(statements), capture_output=True, text=True, timeout=30)
        return result.returncode == 0

    def watched_argv(self, requests):
        return self.client(" ".join(f"CREATE TABLE t.watched_{i} (a INT);" for i in range(1, requests + 1)))

    def request(self, state, name):
        return self.sql(f"CREATE TABLE t.{name} (a INT);")

    def paths(self, name):
        return [os.path.join(self.files, name + ".frm"), os.path.join(self.files, name + ".ibd")]


class Memcached(Server):
    def start(self):
        self.port = free_port()
        self.spawn(["memcached", "-u", "root", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-t", "4",
                    "-m", "16"], "memcached")
        self.ready(lambda: listening(self.port), "memcached")

    def watched_argv(self, requests):
        return ["/usr/bin/python3", "-B", os.path.join(HERE, "memclient.py"), str(self.port), "watched",
                str(requests)]

    def request(self, state, name):
        try:
            if state.get("connection") is None:
                state["connection"] = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                state["stream"] = state["connection"].makefile("rb")
            value = name.encode()
            state["connection"].sendall(b"set %s 0 0 %d\r\n%s\r\n" % (value, len(value), value))
            return state["stream"].readline() == b"STORED\r\n"
        except OSError:
            state["connection"] = None
            return False

    def paths(self, name):
        return []


CLASSES = {"apache": Apache, "nginx-php": NginxPHP, "java": Java, "java-ipv4": JavaIPv4, "mariadb": MariaDB,
           "memcached": Memcached}


class Noise:
    """Unwatched clients: threads of this driver making requests one after another."""

    def __init__(self, server, count):
        self.server = server
        self.stopping = threading.Event()
        self.done = [0] * count
        self.failed = [0] * count
        self.threads = [threading.Thread(target=self.loop, args=(j,), daemon=True) for j in range(count)]
        for thread in self.threads:
            thread.start()

    def name(self, j, k):
        return f"noise{j + 1}{self.server.separator}{k}"

    def loop(self, j):
        state = {}
        while not self.stopping.is_set():
            if self.server.request(state, self.name(j, self.done[j] + self.failed[j] + 1)):
                self.done[j] += 1
            else:
                self.failed[j] += 1
                time.sleep(0.05)

    def wait_served(self, timeout=30):
        if not wait_for(lambda: all(self.done), timeout):
            self.stop()
            raise HarnessError(f"noise clients made no request: done {self.done}, failed {self.failed}")

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)
        return [{"requests": done, "failed": failed} for done, failed in zip(self.done, self.failed)]

    def names(self):
        return [self.name(j, k) for j in range(len(self.done)) for k in range(1, self.done[j] + self.failed[j] + 1)]


def run(spec):
    """Runs one scenario. Returns:

        server           the server's name
        files            the directory where requests make their files (scored there)
        pids_before      {pid: comm} of the server's processes before the watched client
        pids_after       the same once it had ended
        watched          the monitor's end ({name, pid, status, timed_out, leftovers,
                         seconds, stdout, stderr}, paths to the output files), and its argv
        truth            the paths the watched client's requests made (or should have)
        truth_present    those of them that existed when it had ended
        noise            each noise client's requests done and failed
        noise_paths      the paths the noise clients' requests made that exist at the end
        names_at_end     every name in `files` at the end
        stops            each server process's end, in order of stopping
    """
    workdir = spec["workdir"]
    name = spec["server"]
    if name not in CLASSES:
        raise HarnessError(f"unknown server {name!r}; known: {SERVERS}")
    requests = spec.get("requests", 10)
    server = CLASSES[name](workdir)
    noise = None
    try:
        server.start()
        pids_before = process_tree(server.pids)
        noise = Noise(server, spec.get("noise", 3))
        noise.wait_served()
        argv = [spec["monitor"]] + spec.get("monitor_args", []) + ["--"] + server.watched_argv(requests)
        watched = dict(Spawned(argv, workdir, "watched").wait(spec.get("watched_timeout", 60)), argv=argv)
        pids_after = process_tree(server.pids)
        truth = [p for i in range(1, requests + 1) for p in server.paths(f"watched{server.separator}{i}")]
        truth_present = [p for p in truth if os.path.exists(p)]
        noise_ends = noise.stop()
        noise_paths = [p for n in noise.names() for p in server.paths(n) if os.path.exists(p)]
        noise = None
        names_at_end = sorted(os.listdir(server.files))
        stops = server.stop()
    finally:
        if noise is not None:
            noise.stop()
        server.kill()
    return {
        "server": name,
        "files": server.files,
        "pids_before": pids_before,
        "pids_after": pids_after,
        "watched": watched,
        "truth": truth,
        "truth_present": truth_present,
        "noise": noise_ends,
        "noise_paths": noise_paths,
        "names_at_end": names_at_end,
        "stops": stops,
    }


def main(argv):
    if len(argv) != 3 or argv[1] != "run":
        print(__doc__, file=sys.stderr)
        return 2
    try:
        report = run(json.loads(argv[2]))
    except (HarnessError, KeyError, ValueError, OSError, subprocess.SubprocessError) as error:
        print(f"servers: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main(sys.argv))
