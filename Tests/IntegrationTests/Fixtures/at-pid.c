/*
 * Fixture for the integration tests: runs a program as a process with a
 * chosen pid, so that a test can hand a pid that one process had to another
 * (clone3 with set_tid: root, Linux 5.5+). No other fork can take the pid
 * in between, as one can with /proc/sys/kernel/ns_last_pid.
 *
 *   at-pid PID PROGRAM [ARG...]
 *
 * PROGRAM runs as the helper's child, with pid PID; the helper waits for it
 * and exits with its status (128 + the signal when it was killed). Exit
 * status 75 when PID is in use, 71 when clone3 fails otherwise, 70 when the
 * exec fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PID PROGRAM [ARG...]\n", argv[0]);
		return 2;
	}
	pid_t wanted = (pid_t)atol(argv[1]);
	struct clone_args args;
	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uint64_t)(uintptr_t)&wanted;
	args.set_tid_size = 1;
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		fprintf(stderr, "at-pid: clone3 with pid %d: %s\n", (int)wanted, strerror(errno));
		return errno == EEXIST ? 75 : 71;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "at-pid: exec %s: %s\n", argv[2], strerror(errno));
		_exit(70);
	}
	int status;
	while (waitpid((pid_t)pid, &status, 0) < 0)
		if (errno != EINTR)
			return 71;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
