/* File operations the shell cannot do, for FileActivityTests.
 *
 *   files dupftruncate PATH LENGTH
 *       Opens PATH for writing (no O_CREAT, no O_TRUNC), dups the descriptor,
 *       closes the original and truncates the file to LENGTH through the copy:
 *       only the monitor's fd table can name the file the ftruncate changed.
 *   files fcntldup PATH LENGTH
 *       The same through fcntl: F_GETFL and F_GETFD first (which the monitor
 *       leaves out in the kernel), then F_DUPFD_CLOEXEC, whose copy must
 *       still name the file.
 *   files chunks PATH N...
 *       Creates PATH and writes it with one write(2) of N bytes per argument.
 *
 * Exits 0 on success; any failure is reported on stderr with exit status 1.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what) {
    perror(what);
    return 1;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "dupftruncate") == 0) {
        int fd = open(argv[2], O_WRONLY);
        if (fd < 0) return fail("open");
        int copy = dup(fd);
        if (copy < 0) return fail("dup");
        if (close(fd) != 0) return fail("close");
        if (ftruncate(copy, atol(argv[3])) != 0) return fail("ftruncate");
        return close(copy) == 0 ? 0 : fail("close");
    }
    if (argc == 4 && strcmp(argv[1], "fcntldup") == 0) {
        int fd = open(argv[2], O_WRONLY);
        if (fd < 0) return fail("open");
        if (fcntl(fd, F_GETFL) < 0 || fcntl(fd, F_GETFD) < 0) return fail("fcntl F_GETFL");
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 10);
        if (copy < 0) return fail("fcntl F_DUPFD_CLOEXEC");
        if (close(fd) != 0) return fail("close");
        if (ftruncate(copy, atol(argv[3])) != 0) return fail("ftruncate");
        return close(copy) == 0 ? 0 : fail("close");
    }
    if (argc >= 3 && strcmp(argv[1], "chunks") == 0) {
        static char buffer[1 << 20];
        memset(buffer, 'c', sizeof buffer);
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return fail("open");
        for (int i = 3; i < argc; i++) {
            long n = atol(argv[i]);
            if (n < 0 || (size_t)n > sizeof buffer) return fail("chunk size");
            if (write(fd, buffer, (size_t)n) != n) return fail("write");
        }
        return close(fd) == 0 ? 0 : fail("close");
    }
    fprintf(stderr, "usage: files dupftruncate|fcntldup PATH LENGTH | files chunks PATH N...\n");
    return 2;
}
