/*
 * back: the second hop of the chain design (front.c is the first), like
 * containerd behind dockerd. One epoll loop; for each request it forks a
 * short-lived helper process that creates the file and _exits with 0 or the
 * errno, as containerd starts runc. back waits for the helper, then answers.
 * Its clients are usually just front, over one connection front opened at its
 * own start-up, long before any command.
 *
 *   back --unix PATH|--tcp PORT --dir DIR
 *
 * Protocol and common behaviour: daemon.h. Requests on one connection are
 * answered strictly in order (front relies on it).
 */
#include "daemon.h"

static pid_t self;

static void on_line(struct conn *conn, const char *line) {
    char name[NAME_CAP];
    if (!parse_request(line, name)) {
        answer(conn->fd, NULL, -1);
        return;
    }
    pid_t helper = fork();
    if (helper < 0) {
        answer(conn->fd, name, errno);
        return;
    }
    if (helper == 0) {
        child_signals(self);
        _exit(create_file(name));
    }
    int status;
    while (waitpid(helper, &status, 0) < 0)
        if (errno != EINTR) die("waitpid: %s", strerror(errno));
    int error = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
    answer(conn->fd, name, error);
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "back --unix PATH|--tcp PORT --dir DIR");
    if (opt.dir == NULL) die("--dir is required");
    self = getpid();
    int signal_fd = stop_signal_fd();
    int listen_fd = listen_socket();
    announce_ready(listen_fd);
    serve_lines(listen_fd, signal_fd, on_line, -1, NULL);
    remove_socket();
    return 0;
}
