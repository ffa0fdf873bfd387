#include "CSpawn.h"
#include <errno.h>
#include <signal.h>
#include <unistd.h>

pid_t spawn_gated(const char *path, char *const argv[], char *const envp[], int gate_fd, int gate_write_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* The monitor handles these signals itself; the command gets the defaults back. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	close(gate_write_fd);
	char byte;
	while (read(gate_fd, &byte, 1) < 0 && errno == EINTR)
		;
	close(gate_fd);
	execve(path, argv, envp);
	_exit(errno == ENOENT ? 127 : 126);
}
