/*
 * Channels: what a watched task or a daemon thread writes to a socket or a
 * pipe queues segments of bytes, each with the tag it was written for; a
 * read by a task outside the tree takes bytes off the front, and the tags
 * with them. See struct channel in events.h.
 */
#ifndef BPF_DAEMONS_CHANNELS_H
#define BPF_DAEMONS_CHANNELS_H

#include "lib/common.h"
#include "lib/tasks.h"
#include "daemons/endpoints.h"
#include "syscalls/specs.h"

/* A write to a channel, between its entry and exit (settle_write). */
struct write_in_flight {
	struct channel_key key;
	u32 bytes;   /* 0: none */
	u32 counted; /* how many of its channel's in_flight it is (sendmmsg: one a message) */
	u64 sock;    /* the writer's struct sock; 0 for a pipe or an eventfd */
};

/* A watched task's write to a channel, from entry to exit (sys_enter, sys_exit). */
TASK_STATE(pending_writes, struct write_in_flight);

/* The current task's write in flight, made if `make`; NULL when there is none, or no room. */
static __always_inline struct write_in_flight *pending_write(int make)
{
#if TASK_STORAGE
	if (make)
		return pending_writes.task_storage_get(bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return pending_writes.task_storage_get(bpf_get_current_task_btf(), 0, 0);
#else
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct write_in_flight blank = {};
	return make ? pending_writes.lookup_or_try_init(&tid, &blank) : pending_writes.lookup(&tid);
#endif
}

BPF_HASH(channels, struct channel_key, struct channel, CHANNEL_MAX);
BPF_HASH(command_ends, struct channel_key, struct command_end, CHANNEL_MAX);
BPF_PERCPU_ARRAY(channel_heap, struct channel, 1); /* a new channel, made before it goes in channels */

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

/* The channel at `key` goes. */
static __always_inline void drop_channel(struct channel *channel, const struct channel_key *key)
{
	count_fresh(channel, 0);
	channel_emptied(channel, 1);
	channels.delete(key);
}

/*
 * A channel out of step after a quiet spell takes the place of `made`, a
 * channel made anew, in place. It keeps what it knows of its reader (that
 * a daemon reads it, or none yet, and a wake-up inside a process), and its
 * flag of work, which another CPU may be changing.
 */
static __always_inline void renew_channel(struct channel *channel, const struct channel *made)
{
	u32 fresh = channel->fresh, daemon_reads = channel->daemon_reads, local = channel->local;
	__builtin_memcpy(channel, made, offsetof(struct channel, holds_work));
	channel->fresh = fresh;
	channel->daemon_reads = daemon_reads;
	channel->local = local;
	channel->epoch = made->epoch;
}

/*
 * Bytes of two segments taken as one: by a reader that cannot tell them
 * apart, or by the last segment of a full queue. Two commands' bytes make
 * it ambiguous between them; a command's bytes with bytes for none leave
 * tag or also_tag 0, which a reader takes as for none (see reader_tag).
 */
static __always_inline void mix_tags(struct task_tag *into, const struct task_tag *from)
{
	if (from->tag != into->tag || from->also_tag != into->also_tag) {
		into->also_tag = into->tag;
		into->tag = from->tag;
		into->attribution |= ATTRIBUTION_AMBIGUOUS;
	}
	into->attribution |= from->attribution & (ATTRIBUTION_AMBIGUOUS | ATTRIBUTION_DAEMON);
}

/*
 * Queues a segment of `bytes` behind the channel's others. A write is a
 * request (or the answer to one): never merged with the last, even of the
 * same command, since its reader counts answers. A full queue mixes it into
 * its last segment.
 */
static __always_inline void queue_segment(struct channel *channel, const struct task_tag *owner, u32 bytes,
					  u64 completion)
{
	u32 count = held_segments(channel);
	if (!count)
		channel->end = channel->first; /* (after a write taken back, see held_segments) */
	if (count < CHANNEL_SEGMENTS) {
		struct channel_segment *next = &channel->segments[channel->end & (CHANNEL_SEGMENTS - 1)];
		next->tag = owner->tag;
		next->also_tag = owner->also_tag;
		next->attribution = owner->attribution;
		next->bytes = bytes;
		next->completion = completion;
		next->writer_tid = (u32)bpf_get_current_pid_tgid();
		next->sender = 0;
		barrier(); /* (the segment is whole before a reader on another CPU can take it) */
		channel->end += 1;
		if (!count)
			channel->started = 0;
		return;
	}
	struct channel_segment *last = &channel->segments[(channel->end - 1) & (CHANNEL_SEGMENTS - 1)];
	channel->messages = 0; /* a segment of two messages: counted in bytes from now on */
	last->sender = 0;
	struct task_tag mixed = { .tag = last->tag, .also_tag = last->also_tag, .attribution = last->attribution };
	mix_tags(&mixed, owner);
	last->tag = mixed.tag;
	last->also_tag = mixed.also_tag;
	last->attribution = mixed.attribution;
	last->bytes += bytes;
	if (!last->completion)
		last->completion = completion; /* (else it is lost, and its calls stay unattributed) */
}

/* The messages of one sendmmsg that queue segments: the others are left to no one. */
#define WRITE_MESSAGES 4

/* A write that queues a segment on the channel it goes to (tag_channel). */
struct channel_write {
	struct task_tag owner; /* whom the bytes are for (owner.tag 0: no watched command) */
	u32 bytes;
	u32 sockets_only;      /* a pipe takes no segment */
	u32 make;	       /* an untagged write makes the channel too */
	u32 local;	       /* set by tag_channel: the channel is a wake-up inside one process */
	struct destination to; /* a datagram's destination; 0: the connected peer */
	u32 more;	       /* sendmmsg: its further messages to the same place, their lengths in mmsg_heap */
	u64 completion;	       /* the worker's completion the write signals (see completions.h) */
};

/* sendmmsg's further messages' lengths (channel_write.more), too many for the BPF stack. */
struct mmsg_lengths {
	u32 bytes[WRITE_MESSAGES - 1];
};
BPF_PERCPU_ARRAY(mmsg_heap, struct mmsg_lengths, 1);

/* sendmmsg's `more` further messages (their lengths in mmsg_heap) queue a segment each; returns how many. */
static __always_inline u32 queue_more(struct channel *channel, const struct task_tag *owner, u32 more)
{
	u32 zero = 0, queued = 0;
	struct mmsg_lengths *lengths = mmsg_heap.lookup(&zero);
	if (!lengths)
		return 0;
#pragma nounroll
	for (int i = 0; i < WRITE_MESSAGES - 1; i++) {
		if (i < more) {
			queue_segment(channel, owner, lengths->bytes[i], 0);
			queued += 1;
		}
	}
	return queued;
}

/* The newest `messages` segments came from `sender` (see udp_sender). */
static __always_inline void name_senders(struct channel *channel, u32 messages, u32 sender)
{
#pragma nounroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++)
		if (i < messages && i < held_segments(channel))
			channel->segments[(channel->end - 1 - i) & (CHANNEL_SEGMENTS - 1)].sender = sender;
}

/*
 * Whether the reader at the other end of the writer's socket `sock` may be
 * a daemon's thread, whose reads a quiet spell would pass by: a unix
 * socket's peer process (sk_peer_pid) says; other channels may always be.
 */
static __always_inline int reader_may_be_daemon(enum channel_kind kind, const struct channel_key *key, u64 sock)
{
	if (kind != CHANNEL_SOCKET || key->b != CHANNEL_KEY_UNIX || !sock)
		return 1;
	const void *pid = (const void *)read_kernel_u64((const void *)sock, OFF_sock__sk_peer_pid);
	return !pid || may_be_daemon(read_kernel_u32(pid, OFF_pid__numbers));
}

/*
 * A write of `bytes` by a task working for `owner` queues a segment on the
 * channel it goes to, and says which kind of channel that is. Commands reach daemons
 * through sockets only: their pipes lead to their own processes, and
 * untagged they cost no reads elsewhere. A channel is made by a tagged
 * write (or any, if `make`); after that, untagged writes queue segments
 * too, so that a reader knows which bytes are for no one. `known`: the
 * channel as the write's first program found it, or NULL.
 */
static __always_inline enum channel_kind tag_channel(s64 fd, struct channel_write *write, u32 *reaches,
						     struct write_in_flight *flight,
						     const struct written_channel *known)
{
	struct channel_end found = {};
	enum channel_kind kind = CHANNEL_NONE;
	if (known && !write->to.sockaddr) {
		found = known->end;
		kind = known->kind;
	} else {
		kind = channel_of(fd, CHANNEL_WRITER, &write->to, &found);
	}
	if (kind == CHANNEL_NONE || (write->sockets_only && kind != CHANNEL_SOCKET))
		return CHANNEL_NONE;
	struct channel_key key = found.key;
	u64 end = found.end;
	u32 tag = write->owner.tag, bytes = write->bytes;
	struct command_end *command = kind == CHANNEL_SOCKET ? command_ends.lookup(&key) : NULL;
	*reaches = 0;
	if (command) {
		/* The command's socket must still be open: a closed one's key (a UDP port) may be another's now. */
		if (socket_inode((const void *)command->sock) == command->inode) {
			*reaches = command->tag;
		} else {
			flag_work(&command->awaiting, 1, 0);
			command_ends.delete(&key);
		}
	}
	if (!bytes)
		return kind; /* nothing a reader could take (or an iovec we could not read) */
	if (*reaches)
		flag_work(&command->awaiting, 1, 0); /* answered */
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u32 attribution = write->owner.attribution & (ATTRIBUTION_AMBIGUOUS | ATTRIBUTION_DAEMON | ATTRIBUTION_WOKEN);
	struct task_tag owner = { .tag = tag, .also_tag = write->owner.also_tag, .attribution = attribution };
	struct channel *channel = channels.lookup(&key);
	if (channel && *reaches) {
		/* Commands read no channel: what was queued for the socket before it was known as the command's is no one's. */
		drop_channel(channel, &key);
		return kind;
	}
	if (channel && channel->writer_end != end) {
		drop_channel(channel, &key); /* a reused key: the old channel is gone */
		channel = NULL;
	}
	if (tag)
		work_goes_on();
	int work = tag && reader_may_be_daemon(kind, &key, found.sock);
	/* Out of step after a quiet spell: made again, in place (another CPU may be writing to it). */
	int stale = channel && channel_is_stale(channel);
	/* Bytes that can make their reader a daemon (see reader_tag). */
	int discovers = tag && !(attribution & ATTRIBUTION_WOKEN);
	if (!channel || stale) {
		if ((!tag && !write->make) || *reaches)
			return kind; /* (a command's socket: commands do not read channels) */
		if (kind == CHANNEL_EVENTFD)
			bytes = 1; /* a counter: a read takes them all (see read_wakeup) */
		/*
		 * Bytes written before the channel was made may be waiting ahead of
		 * this write, in an order we cannot know: it is unsynced until a read
		 * empties the socket. A unix socket shows whether it holds any; a TCP
		 * or UDP reader's socket is out of reach, so there only a daemon's
		 * write (onto a connection others' requests share) starts unsynced.
		 * A command's own first write, or a pipe's, is in sync.
		 */
		u32 unsynced = key.b == CHANNEL_KEY_UNIX ? queued_buffers(key.a) != 0
							 : kind == CHANNEL_SOCKET && (attribution & ATTRIBUTION_DAEMON);
		if (shared_channel(&key))
			unsynced = 0; /* each read is checked (took_own_messages) */
		/*
		 * An eventfd's counter may hold wake-ups written before the channel,
		 * while its process was no daemon yet: work for no one, which its
		 * reader does before this write's. Event loops add 1 a wake-up, so
		 * each unit is a segment for no one ahead of this write's. A count
		 * that does not fit puts the channel out of step.
		 */
		u32 before = 0;
		if (kind == CHANNEL_EVENTFD) {
			u64 pending = read_kernel_u64((const void *)key.a, OFF_eventfd_ctx__count);
			unsynced = pending >= CHANNEL_SEGMENTS;
			before = unsynced ? 0 : (u32)pending;
		}
		u32 zero = 0;
		struct channel *value = channel_heap.lookup(&zero);
		if (!value)
			return kind;
		__builtin_memset(value, 0, sizeof(*value));
#pragma nounroll
		for (u32 i = 0; i < CHANNEL_SEGMENTS - 1; i++) {
			/* Each pass indexes the array: older verifiers cannot bound a pointer clang would step. */
			u32 at = i;
			barrier_var(at);
			if (at >= before)
				break;
			struct channel_segment *none = &value->segments[at & (CHANNEL_SEGMENTS - 1)];
			none->bytes = 1;
			none->writer_tid = tid;
		}
		value->end = before + 1;
		value->unsynced = unsynced;
		value->writer_end = end;
		value->messages = shared_channel(&key);
		if (key.b == CHANNEL_KEY_UNIX) {
			u16 type = 0;
			bpf_probe_read_kernel(&type, sizeof(type), (const char *)found.sock + OFF_sock__sk_type);
			value->messages = type == SOCK_DGRAM || type == SOCK_SEQPACKET;
		}
		struct channel_segment *first = &value->segments[before & (CHANNEL_SEGMENTS - 1)];
		first->tag = tag;
		first->also_tag = owner.also_tag;
		first->attribution = attribution;
		first->bytes = bytes;
		first->completion = write->completion;
		first->writer_tid = tid;
		value->epoch = work_epoch();
		if (stale) {
			renew_channel(channel, value);
		} else {
			channels.update(&key, value);
			channel = channels.lookup(&key);
			if (!channel)
				return kind;
		}
	} else {
		if (discovers && !channel->daemon_reads && !channel->fresh && held_segments(channel) &&
		    !shared_channel(&key)) {
			/* Until now, reads outside daemons may have passed it by: what it holds is unknown. */
			if (key.b == CHANNEL_KEY_UNIX && !queued_buffers(key.a)) {
				channel->first = channel->end; /* its reader's socket is empty: all of it was read */
				channel_emptied(channel, 0);
			} else
				channel->unsynced = 1;
		}
		queue_segment(channel, &owner, kind == CHANNEL_EVENTFD ? 1 : bytes, write->completion);
	}
	if (work)
		channel_holds_work(channel);
	channel->epoch = work_epoch(); /* in step now */
	write->local = channel->local;
	if (discovers && !channel->daemon_reads)
		count_fresh(channel, 1);
	channel->writer_pid = id >> 32;
	channel->writer_tid = tid;
	channel->writer_inode = found.inode;
	/* What the write really sent is settled at its exit (settle_write). */
	flight->key = key;
	flight->bytes = bytes;
	flight->sock = found.sock;
	/* sendmmsg: each further message to the same place is a segment of its own. */
	u32 messages = 1 + (write->more ? queue_more(channel, &owner, write->more) : 0);
	if (key.b & CHANNEL_KEY_UDP)
		name_senders(channel, messages, udp_writer_sender(&key, (const void *)found.sock));
	flight->counted = channel->messages && (channel->unsynced || shared_channel(&key)) ? messages : 0;
	if (flight->counted)
		__sync_fetch_and_add(&channel->in_flight, flight->counted);
	return kind;
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
	if (channel && flight->counted && channel->in_flight >= flight->counted)
		__sync_fetch_and_add(&channel->in_flight, -(s64)flight->counted);
	flight->counted = 0;
	u32 held = channel ? held_segments(channel) : 0;
	if (channel && sent < flight->bytes && held) {
		u32 unsent = flight->bytes - sent;
		struct channel_segment *last = &channel->segments[(channel->end - 1) & (CHANNEL_SEGMENTS - 1)];
		if (last->bytes > unsent) {
			last->bytes -= unsent;
		} else {
			last->bytes = 0;
			if (held > 1 || !channel->started)
				channel->end -= 1;
		}
	}
	flight->bytes = 0;
}

/* A write's struct iovec and struct msghdr, as a 64-bit process passes them. */
struct user_iovec64 {
	u64 iov_base;
	u64 iov_len;
};
struct user_msghdr64 {
	u64 msg_name;
	u32 msg_namelen;
	u32 _pad;
	u64 msg_iov;
	u64 msg_iovlen;
	u64 msg_control;
	u64 msg_controllen;
	u32 msg_flags;
};
_Static_assert(offsetof(struct user_msghdr64, msg_iov) == 16 && offsetof(struct user_msghdr64, msg_iovlen) == 24,
	       "struct msghdr layout");

/* A msghdr's msg_name and its length (args[1]: the msghdr): where a datagram goes, or came from. */
static __always_inline struct destination message_name(const u64 *args)
{
	const struct user_msghdr64 *message = (const struct user_msghdr64 *)args[1];
	struct destination name = {};
	u32 length = 0;
	bpf_probe_read_user(&name.sockaddr, sizeof(name.sockaddr), &message->msg_name);
	bpf_probe_read_user(&length, sizeof(length), &message->msg_namelen);
	name.length = name.sockaddr ? length : 0;
	return name;
}

/* The iovecs of a write that are counted: the others' bytes count as none. */
#define WRITE_IOVECS 8

/* The bytes of a write's iovecs (at most WRITE_IOVECS counted). */
static __always_inline u32 iovec_bytes(u64 iov, u64 count)
{
	u64 total = 0;
#pragma nounroll
	for (int i = 0; i < WRITE_IOVECS; i++) {
		if (i >= count)
			break;
		u64 length = 0;
		bpf_probe_read_user(&length, sizeof(length), &((const struct user_iovec64 *)iov)[i].iov_len);
		total += length;
	}
	return capped_bytes(total);
}

/* How many bytes a write asks to send: at most WRITE_IOVECS iovecs are counted, as one must be. */
static __always_inline u32 write_length(const struct syscall_spec *spec, const u64 *args)
{
	u64 iov = 0, count = 0;
	if (spec->io_length == IO_LENGTH_COUNT)
		return capped_bytes(args[2]);
	if (spec->io_length == IO_LENGTH_IOVEC) {
		iov = args[1];
		count = args[2];
	} else if (spec->io_length == IO_LENGTH_MSGHDR) {
		const struct user_msghdr64 *message = (const struct user_msghdr64 *)args[1];
		bpf_probe_read_user(&iov, sizeof(iov), &message->msg_iov);
		bpf_probe_read_user(&count, sizeof(count), &message->msg_iovlen);
	}
	return iovec_bytes(iov, count);
}

/*
 * The sockets of command ends named by a unix socket name, as a filter: a
 * datagram from a socket whose slot is empty is no command's, known without
 * hashing its sender's name (command_datagram). A socket marks its slot and
 * nothing clears one, so two CPUs marking at once lose nothing; a slot
 * another socket marked, or one that has gone, costs the full check.
 */
#define COMMAND_SOCKET_SLOTS 256
struct named_command_sockets {
	u8 marked[COMMAND_SOCKET_SLOTS];
};
BPF_ARRAY(named_command_sockets, struct named_command_sockets, 1);

static __always_inline u32 command_socket_slot(const void *sk)
{
	u64 address = (u64)sk;
	return (address >> 6 ^ address >> 14) & (COMMAND_SOCKET_SLOTS - 1);
}

static __always_inline void mark_named_command_socket(const void *sk)
{
	u32 zero = 0;
	struct named_command_sockets *named = named_command_sockets.lookup(&zero);
	if (named)
		named->marked[command_socket_slot(sk)] = 1;
}

/* Whether `sk` may be a command end named by a unix socket name (mark_named_command_socket). */
static __always_inline int may_be_named_command_socket(const void *sk)
{
	u32 zero = 0;
	struct named_command_sockets *named = named_command_sockets.lookup(&zero);
	return !named || named->marked[command_socket_slot(sk)];
}

/* A command's socket `sk`, as a daemon writing back to it names it (`key`, see channel_of). */
static __always_inline void remember_command_socket(struct channel_key *key, const void *sk, u32 tag)
{
	struct command_end value = { .tag = tag, .inode = socket_inode(sk), .sock = (u64)sk };
	if (!value.inode)
		return;
	if (key->b == CHANNEL_KEY_UNIX_NAME)
		mark_named_command_socket(sk);
	struct command_end *known = command_ends.lookup(key);
	if (!known || known->tag != tag || known->inode != value.inode || known->sock != value.sock) {
		if (known)
			flag_work(&known->awaiting, 1, 0);
		command_ends.update(key, &value);
		known = command_ends.lookup(key);
	}
	if (known)
		flag_work(&known->awaiting, 0, 1); /* its answer is work under way */
}

/*
 * The command's socket behind fd. A UDP socket not bound yet has no key: it
 * is remembered when its first datagram lands (see data_ready).
 */
static __always_inline void remember_command_end(s64 fd, u32 tag)
{
	struct channel_end found = {};
	if (channel_of(fd, CHANNEL_READER, NULL, &found) != CHANNEL_SOCKET)
		return;
	if (!(found.key.b & CHANNEL_KEY_UDP) || (u16)found.key.b)
		remember_command_socket(&found.key, (const void *)found.sock, tag);
}

/* What a read took off a channel, segment by segment: too big for the BPF stack. */
struct taken_segments {
	struct task_tag tags[CHANNEL_SEGMENTS];
	u64 completions[CHANNEL_SEGMENTS];
	u32 writers[CHANNEL_SEGMENTS]; /* the thread that wrote each */
	/* A wake-up's, sorted by read_wakeup (here, not on the stack: the verifier then prunes its loop). */
	u32 own;	   /* the first `own` of tags are the reader's own */
	u32 holding;	   /* a daemon thread's read took this many segments, whose completions it holds (sys_exit) */
	u32 handing;	   /* a daemon thread's read: its requests are queued as hand-offs (sys_exit) */
	s32 handing_count; /* how many segments it took; 0 or less: none known */
	u32 handing_continues; /* the first continues a request read before */
	u32 by_reply; /* several commands' datagrams read at once: each answer says whose (take_noted_datagrams) */
	struct task_tag handed; /* the first tag another thread wrote */
	/* A read, as read_channel hands it on to tail__daemon_taken: */
	s32 count;     /* segments taken; less than 0: bytes of unknown order */
	u32 continues; /* the first continues a request read before */
	u32 found;     /* there is a channel, at `key` */
	s64 fd;
	u64 file;
	u64 inode;
	struct channel_key key;
};
BPF_PERCPU_ARRAY(reading_heap, struct taken_segments, 1);

/* What a read took of a segment, as the `i`th of its segments. */
static __always_inline void took_segment(struct taken_segments *into, int i, const struct channel_segment *segment)
{
	into->tags[i].tag = segment->tag;
	into->tags[i].also_tag = segment->also_tag;
	into->tags[i].attribution = segment->attribution;
	into->completions[i] = segment->completion;
	into->writers[i] = segment->writer_tid;
}

/*
 * Takes `bytes` off the front of the channel: the tags of the segments they
 * belong to, oldest first, at most CHANNEL_SEGMENTS. Returns how many; *left
 * is what the read took beyond the queued bytes (bytes written before the
 * channel was made, or by a task we do not follow).
 */
static __always_inline int take_segments(struct channel *channel, u32 bytes, struct taken_segments *into, u32 *left)
{
	int count = 0;
	*left = bytes;
#pragma nounroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++) {
		if (*left && held_segments(channel)) {
			struct channel_segment *segment = &channel->segments[channel->first & (CHANNEL_SEGMENTS - 1)];
			took_segment(into, i, segment);
			count = i + 1;
			if (segment->bytes > *left) {
				segment->bytes -= *left;
				*left = 0;
				channel->started = 1;
			} else {
				*left -= segment->bytes;
				channel->first += 1;
				channel->started = 0;
			}
		}
	}
	channel_emptied(channel, 0);
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
	u32 count = held_segments(channel);
	if (channel->reader_tid != tid || channel->in_flight)
		return 0;
	/* (A write that came and went meanwhile changed the count.) */
	return queued_buffers(sock) + 1 == count && !channel->in_flight && held_segments(channel) == count;
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

#endif
