#!/usr/bin/env python3
"""Writes the seed inputs of the tracker's fuzz target (Sources/FuzzTracker)
into corpus/: record streams as the kernel's buffer delivers them, laid out
as bpf/events.h defines them. Run it again after a layout changes."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
FORK, EXEC, EXIT, SYSCALL = 1, 2, 3, 4
NR_OPENAT, NR_UNLINKAT, NR_RENAMEAT2, NR_CONNECT, NR_CLOSE = 257, 263, 316, 42, 3
AT_FDCWD = (1 << 64) - 100


def header(kind, size, ktime, pid, tid, comm, tag=0):
    return struct.pack("<HHHHQIIII16s", kind, size, 0, 0, ktime, pid, tid, tag, 0, comm.encode())


def fork(ktime, parent, child, thread=False):
    body = struct.pack("<IIIIQII", child, child, parent, 1 if thread else 0, 0, child, 0)
    return header(FORK, 80, ktime, parent, parent, "sh", parent) + body


def execve(ktime, pid, path, argv):
    args = b"\0".join(a.encode() for a in argv) + b"\0"
    size = 48 + 16 + 1024 + len(args)
    body = struct.pack("<IIHHi", pid, 0, len(path), len(args), 0) + path.encode().ljust(1024, b"\0") + args
    return header(EXEC, size, ktime, pid, pid, os.path.basename(path)[:15]) + body


def exit(ktime, pid, status):
    return header(EXIT, 64, ktime, pid, pid, "sh") + struct.pack("<IIIi", status << 8, 0, 1, 0)


def syscall(ktime, pid, nr, ret, args, paths=(b"", b""), flags=0):
    used = [p for p in paths if p]
    body = struct.pack("<q6QII", ret, *(list(args) + [0] * (6 - len(args))), nr, flags)
    body += struct.pack("<QIII", 0, 0, 0, 0) + bytes(28)  # file facts and io_totals (32 bytes in all)
    body += struct.pack("<HHHH", len(paths[0]), len(paths[1]), 0, 0o100644)
    tail = paths[0].ljust(4096, b"\0") + paths[1] if paths[1] else paths[0]
    size = 168 + len(tail)
    return header(SYSCALL, size, ktime, pid, pid, "sh") + body + tail


def write(name, first, records):
    with open(os.path.join(HERE, "corpus", name), "wb") as out:
        out.write(bytes([first]) + b"".join(records))


life = [fork(10, 100, 101), execve(20, 101, "/bin/ls", ["ls", "-l", "/tmp"]), exit(30, 101, 0), exit(40, 100, 0)]
write("process-tree", 0, life)
write("process-tree-shell", 1, life)
files = [
    fork(10, 100, 102),
    execve(11, 102, "/bin/sh", ["sh", "-c", "mysql -pS3cret; echo x > f"]),
    syscall(12, 102, NR_OPENAT, 3, [AT_FDCWD, 0, 0o1101, 0o644], (b"/tmp/f", b"")),
    syscall(13, 102, NR_CLOSE, 0, [3]),
    syscall(14, 102, NR_RENAMEAT2, 0, [AT_FDCWD, 0, AT_FDCWD, 0], (b"/tmp/f", b"/tmp/g")),
    syscall(15, 102, NR_UNLINKAT, 0, [AT_FDCWD, 0, 0], (b"/tmp/g", b"")),
    exit(16, 102, 1),
    exit(17, 100, 0),
]
write("files", 0, files)
write("files-lost", 2, files)
write("out-of-order", 0, list(reversed(files)))
