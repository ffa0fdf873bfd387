#define _GNU_SOURCE
#include "CSpawn.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char **environ;

pid_t spawn_helper(const char *path, const char *arg, int socket_fd, const char *text, size_t length)
{
	/* Both above fd 4, so that neither dup2 below overwrites the other's source. */
	int memory = memfd_create("ebpf-monitor-helper-text", MFD_CLOEXEC);
	int high = memory < 0 ? -1 : fcntl(memory, F_DUPFD_CLOEXEC, 5);
	close(memory);
	memory = high;
	int socket_copy = memory < 0 ? -1 : fcntl(socket_fd, F_DUPFD_CLOEXEC, 5);
	if (socket_copy < 0) {
		int saved = errno;
		close(memory);
		errno = saved;
		return -1;
	}
	for (size_t done = 0; done < length;) {
		ssize_t count = write(memory, text + done, length - done);
		if (count < 0 && errno == EINTR)
			continue;
		if (count <= 0) {
			int saved = errno;
			close(memory);
			close(socket_copy);
			errno = saved;
			return -1;
		}
		done += (size_t)count;
	}
	lseek(memory, 0, SEEK_SET);

	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attributes;
	posix_spawn_file_actions_init(&actions);
	posix_spawnattr_init(&attributes);
	/* dup2 clears close-on-exec on the copies; every other fd of the monitor's keeps it. */
	posix_spawn_file_actions_adddup2(&actions, socket_copy, 3);
	posix_spawn_file_actions_adddup2(&actions, memory, 4);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attributes, &none);
	/*
	 * A process group of its own: the helper is the monitor's, not part of
	 * the job the monitor runs in (a test that ends that group must find
	 * only the command in it). It dies with the monitor (die_with_parent).
	 */
	posix_spawnattr_setpgroup(&attributes, 0);
	posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	char *argv[] = {(char *)path, (char *)arg, NULL};
	pid_t pid;
	int status = posix_spawn(&pid, path, &actions, &attributes, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attributes);
	close(memory);
	close(socket_copy);
	if (status != 0) {
		errno = status;
		return -1;
	}
	return pid;
}

int die_with_parent(void) { return prctl(PR_SET_PDEATHSIG, SIGKILL); }
