/* Socket inodes from /proc/PID/fd links: see CSockDiag.h. */
#define _GNU_SOURCE
#include "CSockDiag.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "socket:[12345]" -> 12345. */
static int socket_link_inode(const char *link, uint32_t *inode)
{
	static const char prefix[] = "socket:[";
	if (strncmp(link, prefix, sizeof prefix - 1) != 0)
		return 0;
	char *end;
	errno = 0;
	unsigned long long value = strtoull(link + sizeof prefix - 1, &end, 10);
	if (errno || end[0] != ']' || end[1] != '\0' || value == 0 || value > UINT32_MAX)
		return 0;
	*inode = (uint32_t)value;
	return 1;
}

int sockdiag_process_sockets(int32_t pid, uint32_t *inodes, int32_t *fds, size_t capacity)
{
	char path[40];
	snprintf(path, sizeof path, "/proc/%d/fd", pid);
	DIR *dir = opendir(path);
	if (!dir)
		return -errno;
	size_t count = 0;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		char *end;
		long fd = strtol(entry->d_name, &end, 10);
		if (end == entry->d_name || *end != '\0' || fd < 0 || fd > INT32_MAX)
			continue;
		char link[64];
		ssize_t n = readlinkat(dirfd(dir), entry->d_name, link, sizeof link - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		uint32_t inode;
		if (!socket_link_inode(link, &inode))
			continue;
		if (count < capacity && inodes && fds) {
			inodes[count] = inode;
			fds[count] = (int32_t)fd;
		}
		count++;
	}
	closedir(dir);
	return count > INT_MAX ? INT_MAX : (int)count;
}

int64_t sockdiag_fd_socket_inode(int32_t pid, int32_t fd)
{
	char path[64], link[64];
	snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	uint32_t inode;
	return socket_link_inode(link, &inode) ? (int64_t)inode : 0;
}
