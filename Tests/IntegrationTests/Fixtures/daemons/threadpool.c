/*
 * threadpool: one acceptor thread and N worker threads. The acceptor (the
 * main thread) accepts connections and reads every request line, in one
 * epoll loop over all connections; it hands (connection, name) to the
 * workers through a mutex + condition-variable queue. A worker creates the
 * file and writes the reply. The thread that reads a command's request is
 * never the one that does its work: only the queue hand-off (a futex wake)
 * links them.
 *
 *   threadpool --unix PATH|--tcp PORT --dir DIR [--workers N]   (N: 4)
 *
 * Protocol and common behaviour: daemon.h. Requests pipelined on one
 * connection may be answered out of order; the client waits for each reply.
 */
#include "daemon.h"

struct job {
    struct conn *conn; /* held until the reply is written */
    char name[NAME_CAP];
    struct job *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct job *head, *tail;
    int stopping;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER, .ready = PTHREAD_COND_INITIALIZER};

/* Acceptor: parse the line and queue the work. */
static void on_line(struct conn *conn, const char *line) {
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL) die("out of memory");
    if (!parse_request(line, job->name)) {
        answer(conn->fd, NULL, -1);
        free(job);
        return;
    }
    conn_hold(conn);
    job->conn = conn;
    pthread_mutex_lock(&queue.lock);
    if (queue.tail != NULL) queue.tail->next = job;
    else queue.head = job;
    queue.tail = job;
    pthread_cond_signal(&queue.ready);
    pthread_mutex_unlock(&queue.lock);
}

/* Worker: take a job, create the file, answer. */
static void *worker(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&queue.lock);
        while (queue.head == NULL && !queue.stopping) pthread_cond_wait(&queue.ready, &queue.lock);
        struct job *job = queue.head;
        if (job == NULL) { /* stopping, and nothing left */
            pthread_mutex_unlock(&queue.lock);
            return NULL;
        }
        queue.head = job->next;
        if (queue.head == NULL) queue.tail = NULL;
        pthread_mutex_unlock(&queue.lock);

        answer(job->conn->fd, job->name, create_file(job->name));
        conn_release(job->conn);
        free(job);
    }
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "threadpool --unix PATH|--tcp PORT --dir DIR [--workers N]");
    if (opt.dir == NULL) die("--dir is required");
    int signal_fd = stop_signal_fd(); /* before the workers start: they inherit the mask */
    pthread_t workers[WORKERS_MAX];
    start_workers(workers, worker);
    int listen_fd = listen_socket();
    announce_ready(listen_fd);

    serve_lines(listen_fd, signal_fd, on_line, -1, NULL);

    pthread_mutex_lock(&queue.lock);
    queue.stopping = 1;
    pthread_cond_broadcast(&queue.ready);
    pthread_mutex_unlock(&queue.lock);
    for (int i = 0; i < opt.workers; i++) pthread_join(workers[i], NULL);
    remove_socket();
    return 0;
}
