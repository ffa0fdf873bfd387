/*
 * prefork: a master and N worker processes forked at start, before any
 * client, as nginx and php-fpm do. The master accepts and reads every request
 * line (one epoll loop over all connections), then dispatches it round-robin
 * to a worker over that worker's socketpair (SOCK_SEQPACKET): one message
 * whose bytes are the name and whose SCM_RIGHTS control message carries the
 * client's socket. The worker creates the file, writes the reply straight to
 * the passed socket and closes its copy. Workers never accept and never read
 * from a client: only the socketpair message links a worker to a command.
 *
 *   prefork --unix PATH|--tcp PORT --dir DIR [--workers N]   (N: 4)
 *
 * Protocol and common behaviour: daemon.h. On SIGTERM the master closes the
 * socketpairs; each worker exits at end of file, and the master reaps them.
 */
#include "daemon.h"

static int worker_fds[256]; /* the master's ends of the socketpairs */
static int next_worker;

/* Worker: one message per request, until the master closes its end. */
static void worker(int channel) {
    for (;;) {
        char name[NAME_CAP];
        char control[CMSG_SPACE(sizeof(int))];
        struct iovec data = {.iov_base = name, .iov_len = sizeof name - 1};
        struct msghdr message = {.msg_iov = &data, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
        ssize_t n = recvmsg(channel, &message, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(0);
        name[n] = 0;
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        if (header == NULL || header->cmsg_type != SCM_RIGHTS) die("worker: a message without a socket");
        int client;
        memcpy(&client, CMSG_DATA(header), sizeof client);
        answer(client, name, create_file(name));
        close(client);
    }
}

/* Master: parse the line, pass name and socket to the next worker. */
static void on_line(struct conn *conn, const char *line) {
    char name[NAME_CAP];
    if (!parse_request(line, name)) {
        answer(conn->fd, NULL, -1);
        return;
    }
    char control[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec data = {.iov_base = name, .iov_len = strlen(name)};
    struct msghdr message = {.msg_iov = &data, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &conn->fd, sizeof conn->fd);
    int channel = worker_fds[next_worker];
    next_worker = (next_worker + 1) % opt.workers;
    while (sendmsg(channel, &message, 0) < 0)
        if (errno != EINTR) die("sendmsg to a worker: %s", strerror(errno));
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "prefork --unix PATH|--tcp PORT --dir DIR [--workers N]");
    if (opt.dir == NULL) die("--dir is required");
    pid_t master = getpid();
    int pairs[256][2];
    for (int i = 0; i < opt.workers; i++)
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pairs[i]) != 0) die("socketpair: %s", strerror(errno));
    for (int i = 0; i < opt.workers; i++) {
        pid_t child = fork();
        if (child < 0) die("fork: %s", strerror(errno));
        if (child == 0) {
            child_signals(master);
            for (int j = 0; j < opt.workers; j++) {
                close(pairs[j][0]);
                if (j != i) close(pairs[j][1]);
            }
            worker(pairs[i][1]);
        }
    }
    for (int i = 0; i < opt.workers; i++) {
        close(pairs[i][1]);
        worker_fds[i] = pairs[i][0];
    }
    int signal_fd = stop_signal_fd();
    int listen_fd = listen_socket();
    announce_ready(listen_fd);

    serve_lines(listen_fd, signal_fd, on_line, -1, NULL);

    for (int i = 0; i < opt.workers; i++) close(worker_fds[i]);
    while (wait(NULL) > 0 || errno == EINTR) {}
    remove_socket();
    return 0;
}
