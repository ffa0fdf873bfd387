/*
 * Datagram channels many write to: a named unix datagram socket, a UDP
 * port. Each datagram is a segment with its writer's tag; a read takes
 * whole datagrams, and only those it can be sure of.
 */
#ifndef BPF_DAEMONS_DATAGRAMS_H
#define BPF_DAEMONS_DATAGRAMS_H

#include "lib/common.h"
#include "daemons/channels.h"
#include "daemons/endpoints.h"
#include "syscalls/specs.h"

/*
 * A read of `messages` datagrams from a shared channel: the tags of the
 * segments it took, oldest first, and how many; -1 when they may be other
 * writers' (see took_own_messages).
 */
static __always_inline int take_datagrams(struct channel *channel, const struct channel_key *key, u64 sock,
					  u32 messages, struct taken_segments *taken)
{
	if (!took_own_messages(channel, key, sock, messages))
		return -1;
	u32 bytes = 0, left = 0;
#pragma nounroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++)
		if (i < messages)
			bytes += channel->segments[(channel->first + i) & (CHANNEL_SEGMENTS - 1)].bytes;
	int count = take_segments(channel, bytes, taken, &left);
	return left ? -1 : count;
}

/* A UDP read the sender's segments do not tell: it is counted (take_datagrams). */
#define DATAGRAM_COUNTED (-2)

/*
 * A read of one UDP datagram from `sender` (its reader asked who sent it):
 * that sender's oldest segment, since one socket's datagrams arrive in the
 * order it sent them. It is looked for among the two oldest segments: a
 * read of the only followed sender's takes the oldest, and of one of two
 * senders' one of the two. Found in neither, it is counted when the oldest
 * segment's sender is still unknown (a socket's first sendto); otherwise
 * the datagram was sent by someone not followed: for no one (0), and the
 * channel stays as it was.
 */
static __always_inline int take_sender_datagram(struct channel *channel, const struct channel_key *key, u64 sock,
						u32 sender, struct taken_segments *into)
{
	struct channel_segment *oldest = &channel->segments[channel->first & (CHANNEL_SEGMENTS - 1)];
	struct channel_segment *next = &channel->segments[(channel->first + 1) & (CHANNEL_SEGMENTS - 1)];
	u32 held = held_segments(channel);
	if (!held || oldest->sender != sender) {
		if (held < 2 || next->sender != sender) {
			if (held && !oldest->sender)
				return DATAGRAM_COUNTED;
			/* The socket is empty: what is not on its way was read, or dropped (a full socket). */
			if (!queued_messages(key, sock) && held > channel->in_flight)
				drop_oldest(channel, held - channel->in_flight);
			return 0;
		}
		/* The second oldest is taken: the oldest moves up into its place. */
		struct channel_segment taken = *next;
		*next = *oldest;
		*oldest = taken;
	}
	took_segment(into, 0, oldest);
	channel->first += 1;
	channel->started = 0;
	return 1;
}

/*
 * Where a receive call's datagram came from, as the kernel wrote it for the
 * caller: recvfrom's src_addr, a msghdr's msg_name (recvmmsg's first
 * message's). None when the caller did not ask, or for other reads.
 */
static __always_inline struct destination read_source(const struct syscall_spec *spec, const u64 *args)
{
	struct destination from = {};
	if (spec->source_arg) {
		from.sockaddr = spec_arg(args, spec->source_arg);
		u64 length_at = spec_arg(args, spec->source_arg + 1);
		u32 length = 0;
		if (from.sockaddr && length_at)
			bpf_probe_read_user(&length, sizeof(length), (const void *)length_at);
		from.length = length;
	} else if (spec->io_length == IO_LENGTH_MSGHDR || spec->io_length == IO_LENGTH_MMSGHDR) {
		from = message_name(args);
	}
	return from;
}

/* A struct mmsghdr as a 64-bit process passes it: a msghdr and the bytes the call moved. */
struct user_mmsghdr64 {
	struct user_msghdr64 msg_hdr;
	u32 msg_len;
	u32 _pad;
};
_Static_assert(sizeof(struct user_mmsghdr64) == 64, "struct mmsghdr layout");

/*
 * Where a write goes as its caller names it: sendto's address, a msghdr's
 * msg_name (the first message's, for sendmmsg); none for the others.
 */
static __always_inline struct destination write_destination(const struct syscall_spec *spec, const u64 *args)
{
	struct destination to = {};
	if (spec->io_length == IO_LENGTH_COUNT && spec->sockaddr_arg) {
		to.sockaddr = spec_arg(args, spec->sockaddr_arg);
		to.length = to.sockaddr ? spec_arg(args, spec->sockaddr_len_arg) : 0;
	} else if (spec->io_length == IO_LENGTH_MSGHDR || spec->io_length == IO_LENGTH_MMSGHDR) {
		to = message_name(args);
	}
	return to;
}

/*
 * sendmmsg: the first message's length is the write's, and the next ones
 * that go where it goes (the same msg_name) are segments of their own
 * (write->more), up to WRITE_MESSAGES. Returns the first's length.
 */
static __always_inline u32 mmsg_lengths(const u64 *args, struct channel_write *write)
{
	const struct user_mmsghdr64 *messages = (const struct user_mmsghdr64 *)args[1];
	u64 count = args[2];
	u32 zero = 0;
	struct mmsg_lengths *more = mmsg_heap.lookup(&zero);
	if (!more)
		count = 1;
	u64 first_name = 0;
	u32 first = 0;
#pragma nounroll
	for (int i = 0; i < WRITE_MESSAGES; i++) {
		if (i >= count)
			break;
		const struct user_msghdr64 *header = &messages[i].msg_hdr;
		u64 name = 0, iov = 0, iovlen = 0;
		if (bpf_probe_read_user(&name, sizeof(name), &header->msg_name))
			break;
		if (i == 0)
			first_name = name;
		else if (name != first_name)
			break; /* another destination: left to no one */
		bpf_probe_read_user(&iov, sizeof(iov), &header->msg_iov);
		bpf_probe_read_user(&iovlen, sizeof(iovlen), &header->msg_iovlen);
		u32 length = iovec_bytes(iov, iovlen);
		if (i == 0)
			first = length;
		else if (more) {
			more->bytes[i - 1] = length ? length : 1;
			write->more = i;
		}
	}
	return first;
}

/*
 * Fills in a write's destination, and for sendmmsg its messages' lengths
 * (its bytes: the first message's).
 */
static __always_inline void describe_write(const struct syscall_spec *spec, const u64 *args,
					   struct channel_write *write)
{
	write->to = write_destination(spec, args);
	if (spec->io_length == IO_LENGTH_MMSGHDR)
		write->bytes = mmsg_lengths(args, write);
}

/* A write's result as settle_write takes it: sendmmsg's count of messages sent, as bytes. */
static __always_inline s64 write_result(const struct syscall_spec *spec, const struct write_in_flight *flight, s64 ret)
{
	if (spec->io_length != IO_LENGTH_MMSGHDR)
		return ret;
	return ret > 0 ? flight->bytes : ret; /* (messages it did not send stay: a read drops them) */
}

/*
 * Datagrams of shared channels are told apart by their socket buffers. The
 * moment a followed write's datagram lands in its reader's socket
 * (sk_data_ready, in the writer's context) its sk_buff is noted with the
 * writer's tag; the reader finds the note as it copies the datagram out
 * (skb_copy_datagram_iovec, in its own context). A datagram without a note
 * was sent by someone not followed: it is for no one.
 */
#define DATAGRAM_NOTES 4096
struct datagram_note {
	struct task_tag tag;
	u64 sender;	  /* the sender's struct sock, the skb's owner: a note outlived by its skb finds another */
	u64 sender_inode; /* its socket's inode number: the memory of a closed sender is another's next */
};
BPF_TABLE("lru_hash", u64, struct datagram_note, datagram_tags, DATAGRAM_NOTES);

/* The notes of the datagrams a thread's receive call copied out, in order. */
struct datagram_reads {
	u32 count;
	u32 _pad;
	struct task_tag tags[CHANNEL_SEGMENTS];
};
TASK_STATE(datagrams_read, struct datagram_reads);

/* The current thread's datagram notes; made if `make`, NULL when there are none, or no room. */
static __always_inline struct datagram_reads *datagram_reads(int make)
{
#if TASK_STORAGE
	if (make)
		return datagrams_read.task_storage_get(bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return datagrams_read.task_storage_get(bpf_get_current_task_btf(), 0, 0);
#else
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct datagram_reads blank = {};
	return make ? datagrams_read.lookup_or_try_init(&tid, &blank) : datagrams_read.lookup(&tid);
#endif
}

/*
 * How far back from a receive queue's tail a writer looks for the datagram
 * it has just queued: other writers may queue theirs between its own and
 * its sk_data_ready.
 */
#define DATAGRAM_LOOKBACK 8

/*
 * The datagram the flight's writer just queued on `sock` was written for
 * `owner`. It is the newest in the receive queue whose owner is the
 * writer's socket; none found (already read, or too far back) is no note.
 */
static __always_inline void note_datagram(const struct write_in_flight *flight, const void *sock, struct task_tag owner)
{
	if (!flight || !flight->bytes || !flight->sock || flight->key.b != CHANNEL_KEY_UNIX_NAME)
		return;
	u64 head = (u64)sock + OFF_sock__sk_receive_queue;
	u64 skb = read_kernel_u64(sock, OFF_sock__sk_receive_queue + OFF_sk_buff_head__prev);
#pragma nounroll
	for (int i = 0; i < DATAGRAM_LOOKBACK; i++) {
		if (!skb || skb == head)
			return;
		if (read_kernel_u64((const void *)skb, OFF_sk_buff__sk) == flight->sock) {
			struct datagram_note note = { .tag = owner,
						      .sender = flight->sock,
						      .sender_inode = socket_inode((const void *)flight->sock) };
			datagram_tags.update(&skb, &note);
			return;
		}
		skb = read_kernel_u64((const void *)skb, OFF_sk_buff__prev);
	}
}

/*
 * Whether a note was made for a datagram of `sender`: the skb's owner now.
 * A note made as its datagram was read (the writer's hook came late) stays
 * on an skb another datagram may reuse, from a socket that may reuse the
 * sender's memory: the socket's inode tells them apart. (A sender that
 * closed has none; its skb keeps its memory from reuse.)
 */
static __always_inline int noted_sender(const struct datagram_note *note, const void *sender)
{
	if (note->sender != (u64)sender)
		return 0;
	u64 inode = socket_inode(sender);
	return !inode || inode == note->sender_inode;
}

/*
 * A datagram without a note, from `sender`: the command's, when the sender
 * is a command's named unix datagram socket (a command end, still open). Its
 * reader may copy it out before the writer's hook notes it.
 */
static __always_inline void command_datagram(const void *sender, struct task_tag *tag)
{
	if (!may_be_named_command_socket(sender))
		return;
	struct channel_key key = { .a = unix_socket_name(sender), .b = CHANNEL_KEY_UNIX_NAME };
	struct command_end *command = key.a ? command_ends.lookup(&key) : NULL;
	if (command && command->sock == (u64)sender && socket_inode(sender) == command->inode)
		tag->tag = command->tag;
}

/*
 * A thread copies a datagram out of a socket: its note (or none) joins the
 * call's. Only tasks that may read a followed datagram look: daemons, and
 * anyone while a command's datagrams wait for their first daemon.
 */
static __always_inline void copied_datagram(u64 skb)
{
	const void *sender = (const void *)read_kernel_u64((const void *)skb, OFF_sk_buff__sk);
	u16 family = 0, type = 0;
	if (sender) {
		bpf_probe_read_kernel(&family, sizeof(family), (const char *)sender + OFF_sock_common__skc_family);
		bpf_probe_read_kernel(&type, sizeof(type), (const char *)sender + OFF_sock__sk_type);
	}
	if (family != AF_UNIX || type != SOCK_DGRAM)
		return; /* a stream's bytes, or a UDP datagram: only unix datagrams are noted (note_datagram) */
	struct datagram_note *note = datagram_tags.lookup(&skb);
	struct task_tag tag = {};
	if (note && noted_sender(note, sender))
		tag = note->tag;
	else
		command_datagram(sender, &tag);
	if (note)
		datagram_tags.delete(&skb);
	/* (Every copy counts, noted or not: a call that copies several must know which ones were whose.) */
	struct datagram_reads *reads = datagram_reads(1);
	if (!reads)
		return;
	u32 slot = reads->count;
	if (slot < CHANNEL_SEGMENTS) {
		reads->tags[slot & (CHANNEL_SEGMENTS - 1)] = tag;
		reads->count = slot + 1;
	}
}

/* A receive call is over: the notes its copies found are used, or not to be. */
static __always_inline void forget_copied_datagrams(void)
{
	struct datagram_reads *reads = datagram_reads(0);
	if (reads)
		reads->count = 0;
}

/*
 * The datagrams a receive call of a named unix datagram socket took, by
 * their notes; the call's notes are used up. Returns how many it took, or
 * -1 when their tags are unknown.
 * - Datagrams of one command (or of none) are one request of that command.
 * - Datagrams of several read together (recvmmsg) are answered through one
 *   socket, to as many addresses, where no run of writes tells one answer
 *   from the next. Each answer goes to its datagram's sender, so the thread
 *   takes no tag (`by_reply`): its calls wait in its episode for the write
 *   that answers them, which names whose they were (daemon_reply). A
 *   goroutine, whose requests are followed one by one, takes them mixed.
 * - A call that copied more datagrams than can be noted took some of
 *   unknown senders: for no one.
 */
static __always_inline int take_noted_datagrams(struct channel *channel, struct taken_segments *into, u32 messages,
						int goroutine)
{
	channel->first = channel->end; /* (its segments are not counted: the notes tell) */
	struct datagram_reads *reads = datagram_reads(0);
	if (!reads)
		return 0;
	u32 count = reads->count;
	reads->count = 0;
	if (!count)
		return 0;
	if (messages > count)
		return -1;
	into->tags[0] = reads->tags[0];
	int differ = 0;
#pragma nounroll
	for (int i = 1; i < CHANNEL_SEGMENTS; i++) {
		if (i < count) {
			differ |= reads->tags[i].tag != reads->tags[0].tag ||
				  reads->tags[i].also_tag != reads->tags[0].also_tag;
			if (goroutine || !differ)
				mix_tags(&into->tags[0], &reads->tags[i]);
		}
	}
	if (goroutine || !differ)
		return 1;
#pragma nounroll
	for (int i = 1; i < CHANNEL_SEGMENTS; i++)
		if (i < count)
			into->tags[i] = reads->tags[i];
	into->by_reply = 1;
	return count;
}

/*
 * A write's message is in its reader's socket (sk_data_ready, in the
 * writer's context): it is no longer on its way, so reads of the channel
 * count it from now on, and need not wait for the write's exit.
 */
static __always_inline void message_queued(struct write_in_flight *flight)
{
	if (!flight || !flight->counted)
		return;
	struct channel *channel = channels.lookup(&flight->key);
	if (channel && channel->in_flight)
		__sync_fetch_and_add(&channel->in_flight, -1);
	flight->counted -= 1;
}

/*
 * A UDP write from a socket not bound when the write began (its first
 * sendto binds it): its first datagram is in its reader's socket now, in
 * the writer's context (sk_data_ready), and its socket has the port the
 * reader will see. Its segments, the newest on the channel (the one just
 * queued and those still on their way), are named with their sender. A
 * datagram delivered later, by the kernel's softirq thread, stays unknown.
 */
static __always_inline void name_udp_sender(struct write_in_flight *flight)
{
	if (!flight || !flight->bytes || !(flight->key.b & CHANNEL_KEY_UDP))
		return;
	struct channel *channel = channels.lookup(&flight->key);
	u32 naming = 1 + flight->counted, tid = (u32)bpf_get_current_pid_tgid();
	if (!channel || held_segments(channel) < naming || naming > CHANNEL_SEGMENTS)
		return;
	u32 oldest = channel->end - naming;
#pragma nounroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++) {
		struct channel_segment *segment = &channel->segments[(oldest + i) & (CHANNEL_SEGMENTS - 1)];
		if (i < naming && (segment->writer_tid != tid || segment->sender))
			return; /* another writer's came between, or they are named */
	}
	name_senders(channel, naming, udp_writer_sender(&flight->key, (const void *)flight->sock));
}

/*
 * A command's UDP write: its socket has a port now, the moment its first
 * datagram lands (sk_data_ready, in the writer's context), before the reader
 * can answer. The socket is remembered as the command's, so answers to it
 * are known as such (tag_channel) and queue no channel for its port.
 */
static __always_inline void remember_udp_command(const struct write_in_flight *flight, u32 tag)
{
	struct channel_key own = {};
	if (flight && flight->bytes && (flight->key.b & CHANNEL_KEY_UDP) &&
	    udp_reader_key((const void *)flight->sock, &own) && !command_ends.lookup(&own))
		remember_command_socket(&own, (const void *)flight->sock, tag);
}

/*
 * What a read or write moved, for the I/O totals: its result, but for
 * sendmmsg and recvmmsg (which return how many messages) the msg_len of
 * each, at most IO_MESSAGES of them.
 */
#define IO_MESSAGES 8
static __always_inline s64 io_bytes(const struct syscall_spec *spec, const u64 *args, s64 ret)
{
	if (spec->io_length != IO_LENGTH_MMSGHDR || ret <= 0)
		return ret;
	const struct user_mmsghdr64 *messages = (const struct user_mmsghdr64 *)args[1];
	s64 total = 0;
#pragma nounroll
	for (int i = 0; i < IO_MESSAGES; i++) {
		if (i >= ret)
			break;
		u32 length = 0;
		bpf_probe_read_user(&length, sizeof(length), &messages[i].msg_len);
		total += length;
	}
	return total;
}

#endif
