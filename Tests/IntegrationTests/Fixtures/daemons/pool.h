/*
 * The thread pool of pooleventfd.c and poolpipe.c: workers that complete
 * through a wake-up of the loop instead of answering themselves, as servers
 * built on libuv's or libevent's work queues do.
 *
 * The loop thread (serve_lines) reads every request line and queues a job
 * (mutex + condition variable). A worker takes it, creates the file, puts the
 * result on the done list and wakes the loop through the wake channel: one
 * 1 added to an eventfd, or one byte written to a pipe. The loop reads the
 * channel (an eventfd read takes every completion since the last at once; a
 * pipe read up to 64 bytes), takes every job on the done list and writes each
 * answer to its client. A worker never writes to a client.
 *
 * Header only; a program defines its wake channel with pool_main().
 */
#ifndef FIXTURE_POOL_H
#define FIXTURE_POOL_H

#include "daemon.h"
#include <sys/eventfd.h>

enum wake_kind { WAKE_EVENTFD, WAKE_PIPE };

struct job {
    struct conn *conn; /* held until the answer is written */
    char name[NAME_CAP];
    int error;         /* the result of create_file */
    struct job *next;
};

/* A list of jobs, oldest first, under a lock. */
struct job_list {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct job *head, *tail;
    int stopping;
};

static struct job_list todo = {.lock = PTHREAD_MUTEX_INITIALIZER, .ready = PTHREAD_COND_INITIALIZER};
static struct job_list done = {.lock = PTHREAD_MUTEX_INITIALIZER, .ready = PTHREAD_COND_INITIALIZER};
static enum wake_kind wake_kind;
static int wake_read_fd, wake_write_fd;

/* Appends `job`; the caller holds the list's lock. */
static inline void list_push(struct job_list *list, struct job *job) {
    job->next = NULL;
    if (list->tail != NULL) list->tail->next = job;
    else list->head = job;
    list->tail = job;
}

/* Loop: parse the line and queue the work. */
static inline void pool_on_line(struct conn *conn, const char *line) {
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL) die("out of memory");
    if (!parse_request(line, job->name)) {
        answer(conn->fd, NULL, -1);
        free(job);
        return;
    }
    conn_hold(conn);
    job->conn = conn;
    pthread_mutex_lock(&todo.lock);
    list_push(&todo, job);
    pthread_cond_signal(&todo.ready);
    pthread_mutex_unlock(&todo.lock);
}

/* Worker: tells the loop a job is done. */
static inline void wake_loop(void) {
    ssize_t n;
    if (wake_kind == WAKE_EVENTFD) {
        uint64_t one = 1;
        do n = write(wake_write_fd, &one, sizeof one);
        while (n < 0 && errno == EINTR);
    } else {
        char byte = 1;
        do n = write(wake_write_fd, &byte, 1);
        while (n < 0 && errno == EINTR);
    }
    /* A full pipe (EAGAIN) is readable already: the loop will wake. */
    if (n <= 0 && !(n < 0 && errno == EAGAIN)) die("waking the loop: %s", strerror(errno));
}

/* Worker: take a job, create the file, hand the result back to the loop. */
static inline void *pool_worker(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&todo.lock);
        while (todo.head == NULL && !todo.stopping) pthread_cond_wait(&todo.ready, &todo.lock);
        struct job *job = todo.head;
        if (job == NULL) { /* stopping, and nothing left */
            pthread_mutex_unlock(&todo.lock);
            return NULL;
        }
        todo.head = job->next;
        if (todo.head == NULL) todo.tail = NULL;
        pthread_mutex_unlock(&todo.lock);

        job->error = create_file(job->name);
        pthread_mutex_lock(&done.lock);
        list_push(&done, job);
        pthread_mutex_unlock(&done.lock);
        wake_loop();
    }
}

/* Loop: the wake channel is readable. Drain it, then answer every done job. */
static inline void pool_on_wake(int fd) {
    if (wake_kind == WAKE_EVENTFD) {
        uint64_t count;
        if (read(fd, &count, sizeof count) != sizeof count) return;
    } else {
        char bytes[64];
        if (read(fd, bytes, sizeof bytes) <= 0) return;
    }
    pthread_mutex_lock(&done.lock);
    struct job *job = done.head;
    done.head = done.tail = NULL;
    pthread_mutex_unlock(&done.lock);
    while (job != NULL) {
        struct job *next = job->next;
        answer(job->conn->fd, job->name, job->error);
        conn_release(job->conn);
        free(job);
        job = next;
    }
}

/* The whole program: options, the wake channel, the workers, the loop. */
static inline int pool_main(int argc, char **argv, enum wake_kind kind, const char *usage) {
    parse_options(argc, argv, usage);
    if (opt.dir == NULL) die("--dir is required");
    wake_kind = kind;
    if (kind == WAKE_EVENTFD) {
        wake_read_fd = wake_write_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake_read_fd < 0) die("eventfd: %s", strerror(errno));
    } else {
        int ends[2];
        if (pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) die("pipe2: %s", strerror(errno));
        wake_read_fd = ends[0];
        wake_write_fd = ends[1];
    }
    int signal_fd = stop_signal_fd(); /* before the workers start: they inherit the mask */
    pthread_t workers[WORKERS_MAX];
    start_workers(workers, pool_worker);
    int listen_fd = listen_socket();
    announce_ready(listen_fd);

    serve_lines(listen_fd, signal_fd, pool_on_line, wake_read_fd, pool_on_wake);

    pthread_mutex_lock(&todo.lock);
    todo.stopping = 1;
    pthread_cond_broadcast(&todo.ready);
    pthread_mutex_unlock(&todo.lock);
    for (int i = 0; i < opt.workers; i++) pthread_join(workers[i], NULL);
    remove_socket();
    return 0;
}

#endif
