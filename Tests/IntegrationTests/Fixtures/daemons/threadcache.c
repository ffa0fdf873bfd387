/*
 * threadcache: a thread per connection from a cache of threads, as MariaDB
 * and MySQL do. The main thread accepts and queues each connection; a
 * cached thread takes it, greets the client first ("HELLO"), serves every
 * request on it until the client hangs up, closes it and takes the next.
 * A thread finding a connection queued as it comes back takes it without
 * sleeping, so no wake-up separates one client from the next.
 *
 *   threadcache --unix PATH|--tcp PORT --dir DIR [--workers N]   (N: 4)
 *
 * Protocol and common behaviour: daemon.h, plus the greeting: clients need
 * client --greeted.
 */
#include "daemon.h"

#define QUEUE_CAP 256

static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    int fds[QUEUE_CAP];
    int head, count;
    int stopping;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER, .ready = PTHREAD_COND_INITIALIZER};

/* The next connection, or -1 when stopping. */
static int next_connection(void) {
    pthread_mutex_lock(&queue.lock);
    while (queue.count == 0 && !queue.stopping) pthread_cond_wait(&queue.ready, &queue.lock);
    int fd = -1;
    if (queue.count > 0) {
        fd = queue.fds[queue.head];
        queue.head = (queue.head + 1) % QUEUE_CAP;
        queue.count--;
    }
    pthread_mutex_unlock(&queue.lock);
    return fd;
}

static void *cached_thread(void *unused) {
    (void)unused;
    for (int fd; (fd = next_connection()) >= 0;) {
        struct line_reader in = {.used = 0};
        char line[LINE_CAP];
        if (write_all(fd, "HELLO\n", 6) == 0)
            while (read_line(&in, fd, line) == 1)
                if (serve_request(fd, line) != 0) break;
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "threadcache --unix PATH|--tcp PORT --dir DIR [--workers N]");
    if (opt.dir == NULL) die("--dir is required");
    int signal_fd = stop_signal_fd(); /* before the threads start: they inherit the mask */
    pthread_t threads[WORKERS_MAX];
    start_workers(threads, cached_thread);
    int listen_fd = listen_socket();
    announce_ready(listen_fd);

    struct pollfd fds[2] = {{.fd = listen_fd, .events = POLLIN}, {.fd = signal_fd, .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll: %s", strerror(errno));
        }
        if ((fds[1].revents & POLLIN) && take_signal(signal_fd) != 0) break;
        if (fds[0].revents & POLLIN) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) continue;
            pthread_mutex_lock(&queue.lock);
            if (queue.count < QUEUE_CAP) {
                queue.fds[(queue.head + queue.count) % QUEUE_CAP] = fd;
                queue.count++;
                fd = -1;
            }
            pthread_cond_signal(&queue.ready);
            pthread_mutex_unlock(&queue.lock);
            if (fd >= 0) close(fd); /* the queue is full: the client sees its connection end */
        }
    }

    pthread_mutex_lock(&queue.lock);
    queue.stopping = 1;
    pthread_cond_broadcast(&queue.ready);
    pthread_mutex_unlock(&queue.lock);
    /* Threads serving a client that stays connected would not return: exit without joining them. */
    remove_socket();
    return 0;
}
