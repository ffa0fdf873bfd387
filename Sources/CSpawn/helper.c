#define _GNU_SOURCE
#include "CSpawn.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The number of threads of this process (from /proc/self/stat), or -1. */
static long thread_count(void)
{
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char text[1024];
	ssize_t length = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (length <= 0)
		return -1;
	text[length] = 0;
	/* The comm, field 2, may hold spaces and parentheses: count from the last ')'. */
	char *field = strrchr(text, ')');
	for (int number = 2; field && number < 20; number++)
		field = strchr(field + 1, ' ');
	return field ? strtol(field + 1, NULL, 10) : -1;
}

pid_t fork_helper(const char *name, int keep_fd, int close_fd, int (*body)(int, const char *, size_t), const char *text,
		  size_t length)
{
	if (thread_count() != 1) {
		errno = EDEADLK;
		return -1;
	}
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	close(close_fd);
	/*
	 * A process group of its own: the helper is the monitor's, not part of
	 * the job the monitor runs in (a test that ends that group must find
	 * only the command in it). It dies with the monitor (die_with_parent).
	 */
	setpgid(0, 0);
	prctl(PR_SET_NAME, name);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	_exit(body(keep_fd, text, length));
}

int die_with_parent(void) { return prctl(PR_SET_PDEATHSIG, SIGKILL); }
