/*
 * eventloop: one thread, one epoll loop serving every client interleaved,
 * as Redis does. The thread that reads a request also creates the file and
 * answers, then goes on to the next ready client, which may be another
 * command's.
 *
 *   eventloop --unix PATH|--tcp PORT --dir DIR
 *
 * Protocol and common behaviour: daemon.h.
 */
#include "daemon.h"

static void on_line(struct conn *conn, const char *line) {
    serve_request(conn->fd, line);
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "eventloop --unix PATH|--tcp PORT --dir DIR");
    if (opt.dir == NULL) die("--dir is required");
    int signal_fd = stop_signal_fd();
    int listen_fd = listen_socket();
    announce_ready(listen_fd);
    serve_lines(listen_fd, signal_fd, on_line, -1, NULL);
    remove_socket();
    return 0;
}
