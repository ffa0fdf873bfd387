/*
 * forking: a process per connection, as PostgreSQL and sshd do. The master
 * accepts and forks; the child closes the listener and serves the
 * connection (every request on it: read, create the file, answer) until the
 * client hangs up, then exits. The master never reads a request.
 *
 *   forking --unix PATH|--tcp PORT --dir DIR
 *
 * Protocol and common behaviour: daemon.h. Children get SIGTERM when the
 * master exits.
 */
#include "daemon.h"

static void serve_connection(int fd) {
    struct line_reader in = {.used = 0};
    char line[LINE_CAP];
    while (read_line(&in, fd, line) == 1)
        if (serve_request(fd, line) != 0) break;
    close(fd);
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "forking --unix PATH|--tcp PORT --dir DIR");
    if (opt.dir == NULL) die("--dir is required");
    int signal_fd = stop_signal_fd();
    int listen_fd = listen_socket();
    announce_ready(listen_fd);
    pid_t master = getpid();

    struct pollfd fds[2] = {{.fd = listen_fd, .events = POLLIN}, {.fd = signal_fd, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll: %s", strerror(errno));
        }
        if (fds[1].revents & POLLIN) {
            int number = take_signal(signal_fd);
            if (number == SIGCHLD) {
                while (waitpid(-1, NULL, WNOHANG) > 0) {}
            } else if (number != 0) {
                break;
            }
        }
        if (fds[0].revents & POLLIN) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) continue;
            pid_t child = fork();
            if (child < 0) die("fork: %s", strerror(errno));
            if (child == 0) {
                close(listen_fd);
                close(signal_fd);
                child_signals(master);
                serve_connection(fd);
                _exit(0);
            }
            close(fd);
        }
    }
    remove_socket();
    return 0;
}
