/*
 * batching: an input thread and one worker thread that acts on requests in
 * batches, as log shippers and database group commits do. The input thread
 * (the main thread, one epoll loop over every client) reads each request line
 * and queues it (mutex + condition variable). The worker waits until
 * --batch N requests are queued, or --batch-ms MS have passed since the
 * oldest was queued, then takes up to N at once and, for each in order,
 * creates the file and writes the answer to that request's client. One batch
 * may hold requests of several clients.
 *
 *   batching --unix PATH|--tcp PORT --dir DIR [--batch N] [--batch-ms MS]   (4, 5)
 *
 * Protocol and common behaviour: daemon.h.
 */
#include "daemon.h"
#include <time.h>

struct item {
    struct conn *conn; /* held until the answer is written */
    char name[NAME_CAP];
    struct timespec queued;
    struct item *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct item *head, *tail;
    int count, stopping;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_line(struct conn *conn, const char *line) {
    struct item *item = calloc(1, sizeof *item);
    if (item == NULL) die("out of memory");
    if (!parse_request(line, item->name)) {
        answer(conn->fd, NULL, -1);
        free(item);
        return;
    }
    conn_hold(conn);
    item->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &item->queued);
    pthread_mutex_lock(&queue.lock);
    if (queue.tail != NULL) queue.tail->next = item;
    else queue.head = item;
    queue.tail = item;
    queue.count++;
    pthread_cond_signal(&queue.ready);
    pthread_mutex_unlock(&queue.lock);
}

/* When the oldest item's wait for a full batch ends. */
static struct timespec batch_deadline(const struct item *oldest) {
    struct timespec deadline = oldest->queued;
    deadline.tv_nsec += (long)opt.batch_ms * 1000000L;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    return deadline;
}

static void *worker(void *unused) {
    (void)unused;
    struct item *batch[64];
    for (;;) {
        pthread_mutex_lock(&queue.lock);
        for (;;) {
            if (queue.stopping || queue.count >= opt.batch) break;
            if (queue.head == NULL) {
                pthread_cond_wait(&queue.ready, &queue.lock);
                continue;
            }
            struct timespec deadline = batch_deadline(queue.head);
            if (pthread_cond_timedwait(&queue.ready, &queue.lock, &deadline) == ETIMEDOUT) break;
        }
        if (queue.stopping && queue.head == NULL) {
            pthread_mutex_unlock(&queue.lock);
            return NULL;
        }
        int taken = 0;
        while (queue.head != NULL && taken < opt.batch) {
            batch[taken++] = queue.head;
            queue.head = queue.head->next;
            queue.count--;
        }
        if (queue.head == NULL) queue.tail = NULL;
        pthread_mutex_unlock(&queue.lock);

        for (int i = 0; i < taken; i++) {
            answer(batch[i]->conn->fd, batch[i]->name, create_file(batch[i]->name));
            conn_release(batch[i]->conn);
            free(batch[i]);
        }
    }
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "batching --unix PATH|--tcp PORT --dir DIR [--batch N] [--batch-ms MS]");
    if (opt.dir == NULL) die("--dir is required");
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&queue.ready, &monotonic);
    int signal_fd = stop_signal_fd(); /* before the worker starts: it inherits the mask */
    pthread_t thread;
    if (pthread_create(&thread, NULL, worker, NULL) != 0) die("pthread_create failed");
    int listen_fd = listen_socket();
    announce_ready(listen_fd);

    serve_lines(listen_fd, signal_fd, on_line, -1, NULL);

    pthread_mutex_lock(&queue.lock);
    queue.stopping = 1;
    pthread_cond_broadcast(&queue.ready);
    pthread_mutex_unlock(&queue.lock);
    pthread_join(thread, NULL);
    remove_socket();
    return 0;
}
