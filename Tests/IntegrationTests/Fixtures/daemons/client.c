/*
 * client: sends requests to a fixture daemon and waits for each reply.
 *
 *   client --unix PATH|--tcp PORT --prefix P --count K [--connections C]
 *          [--delay-us U] [--repeat-ms D | --forever]
 *
 * Sends K requests "REQ P-1" .. "REQ P-K", in order, spread over C
 * connections (default 1) opened one after the other: the first K % C
 * connections carry one request more than the rest. Before each request it
 * sleeps U microseconds (default 0). Each reply must be "OK <name>".
 *
 * --repeat-ms D repeats the whole round (same names) until D milliseconds
 * have passed; --forever repeats it until SIGTERM or SIGINT. With either, a
 * signal stops the client cleanly after the request in flight, with status 0,
 * and it prints "requests N" (the replies received) on stdout at the end.
 *
 * Exit status: 0 when every reply was OK; 1 on any error (stderr says which).
 */
#include "daemon.h"
#include <time.h>

static volatile sig_atomic_t stopping;

static void on_stop(int number) {
    (void)number;
    stopping = 1;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    const char *usage = "client --unix PATH|--tcp PORT --prefix P --count K [--connections C] [--delay-us U] [--repeat-ms D | --forever]";
    const char *unix_path = NULL, *prefix = NULL;
    int tcp_port = -1, forever = 0;
    long count = -1, connections = 1, delay_us = 0, repeat_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--forever") == 0) {
            forever = 1;
            continue;
        }
        if (i + 1 >= argc) die("%s needs a value\nusage: %s", flag, usage);
        const char *value = argv[++i];
        if (strcmp(flag, "--unix") == 0) unix_path = value;
        else if (strcmp(flag, "--tcp") == 0) tcp_port = parse_port(value);
        else if (strcmp(flag, "--prefix") == 0) prefix = value;
        else if (strcmp(flag, "--count") == 0) count = atol(value);
        else if (strcmp(flag, "--connections") == 0) connections = atol(value);
        else if (strcmp(flag, "--delay-us") == 0) delay_us = atol(value);
        else if (strcmp(flag, "--repeat-ms") == 0) repeat_ms = atol(value);
        else die("unknown option %s\nusage: %s", flag, usage);
    }
    if ((unix_path == NULL) == (tcp_port < 0)) die("give one of --unix and --tcp\nusage: %s", usage);
    if (prefix == NULL || count < 1 || connections < 1 || connections > count || delay_us < 0 || repeat_ms < 0)
        die("need --prefix, --count >= 1, 1 <= --connections <= --count\nusage: %s", usage);
    int repeating = forever || repeat_ms > 0;
    if (repeating) {
        struct sigaction action = {.sa_handler = on_stop}; /* no SA_RESTART: a blocked call returns EINTR */
        sigaction(SIGTERM, &action, NULL);
        sigaction(SIGINT, &action, NULL);
    }
    signal(SIGPIPE, SIG_IGN);

    double deadline = now_ms() + (double)repeat_ms;
    long served = 0;
    do {
        long next = 1;
        for (long c = 0; c < connections && !stopping; c++) {
            long here = count / connections + (c < count % connections ? 1 : 0);
            int fd = connect_socket(unix_path, tcp_port);
            if (fd < 0) {
                if (stopping) break;
                die("connect: %s", strerror(errno));
            }
            struct line_reader in = {.used = 0};
            for (long r = 0; r < here && !stopping; r++, next++) {
                if (delay_us > 0) usleep((useconds_t)delay_us);
                char request[LINE_CAP], expected[LINE_CAP], reply[LINE_CAP];
                int length = snprintf(request, sizeof request, "REQ %s-%ld\n", prefix, next);
                snprintf(expected, sizeof expected, "OK %s-%ld", prefix, next);
                if (length >= (int)sizeof request) die("--prefix too long");
                if (write_all(fd, request, (size_t)length) != 0) {
                    if (stopping) break;
                    die("send %s-%ld: %s", prefix, next, strerror(errno));
                }
                int got = read_line(&in, fd, reply);
                if (got != 1) {
                    if (stopping && got < 0 && errno == EINTR) break;
                    die("no reply to %s-%ld: %s", prefix, next, got == 0 ? "connection closed" : strerror(errno));
                }
                if (strcmp(reply, expected) != 0) die("expected \"%s\", got \"%s\"", expected, reply);
                served++;
            }
            close(fd);
        }
    } while (repeating && !stopping && (forever || now_ms() < deadline));
    if (repeating) printf("requests %ld\n", served);
    return 0;
}
