/*
 * client: sends requests to a fixture daemon and waits for each reply.
 *
 *   client --unix PATH|--tcp PORT|--unix-dgram PATH|--udp PORT --prefix P
 *          --count K [--connections C] [--delay-us U]
 *          [--send sendto|connect|sendmmsg] [--batch B] [--greeted]
 *          [--repeat-ms D | --forever]
 *
 * Sends K requests "REQ P-1" .. "REQ P-K", in order, spread over C
 * connections (default 1) opened one after the other: the first K % C
 * connections carry one request more than the rest. Before each request it
 * sleeps U microseconds (default 0). Each reply must be "OK <name>".
 *
 * --unix-dgram and --udp talk to the datagram server: each "connection" is a
 * datagram socket of its own (a unix one is bound to an abstract address, for
 * the replies), and each request is one datagram. --send says how it goes
 * out: sendto the server's address on an unconnected socket (default);
 * connect, then send; or sendmmsg, B requests (default 4) in one call on an
 * unconnected socket, then their B replies.
 *
 * --greeted: the server speaks first (threadcache): each connection starts
 * with the line "HELLO", read before the first request.
 *
 * --repeat-ms D repeats the whole round (same names) until D milliseconds
 * have passed; --forever repeats it until SIGTERM or SIGINT. With either, a
 * signal stops the client cleanly after the request in flight, with status 0,
 * and it prints "requests N" (the replies received) on stdout at the end.
 *
 * Exit status: 0 when every reply was OK; 1 on any error (stderr says which).
 */
#include "daemon.h"
#include <stddef.h>
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

/* Where and how the requests go. */
struct target {
    const char *unix_path; /* --unix */
    int tcp_port;          /* --tcp; -1 when not given */
    const char *dgram_path; /* --unix-dgram */
    int udp_port;          /* --udp; -1 when not given */
    const char *send_mode; /* --send, datagrams only */
    long batch;            /* --batch, sendmmsg only */
    long delay_us;
    int greeted;           /* --greeted */
};

static void request_text(char request[LINE_CAP], char expected[LINE_CAP], size_t *length, const char *prefix,
                         long number) {
    int n = snprintf(request, LINE_CAP, "REQ %s-%ld\n", prefix, number);
    if (n >= LINE_CAP) die("--prefix too long");
    *length = (size_t)n;
    snprintf(expected, LINE_CAP, "OK %s-%ld", prefix, number);
}

/* Requests first .. first+here-1 over one stream connection: the number
 * answered (fewer when a signal stopped it). */
static long stream_round(const struct target *to, const char *prefix, long first, long here) {
    int fd = connect_socket(to->unix_path, to->tcp_port);
    if (fd < 0) {
        if (stopping) return 0;
        die("connect: %s", strerror(errno));
    }
    struct line_reader in = {.used = 0};
    long served = 0;
    if (to->greeted) {
        char greeting[LINE_CAP];
        int got = read_line(&in, fd, greeting);
        if (got != 1 && stopping) {
            close(fd);
            return 0;
        }
        if (got != 1 || strcmp(greeting, "HELLO") != 0) die("no greeting from the server");
    }
    for (long next = first; next < first + here && !stopping; next++) {
        if (to->delay_us > 0) usleep((useconds_t)to->delay_us);
        char request[LINE_CAP], expected[LINE_CAP], reply[LINE_CAP];
        size_t length;
        request_text(request, expected, &length, prefix, next);
        if (write_all(fd, request, length) != 0) {
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
    return served;
}

/* One reply datagram, which must be `expected` (its newline dropped). 0, or
 * -1 when a signal stopped the wait. */
static int datagram_reply(int fd, const char *expected, const char *prefix, long number) {
    char reply[LINE_CAP + 1];
    ssize_t n = recv(fd, reply, LINE_CAP, 0);
    if (n < 0 && stopping && errno == EINTR) return -1;
    if (n < 0) die("no reply to %s-%ld: %s", prefix, number, strerror(errno));
    if (n > 0 && reply[n - 1] == '\n') n--;
    reply[n] = 0;
    if (strcmp(reply, expected) != 0) die("expected \"%s\", got \"%s\"", expected, reply);
    return 0;
}

/* Requests first .. first+here-1 as datagrams from one socket of their own:
 * the number answered (fewer when a signal stopped it). */
static long datagram_round(const struct target *to, const char *prefix, long first, long here, long round) {
    struct sockaddr_storage server;
    socklen_t server_length = datagram_address(to->dgram_path, to->udp_port, &server);
    int fd = socket(server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    if (server.ss_family == AF_UNIX) { /* an address of its own, for the replies */
        struct sockaddr_un self = {.sun_family = AF_UNIX};
        int n = snprintf(self.sun_path + 1, sizeof self.sun_path - 1, "fixture-client-%d-%ld", (int)getpid(), round);
        if (bind(fd, (struct sockaddr *)&self, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) != 0)
            die("bind: %s", strerror(errno));
    }
    struct timeval patience = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    int connected = strcmp(to->send_mode, "connect") == 0;
    if (connected && connect(fd, (struct sockaddr *)&server, server_length) != 0) die("connect: %s", strerror(errno));
    int batched = strcmp(to->send_mode, "sendmmsg") == 0;
    long served = 0;
    for (long next = first; next < first + here && !stopping;) {
        if (to->delay_us > 0) usleep((useconds_t)to->delay_us);
        long count = batched ? (first + here - next < to->batch ? first + here - next : to->batch) : 1;
        char request[64][LINE_CAP], expected[64][LINE_CAP];
        size_t length[64];
        for (long i = 0; i < count; i++) request_text(request[i], expected[i], &length[i], prefix, next + i);
        if (batched) {
            struct iovec buffers[64];
            struct mmsghdr messages[64];
            memset(messages, 0, sizeof messages);
            for (long i = 0; i < count; i++) {
                buffers[i] = (struct iovec){.iov_base = request[i], .iov_len = length[i]};
                messages[i].msg_hdr = (struct msghdr){.msg_name = &server, .msg_namelen = server_length,
                                                      .msg_iov = &buffers[i], .msg_iovlen = 1};
            }
            long sent = 0;
            while (sent < count) {
                int n = sendmmsg(fd, messages + sent, (unsigned)(count - sent), 0);
                if (n < 0 && errno == EINTR && !stopping) continue;
                if (n < 0 && stopping) break;
                if (n <= 0) die("sendmmsg %s-%ld: %s", prefix, next + sent, strerror(errno));
                sent += n;
            }
            if (sent < count) break; /* stopped mid-batch: no reply is coming for what was not sent */
        } else {
            ssize_t n;
            do n = connected ? send(fd, request[0], length[0], 0)
                             : sendto(fd, request[0], length[0], 0, (struct sockaddr *)&server, server_length);
            while (n < 0 && errno == EINTR && !stopping);
            if (n < 0 && stopping) break;
            if (n != (ssize_t)length[0]) die("send %s-%ld: %s", prefix, next, strerror(errno));
        }
        for (long i = 0; i < count; i++, next++) {
            if (datagram_reply(fd, expected[i], prefix, next) != 0) break;
            served++;
        }
    }
    close(fd);
    return served;
}

int main(int argc, char **argv) {
    const char *usage = "client --unix PATH|--tcp PORT|--unix-dgram PATH|--udp PORT --prefix P --count K "
                        "[--connections C] [--delay-us U] [--send sendto|connect|sendmmsg] [--batch B] "
                        "[--greeted] [--repeat-ms D | --forever]";
    struct target to = {.tcp_port = -1, .udp_port = -1, .send_mode = NULL, .batch = 4};
    const char *prefix = NULL;
    int forever = 0;
    long count = -1, connections = 1, repeat_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--forever") == 0) {
            forever = 1;
            continue;
        }
        if (strcmp(flag, "--greeted") == 0) {
            to.greeted = 1;
            continue;
        }
        if (i + 1 >= argc) die("%s needs a value\nusage: %s", flag, usage);
        const char *value = argv[++i];
        if (strcmp(flag, "--unix") == 0) to.unix_path = value;
        else if (strcmp(flag, "--tcp") == 0) to.tcp_port = parse_port(value);
        else if (strcmp(flag, "--unix-dgram") == 0) to.dgram_path = value;
        else if (strcmp(flag, "--udp") == 0) to.udp_port = parse_port(value);
        else if (strcmp(flag, "--send") == 0) to.send_mode = value;
        else if (strcmp(flag, "--batch") == 0) to.batch = atol(value);
        else if (strcmp(flag, "--prefix") == 0) prefix = value;
        else if (strcmp(flag, "--count") == 0) count = atol(value);
        else if (strcmp(flag, "--connections") == 0) connections = atol(value);
        else if (strcmp(flag, "--delay-us") == 0) to.delay_us = atol(value);
        else if (strcmp(flag, "--repeat-ms") == 0) repeat_ms = atol(value);
        else die("unknown option %s\nusage: %s", flag, usage);
    }
    int datagrams = to.dgram_path != NULL || to.udp_port >= 0;
    if ((to.unix_path != NULL) + (to.tcp_port >= 0) + (to.dgram_path != NULL) + (to.udp_port >= 0) != 1)
        die("give one of --unix, --tcp, --unix-dgram and --udp\nusage: %s", usage);
    if (prefix == NULL || count < 1 || connections < 1 || connections > count || to.delay_us < 0 || repeat_ms < 0)
        die("need --prefix, --count >= 1, 1 <= --connections <= --count\nusage: %s", usage);
    if (to.send_mode != NULL && !datagrams) die("--send is for --unix-dgram and --udp\nusage: %s", usage);
    if (to.send_mode == NULL) to.send_mode = "sendto";
    if (strcmp(to.send_mode, "sendto") != 0 && strcmp(to.send_mode, "connect") != 0
        && strcmp(to.send_mode, "sendmmsg") != 0)
        die("--send must be sendto, connect or sendmmsg\nusage: %s", usage);
    if (to.batch < 1 || to.batch > 64) die("--batch must be 1..64");
    int repeating = forever || repeat_ms > 0;
    if (repeating) {
        struct sigaction action = {.sa_handler = on_stop}; /* no SA_RESTART: a blocked call returns EINTR */
        sigaction(SIGTERM, &action, NULL);
        sigaction(SIGINT, &action, NULL);
    }
    signal(SIGPIPE, SIG_IGN);

    double deadline = now_ms() + (double)repeat_ms;
    long served = 0, rounds = 0;
    do {
        long next = 1;
        for (long c = 0; c < connections && !stopping; c++) {
            long here = count / connections + (c < count % connections ? 1 : 0);
            served += datagrams ? datagram_round(&to, prefix, next, here, rounds++)
                                : stream_round(&to, prefix, next, here);
            next += here;
        }
    } while (repeating && !stopping && (forever || now_ms() < deadline));
    if (repeating) printf("requests %ld\n", served);
    return 0;
}
