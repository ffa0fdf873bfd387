/*
 * A syscall storm at a set rate, for bench/storm.sh.
 *
 *   storm MIX RATE SECONDS
 *
 * MIX is what each call is:
 *   open  openat() of a file that does not exist: every call is one event
 *         in the trace, the worst case for the monitor;
 *   io    pread() of one byte of an open file: the kernel side adds the calls
 *         up, and the trace gets one event when the file is closed.
 * RATE is calls per second (0: as fast as one thread can). The calls come in
 * batches of BATCH, each batch started when the clock says it is due, so a
 * rate the thread cannot reach turns into "as fast as possible".
 *
 * Prints "calls=N seconds=S" (S the time the calls took) on stdout.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BATCH = 100 };
static const int64_t NANOS_PER_SECOND = 1000000000;

static int64_t now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * NANOS_PER_SECOND + t.tv_nsec;
}

static void sleep_until(int64_t when)
{
	struct timespec t = { .tv_sec = when / NANOS_PER_SECOND, .tv_nsec = when % NANOS_PER_SECOND };
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[1], "open") && strcmp(argv[1], "io"))) {
		fprintf(stderr, "usage: storm open|io RATE SECONDS\n");
		return 2;
	}
	int io = !strcmp(argv[1], "io");
	double rate = atof(argv[2]);
	int64_t duration = (int64_t)(atof(argv[3]) * NANOS_PER_SECOND);
	int fd = io ? open("/proc/self/exe", O_RDONLY) : -1;
	if (io && fd < 0) {
		perror("storm: open");
		return 1;
	}
	char byte;
	uint64_t calls = 0;
	int64_t start = now(), end = start + duration, t = start;
	while (t < end) {
		if (rate > 0) {
			int64_t due = start + (int64_t)((double)calls * NANOS_PER_SECOND / rate);
			if (due > t) {
				sleep_until(due);
			}
		}
		for (int i = 0; i < BATCH; i++) {
			if (io) {
				(void)!pread(fd, &byte, 1, 0);
			} else {
				openat(AT_FDCWD, "/nonexistent/storm", O_RDONLY);
			}
		}
		calls += BATCH;
		t = now();
	}
	printf("calls=%llu seconds=%.3f\n", (unsigned long long)calls, (double)(t - start) / NANOS_PER_SECOND);
	if (fd >= 0) {
		close(fd);
	}
	return 0;
}
