#!/usr/bin/python3
"""The least a BCC tracer of a command's file work costs: make bench's
"lean-bcc" anchor.

    lean-tracer.py TRACE CMD [ARG...]

It runs CMD and traces its process tree with the fewest probes and the least
work that still gives the records ebpf-monitor's trace is built from:

- a record with the path for each openat, unlinkat and mkdirat;
- writes, fchown, fchmod and futimens summed per fd in the kernel, and sent
  in one record with the close;
- a record for each fork, exec and exit.

Per-syscall tracepoints (a syscall no probe names costs one bit test), one
ring buffer woken by no record and polled every 50 ms, no daemons, no fd
tables, no decoding: the raw records go to TRACE as they are. Set beside
ebpf-monitor in one run, it shows how much of the monitor's cost to a
workload any tracer of these records pays on this machine.
"""
import ctypes
import os
import sys

from bcc import BPF

PROGRAM = r"""
struct fd_key { u32 pid; u32 fd; };
struct fd_sums { u64 written; u32 writes; u32 metadata; };
struct record {
    u32 kind;
    u32 path_len;
    u64 ktime;
    u32 pid;
    u32 tid;
    s64 ret;
    s64 fd;
    struct fd_sums sums;
    char path[256];
};
enum { OPEN = 1, UNLINK, MKDIR, CLOSE, FORK, EXEC, EXIT };
enum { CHOWNED = 1, CHMODDED = 2, TOUCHED = 4 };

BPF_RINGBUF_OUTPUT(events, 8192);
BPF_HASH(watched, u32, u8, 65536);
BPF_HASH(pending_args, u32, u64, 65536); /* tid -> the path or fd its call's exit needs */
BPF_HASH(sums, struct fd_key, struct fd_sums, 65536);

static __always_inline int watched_now(void)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    return watched.lookup(&pid) != NULL;
}

static __always_inline struct record *start(u32 kind, u32 size)
{
    struct record *r = events.ringbuf_reserve(size);
    if (!r)
        return NULL;
    u64 id = bpf_get_current_pid_tgid();
    r->kind = kind;
    r->path_len = 0;
    r->ktime = bpf_ktime_get_ns();
    r->pid = id >> 32;
    r->tid = id;
    r->ret = 0;
    r->fd = 0;
    r->sums.written = 0;
    r->sums.writes = 0;
    r->sums.metadata = 0;
    return r;
}

static __always_inline void process_record(u32 kind)
{
    struct record *r = start(kind, offsetof(struct record, path));
    if (r)
        events.ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    u32 parent = args->parent_pid, child = args->child_pid;
    u8 one = 1;
    if (!watched.lookup(&parent))
        return 0;
    watched.update(&child, &one);
    process_record(FORK);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    if (watched_now())
        process_record(EXEC);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32;
    if ((u32)id != pid || !watched.lookup(&pid))
        return 0;
    process_record(EXIT);
    watched.delete(&pid);
    return 0;
}

static __always_inline int keep_arg(u64 arg)
{
    if (!watched_now())
        return 0;
    u32 tid = bpf_get_current_pid_tgid();
    pending_args.update(&tid, &arg);
    return 0;
}

/* The argument keep_arg kept at the call's entry, taken; false when there is none. */
static __always_inline int take_arg(u64 *arg)
{
    u32 tid = bpf_get_current_pid_tgid();
    u64 *kept = pending_args.lookup(&tid);
    if (!kept)
        return 0;
    *arg = *kept;
    pending_args.delete(&tid);
    return 1;
}

static __always_inline int send_path(u32 kind, s64 ret)
{
    u64 path = 0;
    if (!take_arg(&path))
        return 0;
    struct record *r = start(kind, sizeof(struct record));
    if (!r)
        return 0;
    r->ret = ret;
    long n = bpf_probe_read_user_str(r->path, sizeof(r->path), (const void *)path);
    r->path_len = n > 0 ? n - 1 : 0;
    events.ringbuf_submit(r, BPF_RB_NO_WAKEUP);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_openat) { return keep_arg((u64)args->filename); }
TRACEPOINT_PROBE(syscalls, sys_exit_openat) { return send_path(OPEN, args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_unlinkat) { return keep_arg((u64)args->pathname); }
TRACEPOINT_PROBE(syscalls, sys_exit_unlinkat) { return send_path(UNLINK, args->ret); }
TRACEPOINT_PROBE(syscalls, sys_enter_mkdirat) { return keep_arg((u64)args->pathname); }
TRACEPOINT_PROBE(syscalls, sys_exit_mkdirat) { return send_path(MKDIR, args->ret); }

static __always_inline struct fd_sums *sums_of(u32 fd)
{
    struct fd_key key = { .pid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
    struct fd_sums *found = sums.lookup(&key);
    if (found)
        return found;
    struct fd_sums zero = {};
    sums.update(&key, &zero);
    return sums.lookup(&key);
}

static __always_inline int add_metadata(u32 fd, u32 change)
{
    struct fd_sums *s = watched_now() ? sums_of(fd) : NULL;
    if (s)
        s->metadata |= change;
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_write)
{
    struct fd_sums *s = watched_now() ? sums_of(args->fd) : NULL;
    if (s) {
        s->written += args->count;
        s->writes += 1;
    }
    return 0;
}
TRACEPOINT_PROBE(syscalls, sys_enter_fchown) { return add_metadata(args->fd, CHOWNED); }
TRACEPOINT_PROBE(syscalls, sys_enter_fchmod) { return add_metadata(args->fd, CHMODDED); }
TRACEPOINT_PROBE(syscalls, sys_enter_utimensat) { return args->filename ? 0 : add_metadata(args->dfd, TOUCHED); }

TRACEPOINT_PROBE(syscalls, sys_enter_close) { return keep_arg(args->fd); }

TRACEPOINT_PROBE(syscalls, sys_exit_close)
{
    u64 fd = 0;
    if (!take_arg(&fd))
        return 0;
    struct record *r = start(CLOSE, offsetof(struct record, path));
    if (!r)
        return 0;
    r->ret = args->ret;
    r->fd = fd;
    struct fd_key key = { .pid = r->pid, .fd = fd };
    struct fd_sums *s = sums.lookup(&key);
    if (s) {
        r->sums = *s;
        sums.delete(&key);
    }
    events.ringbuf_submit(r, BPF_RB_NO_WAKEUP);
    return 0;
}
"""


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: lean-tracer.py TRACE CMD [ARG...]")
    trace = open(sys.argv[1], "wb")
    bpf = BPF(text=PROGRAM)
    records = 0

    def write(_ctx, data, size):
        nonlocal records
        records += 1
        trace.write(ctypes.string_at(data, size))

    bpf["events"].open_ring_buffer(write)
    gate_read, gate_write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(gate_write)
        os.read(gate_read, 1)
        os.execvp(sys.argv[2], sys.argv[2:])
    os.close(gate_read)
    bpf["watched"][ctypes.c_uint(child)] = ctypes.c_ubyte(1)
    os.write(gate_write, b"x")
    os.close(gate_write)
    status = 0
    while True:
        bpf.ring_buffer_poll(50)
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            break
    bpf.ring_buffer_consume()
    trace.close()
    print(f"lean-tracer: {records} records", file=sys.stderr)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
