/*
 * Daemon attribution, the kernel half (included into monitor.bpf.c before
 * the syscall programs; the rules are in events.h, "Attribution"):
 *   daemon_threads  a daemon thread's own state: its tag, its write in flight,
 *                 requests it read ahead, calls it keeps for a reply
 *   tag_channel   a write queues a segment: its bytes, and which command they are for
 *   read_channel  a thread outside the tree takes the tag of the request it reads
 *   next_request  requests read together, worked on in order
 *   command_ends  a command's sockets, to know when a reply goes to one
 *   episodes      an untagged or handed-off thread's calls, kept until its reply
 *   go_tags       goroutines of Go daemons, through uprobes on runtime.casgstatus and runtime.recv
 *   go_lock_wakes goroutines a lock's release wakes, through a uprobe on runtime.readyWithTime
 *   grpc_streams  gRPC streams batched on one connection, split by caller (grpc.bpf.c)
 *   sched_wakeup  futex hand-offs between a daemon's threads
 */

BPF_HASH(go_tags, struct go_key, struct task_tag, GO_MAX);  /* goroutines of Go daemons */
BPF_TABLE("lru_hash", struct go_key, u32, go_lock_wakes, 1024);  /* from the release to the wake-up: microseconds */
BPF_HASH(command_ends, struct channel_key, struct command_end, CHANNEL_MAX);

/*
 * Channels that carried a command's bytes and that no daemon reads yet.
 * Only through one can a read by a task outside the tree and the daemons
 * find a new daemon, so while there are none, such reads cost one lookup.
 * (A count too high costs time, never a daemon: a channel that goes
 * otherwise than by a reused key, as Tracer.forget drops them, leaves it so.)
 */
BPF_ARRAY(fresh_channels, s64, 1);

static __always_inline void count_fresh(struct channel *channel, u32 fresh)
{
	u32 zero = 0;
	s64 *count = fresh_channels.lookup(&zero);
	if (!count || channel->fresh == fresh)
		return;
	channel->fresh = fresh;
	__sync_fetch_and_add(count, fresh ? 1 : -1);
}

static __always_inline int fresh_channels_exist(void)
{
	u32 zero = 0;
	s64 *count = fresh_channels.lookup(&zero);
	return count && *count > 0;
}

/*
 * What an untagged or handed-off daemon thread did since it last read a
 * request: kept in the kernel, and sent tagged when its reply goes to a
 * command's socket (a worker may take a queued request other than the one
 * its waker read, or one without any wake-up).
 */
#define EPISODE_CALLS 4
#define EPISODE_PATH 256
struct episode_call {
	u32 nr;
	u32 file_mode;
	s64 ret;
	u64 args[4];
	u64 file_inode;
	u32 file_dev;
	u16 file_imode;
	u16 path_len;
	char path[EPISODE_PATH];
};
struct episode {
	u32 count;
	u32 _pad;
	struct episode_call calls[EPISODE_CALLS];
};

/*
 * Requests a daemon thread read in one go from one connection, after the one
 * it works on (see next_request).
 */
#define REQUEST_QUEUE 8
struct request_queue {
	u64 file;       /* the connection they came on */
	u64 answer;     /* the socket or pipe the current one's answer goes to */
	u32 count;
	u32 answering;  /* the thread has written the answer to the one it works on */
	struct task_tag next[REQUEST_QUEUE];
};

/*
 * A daemon thread's own state, in task storage: one lookup where a hash by
 * tid cost one per fact, and freed with the thread. Only the thread writes
 * it. What another thread hands it (a futex wake-up, a new thread's tag)
 * waits in `handoffs` until the thread takes it (take_handoff).
 */
struct daemon_thread {
	struct task_tag tag;  /* tag.tag 0: it works for no watched command */
	u64 g;                /* the goroutine it runs, in a Go daemon; 0: none seen */
	struct write_in_flight flight;
	u32 serving_none;     /* it read its current request itself, for no watched command: its calls need not be kept */
	u32 queued;           /* `queue` holds requests it read ahead */
	u32 in_daemon;        /* its process is a daemon (for good: none stops being one) */
	u32 scheduling;       /* a Go thread between goroutines, running the scheduler (g0): it works for no one */
	struct request_queue queue;
	struct episode episode;  /* episode.count 0: no calls kept since its last request */
};
BPF_TASK_STORAGE(daemon_threads, struct daemon_thread);

enum handoff_kind {
	HANDOFF_WAKE = 1,    /* a futex wake-up: the waker's tag, unless the wakee read its own request */
	HANDOFF_THREAD = 2,  /* a new thread: its creator's tag */
	HANDOFF_KEEP = 3,    /* a wake-up by a thread only handed its work: the wakee keeps what it has */
};
struct handoff {
	struct task_tag tag;
	u32 kind;
	u32 _pad;
};
BPF_HASH(handoffs, u32, struct handoff, WATCH_MAX);  /* tid -> what was handed to it */

/* read_channel's scratch space, too big for the BPF stack. */
struct reading {
	struct task_tag taken[CHANNEL_SEGMENTS];
};
BPF_PERCPU_ARRAY(reading_heap, struct reading, 1);

/*
 * What was handed to the current thread, taken into its state: when it is
 * made, and when a futex wait returns woken (`woken`), by a tagged waker or
 * by one with no tag to hand on.
 */
static __always_inline void take_handoff(struct daemon_thread *self, int woken)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct handoff *found = handoffs.lookup(&tid);
	if (!found && !woken)
		return;
	struct handoff handed = { .kind = HANDOFF_WAKE };
	if (found) {
		handed = *found;
		handoffs.delete(&tid);
	}
	if (handed.kind == HANDOFF_THREAD) {
		self->tag = handed.tag;
	} else if (handed.kind == HANDOFF_WAKE && (!self->tag.tag || (self->tag.attribution & ATTRIBUTION_WOKEN))) {
		/* (A thread that read its own request: the unlock that woke it is no hand-off.) */
		self->tag = handed.tag;
		self->serving_none = 0;  /* handed work: its reply decides whose */
	}
}

/* The current thread's state, made if `make` (a daemon's thread): made, it takes what was handed to it. */
static __always_inline struct daemon_thread *this_thread(int make)
{
	struct daemon_thread *self = daemon_threads.task_storage_get(bpf_get_current_task_btf(), 0, 0);
	if (self || !make)
		return self;
	self = daemon_threads.task_storage_get(bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (self)
		take_handoff(self, 0);
	else
		count_lost(LOST_THREAD_STATE);
	return self;
}

/* Whether the thread's process is a daemon: the `daemons` lookup, once. */
static __always_inline int in_daemon(struct daemon_thread *self, u32 pid)
{
	if (!self->in_daemon && daemons.lookup(&pid))
		self->in_daemon = 1;
	return self->in_daemon;
}

/* The current thread's state if its process is a daemon, made if new; NULL otherwise. */
static __always_inline struct daemon_thread *daemon_thread(u32 pid)
{
	if (!may_be_daemon(pid))
		return NULL;
	struct daemon_thread *self = this_thread(0);
	if (self)
		return in_daemon(self, pid) ? self : NULL;
	return daemons.lookup(&pid) ? this_thread(1) : NULL;
}

/* The thread's tag, or NULL for none. A tag of an ended command goes (see Tracer.forget). */
static __always_inline struct task_tag *thread_tag(struct daemon_thread *self)
{
	if (!self || !self->tag.tag)
		return NULL;
	if (retired_tags.lookup(&self->tag.tag) || (self->tag.also_tag && retired_tags.lookup(&self->tag.also_tag))) {
		__builtin_memset(&self->tag, 0, sizeof(self->tag));
		return NULL;
	}
	return &self->tag;
}

#define ANY_END ((u64)-1)
#define S_IFMT_ 0170000
#define S_IFSOCK_ 0140000
#define S_IFIFO_ 0010000

/*
 * The channel that fd writes to (writing) or reads from, as the reader sees
 * it: a unix socket's reading end, a TCP/UDP (from, to) address pair, or a
 * pipe's inode. Returns 0 for anything else. *inode is the fd's inode number,
 * *file_address its open file (a connection's identity for its reader),
 * *sock_address its socket's struct sock (0 for a pipe).
 *
 * Sockets and inodes are freed and their memory reused, so a key can outlive
 * its channel. *end names the writing end as both ends see it: the writer's
 * unix socket inode number (for a reader, its peer socket: writer_end gives
 * the number), or the pipe's. A read counts only when its end still matches
 * (TCP and UDP keys hold both ports: their reuse is rare).
 */
static __always_inline int channel_of(s64 fd, int writing, struct channel_key *key, u64 *inode_number, u64 *end,
				      u64 *file_address, u64 *sock_address)
{
	const void *file = fd_file(fd);
	if (!file)
		return 0;
	*file_address = (u64)file;
	u64 inode_address = 0, private_data = 0, mode_word = 0;
	read_kernel_two(file, OFF_file__f_inode, OFF_file__private_data, &inode_address, &private_data);
	const void *inode = (const void *)inode_address;
	if (!inode)
		return 0;
	read_kernel_two(inode, OFF_inode__i_mode, OFF_inode__i_ino, &mode_word, inode_number);
	u16 imode = (u16)mode_word;
	*end = 0;
	if ((imode & S_IFMT_) == S_IFIFO_) {
		key->a = (u64)inode;
		key->b = 0;
		*end = *inode_number;
		return 1;
	}
	if ((imode & S_IFMT_) != S_IFSOCK_)
		return 0;
	const void *socket = (const void *)private_data;
	const void *sk = socket ? (const void *)read_kernel_u64(socket, OFF_socket__sk) : NULL;
	if (!sk)
		return 0;
	*sock_address = (u64)sk;
	u16 family = 0;
	bpf_probe_read_kernel(&family, sizeof(family), (const char *)sk + OFF_sock_common__skc_family);
	if (family == 1 /* AF_UNIX */) {
		const void *peer = (const void *)read_kernel_u64(sk, OFF_unix_sock__peer);
		if (!peer)
			return 0;
		key->a = writing ? (u64)peer : (u64)sk;
		key->b = 1;
		/* The writer's socket inode number: never reused, unlike the memory of a socket pair. */
		if (writing)
			*end = *inode_number;
		else
			*end = (u64)peer;  /* its inode number only matters for a known channel: see writer_end */
		return 1;
	}
	u16 peer_port = 0;
	u16 own_port = 0;
	bpf_probe_read_kernel(&peer_port, sizeof(peer_port), (const char *)sk + OFF_sock_common__skc_dport);
	bpf_probe_read_kernel(&own_port, sizeof(own_port), (const char *)sk + OFF_sock_common__skc_num);
	peer_port = (peer_port >> 8) | (peer_port << 8);  /* network order */
	u64 own = 0, peer = 0;
	if (family == 2 /* AF_INET */) {
		own = read_kernel_u32(sk, OFF_sock_common__skc_rcv_saddr);
		peer = read_kernel_u32(sk, OFF_sock_common__skc_daddr);
	} else if (family == 10 /* AF_INET6 */) {
		u64 halves[2] = {};
		bpf_probe_read_kernel(halves, sizeof(halves), (const char *)sk + OFF_sock_common__skc_v6_rcv_saddr);
		own = halves[0] ^ halves[1];
		bpf_probe_read_kernel(halves, sizeof(halves), (const char *)sk + OFF_sock_common__skc_v6_daddr);
		peer = halves[0] ^ halves[1];
	} else {
		return 0;
	}
	u64 from = writing ? own : peer, to = writing ? peer : own;
	u64 from_port = writing ? own_port : peer_port, to_port = writing ? peer_port : own_port;
	key->a = from ^ (to << 32) ^ (to >> 32);
	key->b = (u64)family << 48 | from_port << 16 | to_port;
	return 1;
}

/*
 * Bytes of two segments taken as one: by a reader that cannot tell them
 * apart, or by the last segment of a full queue. Two commands' bytes make
 * it ambiguous between them; a command's bytes with bytes for none leave
 * tag or also_tag 0, which a reader takes as for none (see reader_tag).
 */
static __always_inline void mix_tags(struct task_tag *into, u32 tag, u32 also_tag, u32 attribution)
{
	if (tag != into->tag || also_tag != into->also_tag) {
		into->also_tag = into->tag;
		into->tag = tag;
		into->attribution |= ATTRIBUTION_AMBIGUOUS;
	}
	into->attribution |= attribution & (ATTRIBUTION_AMBIGUOUS | ATTRIBUTION_DAEMON);
}

/* The inode number of the unix socket peer (a reader's writing end), or ANY_END once it closed. */
static __always_inline u64 writer_end(const void *peer)
{
	const void *writer = (const void *)read_kernel_u64(peer, OFF_sock__sk_socket);
	/* The writer closed: its socket is gone, the memory not yet reused. */
	return writer ? read_kernel_u64((const char *)writer + OFF_socket_alloc__vfs_inode, OFF_inode__i_ino) : ANY_END;
}

/*
 * Queues a segment of `bytes` behind the channel's others. A write is a
 * request (or the answer to one): never merged with the last, even of the
 * same command, since its reader counts answers. A full queue mixes it into
 * its last segment.
 */
static __always_inline void queue_segment(struct channel *channel, u32 tag, u32 also_tag, u32 attribution, u32 bytes)
{
	u32 count = channel->count;
	if (count < CHANNEL_SEGMENTS) {
		struct channel_segment *next = &channel->segments[(channel->first + count) & (CHANNEL_SEGMENTS - 1)];
		next->tag = tag;
		next->also_tag = also_tag;
		next->attribution = attribution;
		next->bytes = bytes;
		channel->count = count + 1;
		if (!count)
			channel->started = 0;
		return;
	}
	struct channel_segment *last = &channel->segments[(channel->first + count - 1) & (CHANNEL_SEGMENTS - 1)];
	channel->messages = 0;  /* a segment of two messages: counted in bytes from now on */
	struct task_tag mixed = { .tag = last->tag, .also_tag = last->also_tag, .attribution = last->attribution };
	mix_tags(&mixed, tag, also_tag, attribution);
	last->tag = mixed.tag;
	last->also_tag = mixed.also_tag;
	last->attribution = mixed.attribution;
	last->bytes += bytes;
}

/* The buffers waiting in a unix socket's receive queue: for a datagram or seqpacket socket, its messages. */
static __always_inline u32 queued_buffers(u64 sock)
{
	return read_kernel_u32((const char *)sock + OFF_sock__sk_receive_queue, OFF_sk_buff_head__qlen);
}

/*
 * A write of `bytes` by a task working for `tag` (0: for no watched command)
 * queues a segment on the channel it goes to. Commands reach daemons
 * through sockets only: their pipes lead to their own processes, and
 * untagged they cost no reads elsewhere. A channel is made by a tagged
 * write (or any, if `make`); after that, untagged writes queue segments
 * too, so that a reader knows which bytes are for no one.
 */
static __always_inline int tag_channel(s64 fd, u32 tag, u32 also_tag, u32 attribution, int sockets_only,
				       u32 bytes, u32 *reaches, int make, struct write_in_flight *flight)
{
	struct channel_key key = {};
	u64 inode = 0, end = 0, file = 0, sock = 0;
	if (!channel_of(fd, 1, &key, &inode, &end, &file, &sock) || (sockets_only && key.b == 0))
		return 0;
	int socket = key.b != 0 ? 2 : 1;
	struct command_end *command = socket == 2 ? command_ends.lookup(&key) : NULL;
	*reaches = 0;
	if (command && key.b == 1) {
		/* unix: the key is the command's socket; check it is still that socket. */
		const void *client = (const void *)read_kernel_u64((const void *)key.a, OFF_sock__sk_socket);
		u64 ino = client ? read_kernel_u64((const char *)client + OFF_socket_alloc__vfs_inode, OFF_inode__i_ino) : 0;
		if (ino == command->inode)
			*reaches = command->tag;
		else
			command_ends.delete(&key);
	} else if (command) {
		*reaches = command->tag;
	}
	if (!bytes)
		return socket;  /* nothing a reader could take (or an iovec we could not read) */
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	attribution &= ATTRIBUTION_AMBIGUOUS | ATTRIBUTION_DAEMON | ATTRIBUTION_WOKEN;
	struct channel *channel = channels.lookup(&key);
	if (channel && channel->writer_end != end) {
		count_fresh(channel, 0);
		channels.delete(&key);  /* a reused key: the old channel is gone */
		channel = NULL;
	}
	/* Bytes that can make their reader a daemon (see reader_tag). */
	int discovers = tag && !(attribution & ATTRIBUTION_WOKEN);
	if (!channel) {
		if ((!tag && !make) || *reaches)
			return socket;  /* (a command's socket: commands do not read channels) */
		/*
		 * Bytes written before the channel was made may be waiting ahead of
		 * this write, in an order we cannot know: it is unsynced until a read
		 * empties the socket. A unix socket shows whether it holds any; a TCP
		 * or UDP reader's socket is out of reach, so there only a daemon's
		 * write (onto a connection others' requests share) starts unsynced.
		 * A command's own first write, or a pipe's, is in sync.
		 */
		u32 unsynced = key.b == 1 ? queued_buffers(key.a) != 0 : key.b != 0 && (attribution & ATTRIBUTION_DAEMON);
		struct channel value = { .count = 1, .unsynced = unsynced, .writer_end = end };
		if (key.b == 1) {
			u16 type = 0;
			bpf_probe_read_kernel(&type, sizeof(type), (const char *)sock + OFF_sock__sk_type);
			value.messages = type == 2 /* SOCK_DGRAM */ || type == 5 /* SOCK_SEQPACKET */;
		}
		value.segments[0].tag = tag;
		value.segments[0].also_tag = also_tag;
		value.segments[0].attribution = attribution;
		value.segments[0].bytes = bytes;
		channels.update(&key, &value);
		channel = channels.lookup(&key);
		if (!channel)
			return socket;
	} else {
		if (discovers && !channel->daemon_reads && !channel->fresh && channel->count) {
			/* Until now, reads outside daemons may have passed it by: what it holds is unknown. */
			if (key.b == 1 && !queued_buffers(key.a))
				channel->count = 0;  /* its reader's socket is empty: all of it was read */
			else
				channel->unsynced = 1;
		}
		queue_segment(channel, tag, also_tag, attribution, bytes);
	}
	if (discovers && !channel->daemon_reads)
		count_fresh(channel, 1);
	channel->writer_pid = id >> 32;
	channel->writer_tid = tid;
	channel->writer_inode = inode;
	/* What the write really sent is settled at its exit (settle_write). */
	flight->key = key;
	flight->bytes = bytes;
	flight->counted = channel->unsynced && channel->messages;
	if (flight->counted)
		__sync_fetch_and_add(&channel->in_flight, 1);
	return socket;
}

/*
 * A write that sent less than it asked (a full socket, an error) takes the
 * difference back off its segment, the last one, unless a reader has taken
 * the bytes already.
 */
static __always_inline void settle_write(struct write_in_flight *flight, s64 ret)
{
	if (!flight->bytes)
		return;
	u64 sent = ret > 0 ? ret : 0;
	struct channel *channel = sent < flight->bytes || flight->counted ? channels.lookup(&flight->key) : NULL;
	if (channel && flight->counted && channel->in_flight)
		__sync_fetch_and_add(&channel->in_flight, -1);
	flight->counted = 0;
	if (channel && sent < flight->bytes && channel->count) {
		u32 unsent = flight->bytes - sent;
		struct channel_segment *last = &channel->segments[(channel->first + channel->count - 1) & (CHANNEL_SEGMENTS - 1)];
		if (last->bytes > unsent) {
			last->bytes -= unsent;
		} else {
			last->bytes = 0;
			if (channel->count > 1 || !channel->started)
				channel->count -= 1;
		}
	}
	flight->bytes = 0;
}

/* How many bytes a write asks to send: at most 8 iovecs are counted, as one must be. */
static __always_inline u32 write_length(const struct syscall_spec *spec, const u64 *args)
{
	u64 iov = 0, count = 0, total = 0;
	if (spec->io_length == IO_LENGTH_COUNT)
		return args[2] > 0x7fffffff ? 0x7fffffff : (u32)args[2];
	if (spec->io_length == IO_LENGTH_IOVEC) {
		iov = args[1];
		count = args[2];
	} else if (spec->io_length == IO_LENGTH_MSGHDR) {
		bpf_probe_read_user(&iov, sizeof(iov), (const char *)args[1] + 16);   /* msg_iov */
		bpf_probe_read_user(&count, sizeof(count), (const char *)args[1] + 24); /* msg_iovlen */
	}
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i >= count)
			break;
		u64 length = 0;
		bpf_probe_read_user(&length, sizeof(length), (const char *)iov + 16 * i + 8);
		total += length;
	}
	return total > 0x7fffffff ? 0x7fffffff : (u32)total;
}

/* A command's socket, as a daemon writing back to it names it (see channel_of). */
static __always_inline void remember_command_end(s64 fd, u32 tag)
{
	struct channel_key key = {};
	u64 inode = 0, end = 0, file = 0, sock = 0;
	if (channel_of(fd, 0, &key, &inode, &end, &file, &sock) && key.b != 0) {
		struct command_end value = { .tag = tag, .inode = inode };
		command_ends.update(&key, &value);
	}
}

/* Keeps a call by an untagged daemon thread that names a path, for its reply. */
static __always_inline void log_call(struct daemon_thread *self, const struct syscall_spec *spec, long nr, s64 ret,
				     const u64 *args)
{
	struct episode *episode = &self->episode;
	if (episode->count >= EPISODE_CALLS)
		return;
	struct episode_call *call = &episode->calls[episode->count & (EPISODE_CALLS - 1)];
	call->nr = nr;
	call->ret = ret;
#pragma unroll
	for (int i = 0; i < 4; i++)
		call->args[i] = args[i];
	call->file_inode = 0;
	call->file_mode = 0;
	call->file_dev = 0;
	call->file_imode = 0;
	if (spec->fd_result && ret >= 0)
		file_facts(ret, &call->file_inode, &call->file_mode, &call->file_dev, &call->file_imode);
	long n = bpf_probe_read_user_str(call->path, EPISODE_PATH, (const void *)args[(spec->path_args[0] - 1) & 3]);
	call->path_len = n > 0 ? n - 1 : 0;
	episode->count += 1;
}

/* One kept call, sent as the command's. */
static __always_inline void replay_call(struct syscall_event *event, const struct episode_call *call, u32 tag)
{
	__builtin_memset(&event->io, 0, sizeof(event->io));
	event->ret = call->ret;
#pragma unroll
	for (int j = 0; j < 6; j++)
		event->args[j] = j < 4 ? call->args[j] : 0;
	event->nr = call->nr;
	event->flags = call->file_inode ? EVENT_FLAG_HAS_FILE : 0;
	event->file_inode = call->file_inode;
	event->file_mode = call->file_mode;
	event->file_dev = call->file_dev;
	event->file_imode = call->file_imode;
	u32 len = call->path_len & (EPISODE_PATH - 1);
	if (len == EPISODE_PATH - 1)
		event->flags |= EVENT_FLAG_PATH0_TRUNCATED;
	bpf_probe_read_kernel(event->paths[0], EPISODE_PATH, call->path);
	event->path_len[0] = len;
	event->path_len[1] = 0;
	event->sockaddr_len = 0;
	u32 size = offsetof(struct syscall_event, paths[0]) + len + 1;
	fill_header(&event->header, EVENT_SYSCALL, size, tag, 0, ATTRIBUTION_DAEMON);
	if (events.ringbuf_output(event, size, wakeup_flag()) != 0)
		count_lost(EVENT_SYSCALL);
}

/* The calls kept for a thread whose reply went to a command's socket, sent as that command's. */
static __always_inline void replay_episode(struct daemon_thread *self, u32 tag)
{
	struct episode *episode = &self->episode;
	u32 zero = 0;
	struct syscall_event *event = syscall_heap.lookup(&zero);
	if (!episode->count || !event)
		return;
	u32 count = episode->count;
	/* Constant indexes, one by one: the verifier must see each offset. */
	if (count > 0)
		replay_call(event, &episode->calls[0], tag);
	if (count > 1)
		replay_call(event, &episode->calls[1], tag);
	if (count > 2)
		replay_call(event, &episode->calls[2], tag);
	if (count > 3)
		replay_call(event, &episode->calls[3], tag);
	episode->count = 0;
}

/*
 * A thread that was handed work by a wake-up is done with it when it writes
 * to a socket: the reply, or the request passed on. Its next work may come
 * off a queue without a wake-up, and must not inherit the tag.
 */
static __always_inline void forget_handoff(struct daemon_thread *self)
{
	/*
	 * Not in Go: a goroutine that writes for others (grpc's writer) gets its
	 * next tag from the goroutine that wakes it, and often writes a request
	 * over several writes.
	 */
	if (!self->g)
		__builtin_memset(&self->tag, 0, sizeof(self->tag));
}

static __always_inline void count_unattributed(void)
{
	u32 zero = 0;
	u64 *count = unattributed_counts.lookup(&zero);
	if (count)
		*count += 1;
}

/* A thread's tag: 0 is none. */
static __always_inline void set_thread_tag(struct daemon_thread *self, const struct task_tag *tag)
{
	if (tag->tag)
		self->tag = *tag;
	else
		__builtin_memset(&self->tag, 0, sizeof(self->tag));
}

/*
 * Requests read together from one connection are answered in order (HTTP/1.1,
 * Redis and PostgreSQL pipelines, replies a proxy relays): a thread works on
 * the first, and its answer is its next run of writes to one socket or pipe.
 * It turns to the next request at its first call after that run. Called
 * before every call that does work.
 */
static __always_inline void next_request(struct daemon_thread *self)
{
	struct request_queue *queue = &self->queue;
	if (!self->queued || !queue->answering)
		return;
	if (!queue->count) {
		self->queued = 0;
		return;
	}
	struct task_tag tag = queue->next[0];
#pragma unroll
	for (int i = 0; i < REQUEST_QUEUE - 1; i++)
		queue->next[i] = queue->next[i + 1];
	queue->count -= 1;
	queue->answering = 0;
	set_thread_tag(self, &tag);
}

/* A write by a daemon thread, before its channel is tagged: it may begin the next request's answer. */
static __always_inline void daemon_write(struct daemon_thread *self, s64 fd)
{
	if (!self->queued)
		return;
	const void *file = fd_file(fd);
	const void *inode = file ? (const void *)read_kernel_u64(file, OFF_file__f_inode) : NULL;
	u16 imode = 0;
	if (inode)
		bpf_probe_read_kernel(&imode, sizeof(imode), (const char *)inode + OFF_inode__i_mode);
	int channel = (imode & S_IFMT_) == S_IFSOCK_ || (imode & S_IFMT_) == S_IFIFO_;
	struct request_queue *queue = &self->queue;
	if (!channel || (queue->answering && queue->answer != (u64)file))
		next_request(self);
	if (channel && self->queued) {
		queue->answering = 1;
		queue->answer = (u64)file;
	}
}

/*
 * Takes `bytes` off the front of the channel: the tags of the segments they
 * belong to, oldest first, at most CHANNEL_SEGMENTS. Returns how many; *left
 * is what the read took beyond the queued bytes (bytes written before the
 * channel was made, or by a task we do not follow).
 */
static __always_inline int take_segments(struct channel *channel, u32 bytes, struct task_tag *taken, u32 *left)
{
	int count = 0;
	*left = bytes;
#pragma unroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++) {
		if (*left && channel->count) {
			struct channel_segment *segment = &channel->segments[channel->first & (CHANNEL_SEGMENTS - 1)];
			taken[i].tag = segment->tag;
			taken[i].also_tag = segment->also_tag;
			taken[i].attribution = segment->attribution;
			count = i + 1;
			if (segment->bytes > *left) {
				segment->bytes -= *left;
				*left = 0;
				channel->started = 1;
			} else {
				*left -= segment->bytes;
				channel->first += 1;
				channel->count -= 1;
				channel->started = 0;
			}
		}
	}
	return count;
}

/*
 * A datagram or seqpacket channel made while its socket held messages
 * already: those wait ahead of its segments, one message a read. Its
 * segments are the newest messages, so a read that leaves one message fewer
 * in the socket than there are segments took the first segment's; one that
 * leaves as many or more took an older one, for no one. Counted only while
 * no write is on its way into the socket (`in_flight`, the segment counted
 * but perhaps not its message) and one thread reads. Once the first segment
 * is taken the socket holds ours only: the channel is in step.
 */
static __always_inline int took_first_message(struct channel *channel, u64 sock)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	if (!channel->reader_tid)
		channel->reader_tid = tid;
	u32 count = channel->count;
	if (channel->reader_tid != tid || channel->in_flight)
		return 0;
	/* (A write that came and went meanwhile changed the count.) */
	return queued_buffers(sock) + 1 == count && !channel->in_flight && channel->count == count;
}

/*
 * A segment's tag as its reader takes it. Two commands' bytes mixed are
 * credited to both, as ambiguous; a command's bytes mixed with bytes for no
 * watched command cannot be told apart, and rather than guess, neither is
 * credited: the daemon's calls are then counted as unattributed.
 */
static __always_inline void reader_tag(struct task_tag *tag, int goroutine, int daemon)
{
	/*
	 * A thread only handed the work (WOKEN) may be doing other work: it
	 * passes the tag on to its own daemon's threads, but makes no process a
	 * daemon (else a worker's replies to other clients would make them ones).
	 */
	int handed = (tag->attribution & ATTRIBUTION_WOKEN) && !daemon;
	if (!tag->tag || handed || ((tag->attribution & ATTRIBUTION_AMBIGUOUS) && !tag->also_tag)) {
		tag->tag = 0;
		tag->also_tag = 0;
		tag->attribution = 0;
		return;
	}
	/*
	 * Work a daemon thread passed on (a dispatcher to a worker process) is a
	 * hand-off like a futex wake-up: the dispatcher may have read several
	 * requests first, so the worker's reply decides (see episodes). Goroutines
	 * are exempt: their reads are tracked one by one.
	 */
	u32 woken = (tag->attribution & ATTRIBUTION_DAEMON) && !goroutine ? ATTRIBUTION_WOKEN : 0;
	tag->attribution = (tag->attribution & ATTRIBUTION_AMBIGUOUS) | woken;
}

#include "grpc.bpf.c"

/* Queues the requests taken[from..count) behind those the queue holds, as their reader takes them. */
static __always_inline void queue_requests(struct request_queue *queue, struct task_tag *taken, int count, int from,
					   int daemon)
{
#pragma unroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++) {
		u32 slot = queue->count;
		if (i >= from && i < count && slot < REQUEST_QUEUE) {
			reader_tag(&taken[i], 0, daemon);
			asm volatile("" : "+r"(slot));  /* the mask below must stay, for the verifier */
			slot &= REQUEST_QUEUE - 1;
			queue->next[slot] = taken[i];
			queue->count += 1;
		}
	}
}

/*
 * A read of `bytes` by a task outside the tree. The thread takes the tag of
 * the first request it read, and queues the others (next_request); a
 * goroutine takes them all as one, since Go hands requests to other
 * goroutines rather than answering in order. Reading bytes for no watched
 * command means working for someone else, so a daemon thread loses its tag.
 * The first tagged read makes the reader's process a daemon. `self` is
 * the reader's state, NULL outside daemons (see daemon_thread).
 */
static __always_inline void read_channel(s64 fd, u32 pid, struct daemon_thread *self, u32 bytes)
{
	int daemon = self != NULL;
	struct channel_key key = {};
	u64 inode = 0, end = 0, file = 0, sock = 0;
	if (!channel_of(fd, 0, &key, &inode, &end, &file, &sock))
		return;
	struct channel *channel = channels.lookup(&key);
	if (channel && key.b == 1)
		end = writer_end((const void *)end);
	if (channel && channel->writer_end != end && end != ANY_END) {
		count_fresh(channel, 0);
		channels.delete(&key);
		channel = NULL;
	}
	if (!channel && !daemon)
		return;  /* nothing for a watched command, read by a task that works for none */
	if (!self)
		self = this_thread(0);  /* a Go program's thread has one before its process is a daemon */
	if (self)
		self->episode.count = 0;  /* a new request: what came before was for someone else */
	u64 g = self ? self->g : 0;
	struct go_key goroutine = { .pid = pid, .g = g };
	u32 zero = 0;
	struct reading *reading = reading_heap.lookup(&zero);
	if (!reading)
		return;
	struct task_tag *taken = reading->taken;
	int count = 0;
	int continues = 0;
	if (channel) {
		if (g)
			grpc_read(&goroutine, &key);
		continues = channel->started;
		u32 left = 0;
		if (channel->messages && channel->unsynced && took_first_message(channel, sock))
			channel->unsynced = 0;
		if (channel->messages && channel->unsynced) {
			count = -1;  /* an older message, for no one */
		} else {
			if (channel->messages && channel->count)  /* one read, one message, whatever its length */
				bytes = channel->segments[channel->first & (CHANNEL_SEGMENTS - 1)].bytes;
			count = take_segments(channel, bytes, taken, &left);
			if (left || channel->unsynced)
				count = -1;
		}
		if (channel->unsynced && queued_buffers(sock) == 0) {
			/* The read emptied the socket: what was written so far has all been read. */
			channel->unsynced = 0;
			channel->count = 0;
			channel->started = 0;
		}
		if (daemon) {
			channel->daemon_reads = 1;
			count_fresh(channel, 0);
		}
	}
	if (self && self->scheduling)
		return;  /* Go's scheduler between goroutines reads the netpoller's wake-up pipe: no one's request */
	struct request_queue *queue = daemon && !g && self && self->queued ? &self->queue : NULL;
	if (queue && queue->file == file && count > 0) {
		/* Read ahead while it still works on a request from the same connection. */
		queue_requests(queue, taken, count, continues ? 1 : 0, 1);
		return;
	}
	if (queue)
		self->queued = 0;
	/* The first command among the requests read: a reader outside the tree becomes its daemon. */
	struct task_tag first = {};
#pragma unroll
	for (int i = CHANNEL_SEGMENTS - 1; i >= 0; i--)
		if (i < count && taken[i].tag)
			first = taken[i];
	reader_tag(&first, g != 0, daemon);
	struct task_tag tag = {};  /* with bytes of unknown order (count < 0): for none */
	if (count > 0)
		tag = taken[0];
	if (g) {
#pragma unroll
		for (int i = 1; i < CHANNEL_SEGMENTS; i++)
			if (i < count)
				mix_tags(&tag, taken[i].tag, taken[i].also_tag, taken[i].attribution);
	} else if (count > 1 && (daemon || first.tag)) {
		if (!self)
			self = this_thread(1);
		if (self) {
			struct request_queue *next = &self->queue;
			next->file = file;
			next->answer = 0;
			next->answering = 0;
			next->count = 0;
			queue_requests(next, taken, count, 1, daemon);
			self->queued = 1;
		}
	}
	reader_tag(&tag, g != 0, daemon);
	if (self && daemon && !g && !tag.tag)
		self->serving_none = 1;
	else if (self && tag.tag)
		self->serving_none = 0;
	if (!tag.tag && (daemon || first.tag)) {
		if (self)
			__builtin_memset(&self->tag, 0, sizeof(self->tag));
		if (g) {
			struct task_tag other = {};  /* known to work for someone else */
			go_tags.update(&goroutine, &other);
		}
	}
	if (!channel || (!tag.tag && (daemon || !first.tag)))
		return;
	int turned = 0;
	if (tag.tag) {
		if (g)
			go_tags.update(&goroutine, &tag);
		if (!self)
			self = this_thread(1);
		/* A peer record on the first read, and whenever a thread turns to another command. */
		turned = !self || self->tag.tag != tag.tag;
		if (self)
			self->tag = tag;
	} else {
		tag = first;  /* a command's request waits behind others' */
	}
	if (daemon && !turned)
		return;
	u32 one = 1;
	if (!daemon) {
		mark_maybe(pid, 1);
		daemons.update(&pid, &one);
		channel->daemon_reads = 1;
		count_fresh(channel, 0);
	}
	struct peer_event *event = events.ringbuf_reserve(sizeof(*event));
	if (!event) {
		count_lost(EVENT_PEER);
		return;
	}
	event->writer_pid = channel->writer_pid;
	event->writer_tid = channel->writer_tid;
	event->writer_inode = channel->writer_inode;
	event->reader_inode = inode;
	event->reader_fd = fd;
	event->_pad = 0;
	fill_header(&event->header, EVENT_PEER, sizeof(*event), tag.tag, tag.also_tag, tag.attribution);
	events.ringbuf_submit(event, wakeup_flag());
}

/* A futex call that sleeps until woken: FUTEX_WAIT, FUTEX_WAIT_BITSET or FUTEX_WAIT_REQUEUE_PI. */
static __always_inline int futex_waited(const struct pt_regs *regs)
{
	u64 op = regs->si & 127;  /* without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME */
	return op == 0 || op == 9 || op == 11;
}

/* All six syscall arguments, from the saved registers. */
static __always_inline void regs_args(const struct pt_regs *regs, u64 args[6])
{
	args[0] = regs->di;
	args[1] = regs->si;
	args[2] = regs->dx;
	args[3] = regs->r10;
	args[4] = regs->r8;
	args[5] = regs->r9;
}

/*
 * A hand-off to goroutine `to` of work whose tag is `tag`: only work a
 * goroutine read itself is handed on, and never over work `to` read itself.
 * The tag goes as a woken one (*handed); false when nothing was handed.
 */
static __always_inline int hand_to_goroutine(const struct go_key *to, const struct task_tag *tag, struct task_tag *handed)
{
	if (!tag || (tag->attribution & ATTRIBUTION_WOKEN))
		return 0;
	struct task_tag *own = go_tags.lookup(to);
	if (own && !(own->attribution & ATTRIBUTION_WOKEN))
		return 0;
	*handed = *tag;
	handed->attribution |= ATTRIBUTION_WOKEN;
	go_tags.update(to, handed);
	return 1;
}

/*
 * Go daemons run requests on goroutines, which move between threads. A
 * uprobe on runtime.casgstatus (Go's register ABI: gp in AX, old status in
 * BX, new in CX; the running g in R14) sees three things:
 *   - which goroutine runs on a thread: the one going to or from running
 *     (entersyscall, too), so a read can tag the goroutine that made it;
 *   - a goroutine starting to run on a thread: the thread takes its tag;
 *   - a goroutine made runnable by another: created (newproc1, from dead),
 *     it takes its creator's tag; woken (a channel send; from waiting),
 *     it takes the tag the waker read, unless it read a request itself
 *     (see ATTRIBUTION_WOKEN) or waited for a lock (go_lock_wakes).
 *     Wake-ups by a goroutine with no tag or a woken one, or by the
 *     scheduler with no goroutine (the network poller), pass nothing.
 * A thread between goroutines runs the scheduler (g0) for no one.
 */
#define G_RUNNABLE 1
#define G_RUNNING 2
#define G_SYSCALL 3
#define G_WAITING 4
#define G_DEAD 6
#define GO_G_M 48      /* offsetof(g, m) since Go 1.5; offsetof(m, g0) is 0 */
#define GO_M_CURG 192  /* offsetof(m, curg), Go 1.17 to 1.24 on amd64 */

int uprobe__go_casgstatus(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	u64 gp = ctx->ax;
	u32 from = (u32)ctx->bx & 0xfff, to = (u32)ctx->cx & 0xfff;  /* without the _Gscan bit */
	if (from == G_RUNNING || to == G_RUNNING || from == G_SYSCALL) {
		struct daemon_thread *self = this_thread(1);
		if (!self)
			return 0;
		if (to != G_RUNNING && to != G_SYSCALL) {
			/*
			 * gp leaves the thread (it parks, yields or ends, or its syscall
			 * lost the thread's P), which runs the scheduler (g0) until the
			 * next goroutine starts. What g0 reads, the netpoller's wake-up
			 * pipe, is no goroutine's request.
			 */
			self->g = 0;
			self->scheduling = 1;
			__builtin_memset(&self->tag, 0, sizeof(self->tag));
			return 0;
		}
		/* Entering a syscall (entersyscall), or starting on the thread: gp is the one on it. */
		self->g = gp;
		self->scheduling = 0;
		if (from == G_RUNNING || !in_daemon(self, pid))
			return 0;
		struct go_key key = { .pid = pid, .g = gp };
		struct task_tag *tag = go_tags.lookup(&key);
		if (tag && tag->tag)
			self->tag = *tag;
		else
			__builtin_memset(&self->tag, 0, sizeof(self->tag));
		return 0;
	}
	if (to != G_RUNNABLE || (from != G_DEAD && from != G_WAITING) || !daemons.lookup(&pid))
		return 0;
	struct go_key key = { .pid = pid, .g = gp };
	if (from == G_WAITING && go_lock_wakes.lookup(&key)) {
		go_lock_wakes.delete(&key);
		return 0;  /* woken to take a lock it waited for: its own work goes on */
	}
	/* newproc1 and ready run on the system stack (g0): the goroutine behind them is m.curg. */
	u64 maker = ctx->r14;
	u64 m = 0, g0 = 0;
	bpf_probe_read_user(&m, sizeof(m), (const void *)(maker + GO_G_M));
	if (m)
		bpf_probe_read_user(&g0, sizeof(g0), (const void *)m);
	if (m && maker == g0) {
		maker = 0;
		bpf_probe_read_user(&maker, sizeof(maker), (const void *)(m + GO_M_CURG));
	}
	if (!maker)
		return 0;
	struct go_key parent = { .pid = pid, .g = maker };
	struct task_tag *tag = go_tags.lookup(&parent);
	if (from == G_DEAD) {
		/* A new goroutine (in a reused g) works for whom its creator works. */
		if (tag) {
			struct task_tag copy = *tag;
			go_tags.update(&key, &copy);
		} else {
			go_tags.delete(&key);
		}
		return 0;
	}
	struct task_tag handed = {};
	hand_to_goroutine(&key, tag, &handed);
	return 0;
}

/*
 * runtime.readyWithTime(s, traceskip) (AX, BX) wakes s->g (a sudog's first
 * field) for a semaphore. From semrelease1 (traceskip 5 and up; sync.Cond's
 * notifyList passes 4, Go 1.19 to 1.24) it is a sync.Mutex or RWMutex
 * unlock, a WaitGroup's last Done or a semaphore's release: the goroutine
 * woken waited to go on with its own work, and its wake-up (casgstatus,
 * right after) hands it nothing. Cond and channel wake-ups still do.
 */
int uprobe__go_ready_with_time(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (ctx->bx < 5 || !daemons.lookup(&pid))
		return 0;
	struct go_key woken = { .pid = pid };
	bpf_probe_read_user(&woken.g, sizeof(woken.g), (const void *)ctx->ax);
	u32 one = 1;
	if (woken.g)
		go_lock_wakes.update(&woken, &one);
	return 0;
}

/*
 * runtime.recv(c, sg, ...) (Go's register ABI: sg in BX): the running
 * goroutine takes a value from a goroutine parked sending it, sg->g (a
 * sudog's first field), then wakes the sender. The work moves from sender to
 * receiver, against that wake-up: the receiver takes the sender's tag as a
 * woken one would (ttrpc's server loop takes requests from its reader so).
 */
int uprobe__go_recv(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!daemons.lookup(&pid))
		return 0;
	struct go_key sender = { .pid = pid };
	bpf_probe_read_user(&sender.g, sizeof(sender.g), (const void *)ctx->bx);
	struct task_tag *tag = sender.g ? go_tags.lookup(&sender) : NULL;
	struct go_key receiver = { .pid = pid, .g = ctx->r14 };
	struct task_tag handed = {};
	struct daemon_thread *self = hand_to_goroutine(&receiver, tag, &handed) ? this_thread(1) : NULL;
	if (self)
		set_thread_tag(self, &handed);  /* it runs here now */
	return 0;
}

/*
 * Hand-offs inside a daemon: a thread that wakes another through a futex
 * (a queue's condition variable, a semaphore) passes on its tag, or its lack
 * of one, unless the woken thread read its own request (ATTRIBUTION_WOKEN).
 * A tagged waker leaves its tag in `handoffs`; a wait that returns woken
 * with none there was woken for no watched command (take_handoff).
 * Wake-ups from interrupts or the scheduler carry nothing.
 */
RAW_TRACEPOINT_PROBE(sched_wakeup)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!may_be_daemon(pid) || !daemons.lookup(&pid))
		return 0;
	const void *wakee = (const void *)ctx->args[0];
	if (read_kernel_u32(wakee, OFF_task_struct__tgid) != pid)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs((struct task_struct *)bpf_get_current_task_btf());
	u64 nr = 0;
	bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
	if (nr != NR_FUTEX)
		return 0;
	struct task_tag *tag = thread_tag(this_thread(0));
	if (!tag)
		return 0;
	/*
	 * Only a thread waiting in a futex is handed work: it takes it as the wait
	 * returns (sys_exit). Its syscall number is in its saved registers, at the
	 * same place on its stack as the waker's on the waker's.
	 */
	u64 regs_address = 0;  /* as a number: the verifier allows no sums with the typed pointer */
	bpf_probe_read_kernel(&regs_address, sizeof(regs_address), &regs);
	u64 regs_offset = regs_address - read_kernel_u64((const void *)bpf_get_current_task(), OFF_task_struct__stack);
	const void *wakee_stack = (const void *)read_kernel_u64(wakee, OFF_task_struct__stack);
	u64 wakee_nr = 0;
	bpf_probe_read_kernel(&wakee_nr, sizeof(wakee_nr), (const char *)wakee_stack + regs_offset + offsetof(struct pt_regs, orig_ax));
	if (wakee_nr != NR_FUTEX)
		return 0;
	u32 wakee_tid = read_kernel_u32(wakee, OFF_task_struct__pid);
	struct handoff handed = { .kind = HANDOFF_KEEP };  /* only work a thread read itself is handed on */
	if (!(tag->attribution & ATTRIBUTION_WOKEN)) {
		handed.kind = HANDOFF_WAKE;
		handed.tag = *tag;
		handed.tag.attribution |= ATTRIBUTION_WOKEN;
	}
	handoffs.update(&wakee_tid, &handed);
	return 0;
}
