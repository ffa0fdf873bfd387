/*
 * datagram: one thread serving requests that come as datagrams, on a unix
 * datagram socket bound to a path (--unix) or on UDP 127.0.0.1 (--udp), as
 * syslog daemons and DNS servers do. Each datagram is one request line (the
 * newline optional); the thread creates the file and sends the answer as a
 * datagram to the address the request came from. Datagrams of every client
 * arrive on the one socket, interleaved.
 *
 *   datagram --unix PATH|--udp PORT --dir DIR [--recv recvfrom|recvmsg|recvmmsg]
 *
 * --recv names the call that takes the datagrams: recvfrom (default) and
 * recvmsg take one per call, recvmmsg up to 8 (those already queued).
 * Protocol and common behaviour: daemon.h.
 */
#include "daemon.h"

#define BATCH_CAP 8

/* Serves one datagram of `length` bytes from `from`. */
static void serve_datagram(int fd, char *data, size_t length, const struct sockaddr *from, socklen_t from_length) {
    char name[NAME_CAP], reply[REPLY_CAP];
    if (length > 0 && data[length - 1] == '\n') length--;
    data[length] = 0;
    int error = parse_request(data, name) ? create_file(name) : -1;
    size_t reply_length = format_answer(reply, name, error);
    /* A client that left makes this fail (ECONNREFUSED, ENOENT): nothing to do. */
    while (sendto(fd, reply, reply_length, 0, from, from_length) < 0 && errno == EINTR) {}
}

/* Takes what is queued on the socket with the --recv call and serves it. */
static void on_readable(int fd) {
    static char data[BATCH_CAP][LINE_CAP + 1];
    static struct sockaddr_storage from[BATCH_CAP];
    if (strcmp(opt.recv_mode, "recvfrom") == 0) {
        socklen_t from_length = sizeof from[0];
        ssize_t n = recvfrom(fd, data[0], LINE_CAP, 0, (struct sockaddr *)&from[0], &from_length);
        if (n >= 0) serve_datagram(fd, data[0], (size_t)n, (struct sockaddr *)&from[0], from_length);
    } else if (strcmp(opt.recv_mode, "recvmsg") == 0) {
        struct iovec buffer = {.iov_base = data[0], .iov_len = LINE_CAP};
        struct msghdr message = {.msg_name = &from[0], .msg_namelen = sizeof from[0], .msg_iov = &buffer, .msg_iovlen = 1};
        ssize_t n = recvmsg(fd, &message, 0);
        if (n >= 0) serve_datagram(fd, data[0], (size_t)n, (struct sockaddr *)&from[0], message.msg_namelen);
    } else {
        struct iovec buffers[BATCH_CAP];
        struct mmsghdr messages[BATCH_CAP];
        memset(messages, 0, sizeof messages);
        for (int i = 0; i < BATCH_CAP; i++) {
            buffers[i] = (struct iovec){.iov_base = data[i], .iov_len = LINE_CAP};
            messages[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i],
                                                  .msg_iov = &buffers[i], .msg_iovlen = 1};
        }
        int count = recvmmsg(fd, messages, BATCH_CAP, MSG_DONTWAIT, NULL);
        for (int i = 0; i < count; i++)
            serve_datagram(fd, data[i], messages[i].msg_len, (struct sockaddr *)&from[i], messages[i].msg_hdr.msg_namelen);
    }
}

int main(int argc, char **argv) {
    const char *usage = "datagram --unix PATH|--udp PORT --dir DIR [--recv recvfrom|recvmsg|recvmmsg]";
    parse_options(argc, argv, usage);
    if (opt.dir == NULL) die("--dir is required");
    if (opt.tcp_port >= 0) die("datagram serves --unix or --udp\nusage: %s", usage);
    if (strcmp(opt.recv_mode, "recvfrom") != 0 && strcmp(opt.recv_mode, "recvmsg") != 0
        && strcmp(opt.recv_mode, "recvmmsg") != 0)
        die("--recv must be recvfrom, recvmsg or recvmmsg\nusage: %s", usage);
    int signal_fd = stop_signal_fd();
    int fd = datagram_socket();
    announce_ready(fd);
    for (;;) {
        struct pollfd ready[2] = {{.fd = signal_fd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        if (poll(ready, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll: %s", strerror(errno));
        }
        if (ready[0].revents & POLLIN) {
            int number = take_signal(signal_fd);
            if (number == SIGTERM || number == SIGINT) break;
        }
        if (ready[1].revents & POLLIN) on_readable(fd);
    }
    remove_socket();
    return 0;
}
