/*
 * Fixture for the integration tests: a process tree with every shape the
 * tracer must follow. Each process appends "role pid ppid" (threads: "thread
 * tid pid") to the report file, one write(2) per line, so the test knows the
 * true ids to compare with the trace.
 *
 *   tree REPORT main EXIT    forks "child", which execs "tree REPORT child 11"
 *                            and forks a grandchild that execs
 *                            "tree REPORT grandchild 12"; starts 8 threads;
 *                            forks a child that _exit(3)s at once without exec;
 *                            forks a child that execs "tree REPORT victim" and
 *                            is killed with SIGTERM; then exits with EXIT.
 *   tree REPORT raise SIG    kills itself with signal SIG.
 *   tree REPORT comm NAME    sets its comm to NAME (prctl) and exits 0.
 *   tree REPORT burst N      forks N children that all stay alive until the
 *                            last is forked, then _exit(0); reaps them, exits 0.
 *   tree REPORT bomb MS      a fork bomb for MS milliseconds: every process,
 *                            each child included, forks once a millisecond,
 *                            so the bomb doubles every millisecond; a refused
 *                            fork (a pids cgroup's limit) is retried after
 *                            50 ms. At the deadline each process reaps
 *                            its children and exits 0, and the first reports
 *                            "bomb FORKS REFUSED", the forks made and refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *report_path;
static const char *self_path;

static void report(const char *role, long id, long parent)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s %ld %ld\n", role, id, parent);
	int fd = open(report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, n) != n) {
		perror("report");
		_exit(90);
	}
	close(fd);
}

static void die(const char *what)
{
	perror(what);
	_exit(91);
}

static pid_t run_self(char *const extra[])
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char *argv[8] = { (char *)self_path, (char *)report_path };
		for (int i = 0; extra[i] && i < 5; i++)
			argv[2 + i] = extra[i];
		execv(self_path, argv);
		die("execv");
	}
	return pid;
}

static int wait_for(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	return status;
}

static void *thread_main(void *arg)
{
	(void)arg;
	report("thread", syscall(SYS_gettid), getpid());
	return NULL;
}

static int run_main(int exit_code)
{
	report("main", getpid(), getppid());

	/* A child that execs, then forks a grandchild that execs. */
	pid_t child = run_self((char *[]){ "child", "11", NULL });

	/* 8 threads, all started before any is joined. */
	pthread_t threads[8];
	for (int i = 0; i < 8; i++)
		if (pthread_create(&threads[i], NULL, thread_main, NULL) != 0)
			die("pthread_create");
	for (int i = 0; i < 8; i++)
		pthread_join(threads[i], NULL);

	/* A child that exits immediately after fork, without exec. */
	pid_t quick = fork();
	if (quick < 0)
		die("fork");
	if (quick == 0)
		_exit(3);
	report("quick", quick, getpid());

	/* A child killed by a signal once it has exec'd and said so on a pipe. */
	int ready[2];
	if (pipe(ready) != 0)
		die("pipe");
	char fd_text[16];
	snprintf(fd_text, sizeof(fd_text), "%d", ready[1]);
	pid_t victim = run_self((char *[]){ "victim", fd_text, NULL });
	close(ready[1]);
	char byte;
	if (read(ready[0], &byte, 1) != 1)
		die("read victim pipe");
	close(ready[0]);
	kill(victim, SIGTERM);

	int status = wait_for(quick);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 3)
		return 92;
	status = wait_for(victim);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM)
		return 93;
	status = wait_for(child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 11)
		return 94;
	return exit_code;
}

static int run_child(int exit_code)
{
	report("child", getpid(), getppid());
	pid_t grandchild = run_self((char *[]){ "grandchild", "12", NULL });
	int status = wait_for(grandchild);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 12)
		return 95;
	return exit_code;
}

static _Noreturn void run_victim(int fd)
{
	report("victim", getpid(), getppid());
	if (write(fd, "x", 1) != 1)
		die("write victim pipe");
	for (;;)
		pause();
}

static int run_burst(int count)
{
	/* The children wait for EOF on a pipe, so all of them are alive at once. */
	int gate[2];
	if (pipe(gate) != 0)
		die("pipe");
	for (int i = 0; i < count; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			char byte;
			close(gate[1]);
			while (read(gate[0], &byte, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
	}
	close(gate[1]);
	for (int i = 0; i < count; i++) {
		int status;
		if (wait(&status) < 0)
			die("wait");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return 96;
	}
	return 0;
}

static long milliseconds_now(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000L + now.tv_nsec / 1000000L;
}

static int run_bomb(long milliseconds)
{
	/* Counters every process of the bomb shares: forks made and refused. */
	long *counts = mmap(NULL, 2 * sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED)
		die("mmap");
	pid_t first = getpid();
	long deadline = milliseconds_now() + milliseconds;
	while (milliseconds_now() < deadline) {
		pid_t pid = fork();
		if (pid == 0)
			continue; /* the child bombs on, as its parent does */
		if (pid > 0) {
			__atomic_add_fetch(&counts[0], 1, __ATOMIC_RELAXED);
			usleep(1000);
			continue;
		}
		__atomic_add_fetch(&counts[1], 1, __ATOMIC_RELAXED);
		/* A refused fork costs nearly a whole one: a pause keeps the refusals few. */
		usleep(50000);
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
	if (getpid() != first)
		_exit(0);
	report("bomb", __atomic_load_n(&counts[0], __ATOMIC_RELAXED), __atomic_load_n(&counts[1], __ATOMIC_RELAXED));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s REPORT ROLE ARG\n", argv[0]);
		return 2;
	}
	self_path = argv[0];
	report_path = argv[1];
	const char *role = argv[2];
	if (strcmp(role, "main") == 0)
		return run_main(atoi(argv[3]));
	if (strcmp(role, "child") == 0)
		return run_child(atoi(argv[3]));
	if (strcmp(role, "grandchild") == 0) {
		report("grandchild", getpid(), getppid());
		return atoi(argv[3]);
	}
	if (strcmp(role, "victim") == 0)
		run_victim(atoi(argv[3]));
	if (strcmp(role, "raise") == 0) {
		report("raise", getpid(), getppid());
		signal(atoi(argv[3]), SIG_DFL);
		raise(atoi(argv[3]));
		return 97;
	}
	if (strcmp(role, "comm") == 0) {
		if (prctl(PR_SET_NAME, argv[3]) != 0)
			die("prctl");
		report("comm", getpid(), getppid());
		return 0;
	}
	if (strcmp(role, "burst") == 0)
		return run_burst(atoi(argv[3]));
	if (strcmp(role, "bomb") == 0)
		return run_bomb(atol(argv[3]));
	fprintf(stderr, "unknown role %s\n", role);
	return 2;
}
