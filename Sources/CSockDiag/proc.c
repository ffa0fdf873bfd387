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

/* See CSockDiag.h. Only decimal digits are taken: no sign, no spaces. */
uint32_t sockdiag_socket_link_inode(const char *link, size_t len)
{
	static const char prefix[] = "socket:[";
	size_t start = sizeof prefix - 1;
	if (!link || len < start + 2 || memcmp(link, prefix, start) != 0 || link[len - 1] != ']')
		return 0;
	uint64_t value = 0;
	for (size_t i = start; i < len - 1; i++) {
		if (link[i] < '0' || link[i] > '9')
			return 0;
		value = value * 10 + (uint64_t)(link[i] - '0');
		if (value > UINT32_MAX)
			return 0;
	}
	return (uint32_t)value;
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
		ssize_t n = readlinkat(dirfd(dir), entry->d_name, link, sizeof link);
		if (n <= 0)
			continue;
		uint32_t inode = sockdiag_socket_link_inode(link, (size_t)n);
		if (inode == 0)
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
	ssize_t n = readlink(path, link, sizeof link);
	if (n < 0)
		return -errno;
	return sockdiag_socket_link_inode(link, (size_t)n);
}
