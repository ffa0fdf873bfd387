/*
 * front: the first hop of the chain design, like dockerd in front of
 * containerd. At start-up, before it listens, front connects to back ONCE;
 * every client request is forwarded over that one persistent connection.
 * One epoll loop: a client's "REQ <name>" line is validated and written to
 * back, and the client is queued; each reply line from back is relayed to
 * the client at the head of the queue (back answers in order). front
 * creates no file itself: all the work happens in back's helpers.
 *
 *   front --unix PATH|--tcp PORT --back-unix PATH|--back-tcp PORT
 *
 * Protocol and common behaviour: daemon.h (front takes no --dir). front exits
 * with status 1 if back closes the connection.
 */
#include "daemon.h"

static int back_fd;
static struct line_reader from_back;

/* Clients waiting for back's replies, oldest first: a ring. */
static struct conn *waiting[4096];
static size_t waiting_head, waiting_count;

static void on_line(struct conn *conn, const char *line) {
    char name[NAME_CAP], request[LINE_CAP + 8];
    if (!parse_request(line, name)) {
        answer(conn->fd, NULL, -1);
        return;
    }
    if (waiting_count == sizeof waiting / sizeof waiting[0]) die("too many requests in flight");
    int length = snprintf(request, sizeof request, "REQ %s\n", name);
    if (write_all(back_fd, request, (size_t)length) != 0) die("write to back: %s", strerror(errno));
    conn_hold(conn);
    waiting[(waiting_head + waiting_count++) % (sizeof waiting / sizeof waiting[0])] = conn;
}

static void on_back(int fd) {
    char line[LINE_CAP], reply[LINE_CAP + 1];
    ssize_t n = lines_fill(&from_back, fd);
    if (n <= 0) die("back closed the connection");
    int got;
    while ((got = lines_next(&from_back, line)) == 1) {
        if (waiting_count == 0) die("a reply from back nobody asked for: %s", line);
        struct conn *conn = waiting[waiting_head];
        waiting_head = (waiting_head + 1) % (sizeof waiting / sizeof waiting[0]);
        waiting_count--;
        int length = snprintf(reply, sizeof reply, "%s\n", line);
        write_all(conn->fd, reply, (size_t)length);
        conn_release(conn);
    }
    if (got < 0) die("a line from back too long");
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "front --unix PATH|--tcp PORT --back-unix PATH|--back-tcp PORT");
    if ((opt.back_unix == NULL) == (opt.back_tcp < 0)) die("give one of --back-unix and --back-tcp");
    back_fd = connect_socket(opt.back_unix, opt.back_tcp);
    if (back_fd < 0) die("connect to back: %s", strerror(errno));
    int signal_fd = stop_signal_fd();
    int listen_fd = listen_socket();
    announce_ready(listen_fd);
    serve_lines(listen_fd, signal_fd, on_line, back_fd, on_back);
    remove_socket();
    return 0;
}
