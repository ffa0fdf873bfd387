/*
 * The one definition of every record the BPF programs send to user space.
 * It is compiled twice: into the BPF text (embedded in the binary, built by
 * BCC at start-up) and into Swift through the BPFSources C module.
 *
 * Rules: every record starts with struct event_header; kinds are explicitly
 * numbered and never reused; fields are fixed-width with named padding;
 * _Static_assert guards every size.
 */
#ifndef EBPF_MONITOR_EVENTS_H
#define EBPF_MONITOR_EVENTS_H

#include <linux/types.h>

#define COMM_LEN 16
#define EXEC_FILENAME_CAP 1024
#define EXEC_ARGV_CAP 4096
#define SYSCALL_PATH_CAP 4096
#define SOCKADDR_CAP 128
#define SYSCALL_NR_MAX 512

enum event_kind {
	EVENT_FORK = 1, /* new process or thread; sent by the parent */
	EVENT_EXEC = 2,
	EVENT_EXIT = 3,	   /* one task exits; group_dead marks the process end */
	EVENT_SYSCALL = 4, /* a traced syscall: arguments, result and what they point to */
	EVENT_PEER = 5,	   /* a process outside the tree read what a watched task sent: it is a daemon now */
	EVENT_KIND_MAX = 6,
};

/* Indexes of the lost_counts map: one per kind, then the causes that are not kinds. */
enum lost_reason {
	LOST_WATCH_MAP_FULL = EVENT_KIND_MAX,	/* a child could not be followed */
	LOST_PENDING_FULL = EVENT_KIND_MAX + 1, /* a write in flight on a channel could not be kept */
	LOST_IO_MAP_FULL = EVENT_KIND_MAX + 2,	/* a read or write could not be added to its fd's totals */
	/* a daemon thread's state could not be made: its calls count for no one */
	LOST_THREAD_STATE = EVENT_KIND_MAX + 3,
	LOST_COMPLETIONS_FULL = EVENT_KIND_MAX + 4, /* a worker's calls, done, could not be kept for the reply */
	LOST_REASON_MAX = EVENT_KIND_MAX + 5,
};

enum event_flags {
	EVENT_FLAG_THREAD = 1 << 0,	/* fork: the child is a thread */
	EVENT_FLAG_UNFOLLOWED = 1 << 1, /* fork: watch map full, child not followed */
	EVENT_FLAG_FILENAME_TRUNCATED = 1 << 2,
	EVENT_FLAG_ARGV_TRUNCATED = 1 << 3,
	EVENT_FLAG_GROUP_DEAD = 1 << 4,	     /* exit: last thread of the process */
	EVENT_FLAG_PATH0_TRUNCATED = 1 << 5, /* syscall: paths[0] was cut at SYSCALL_PATH_CAP */
	EVENT_FLAG_PATH1_TRUNCATED = 1 << 6,
	EVENT_FLAG_HAS_FILE = 1 << 7, /* syscall: file_* fields describe the fd */
	/* peer: the reader's process was no daemon before this read (a process at a dead daemon's pid is new) */
	EVENT_FLAG_NEW_DAEMON = 1 << 8,
};

/*
 * What the kernel does with each syscall number, set by user space in the
 * syscall_specs map. Arguments are named by index + 1, so 0 means none.
 */
enum syscall_action {
	SYSCALL_IGNORE = 0,
	SYSCALL_RECORD = 1,  /* send a record at exit */
	SYSCALL_IO_READ = 2, /* add the bytes to io_totals; records only for failures */
	SYSCALL_IO_WRITE = 3,
};

/* Where a write says its length, for daemon attribution (struct channel), and a datagram call its address. */
enum io_length {
	IO_LENGTH_NONE = 0,
	IO_LENGTH_COUNT = 1,   /* the third argument (write, pwrite64, sendto) */
	IO_LENGTH_IOVEC = 2,   /* the iovec array and count in the second and third (writev) */
	IO_LENGTH_MSGHDR = 3,  /* the msghdr in the second (sendmsg, recvmsg) */
	IO_LENGTH_MMSGHDR = 4, /* the mmsghdr array and count in the second and third (sendmmsg, recvmmsg) */
};

enum sockaddr_length {
	SOCKADDR_LEN_VALUE = 0,	  /* sockaddr_len_arg holds the length */
	SOCKADDR_LEN_POINTER = 1, /* sockaddr_len_arg points to the length (accept, recvfrom) */
	SOCKADDR_LEN_FD_PAIR = 2, /* no length: the argument is an int[2] (pipe, socketpair) */
};

struct syscall_spec {
	__u8 action;	   /* enum syscall_action */
	__u8 path_args[2]; /* user strings to copy */
	__u8 fd_arg;	   /* report the file behind this fd argument */
	__u8 fd_result;	   /* 1: report the file behind the returned fd */
	__u8 sockaddr_arg; /* user sockaddr to copy, at exit */
	__u8 sockaddr_len_arg;
	__u8 sockaddr_len_kind; /* enum sockaddr_length */
	__u8 io_fd_arg; /* on success this fd was closed or replaced (close, dup2): its totals ride on the record */
	__u8 new_generation; /* 1: on success, start a new io generation (close_range) */
	__u8 fd_metadata;    /* enum fd_metadata: fchmod, fchown, futimens: kept with the fd's totals */
	__u8 io_length;	     /* enum io_length: how many bytes a write asks to send; a msghdr's address */
	__u8 io_flags_arg;   /* recv flags (MSG_PEEK reads leave the bytes for the next read) */
	__u8 fd_command_arg; /* fcntl's command: recorded only when it makes a descriptor or sets close-on-exec */
	__u8 source_arg;     /* a read's sockaddr the kernel fills with the sender's; its length's pointer next */
	__u8 _pad;
};
_Static_assert(sizeof(struct syscall_spec) == 16, "syscall_spec layout");

/*
 * Totals are kept per process, fd and generation. A task's generation grows
 * at exec and close_range, which close fds without a close() of their own:
 * the totals of the old generation stop growing there, so user space can
 * collect them later without mixing in I/O on reused fd numbers.
 */
/*
 * The generation a process starts in (a new process, and one the monitor
 * starts watching) and the one after exec or close_range. The kernel and
 * user space both count with these, so the totals user space looks up are
 * the ones the kernel kept.
 */
#define IO_GENERATION_FIRST 0
static inline __attribute__((always_inline)) __u32 io_generation_after(__u32 generation)
{
	return generation + 1;
}

struct io_key {
	__u32 pid;
	__u32 fd;
	__u32 generation;
	__u32 _pad;
};

/*
 * Attribute changes made through an fd (tar does fchown, fchmod and futimens
 * on every file it writes) ride with the fd's totals to its close, instead of
 * a record each.
 */
enum fd_metadata {
	FD_METADATA_MODE = 1,
	FD_METADATA_OWNER = 2,
	FD_METADATA_TIMES = 4, /* utimensat(fd, NULL, ...) */
	FD_METADATA_XATTR = 8,
};

struct io_totals {
	__u64 bytes_read;
	__u64 bytes_written;
	__u32 reads;
	__u32 writes;
	__u32 metadata; /* enum fd_metadata bits */
	__u32 mode;	/* the last fchmod's mode */
};
_Static_assert(sizeof(struct io_totals) == 32, "io_totals layout");

/*
 * Attribution. Work is credited to a command by its tag. Watched tasks carry
 * their command's tag. User space gives the commands it starts or finds at
 * attach the pid of their first process; a command the --pid root forks gets
 * its tag from the fork probe (command_tag in lib/tasks.h): the child's pid
 * with a generation above the pid's bits, so that no tag ever names two
 * commands, though daemon threads may hold an ended command's tag when its
 * pid leads another. The fork record tells user space the child's tag. Threads of
 * daemons take the tag of what they read (see struct channel) and of the
 * thread that woke them, and lose it when they read other clients' requests;
 * a process forked by a tagged daemon thread is watched whole, in daemon scope.
 */
enum attribution_flags {
	ATTRIBUTION_DAEMON = 1 << 0,	/* daemon-side work done for the tagged command */
	ATTRIBUTION_AMBIGUOUS = 1 << 1, /* for tag or also_tag: their requests were mixed */
	/*
	 * Kernel-side only: the tag came with a wake-up, which may be a hand-off
	 * or only a lock released. Another wake-up may replace it; it never
	 * replaces a tag a thread or goroutine got by reading a request, and it
	 * is not handed on by wake-ups (only to goroutines it creates).
	 */
	ATTRIBUTION_WOKEN = 1 << 2,
};

/* Bits of a tag that hold the pid (Linux's PID_MAX_LIMIT is 1 << 22); a command tag's generation is above them. */
#define TAG_PID_BITS 22

struct event_header {
	__u16 kind;
	__u16 size; /* whole record, header included */
	__u16 cpu;
	__u16 attribution; /* enum attribution_flags */
	__u64 ktime;	   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 pid;	   /* tgid of the task the event happened in */
	__u32 tid;
	__u32 tag;	/* the command the work is for (see "Attribution"); 0 for none */
	__u32 also_tag; /* with ATTRIBUTION_AMBIGUOUS: the other command it may be for */
	char comm[COMM_LEN];
};
_Static_assert(sizeof(struct event_header) == 48, "event_header layout");

/* Indexes of the tail_calls program array: programs the syscall hooks hand on to. */
enum tail_call {
	TAIL_READ_WAKEUP = 0,	    /* tail__read_wakeup: a daemon thread's read of a wake-up inside its process */
	TAIL_SETTLE_ANSWER = 1,	    /* tail__settle_answer: a thread that answered a completion closes a socket */
	TAIL_HOLD_COMPLETIONS = 2,  /* tail__hold_completions: a daemon thread read completions off a connection */
	TAIL_ANSWER_COMPLETION = 3, /* tail__answer_completion: a reply by a thread that holds completions */
	TAIL_QUEUE_HANDOFFS = 4,    /* tail__queue_handoffs: a daemon thread read requests off a connection */
	TAIL_DAEMON_WRITE = 5,	    /* tail__daemon_write: a daemon thread's write */
	TAIL_DAEMON_REPLY = 6,	    /* tail__daemon_reply: that write goes to a socket out of the process */
	TAIL_DAEMON_SYSCALL = 7,    /* tail__daemon_syscall: a call by a task outside the tree ends */
	TAIL_DAEMON_READ = 8,	    /* tail__daemon_read: that call is a read that may take a channel's tags */
	TAIL_DAEMON_CALL = 9,	    /* tail__daemon_call: that call, by a daemon thread */
	TAIL_GRPC_WRITE = 10,	    /* tail__grpc_write: a daemon thread's write, by a gRPC writer goroutine */
	TAIL_DAEMON_TAG = 11,	    /* tail__daemon_tag: a daemon thread's write, tagged whole */
	TAIL_DAEMON_WAKEUP = 12,    /* tail__daemon_wakeup: a daemon thread's write to a pipe or an eventfd */
	TAIL_WRITE_CHANNEL = 13,    /* tail__write_channel: a write sys_enter or those two described, on its channel */
	TAIL_DAEMON_TAKEN = 14,	    /* tail__daemon_taken: what a read took off a channel, acted on */
	TAIL_REPLAY = 15,	    /* tail__replay: kept calls sent as a command's */
	TAIL_CALL_MAX = 16,
};

/* Whether a command's work is under way in the daemons (see daemons/quiet.h): the one value of command_work. */
struct command_work {
	__s64 held;  /* channels holding a command's bytes, and commands' sockets awaiting an answer */
	__s64 until; /* work may be under way until then (ktime); 0 once past */
	__s64 epoch; /* how many quiet spells ended */
	__s64 slept; /* a thread slept since the last epoch began */
};

/* Indexes of the config array, set by user space. */
enum config_index {
	CONFIG_SHELL_ROOT = 0, /* --pid: the root, whose children each start a command; 0 otherwise */
	CONFIG_FORGOTTEN_WORK =
		1, /* channels and command sockets user space deleted while they held work (daemons/quiet.h) */
	CONFIG_MAX = 2,
};

/* The fcntl commands that make a descriptor or set close-on-exec (F_DUPFD, F_SETFD, F_DUPFD_CLOEXEC). */
enum fcntl_command {
	FCNTL_DUPFD = 0,
	FCNTL_SETFD = 2,
	FCNTL_DUPFD_CLOEXEC = 1030,
};

/*
 * Whether an fcntl call is recorded: one that makes a descriptor or sets
 * close-on-exec, or one that failed. The others (F_GETFL, F_SETLK, ...)
 * change nothing the tracker follows.
 */
static inline __attribute__((always_inline)) int fcntl_changes_descriptors(__u64 command, __s64 ret)
{
	return command == FCNTL_DUPFD || command == FCNTL_DUPFD_CLOEXEC || command == FCNTL_SETFD || ret < 0;
}

/* Slots of the maybe_watched and maybe_daemons arrays: a tid or pid goes in its value modulo this. */
#define MAYBE_SLOTS 65536

/* The value of the watched map: one per task. */
struct task_watch {
	__u32 generation; /* io generation, see struct io_key */
	__u32 tag;
	__u32 attribution; /* ATTRIBUTION_DAEMON: forked for a command by a daemon */
	__u32 _pad;
};

/* A goroutine of a Go daemon: its g's address in that process. */
struct go_key {
	__u32 pid;
	__u32 _pad;
	__u64 g;
};

/* A daemon thread (daemon_threads) or goroutine (go_tags) working for a command (tag 0: for someone else). */
struct task_tag {
	__u32 tag;
	__u32 also_tag;
	__u32 attribution;
	__u32 _pad;
};

/*
 * A channel is one direction of a unix or TCP connection, or a pipe, named
 * by what the reader can see: the reading unix socket, the (from, to)
 * address pair, the pipe's inode. Writes by tagged tasks and daemons queue
 * segments of bytes in it, each with the tag it was written for; a read by a
 * task outside the tree takes bytes off the front, and the tags with them.
 */
struct channel_key {
	__u64 a;
	__u64 b;
};

/* A command's socket as a daemon replying to it sees it (command_ends map). */
struct command_end {
	__u32 tag;
	__u32 _pad;
	__u64 inode;	/* the command's socket inode: a socket's memory is reused, its inode number is not */
	__u64 sock;	/* the command's struct sock, whose socket must still have that inode */
	__u64 awaiting; /* the command wrote to it and no daemon has answered yet (see daemons/quiet.h) */
};

/*
 * Bytes written for one command (tag 0: for none) and not yet read. When the
 * queue is full, the last segment takes the new bytes too: two commands'
 * bytes in one segment make it ambiguous (tag and also_tag).
 */
struct channel_segment {
	__u32 tag;
	__u32 also_tag;
	/* AMBIGUOUS; DAEMON when a daemon thread wrote it (a hand-off), WOKEN if it was handed the work */
	__u32 attribution;
	__u32 bytes;
	__u64 completion; /* a worker's kept calls that the write signals done (see completions); 0: none */
	__u32 writer_tid; /* the thread that wrote it */
	__u32 sender;	  /* a UDP datagram's sender (see udp_sender); 0: unknown */
};

#define CHANNEL_SEGMENTS 8
struct channel {
	struct channel_segment segments[CHANNEL_SEGMENTS]; /* a ring, oldest at first */
	/*
	 * The oldest segment's index, which readers move on, and one past the
	 * newest's, which writers move on (see held_segments). Each side writes
	 * only its own, so that a write and a read on two CPUs lose neither.
	 */
	__u32 first;
	__u32 end;
	__u32 started; /* the first segment was partly read already: its request continues */
	__u32 writer_pid;
	__u32 writer_tid;
	__u32 unsynced;	    /* bytes written before it was made may wait ahead of its segments */
	__u64 writer_inode; /* the writer's socket or pipe inode */
	__u64 writer_end;   /* what the reader checks its end is still joined to (see channel_of) */
	__u32 fresh;	    /* it carried a command's bytes and no daemon reads it yet (see fresh_channels) */
	__u32 daemon_reads; /* a daemon reads it */
	__u32 messages;	    /* a unix datagram or seqpacket socket: a read takes one write's message, a segment */
	__u32 reader_tid;   /* the one thread seen reading it while unsynced (see took_first_message) */
	__u64 in_flight;    /* writes queued while unsynced whose message may not be in the socket yet */
	__u32 local;	    /* a wake-up: its writer and a reader are threads of one daemon process */
	__u32 _pad;
	__u64 holds_work; /* it holds a segment that matters for quiet spells (see daemons/quiet.h) */
	__u64 epoch;	  /* the quiet spells' epoch it was made in */
};
_Static_assert(sizeof(struct channel) == CHANNEL_SEGMENTS * 32 + 88, "channel layout");

/* The first read of a tagged channel by a process outside the tree. */
struct peer_event {
	struct event_header header; /* the reader, now a daemon; tag: what it read */
	__u32 writer_pid;
	__u32 writer_tid;
	__u64 writer_inode;
	__u64 reader_inode;
	__s32 reader_fd;
	__u32 flags; /* EVENT_FLAG_NEW_DAEMON */
};
_Static_assert(sizeof(struct peer_event) == 48 + 32, "peer_event layout");

struct fork_event {
	struct event_header header;
	__u32 child_pid; /* tgid of the child */
	__u32 child_tid;
	__u32 parent_pid; /* the child's parent process (differs from header.pid under CLONE_PARENT) */
	__u32 flags;
	__u64 clone_flags;
	__u32 child_tag; /* the child's command's tag: a new one when the fork starts a command */
	__u32 _pad;
};
_Static_assert(sizeof(struct fork_event) == 80, "fork_event layout");

struct exec_event {
	struct event_header header;
	__u32 old_tid; /* tid that called exec; differs from header.tid when a thread exec'd */
	__u32 flags;
	__u16 filename_len; /* bytes in filename, without the NUL */
	__u16 argv_len;	    /* bytes used in argv: NUL-separated arguments */
	__s32 io_entries;   /* io_totals entries the process holds: 0 means nothing to collect */
	char filename[EXEC_FILENAME_CAP];
	char argv[EXEC_ARGV_CAP]; /* last field: the record is sent cut after argv_len bytes */
};
_Static_assert(sizeof(struct exec_event) == 48 + 16 + EXEC_FILENAME_CAP + EXEC_ARGV_CAP, "exec_event layout");

struct exit_event {
	struct event_header header;
	__u32 exit_code; /* task->exit_code: status << 8, or the signal number (| 0x80 on core dump) */
	__u32 flags;
	__u32 parent_pid; /* real parent at exit: shows reparenting to a subreaper */
	__s32 io_entries; /* group_dead: io_totals entries left: 0 means nothing to collect */
};
_Static_assert(sizeof(struct exit_event) == 64, "exit_event layout");

struct syscall_event {
	struct event_header header;
	__s64 ret;
	__u64 args[6];
	__u32 nr;
	__u32 flags;
	__u64 file_inode;    /* with EVENT_FLAG_HAS_FILE: inode of the fd's file */
	__u32 file_mode;     /* its file->f_mode (FMODE_CREATED tells a create from an open) */
	__u32 file_dev;	     /* its inode's superblock device */
	struct io_totals io; /* close, dup2: what went through the fd closed, in this generation */
	__u16 path_len[2];   /* bytes in each path, without the NUL */
	__u16 sockaddr_len;  /* bytes of a sockaddr (or fd pair) at the start of paths[0] */
	__u16 file_imode;    /* its inode's i_mode: type and permissions */
	/*
	 * Last: the record is cut after the last path used. Socket calls take no
	 * paths, so a sockaddr travels in paths[0] and file records carry no room for one.
	 */
	char paths[2][SYSCALL_PATH_CAP];
};
_Static_assert(sizeof(struct syscall_event) == 48 + 8 + 48 + 8 + 8 + 8 + 32 + 8 + 2 * SYSCALL_PATH_CAP,
	       "syscall_event layout");
_Static_assert(SOCKADDR_CAP <= SYSCALL_PATH_CAP, "a sockaddr fits in paths[0]");

#endif
