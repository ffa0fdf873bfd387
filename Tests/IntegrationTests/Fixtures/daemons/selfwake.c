/*
 * selfwake: one thread, one epoll loop, as eventloop.c, but the work a
 * request asks for is queued and done on a later turn of the loop, after the
 * loop wakes itself: reading a request queues it and writes 1 to the loop's
 * own eventfd; when the loop next sees the eventfd readable it reads it
 * (which takes the count back to 0) and only then creates the files of every
 * queued request and answers each, in order. Event-loop libraries do the
 * same to run deferred callbacks or completed work.
 *
 *   selfwake --unix PATH|--tcp PORT --dir DIR
 *
 * Protocol and common behaviour: daemon.h.
 */
#include "daemon.h"
#include <sys/eventfd.h>

struct deferred {
    struct conn *conn; /* held until the answer is written */
    char name[NAME_CAP];
    int bad;           /* not a request: answered "ERR bad-request" */
    struct deferred *next;
};

static struct deferred *head, **tail = &head;
static int wake_fd;

static void on_line(struct conn *conn, const char *line) {
    struct deferred *item = calloc(1, sizeof *item);
    if (item == NULL) die("out of memory");
    item->bad = !parse_request(line, item->name);
    conn_hold(conn);
    item->conn = conn;
    *tail = item;
    tail = &item->next;
    uint64_t one = 1;
    if (write(wake_fd, &one, sizeof one) != sizeof one) die("write to the eventfd: %s", strerror(errno));
}

static void on_wake(int fd) {
    uint64_t count;
    if (read(fd, &count, sizeof count) != sizeof count) return;
    struct deferred *item = head;
    head = NULL;
    tail = &head;
    while (item != NULL) {
        struct deferred *next = item->next;
        answer(item->conn->fd, item->name, item->bad ? -1 : create_file(item->name));
        conn_release(item->conn);
        free(item);
        item = next;
    }
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "selfwake --unix PATH|--tcp PORT --dir DIR");
    if (opt.dir == NULL) die("--dir is required");
    int signal_fd = stop_signal_fd();
    wake_fd = eventfd(0, EFD_CLOEXEC);
    if (wake_fd < 0) die("eventfd: %s", strerror(errno));
    int listen_fd = listen_socket();
    announce_ready(listen_fd);
    serve_lines(listen_fd, signal_fd, on_line, wake_fd, on_wake);
    remove_socket();
    return 0;
}
