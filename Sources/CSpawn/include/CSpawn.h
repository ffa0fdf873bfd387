#ifndef CSPAWN_H
#define CSPAWN_H
#include <sys/types.h>

/*
 * Forks a child that blocks until gate_fd reaches EOF or yields a byte, then
 * execs path. Everything the child does after fork is async-signal-safe, so
 * it is safe to call from a multithreaded Swift process. Returns the pid, or
 * -1 with errno set. The child exits 127 if exec fails.
 */
pid_t spawn_gated(const char *path, char *const argv[], char *const envp[], int gate_fd, int gate_write_fd);
#endif
