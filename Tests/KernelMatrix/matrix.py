#!/usr/bin/env python3
"""make test-kernels: boots Debian's stock kernels under QEMU and runs the
real monitor inside each one (guest/checks.py).

    matrix.py --monitor BIN [KERNEL ...]      KERNEL: 5.10 | 6.1 | 6.12 (default: all)

Each guest is the kernel of a Debian suite (its linux-image-amd64) with that
kernel's headers, over one user space: Debian 12's, which the monitor is
built against (its glibc and libbcc), made with mmdebstrap. The monitor must
be built with -static-stdlib: the guest has no Swift runtime. The fixtures
the checks use are compiled here. Everything goes into one initramfs, so
the kernel needs no disk or module to reach its init, and the checks' lines
come back on the serial console.

Downloads are cached in KERNEL_CACHE (default /var/cache/ebpf-monitor/kernels):
the user space by its package list, each suite's kernel packages by version.
A fresh machine builds them (about a minute); then a kernel's guest is
assembled in seconds. Each guest runs under a timeout (GUEST_TIMEOUT, default
1500 s): a guest that does not boot, hangs or dies before its checks end is a
failure, with its console log. Logs go to OUT_DIR (default
/var/tmp/ebpf-monitor-kernels).

Exits 0 when every check on every kernel passed, 1 when one failed, 2 when a
guest could not be made or run.
"""

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "Tests", "IntegrationTests", "Fixtures")
sys.path.insert(0, os.path.join(FIXTURES, "daemons"))
sys.dont_write_bytecode = True
import driver  # noqa: E402  (builds the fixture daemons)

KERNELS = {"5.10": "bullseye", "6.1": "bookworm", "6.12": "trixie"}
USERLAND_SUITE = "bookworm"
USERLAND_PACKAGES = ["libbpfcc", "libbpf1", "python3", "iproute2", "procps", "util-linux", "kmod"]
CACHE = os.environ.get("KERNEL_CACHE", "/var/cache/ebpf-monitor/kernels")
OUT_DIR = os.environ.get("OUT_DIR", "/var/tmp/ebpf-monitor-kernels")
GUEST_TIMEOUT = int(os.environ.get("GUEST_TIMEOUT", "1500"))
GUEST_HOME = "opt/kernel-matrix"
ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class MatrixError(Exception):
    """A guest could not be made or run."""


def log(message):
    print(f"test-kernels: {message}", flush=True)


def run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise MatrixError(f"{' '.join(argv[:4])} ... failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def debian_mirror():
    """The Debian archive this machine's apt uses (deb822 or one-line sources)."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + ["/etc/apt/sources.list"]:
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split()
            if path.endswith(".sources") and words[:1] == ["URIs:"] and "security" not in line:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
    raise MatrixError("no Debian archive in /etc/apt/sources.list{,.d}")


# MARK: - Cached downloads


def userland():
    """A tar of Debian 12's user space with the monitor's libraries, cached by package list."""
    key = hashlib.sha256(" ".join([USERLAND_SUITE] + USERLAND_PACKAGES).encode()).hexdigest()[:12]
    path = os.path.join(CACHE, f"userland-{USERLAND_SUITE}-{key}.tar")
    if os.path.exists(path):
        return path
    os.makedirs(CACHE, exist_ok=True)
    log(f"making the guests' user space with mmdebstrap ({USERLAND_SUITE})")
    partial = path + ".partial"
    run(["mmdebstrap", "--quiet", "--format=tar", "--variant=minbase", "--include=" + ",".join(USERLAND_PACKAGES), USERLAND_SUITE,
         partial, debian_mirror()], timeout=1200)
    os.rename(partial, path)
    for old in glob.glob(os.path.join(CACHE, f"userland-{USERLAND_SUITE}-*.tar")):
        if old != path:
            os.remove(old)
    return path


class Apt:
    """apt-get and apt-cache over one suite of the archive, apart from the
    machine's own sources and installed packages."""

    def __init__(self, suite):
        self.suite = suite
        self.dir = os.path.join(CACHE, f"apt-{suite}")
        for sub in ("lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, "sources.list"), "w") as f:
            f.write(f"deb [signed-by={ARCHIVE_KEYRING}] {debian_mirror()} {suite} main\n")
        open(os.path.join(self.dir, "status"), "a").close()
        self.options = []
        for option, value in (("Dir::Etc::SourceList", "sources.list"), ("Dir::State::Lists", "lists"),
                              ("Dir::State::status", "status"), ("Dir::Cache", "cache")):
            self.options += ["-o", f"{option}={os.path.join(self.dir, value)}"]
        self.options += ["-o", "Dir::Etc::SourceParts=/dev/null", "-o", "APT::Architecture=amd64"]

    def update(self):
        run(["apt-get"] + self.options + ["update", "-qq"], timeout=300)

    def depends(self, package, prefix):
        """The first package `package` depends on whose name starts with `prefix`."""
        for line in run(["apt-cache"] + self.options + ["depends", package]).splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "Depends:" and words[1].startswith(prefix):
                return words[1]
        raise MatrixError(f"{self.suite}: {package} depends on no {prefix}*")

    def download(self, packages, into):
        run(["apt-get"] + self.options + ["download"] + packages, cwd=into, timeout=600)


def kernel_packages(suite):
    """The .debs of the suite's current kernel image and its headers, cached."""
    apt = Apt(suite)
    debs = os.path.join(CACHE, f"debs-{suite}")
    os.makedirs(debs, exist_ok=True)
    try:
        apt.update()
        image = apt.depends("linux-image-amd64", "linux-image-")
        headers = apt.depends("linux-headers-amd64", "linux-headers-")
        common = apt.depends(headers, "linux-headers-")
    except MatrixError as error:
        cached = sorted(glob.glob(os.path.join(debs, "*.deb")))
        if len(cached) == 3:
            log(f"{suite}: the archive could not be read; using the cached kernel ({error})")
            return cached
        raise
    wanted = [image, headers, common]
    present = {os.path.basename(p).split("_")[0]: p for p in glob.glob(os.path.join(debs, "*.deb"))}
    if sorted(present) != sorted(wanted):
        for old in present.values():
            os.remove(old)
        log(f"{suite}: downloading {' '.join(wanted)}")
        apt.download(wanted, debs)
    return sorted(glob.glob(os.path.join(debs, "*.deb")))


# MARK: - The guest


def build_fixtures(bin_dir):
    """The programs the checks run, compiled here: the guest has no compiler."""
    shutil.rmtree(bin_dir, ignore_errors=True)
    driver.build(bin_dir, ["threadpool", "golock", "datagram", "client"])
    run(["cc", "-O2", "-Wall", "-Werror", "-pthread", "-o", os.path.join(bin_dir, "tree"),
         os.path.join(FIXTURES, "tree.c")])


def extract(deb, root):
    """Unpacks a .deb into `root`, keeping the user space's merged /lib -> usr/lib links."""
    tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    run(["tar", "-x", "--keep-directory-symlink", "-C", root], stdin=tar.stdout)
    if tar.wait() != 0:
        raise MatrixError(f"dpkg-deb could not read {deb}")


def assemble(suite, monitor, fixtures, work):
    """The guest's kernel and initramfs. Returns (vmlinuz, initramfs, the kernel's release)."""
    root = os.path.join(work, "root")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(root)
    run(["tar", "-x", "-f", userland(), "-C", root])
    debs = kernel_packages(suite)
    for deb in debs:
        extract(deb, root)
    boot = os.path.join(root, "boot")
    kernels = glob.glob(os.path.join(boot, "vmlinuz-*"))
    if len(kernels) != 1:
        raise MatrixError(f"{suite}: no single vmlinuz in {debs}")
    release = os.path.basename(kernels[0])[len("vmlinuz-"):]
    vmlinuz = os.path.join(work, "vmlinuz")
    shutil.move(kernels[0], vmlinuz)
    shutil.rmtree(boot)
    # Of the modules, the guest keeps the network ones: the sock_diag modules
    # the monitor's peer look-ups load, as a stock system does. BCC finds
    # the headers through /lib/modules/RELEASE/{build,source}.
    modules = os.path.join(root, "lib", "modules", release)
    for kind in os.listdir(os.path.join(modules, "kernel")):
        if kind != "net":
            shutil.rmtree(os.path.join(modules, "kernel", kind))
    run(["chroot", root, "depmod", release])  # the guest's own kmod
    sources = os.listdir(os.path.join(root, "usr", "src"))
    for link, suffix in (("build", "-amd64"), ("source", "-common")):
        target = next((s for s in sources if s.endswith(suffix)), None)
        if target is None:
            raise MatrixError(f"{suite}: no headers ending in {suffix} in /usr/src: {sources}")
        path = os.path.join(modules, link)
        if os.path.lexists(path):
            os.remove(path)
        os.symlink(f"/usr/src/{target}", path)
    shutil.copy(monitor, os.path.join(root, "usr", "local", "bin", "ebpf-monitor"))
    home = os.path.join(root, GUEST_HOME)
    os.makedirs(os.path.join(home, "daemons"))
    shutil.copy(os.path.join(HERE, "guest", "checks.py"), home)
    shutil.copy(os.path.join(FIXTURES, "daemons", "driver.py"), os.path.join(home, "daemons"))
    shutil.copytree(fixtures, os.path.join(home, "bin"))
    shutil.copy(os.path.join(HERE, "guest", "init"), os.path.join(root, "init"))
    initramfs = os.path.join(work, "initramfs.zst")
    with open(initramfs, "wb") as out:
        names = subprocess.Popen(["find", "."], cwd=root, stdout=subprocess.PIPE)
        cpio = subprocess.Popen(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, stdin=names.stdout,
                                stdout=subprocess.PIPE)
        zstd = subprocess.run(["zstd", "-1", "-q", "-T0"], stdin=cpio.stdout, stdout=out)
        if names.wait() or cpio.wait() or zstd.returncode:
            raise MatrixError("making the initramfs failed")
    shutil.rmtree(root)
    return vmlinuz, initramfs, release


def boot(vmlinuz, initramfs, console):
    """Runs the guest to its end. Returns (checks, seconds, what went wrong or None)."""
    argv = ["qemu-system-x86_64", "-accel", "tcg,thread=single", "-smp", "2", "-m", "4096", "-nographic",
            "-no-reboot", "-monitor", "none", "-display", "none", "-serial", f"file:{console}",
            "-kernel", vmlinuz, "-initrd", initramfs,
            "-append", "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3"]
    started = time.monotonic()
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=GUEST_TIMEOUT)
        failure = None
    except subprocess.TimeoutExpired:
        failure = f"the guest did not finish in {GUEST_TIMEOUT} s"
    seconds = time.monotonic() - started
    lines = open(console, errors="replace").read().splitlines()
    checks = [json.loads(line[len("KCHECK "):]) for line in lines if line.startswith("KCHECK {")]
    if failure is None and "KCHECK-END" not in lines:
        failure = "the guest ended before its checks did"
    if failure:
        tail = "\n".join(lines[-60:])
        failure += f"; the console's last lines ({console}):\n{tail}"
    return checks, seconds, failure


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitor", required=True, help="an ebpf-monitor built with -static-stdlib")
    parser.add_argument("kernels", nargs="*", default=list(KERNELS), help="kernels to boot: " + " ".join(KERNELS))
    args = parser.parse_args()
    unknown = [k for k in args.kernels if k not in KERNELS]
    if unknown:
        parser.error(f"unknown kernel {unknown}; known: {list(KERNELS)}")
    if os.geteuid() != 0:
        parser.error("needs root (mmdebstrap and the cache)")
    os.makedirs(OUT_DIR, exist_ok=True)
    failed = broken = False
    results = []
    failures_seen = []  # repeated at the end, where a CI log's tail shows them
    try:
        fixtures = os.path.join(OUT_DIR, "bin")
        build_fixtures(fixtures)
        for version in args.kernels:
            suite = KERNELS[version]
            log(f"{version} ({suite}): assembling the guest")
            vmlinuz, initramfs, release = assemble(suite, args.monitor, fixtures,
                                                   os.path.join(OUT_DIR, suite))
            console = os.path.join(OUT_DIR, f"console-{suite}.log")
            log(f"{version} ({suite}): booting {release}")
            checks, seconds, failure = boot(vmlinuz, initramfs, console)
            bad = [c for c in checks if not c["ok"]]
            for check in checks:
                mark = "ok  " if check["ok"] else "FAIL"
                log(f"  {mark} {check['check']}" + ("" if check["ok"] else f": {check['detail']}"))
            if failure:
                log(f"  FAIL {failure}")
            results.append((version, release, len(checks) - len(bad), len(checks), seconds, failure is None))
            failures_seen += [f"{version}: {c['check']}: {c['detail'][:600]}" for c in bad]
            failed = failed or bool(bad) or failure is not None or not checks
    except MatrixError as error:
        log(f"error: {error}")
        broken = True
    for version, release, passed, total, seconds, finished in results:
        log(f"{version:<5} {release:<26} {passed}/{total} checks passed in {seconds:.0f} s"
            + ("" if finished else ", guest failed"))
    for failure in failures_seen:
        log(f"FAILED {failure}")
    # The closing line CI reads: failed checks, and each guest that failed, count as failures.
    passed = sum(r[2] for r in results)
    failures = sum(r[3] - r[2] + (not r[5]) for r in results)
    print(f"test-kernels: {passed} passed, {failures} failed")
    return 2 if broken else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
