/*
 * broker: a router between many clients and one service (service.c), as a
 * message bus is. At start-up, before it listens, the broker connects to the
 * service ONCE; every client's request goes over that one long-lived
 * connection, tagged with an id of the broker's: "<id> REQ <name>". The
 * service answers "<id> OK <name>" in any order, and the broker relays each
 * answer, without its id, to the client that asked. One epoll loop; with
 * several clients, requests of several of them are in flight on the service
 * connection at once. The broker creates no file itself.
 *
 *   broker --unix PATH|--tcp PORT --back-unix PATH|--back-tcp PORT
 *
 * Protocol and common behaviour: daemon.h (the broker takes no --dir). The
 * broker exits with status 1 if the service closes the connection.
 */
#include "daemon.h"

#define IN_FLIGHT_CAP 4096

static int service_fd;
static struct line_reader from_service;

/* The clients waiting for an answer, by id % IN_FLIGHT_CAP. */
static struct conn *waiting[IN_FLIGHT_CAP];
static unsigned long long next_id = 1;

static void on_line(struct conn *conn, const char *line) {
    char name[NAME_CAP], request[LINE_CAP + 32];
    if (!parse_request(line, name)) {
        answer(conn->fd, NULL, -1);
        return;
    }
    unsigned long long id = next_id++;
    if (waiting[id % IN_FLIGHT_CAP] != NULL) die("too many requests in flight");
    conn_hold(conn);
    waiting[id % IN_FLIGHT_CAP] = conn;
    int length = snprintf(request, sizeof request, "%llu REQ %s\n", id, name);
    if (write_all(service_fd, request, (size_t)length) != 0) die("write to the service: %s", strerror(errno));
}

static void on_service(int fd) {
    char line[LINE_CAP], reply[LINE_CAP + 1];
    ssize_t n = lines_fill(&from_service, fd);
    if (n <= 0) die("the service closed the connection");
    int got;
    while ((got = lines_next(&from_service, line)) == 1) {
        char *end;
        unsigned long long id = strtoull(line, &end, 10);
        struct conn *conn = end != line && *end == ' ' ? waiting[id % IN_FLIGHT_CAP] : NULL;
        if (conn == NULL) die("an answer from the service nobody asked for: %s", line);
        waiting[id % IN_FLIGHT_CAP] = NULL;
        int length = snprintf(reply, sizeof reply, "%s\n", end + 1);
        write_all(conn->fd, reply, (size_t)length);
        conn_release(conn);
    }
    if (got < 0) die("a line from the service too long");
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "broker --unix PATH|--tcp PORT --back-unix PATH|--back-tcp PORT");
    if ((opt.back_unix == NULL) == (opt.back_tcp < 0)) die("give one of --back-unix and --back-tcp");
    service_fd = connect_socket(opt.back_unix, opt.back_tcp);
    if (service_fd < 0) die("connect to the service: %s", strerror(errno));
    int signal_fd = stop_signal_fd();
    int listen_fd = listen_socket();
    announce_ready(listen_fd);
    serve_lines(listen_fd, signal_fd, on_line, service_fd, on_service);
    remove_socket();
    return 0;
}
