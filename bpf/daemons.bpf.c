/*
 * Daemon attribution, the kernel half (included into monitor.bpf.c before
 * the syscall programs; the rules are in events.h, "Attribution"):
 *   tag_channel   a tagged write says which command the waiting bytes are for
 *   read_channel  a thread outside the tree takes the tag of the request it reads
 *   command_ends  a command's sockets, to know when a reply goes to one
 *   episodes      an untagged or handed-off thread's calls, kept until its reply
 *   go_tags       goroutines of Go daemons, through a uprobe on runtime.casgstatus
 *   sched_wakeup  futex hand-offs between a daemon's threads
 */

BPF_HASH(go_tags, struct go_key, struct task_tag, GO_MAX);  /* goroutines of Go daemons */
BPF_HASH(command_ends, struct channel_key, struct command_end, CHANNEL_MAX);

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
BPF_HASH(episodes, u32, struct episode, EPISODE_MAX);  /* daemon tid -> its calls since its last request */
BPF_PERCPU_ARRAY(episode_heap, struct episode, 1);

#define ANY_END ((u64)-1)
#define S_IFMT_ 0170000
#define S_IFSOCK_ 0140000
#define S_IFIFO_ 0010000

/*
 * The channel that fd writes to (writing) or reads from, as the reader sees
 * it: a unix socket's reading end, a TCP/UDP (from, to) address pair, or a
 * pipe's inode. Returns 0 for anything else. *inode is the fd's inode number.
 *
 * Sockets and inodes are freed and their memory reused, so a key can outlive
 * its channel. *end names the writing end as both ends see it: the writer's
 * unix socket inode number, or the pipe's. A read counts only when its end
 * still matches (TCP and UDP keys hold both ports: their reuse is rare).
 */
static __always_inline int channel_of(s64 fd, int writing, struct channel_key *key, u64 *inode_number, u64 *end)
{
	const void *file = fd_file(fd);
	if (!file)
		return 0;
	const void *inode = (const void *)read_kernel_u64(file, OFF_file__f_inode);
	if (!inode)
		return 0;
	u16 imode = 0;
	bpf_probe_read_kernel(&imode, sizeof(imode), (const char *)inode + OFF_inode__i_mode);
	*inode_number = read_kernel_u64(inode, OFF_inode__i_ino);
	*end = 0;
	if ((imode & S_IFMT_) == S_IFIFO_) {
		key->a = (u64)inode;
		key->b = 0;
		*end = *inode_number;
		return 1;
	}
	if ((imode & S_IFMT_) != S_IFSOCK_)
		return 0;
	const void *socket = (const void *)read_kernel_u64(file, OFF_file__private_data);
	const void *sk = socket ? (const void *)read_kernel_u64(socket, OFF_socket__sk) : NULL;
	if (!sk)
		return 0;
	u16 family = 0;
	bpf_probe_read_kernel(&family, sizeof(family), (const char *)sk + OFF_sock_common__skc_family);
	if (family == 1 /* AF_UNIX */) {
		const void *peer = (const void *)read_kernel_u64(sk, OFF_unix_sock__peer);
		if (!peer)
			return 0;
		key->a = writing ? (u64)peer : (u64)sk;
		key->b = 1;
		/* The writer's socket inode number: never reused, unlike the memory of a socket pair. */
		if (writing) {
			*end = *inode_number;
		} else {
			const void *writer = (const void *)read_kernel_u64(peer, OFF_sock__sk_socket);
			*end = writer ? read_kernel_u64((const char *)writer + OFF_socket_alloc__vfs_inode, OFF_inode__i_ino)
				      : ANY_END;  /* the writer closed: its socket is gone, the memory not yet reused */
		}
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
 * A write by a task working for `tag` (0: for no watched command) tags the
 * channel it goes to. Commands reach daemons through sockets only: their
 * pipes lead to their own processes, and untagged they cost no reads elsewhere.
 */
static __always_inline int tag_channel(s64 fd, u32 tag, u32 also_tag, u32 attribution, int sockets_only,
				       u32 *reaches)
{
	struct channel_key key = {};
	u64 inode = 0, end = 0;
	if (!channel_of(fd, 1, &key, &inode, &end) || (sockets_only && key.b == 0))
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
	u64 id = bpf_get_current_pid_tgid();
	struct channel *channel = channels.lookup(&key);
	if (channel && channel->writer_end != end) {
		channels.delete(&key);  /* a reused key: the old channel is gone */
		channel = NULL;
	}
	if (!channel) {
		if (!tag)
			return socket;
		struct channel value = { .tag = tag, .also_tag = also_tag,
					 .attribution = attribution & (ATTRIBUTION_AMBIGUOUS | ATTRIBUTION_DAEMON),
					 .unread = 1, .writer_pid = id >> 32, .writer_tid = (u32)id, .writer_inode = inode,
					 .writer_end = end };
		channels.update(&key, &value);
		u32 index = CONFIG_CHANNELS_USED, one = 1;
		config.update(&index, &one);
		return socket;
	}
	if (channel->unread && channel->tag != tag) {
		/* Two commands' bytes wait in it together: whoever reads cannot tell them apart. */
		also_tag = channel->tag;
		attribution |= ATTRIBUTION_AMBIGUOUS;
	}
	channel->tag = tag;
	channel->also_tag = also_tag;
	channel->attribution = attribution & (ATTRIBUTION_AMBIGUOUS | ATTRIBUTION_DAEMON);
	channel->unread = 1;
	channel->writer_pid = id >> 32;
	channel->writer_tid = (u32)id;
	channel->writer_inode = inode;
	return socket;
}

/* A command's socket, as a daemon writing back to it names it (see channel_of). */
static __always_inline void remember_command_end(s64 fd, u32 tag)
{
	struct channel_key key = {};
	u64 inode = 0, end = 0;
	if (channel_of(fd, 0, &key, &inode, &end) && key.b != 0) {
		struct command_end value = { .tag = tag, .inode = inode };
		command_ends.update(&key, &value);
	}
}

/* Keeps a call by an untagged daemon thread that names a path, for its reply. */
static __always_inline void log_call(const struct syscall_spec *spec, long nr, s64 ret, const u64 *args)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u32 zero = 0;
	struct episode *blank = episode_heap.lookup(&zero);
	if (!blank)
		return;
	blank->count = 0;
	struct episode *episode = episodes.lookup_or_try_init(&tid, blank);
	if (!episode || episode->count >= EPISODE_CALLS)
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
static __always_inline void replay_episode(u32 tid, u32 tag)
{
	struct episode *episode = episodes.lookup(&tid);
	u32 zero = 0;
	struct syscall_event *event = syscall_heap.lookup(&zero);
	if (!episode || !event)
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
	episodes.delete(&tid);
}

/*
 * A thread that was handed work by a wake-up is done with it when it writes
 * to a socket: the reply, or the request passed on. Its next work may come
 * off a queue without a wake-up, and must not inherit the tag.
 */
static __always_inline void forget_handoff(u32 tid)
{
	/*
	 * Not in Go: a goroutine that writes for others (grpc's writer) gets its
	 * next tag from the goroutine that wakes it, and often writes a request
	 * over several writes.
	 */
	if (running_g.lookup(&tid))
		return;
	task_tags.delete(&tid);
}

static __always_inline void count_unattributed(void)
{
	u32 zero = 0;
	u64 *count = unattributed_counts.lookup(&zero);
	if (count)
		*count += 1;
}

/*
 * A read by a task outside the tree. Reading a tagged channel tags the
 * thread, and makes its process a daemon the first time; reading any other
 * socket or pipe means working for someone else, so a daemon thread loses its tag.
 */
static __always_inline void read_channel(s64 fd, u32 pid, u32 tid, u32 *daemon)
{
	struct channel_key key = {};
	u64 inode = 0, end = 0;
	if (!channel_of(fd, 0, &key, &inode, &end))
		return;
	struct channel *channel = channels.lookup(&key);
	if (channel && channel->writer_end != end && end != ANY_END) {
		channels.delete(&key);
		channel = NULL;
	}
	episodes.delete(&tid);  /* a new request: what came before was for someone else */
	u64 *g = running_g.lookup(&tid);
	struct go_key goroutine = { .pid = pid, .g = g ? *g : 0 };
	/*
	 * A command's bytes mixed with bytes for no watched command cannot be told
	 * apart: rather than guess, neither is credited (two commands' bytes mixed
	 * are credited to both, as ambiguous). The daemon's calls are then counted
	 * as unattributed.
	 */
	int mixed_with_others = channel && (channel->attribution & ATTRIBUTION_AMBIGUOUS)
				&& (!channel->tag || !channel->also_tag);
	if (!channel || !channel->tag || mixed_with_others) {
		if (channel) {
			channel->unread = 0;
			channel->also_tag = 0;
			channel->attribution = 0;
		}
		if (daemon) {
			task_tags.delete(&tid);
			if (g) {
				struct task_tag other = {};  /* known to work for someone else */
				go_tags.update(&goroutine, &other);
			}
		}
		return;
	}
	struct task_tag tag = { .tag = channel->tag, .also_tag = channel->also_tag,
				.attribution = channel->attribution & ATTRIBUTION_AMBIGUOUS };
	/*
	 * Work a daemon thread passed on (a dispatcher to a worker process) is a
	 * hand-off like a futex wake-up: the dispatcher may have read several
	 * requests first, so the worker's reply decides (see episodes). Goroutines
	 * are exempt: their reads are tracked one by one.
	 */
	if ((channel->attribution & ATTRIBUTION_DAEMON) && !g)
		tag.attribution |= ATTRIBUTION_WOKEN;
	if (g)
		go_tags.update(&goroutine, &tag);
	struct peer_event peer = { .writer_pid = channel->writer_pid, .writer_tid = channel->writer_tid,
				   .writer_inode = channel->writer_inode, .reader_inode = inode, .reader_fd = fd };
	channel->unread = 0;
	channel->also_tag = 0;
	channel->attribution = 0;
	/* A peer record on the first read, and whenever a thread turns to another command. */
	struct task_tag *old = task_tags.lookup(&tid);
	int turned = !old || old->tag != tag.tag;
	task_tags.update(&tid, &tag);
	if (daemon && !turned)
		return;
	u32 one = 1;
	if (!daemon)
		daemons.update(&pid, &one);
	struct peer_event *event = events.ringbuf_reserve(sizeof(*event));
	if (!event) {
		count_lost(EVENT_PEER);
		return;
	}
	*event = peer;
	fill_header(&event->header, EVENT_PEER, sizeof(*event), tag.tag, tag.also_tag, tag.attribution);
	events.ringbuf_submit(event, BPF_RB_FORCE_WAKEUP);
}

/* A syscall's first argument, from the user registers the syscall hooks get (x86_64). */
static __always_inline u64 regs_arg0(const struct pt_regs *regs)
{
	u64 value = 0;
	bpf_probe_read_kernel(&value, sizeof(value), &regs->di);
	return value;
}

/* All six syscall arguments, in one read of the saved registers. */
static __always_inline void regs_args(const struct pt_regs *regs, u64 args[6])
{
	struct pt_regs saved = {};
	bpf_probe_read_kernel(&saved, sizeof(saved), regs);
	args[0] = saved.di;
	args[1] = saved.si;
	args[2] = saved.dx;
	args[3] = saved.r10;
	args[4] = saved.r8;
	args[5] = saved.r9;
}

/*
 * Go daemons run requests on goroutines, which move between threads. A
 * uprobe on runtime.casgstatus (Go's register ABI: gp in AX, old status in
 * BX, new in CX; the running g in R14) sees three things:
 *   - which goroutine runs on a thread: the one going to or from running
 *     (entersyscall, too), so a read can tag the goroutine that made it;
 *   - a goroutine starting to run on a thread: the thread takes its tag;
 *   - a goroutine made runnable by another: created (newproc1, from dead),
 *     it takes its creator's tag; woken (a channel send, an unlock; from
 *     waiting), it takes the tag the waker read, unless it read a request
 *     itself (see ATTRIBUTION_WOKEN). Wake-ups by a goroutine with no tag or
 *     a woken one, or by the scheduler with no goroutine (the network
 *     poller), pass nothing.
 */
#define G_RUNNABLE 1
#define G_RUNNING 2
#define G_WAITING 4
#define G_DEAD 6
#define GO_G_M 48      /* offsetof(g, m) since Go 1.5; offsetof(m, g0) is 0 */
#define GO_M_CURG 192  /* offsetof(m, curg), Go 1.17 to 1.24 on amd64 */

int uprobe__go_casgstatus(struct pt_regs *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 pid = id >> 32, tid = (u32)id;
	u64 gp = ctx->ax;
	u32 from = (u32)ctx->bx & 0xfff, to = (u32)ctx->cx & 0xfff;  /* without the _Gscan bit */
	if (from == G_RUNNING) {
		/* Leaving the thread, or entering a syscall (entersyscall): gp is the one on it. */
		running_g.update(&tid, &gp);
		return 0;
	}
	if (to == G_RUNNING) {
		running_g.update(&tid, &gp);
		if (!daemons.lookup(&pid))
			return 0;
		struct go_key key = { .pid = pid, .g = gp };
		struct task_tag *tag = go_tags.lookup(&key);
		if (tag && tag->tag) {
			struct task_tag copy = *tag;
			task_tags.update(&tid, &copy);
		} else {
			task_tags.delete(&tid);
		}
		return 0;
	}
	if (to != G_RUNNABLE || (from != G_DEAD && from != G_WAITING) || !daemons.lookup(&pid))
		return 0;
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
	struct go_key key = { .pid = pid, .g = gp };
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
	struct task_tag *own = go_tags.lookup(&key);
	if (tag && !(tag->attribution & ATTRIBUTION_WOKEN) && (!own || (own->attribution & ATTRIBUTION_WOKEN))) {
		struct task_tag copy = *tag;
		copy.attribution |= ATTRIBUTION_WOKEN;
		go_tags.update(&key, &copy);
	}
	return 0;
}

/*
 * Hand-offs inside a daemon: a thread that wakes another through a futex
 * (a queue's condition variable, a semaphore) passes on its tag, or its lack
 * of one, unless the woken thread read its own request (ATTRIBUTION_WOKEN).
 * Wake-ups from interrupts or the scheduler carry nothing.
 */
RAW_TRACEPOINT_PROBE(sched_wakeup)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 pid = id >> 32, tid = (u32)id;
	if (!daemons.lookup(&pid))
		return 0;
	const void *wakee = (const void *)ctx->args[0];
	if (read_kernel_u32(wakee, OFF_task_struct__tgid) != pid)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs((struct task_struct *)bpf_get_current_task_btf());
	u64 nr = 0;
	bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
	if (nr != NR_FUTEX)
		return 0;
	u32 wakee_tid = read_kernel_u32(wakee, OFF_task_struct__pid);
	struct task_tag *own = task_tags.lookup(&wakee_tid);
	if (own && !(own->attribution & ATTRIBUTION_WOKEN))
		return 0;  /* it read its own request: an unlock is not a hand-off */
	struct task_tag *tag = task_tags.lookup(&tid);
	if (tag && (tag->attribution & ATTRIBUTION_WOKEN))
		return 0;  /* only work a thread read itself is handed on */
	if (tag) {
		struct task_tag copy = *tag;
		copy.attribution |= ATTRIBUTION_WOKEN;
		task_tags.update(&wakee_tid, &copy);
	} else {
		task_tags.delete(&wakee_tid);
	}
	return 0;
}
