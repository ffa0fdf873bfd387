/*
 * Shared by the fixture daemons of AttributionTests, RuntimeAttributionTests
 * and bench/attribution.py: one small server per design (threadpool.c,
 * forking.c, prefork.c, eventloop.c, front.c + back.c; datagram.c,
 * selfwake.c, pooleventfd.c, poolpipe.c, broker.c + service.c, batching.c,
 * threadcache.c) and client.c. Header only; each program is one file:
 * cc -std=c11 -Wall -Werror -O2 -pthread -o NAME NAME.c
 *
 * Protocol: newline-terminated text lines over a unix stream socket or TCP
 * on 127.0.0.1. A client may send many requests on one connection. The
 * datagram server takes the same lines as datagrams (one request each, the
 * newline optional) on a unix datagram socket or UDP on 127.0.0.1, and
 * answers each with a datagram to the sender's address.
 *
 *   client -> daemon   REQ <name>
 *   daemon -> client   OK <name>          after <dir>/<name> was created
 *                      ERR <name> <why>   when it could not be
 *                      ERR bad-request    for a line that is not a request
 *
 * <name> is 1..200 bytes of [A-Za-z0-9._-] not starting with '.'. The file is
 * opened O_WRONLY|O_CREAT|O_TRUNC, written once with the line
 * "<name> pid <pid> tid <tid>\n" (so a test knows which task did the work),
 * and closed. <dir> is --dir, made absolute at start-up.
 *
 * Common options: --unix PATH | --tcp PORT (0: any free port) | --udp PORT
 * (datagram only), --dir DIR, --workers N (threadpool, prefork, pooleventfd,
 * poolpipe, service), --work-us N (each request takes N us more), --recv
 * recvfrom|recvmsg|recvmmsg (datagram), --batch N and --batch-ms MS
 * (batching). Once listening a daemon prints "ready" (unix) or
 * "ready <port>" (tcp, udp) on stdout. On SIGTERM or SIGINT it stops, removes its unix socket
 * and exits 0; processes it forked go with it.
 */
#ifndef FIXTURE_DAEMON_H
#define FIXTURE_DAEMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NAME_CAP 201 /* the longest name, 200 bytes, and its NUL */
#define LINE_CAP 256 /* the longest line, its newline included */
#define WORKERS_MAX 256 /* the most --workers allows */

__attribute__((noreturn, format(printf, 1, 2)))
static inline void die(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    exit(1);
}

/* ------------------------------------------------------------------ options */

struct options {
    const char *unix_path; /* --unix PATH */
    int tcp_port;          /* --tcp PORT; -1 when not given */
    const char *dir;       /* --dir DIR, absolute */
    int workers;           /* --workers N, default 4 */
    const char *back_unix; /* front only: --back-unix PATH */
    int back_tcp;          /* front only: --back-tcp PORT; -1 when not given */
    int work_us;           /* --work-us N: each request takes N us more (a slow worker), default 0 */
    int udp_port;          /* datagram only: --udp PORT; -1 when not given */
    const char *recv_mode; /* datagram only: --recv recvfrom|recvmsg|recvmmsg, default recvfrom */
    int batch;             /* batching only: --batch N, the most items taken at once, default 4 */
    int batch_ms;          /* batching only: --batch-ms MS, the longest wait for a full batch, default 5 */
};

static struct options opt = {.tcp_port = -1, .workers = 4, .back_tcp = -1, .udp_port = -1, .recv_mode = "recvfrom",
                             .batch = 4, .batch_ms = 5};

static inline int parse_port(const char *text) {
    char *end;
    long port = strtol(text, &end, 10);
    if (*text == 0 || *end != 0 || port < 0 || port > 65535) die("bad port: %s", text);
    return (int)port;
}

/* Parses the common options into `opt`; `usage` is printed on any error. */
static inline void parse_options(int argc, char **argv, const char *usage) {
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (value == NULL) die("%s needs a value\nusage: %s", flag, usage);
        if (strcmp(flag, "--unix") == 0) opt.unix_path = value;
        else if (strcmp(flag, "--tcp") == 0) opt.tcp_port = parse_port(value);
        else if (strcmp(flag, "--dir") == 0) opt.dir = value;
        else if (strcmp(flag, "--workers") == 0) opt.workers = atoi(value);
        else if (strcmp(flag, "--back-unix") == 0) opt.back_unix = value;
        else if (strcmp(flag, "--back-tcp") == 0) opt.back_tcp = parse_port(value);
        else if (strcmp(flag, "--work-us") == 0) opt.work_us = atoi(value);
        else if (strcmp(flag, "--udp") == 0) opt.udp_port = parse_port(value);
        else if (strcmp(flag, "--recv") == 0) opt.recv_mode = value;
        else if (strcmp(flag, "--batch") == 0) opt.batch = atoi(value);
        else if (strcmp(flag, "--batch-ms") == 0) opt.batch_ms = atoi(value);
        else die("unknown option %s\nusage: %s", flag, usage);
        i++;
    }
    if ((opt.unix_path != NULL) + (opt.tcp_port >= 0) + (opt.udp_port >= 0) != 1)
        die("give one of --unix, --tcp and --udp\nusage: %s", usage);
    if (opt.workers < 1 || opt.workers > WORKERS_MAX) die("--workers must be 1..256");
    if (opt.batch < 1 || opt.batch > 64 || opt.batch_ms < 0) die("--batch must be 1..64, --batch-ms >= 0");
    if (opt.dir != NULL) {
        char *absolute = realpath(opt.dir, NULL);
        if (absolute == NULL) die("--dir %s: %s", opt.dir, strerror(errno));
        opt.dir = absolute;
    }
}

/* ------------------------------------------------------------------ sockets */

/* Listens on --unix or --tcp (127.0.0.1). */
static inline int listen_socket(void) {
    int fd;
    if (opt.udp_port >= 0) die("--udp is for the datagram server only");
    if (opt.unix_path != NULL) {
        struct sockaddr_un address = {.sun_family = AF_UNIX};
        if (strlen(opt.unix_path) >= sizeof address.sun_path) die("unix path too long: %s", opt.unix_path);
        strcpy(address.sun_path, opt.unix_path);
        unlink(opt.unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0)
            die("bind %s: %s", opt.unix_path, strerror(errno));
    } else {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.tcp_port),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int on = 1;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0
            || bind(fd, (struct sockaddr *)&address, sizeof address) != 0)
            die("bind 127.0.0.1:%d: %s", opt.tcp_port, strerror(errno));
    }
    if (listen(fd, 128) != 0) die("listen: %s", strerror(errno));
    return fd;
}

/* Prints "ready" or "ready <port>": the line tests and the bench wait for. */
static inline void announce_ready(int listen_fd) {
    if (opt.unix_path != NULL) {
        printf("ready\n");
    } else {
        struct sockaddr_in address;
        socklen_t length = sizeof address;
        if (getsockname(listen_fd, (struct sockaddr *)&address, &length) != 0) die("getsockname: %s", strerror(errno));
        printf("ready %d\n", ntohs(address.sin_port));
    }
    fflush(stdout);
}

/* Connects to a unix path, else to 127.0.0.1:tcp_port; -1 with errno set. */
static inline int connect_socket(const char *unix_path, int tcp_port) {
    int fd;
    if (unix_path != NULL) {
        struct sockaddr_un address = {.sun_family = AF_UNIX};
        if (strlen(unix_path) >= sizeof address.sun_path) die("unix path too long: %s", unix_path);
        strcpy(address.sun_path, unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) == 0) return fd;
    } else {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)tcp_port),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) == 0) return fd;
    }
    int saved = errno;
    if (fd >= 0) close(fd);
    errno = saved;
    return -1;
}

/* The address of a unix datagram socket path, else of UDP 127.0.0.1:port. */
static inline socklen_t datagram_address(const char *unix_path, int port, struct sockaddr_storage *storage) {
    memset(storage, 0, sizeof *storage);
    if (unix_path != NULL) {
        struct sockaddr_un *address = (struct sockaddr_un *)storage;
        if (strlen(unix_path) >= sizeof address->sun_path) die("unix path too long: %s", unix_path);
        address->sun_family = AF_UNIX;
        strcpy(address->sun_path, unix_path);
        return sizeof *address;
    }
    struct sockaddr_in *address = (struct sockaddr_in *)storage;
    address->sin_family = AF_INET;
    address->sin_port = htons((uint16_t)port);
    address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof *address;
}

/* The datagram server's socket, bound to --unix (a unix datagram socket) or
 * --udp (127.0.0.1). */
static inline int datagram_socket(void) {
    struct sockaddr_storage address;
    socklen_t length = datagram_address(opt.unix_path, opt.udp_port, &address);
    if (opt.unix_path != NULL) unlink(opt.unix_path);
    int fd = socket(address.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, length) != 0)
        die("bind %s: %s", opt.unix_path != NULL ? opt.unix_path : "udp", strerror(errno));
    return fd;
}

/* Writes all of `data`, waiting out EINTR and a full non-blocking socket. */
static inline int write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd wait = {.fd = fd, .events = POLLOUT};
            poll(&wait, 1, -1);
            continue;
        }
        if (n <= 0) return -1;
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------------ lines */

struct line_reader {
    char data[LINE_CAP];
    size_t used;
};

/* One read(2) into the buffer: bytes read, 0 at end of file, -1 on error. */
static inline ssize_t lines_fill(struct line_reader *reader, int fd) {
    ssize_t n;
    do n = read(fd, reader->data + reader->used, sizeof reader->data - reader->used);
    while (n < 0 && errno == EINTR);
    if (n > 0) reader->used += (size_t)n;
    return n;
}

/* Moves the next whole line, without its newline, to `line`: 1 when there
 * was one, 0 when none is complete yet, -1 when a line overflows LINE_CAP. */
static inline int lines_next(struct line_reader *reader, char line[LINE_CAP]) {
    char *newline = memchr(reader->data, '\n', reader->used);
    if (newline == NULL) return reader->used == sizeof reader->data ? -1 : 0;
    size_t length = (size_t)(newline - reader->data);
    memcpy(line, reader->data, length);
    line[length] = 0;
    reader->used -= length + 1;
    memmove(reader->data, newline + 1, reader->used);
    return 1;
}

/* Blocking: the next line from fd. 1, or 0 at end of file, -1 on error. */
static inline int read_line(struct line_reader *reader, int fd, char line[LINE_CAP]) {
    for (;;) {
        int got = lines_next(reader, line);
        if (got != 0) return got;
        ssize_t n = lines_fill(reader, fd);
        if (n <= 0) return n == 0 && reader->used == 0 ? 0 : -1;
    }
}

/* ------------------------------------------------------------------ requests */

static inline int valid_name(const char *name) {
    size_t length = strlen(name);
    if (length == 0 || length >= NAME_CAP || name[0] == '.') return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
              || *c == '.' || *c == '_' || *c == '-'))
            return 0;
    return 1;
}

/* "REQ <name>" -> name; 0 when the line is not a valid request. */
static inline int parse_request(const char *line, char name[NAME_CAP]) {
    if (strncmp(line, "REQ ", 4) != 0 || !valid_name(line + 4)) return 0;
    strcpy(name, line + 4);
    return 1;
}

/* The work a request asks for: create <dir>/<name>. 0, or an errno. */
static inline int create_file(const char *name) {
    char path[PATH_MAX], content[NAME_CAP + 64];
    if (snprintf(path, sizeof path, "%s/%s", opt.dir, name) >= (int)sizeof path) return ENAMETOOLONG;
    int length = snprintf(content, sizeof content, "%s pid %d tid %ld\n", name, (int)getpid(), (long)syscall(SYS_gettid));
    if (opt.work_us > 0) usleep((useconds_t)opt.work_us);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    int error = write_all(fd, content, (size_t)length) == 0 ? 0 : errno;
    if (close(fd) != 0 && error == 0) error = errno;
    return error;
}

#define REPLY_CAP (LINE_CAP + 64)

/* Formats "OK <name>\n" or "ERR <name> <why>\n" (error is an errno; -1: a
 * bad request) into `reply`; returns its length. */
static inline size_t format_answer(char reply[REPLY_CAP], const char *name, int error) {
    int length;
    if (error < 0) length = snprintf(reply, REPLY_CAP, "ERR bad-request\n");
    else if (error == 0) length = snprintf(reply, REPLY_CAP, "OK %s\n", name);
    else length = snprintf(reply, REPLY_CAP, "ERR %s %s\n", name, strerror(error));
    return (size_t)length;
}

/* Writes the answer to a request to the client's socket. */
static inline int answer(int fd, const char *name, int error) {
    char reply[REPLY_CAP];
    size_t length = format_answer(reply, name, error);
    return write_all(fd, reply, length);
}

/* The whole request on the calling thread: parse, create, answer. */
static inline int serve_request(int fd, const char *line) {
    char name[NAME_CAP];
    if (!parse_request(line, name)) return answer(fd, NULL, -1);
    return answer(fd, name, create_file(name));
}

/* ------------------------------------------------------------------ signals */

/* Blocks SIGTERM, SIGINT and SIGCHLD in the caller (threads started later
 * inherit the mask) and returns a signalfd for them; ignores SIGPIPE so a
 * write to a client that left fails with EPIPE instead. */
static inline int stop_signal_fd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) die("sigprocmask: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    int fd = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd < 0) die("signalfd: %s", strerror(errno));
    return fd;
}

/* The signal waiting on the signalfd (SIGCHLD, SIGTERM, ...). */
static inline int take_signal(int signal_fd) {
    struct signalfd_siginfo info;
    ssize_t n;
    do n = read(signal_fd, &info, sizeof info);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}

/* In a forked child: the default signal mask back, and SIGTERM when the
 * parent goes, so nothing outlives the daemon. */
static inline void child_signals(pid_t parent) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) die("prctl: %s", strerror(errno));
    if (getppid() != parent) _exit(0); /* the parent went before the prctl */
}

/* ------------------------------------------------------------------ workers */

/* Starts --workers threads running `body`; after stop_signal_fd, so that they inherit its mask. */
static inline void start_workers(pthread_t threads[WORKERS_MAX], void *(*body)(void *)) {
    for (int i = 0; i < opt.workers; i++)
        if (pthread_create(&threads[i], NULL, body, NULL) != 0) die("pthread_create failed");
}

/* ------------------------------------------------------------------ connections */

/* A client connection. Counted: the loop below holds one reference until the
 * client hangs up; a hand-off holds one until the reply is written. */
struct conn {
    int fd;
    int refs;
    struct line_reader in;
};

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;

static inline void conn_hold(struct conn *conn) {
    pthread_mutex_lock(&conn_lock);
    conn->refs++;
    pthread_mutex_unlock(&conn_lock);
}

static inline void conn_release(struct conn *conn) {
    pthread_mutex_lock(&conn_lock);
    int last = --conn->refs == 0;
    pthread_mutex_unlock(&conn_lock);
    if (last) {
        close(conn->fd);
        free(conn);
    }
}

/* Called for each whole line a client sent. */
typedef void (*line_handler)(struct conn *conn, const char *line);
/* Called when `extra_fd` is readable. */
typedef void (*fd_handler)(int fd);

/* The epoll loop of the event-driven designs: accepts clients on `listen_fd`,
 * reads their lines and calls `on_line` for each, on this thread; calls
 * `on_extra` when `extra_fd` (-1: none) is readable. Returns on SIGTERM or
 * SIGINT; reaps children on SIGCHLD. */
static inline void serve_lines(int listen_fd, int signal_fd, line_handler on_line, int extra_fd, fd_handler on_extra) {
    static char listener_tag, signal_tag, extra_tag; /* epoll data for the fds that are not clients */
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) die("epoll_create1: %s", strerror(errno));
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = &listener_tag};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &event);
    event.data.ptr = &signal_tag;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal_fd, &event);
    if (extra_fd >= 0) {
        event.data.ptr = &extra_tag;
        epoll_ctl(epoll_fd, EPOLL_CTL_ADD, extra_fd, &event);
    }
    for (;;) {
        struct epoll_event ready[32];
        int count = epoll_wait(epoll_fd, ready, 32, -1);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < count; i++) {
            void *tag = ready[i].data.ptr;
            if (tag == &signal_tag) {
                int number = take_signal(signal_fd);
                if (number == SIGCHLD) {
                    while (waitpid(-1, NULL, WNOHANG) > 0) {}
                } else if (number != 0) {
                    close(epoll_fd);
                    return;
                }
            } else if (tag == &listener_tag) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) continue;
                struct conn *conn = calloc(1, sizeof *conn);
                if (conn == NULL) die("out of memory");
                conn->fd = fd;
                conn->refs = 1;
                struct epoll_event client = {.events = EPOLLIN, .data.ptr = conn};
                epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &client);
            } else if (tag == &extra_tag) {
                on_extra(extra_fd);
            } else {
                struct conn *conn = tag;
                char line[LINE_CAP];
                int got = 0;
                ssize_t n = lines_fill(&conn->in, conn->fd);
                while (n > 0 && (got = lines_next(&conn->in, line)) == 1) on_line(conn, line);
                if (n <= 0 || got < 0) { /* hung up, failed, or a line too long */
                    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
                    conn_release(conn);
                }
            }
        }
    }
}

/* Removes the unix socket, if any, at the end. */
static inline void remove_socket(void) {
    if (opt.unix_path != NULL) unlink(opt.unix_path);
}

#endif
