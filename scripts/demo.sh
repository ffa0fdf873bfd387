#!/bin/sh
# The built-in demo that `make run` traces when given no ARGS: a few seconds
# of ordinary work, so a newcomer sees every kind of event at once.
#   - child processes (sh, touch, mv, rm, python3) and a python thread;
#   - files created, written, renamed and deleted in a fresh temp dir;
#   - a round trip over a local unix socket and over TCP on 127.0.0.1,
#     to a listener the demo starts itself and stops.
set -eu

dir=$(mktemp -d "${TMPDIR:-/tmp}/ebpf-monitor-demo.XXXXXX")
echo "demo: working in $dir" >&2

# A child shell that writes a file.
sh -c 'echo "hello from $$" > "$1/notes.txt"' sh "$dir"

# Create, rename, delete.
touch "$dir/draft.txt"
mv "$dir/draft.txt" "$dir/final.txt"
mkdir "$dir/sub"
cp "$dir/notes.txt" "$dir/sub/copy.txt"
cat "$dir/final.txt" "$dir/sub/copy.txt" >/dev/null
rm "$dir/final.txt" "$dir/sub/copy.txt"
rmdir "$dir/sub"

# Local sockets: a listener thread and a client in one python3 process.
# Prefer Debian's python3 over a version-manager shim (fewer execs to show).
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || py=""
[ -n "$py" ] || echo "demo: no python3 (make setup installs it); skipping the socket part" >&2
[ -z "$py" ] || "$py" - "$dir/demo.sock" <<'PY'
import socket, sys, threading

def serve(srv):
    for _ in range(2):
        conn, _ = srv.accept()
        with conn:
            conn.sendall(b"pong:" + conn.recv(64))

unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix.bind(sys.argv[1])
unix.listen(1)
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.bind(("127.0.0.1", 0))
tcp.listen(1)
threads = [threading.Thread(target=serve, args=(s,)) for s in (unix, tcp)]
for t in threads:
    t.start()
for family, addr, srv in ((socket.AF_UNIX, sys.argv[1], unix),
                          (socket.AF_INET, tcp.getsockname(), tcp)):
    for i in range(2):
        with socket.socket(family, socket.SOCK_STREAM) as c:
            c.connect(addr)
            c.sendall(b"ping%d" % i)
            reply = c.recv(64)
    print("demo: %s socket answered %s" % ("unix" if family == socket.AF_UNIX else "tcp", reply.decode()),
          file=sys.stderr)
for t in threads:
    t.join()
unix.close()
tcp.close()
PY

rm -f "$dir/demo.sock" "$dir/notes.txt"
rmdir "$dir"
echo "demo: done" >&2
