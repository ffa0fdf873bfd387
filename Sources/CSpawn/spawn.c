#include "CSpawn.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

pid_t spawn_gated(const char *path, const char *args, size_t args_len, int argc, int gate_fd, int gate_write_fd)
{
	/* Build argv before fork: the child may not allocate. */
	char **argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!argv)
		return -1;
	size_t offset = 0;
	for (int i = 0; i < argc; i++) {
		if (offset >= args_len) {
			free(argv);
			errno = EINVAL;
			return -1;
		}
		argv[i] = (char *)args + offset;
		while (offset < args_len && args[offset] != '\0')
			offset++;
		offset++;
	}

	pid_t pid = fork();
	if (pid != 0) {
		free(argv);
		return pid;
	}
	/* The monitor handles these signals itself; the command gets the defaults back. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	close(gate_write_fd);
	char byte;
	ssize_t got;
	while ((got = read(gate_fd, &byte, 1)) < 0 && errno == EINTR)
		;
	if (got != 1) {
		/* The monitor ended before releasing the command: it must not run untraced. */
		static const char message[] = "ebpf-monitor: the monitor ended before the command started\n";
		write(STDERR_FILENO, message, sizeof(message) - 1);
		_exit(125);
	}
	close(gate_fd);
	execve(path, argv, environ);
	_exit(errno == ENOENT ? 127 : 126);
}
