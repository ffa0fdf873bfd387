#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets. corpus/ for the tracker's
(Sources/FuzzTracker): record streams as the kernel's buffer delivers them,
laid out as bpf/events.h defines them. corpus-parsers/ for the parsers'
(Sources/FuzzParsers): sock_diag reply datagrams laid out as the kernel's
uapi headers define them, and /proc files as this project's machine
serves them. Run it again after a layout changes."""
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


def write(name, first, records, folder="corpus"):
    os.makedirs(os.path.join(HERE, folder), exist_ok=True)
    with open(os.path.join(HERE, folder, name), "wb") as out:
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


# The parsers' target: the first byte picks the parser, in the order of
# `enum Parser` in Sources/FuzzParsers/FuzzParsers.swift.
UNIX_REPLY, TCP_REPLY, UDP_REPLY, STAT, CMDLINE, STATUS, FDINFO, MOUNTINFO, SOCKET_LINK = range(9)
SOCK_DIAG_BY_FAMILY, NLMSG_ERROR, NLMSG_DONE, NLM_F_MULTI, SEQ = 20, 2, 3, 2, 1
UNIX_DIAG_NAME, UNIX_DIAG_PEER, UNIX_DIAG_ICONS, UNIX_DIAG_SHUTDOWN = 0, 2, 3, 6
INET_DIAG_SKV6ONLY = 11
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
WANTED_ICON = 7  # `wantedIcon` in FuzzParsers.swift
ENOENT = 2


def pad4(data):
    return data + bytes(-len(data) % 4)


def nlmsg(kind, body, seq=SEQ):
    return pad4(struct.pack("<IHHII", 16 + len(body), kind, NLM_F_MULTI, seq, 0) + body)


def nlattr(kind, payload):
    return pad4(struct.pack("<HH", 4 + len(payload), kind) + payload)


def done(status=0):
    return nlmsg(NLMSG_DONE, struct.pack("<i", status))


def error(errno):
    return nlmsg(NLMSG_ERROR, struct.pack("<i", -errno) + struct.pack("<IHHII", 16, SOCK_DIAG_BY_FAMILY, 0, SEQ, 0))


def unix_socket(inode, sock_type=1, state=1, attributes=b""):
    return nlmsg(SOCK_DIAG_BY_FAMILY, struct.pack("<BBBBIII", AF_UNIX, sock_type, state, 0, inode, 0, 0) + attributes)


def inet_socket(family, state, local, lport, remote, rport, inode, attributes=b""):
    sockid = struct.pack(">HH", lport, rport) + local.ljust(16, b"\0") + remote.ljust(16, b"\0") + struct.pack("<III", 0, 0, 0)
    body = struct.pack("<BBBB", family, state, 0, 0) + sockid + struct.pack("<IIIII", 0, 0, 0, 0, inode)
    return nlmsg(SOCK_DIAG_BY_FAMILY, body + attributes)


def parsers(name, parser, parts):
    write(name, parser, parts, folder="corpus-parsers")


LOOPBACK4, LOOPBACK6, ANY6 = bytes([127, 0, 0, 1]), bytes(15) + b"\1", bytes(16)
parsers("unix-exact", UNIX_REPLY, [unix_socket(4242, attributes=nlattr(UNIX_DIAG_NAME, b"/run/app.sock\0")
                                               + nlattr(UNIX_DIAG_PEER, struct.pack("<I", 4243))
                                               + nlattr(UNIX_DIAG_SHUTDOWN, b"\0"))])
parsers("unix-listeners", UNIX_REPLY, [
    unix_socket(10, state=10, attributes=nlattr(UNIX_DIAG_NAME, b"\0abstract") + nlattr(UNIX_DIAG_ICONS, struct.pack("<II", 3, 5))),
    unix_socket(11, state=10, attributes=nlattr(UNIX_DIAG_NAME, b"/tmp/s\0") + nlattr(UNIX_DIAG_ICONS, struct.pack("<III", 6, WANTED_ICON, 8))),
    done(),
])
parsers("unix-error", UNIX_REPLY, [error(ENOENT)])
parsers("tcp-dump", TCP_REPLY, [
    inet_socket(AF_INET, 1, LOOPBACK4, 8080, LOOPBACK4, 51000, 77),
    inet_socket(AF_INET6, 10, ANY6, 443, ANY6, 0, 78, nlattr(INET_DIAG_SKV6ONLY, b"\1")),
    inet_socket(AF_INET6, 1, LOOPBACK6, 443, LOOPBACK6, 40000, 0),
    done(),
])
parsers("udp-dump", UDP_REPLY, [inet_socket(AF_INET, 7, LOOPBACK4, 53, bytes(4), 0, 90), done()])
parsers("stat", STAT, [b"11440 (cat) R 11438 11438 3797 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 7275618 3133440 412 "
                       b"18446744073709551615 94905799663616 94905799683497 140736078384816 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"])
parsers("stat-hostile-comm", STAT, [b"77 (a) (b) R 9 c) S 1 77 77 0 -1\n"])
parsers("cmdline", CMDLINE, [b"sh\0-c\0echo hi > /tmp/x\0"])
parsers("status", STATUS, [b"Name:\thead\nState:\tR (running)\nPPid:\t11438\nVmHWM:\t    1744 kB\nVmRSS:\t    1744 kB\n"
                           b"Threads:\t1\n"])
parsers("fdinfo", FDINFO, [b"pos:\t0\nflags:\t0100002\nmnt_id:\t24\nino:\t3\n"])
parsers("mountinfo", MOUNTINFO, [b"22 27 0:21 / /proc rw,relatime - proc proc rw\n"
                                 b"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
                                 b"301 27 0:52 / /var/lib/docker/overlay2/ab\\040cd/merged rw,relatime - overlay overlay rw\n"
                                 b"302 27 254:0 /srv/data /mnt/with\\134backslash\\011tab rw - ext4 /dev/vda rw\n"])
parsers("socket-link", SOCKET_LINK, [b"socket:[4242]"])
parsers("pipe-link", SOCKET_LINK, [b"pipe:[4242]"])
