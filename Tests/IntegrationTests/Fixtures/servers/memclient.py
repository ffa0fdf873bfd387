#!/usr/bin/env python3
"""A memcached client for the watched command: `memclient.py PORT PREFIX COUNT`
stores COUNT keys PREFIX-1.. over one TCP connection to 127.0.0.1:PORT with
the text protocol, reads each back, and exits 0 when every reply was right."""

import socket
import sys


def reply(stream):
    line = stream.readline()
    if not line:
        raise SystemExit("memclient: the server closed the connection")
    return line


def main(port, prefix, count):
    with socket.create_connection(("127.0.0.1", port)) as connection:
        stream = connection.makefile("rb")
        for i in range(1, count + 1):
            key = f"{prefix}-{i}".encode()
            value = key + b" value"
            connection.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))
            if reply(stream) != b"STORED\r\n":
                raise SystemExit(f"memclient: set {key!r} failed")
            connection.sendall(b"get %s\r\n" % key)
            lines = [reply(stream) for _ in range(3)]
            if lines[1] != value + b"\r\n" or lines[2] != b"END\r\n":
                raise SystemExit(f"memclient: get {key!r} answered {lines!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
