/*
 * service: the far end of the broker design (broker.c is the router in
 * front). It serves tagged requests, "<id> REQ <name>", usually all of them
 * over the one connection the broker opened at its start-up, and answers
 * each with "<id> OK <name>" (or "<id> ERR ...") on the connection it came
 * on. The loop thread reads the requests and queues them (mutex + condition
 * variable) for N worker threads; a worker creates the file and writes the
 * answer. With --work-us each request takes that much longer, so requests of
 * several clients are in flight at once and are answered out of order.
 *
 *   service --unix PATH|--tcp PORT --dir DIR [--workers N] [--work-us N]   (N: 4)
 *
 * Protocol and common behaviour: daemon.h; ids are decimal, 1..20 digits.
 */
#include "daemon.h"

struct job {
    struct conn *conn; /* held until the answer is written */
    unsigned long long id;
    char name[NAME_CAP];
    struct job *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct job *head, *tail;
    int stopping;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER, .ready = PTHREAD_COND_INITIALIZER};

/* Answers to one connection come from several workers: one at a time. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/* "<id> REQ <name>" -> id and name; 0 when the line is not one. */
static int parse_tagged(const char *line, unsigned long long *id, char name[NAME_CAP]) {
    char *end;
    errno = 0;
    *id = strtoull(line, &end, 10);
    return end != line && *end == ' ' && errno == 0 && parse_request(end + 1, name);
}

static void on_line(struct conn *conn, const char *line) {
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL) die("out of memory");
    if (!parse_tagged(line, &job->id, job->name)) {
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

static void *worker(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&queue.lock);
        while (queue.head == NULL && !queue.stopping) pthread_cond_wait(&queue.ready, &queue.lock);
        struct job *job = queue.head;
        if (job == NULL) {
            pthread_mutex_unlock(&queue.lock);
            return NULL;
        }
        queue.head = job->next;
        if (queue.head == NULL) queue.tail = NULL;
        pthread_mutex_unlock(&queue.lock);

        char reply[REPLY_CAP + 24], plain[REPLY_CAP];
        format_answer(plain, job->name, create_file(job->name));
        int length = snprintf(reply, sizeof reply, "%llu %s", job->id, plain);
        pthread_mutex_lock(&write_lock);
        write_all(job->conn->fd, reply, (size_t)length);
        pthread_mutex_unlock(&write_lock);
        conn_release(job->conn);
        free(job);
    }
}

int main(int argc, char **argv) {
    parse_options(argc, argv, "service --unix PATH|--tcp PORT --dir DIR [--workers N] [--work-us N]");
    if (opt.dir == NULL) die("--dir is required");
    int signal_fd = stop_signal_fd();
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
