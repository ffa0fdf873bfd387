#ifndef CSPAWN_H
#define CSPAWN_H
#include <stddef.h>
#include <sys/types.h>

/*
 * Forks a child that blocks until gate_fd yields a byte or reaches EOF, then
 * execs path with this process's environment. The arguments come as one
 * buffer of argc NUL-terminated strings, so any bytes pass through unchanged.
 * Everything the child does after fork is async-signal-safe, so it is safe
 * to call from a multithreaded Swift process. Returns the pid, or -1 with
 * errno set. The child exits 127 (not found) or 126 if exec fails.
 */
pid_t spawn_gated(const char *path, const char *args, size_t args_len, int argc, int gate_fd, int gate_write_fd);

/*
 * Forks a child named name (its comm) that closes close_fd, moves to a
 * process group of its own, unblocks every signal and exits with
 * body(keep_fd, text, length). Only a process with one thread forks: a
 * copy of a multithreaded one could inherit a lock that another thread
 * held. Returns the pid, or -1 with errno set (EDEADLK: other threads).
 */
pid_t fork_helper(const char *name, int keep_fd, int close_fd, int (*body)(int, const char *, size_t), const char *text,
		  size_t length);

/* The calling process is killed when its parent dies (from now on: check that it has not died already). */
int die_with_parent(void);
#endif
