/*
 * The channel behind an fd: what a writer and its reader both can name.
 * See struct channel in events.h.
 */
#ifndef BPF_DAEMONS_ENDPOINTS_H
#define BPF_DAEMONS_ENDPOINTS_H

#include "lib/common.h"
#include "lib/files.h"
#include "daemons/quiet.h"

/* What kind of channel an fd is an end of. */
enum channel_kind {
	CHANNEL_NONE = 0,
	CHANNEL_PIPE = 1,
	CHANNEL_SOCKET = 2,  /* unix, TCP or UDP */
	CHANNEL_EVENTFD = 3, /* a counter: a read takes every write since the last */
};

/* Which end of the channel an fd is. */
enum channel_side {
	CHANNEL_READER = 0,
	CHANNEL_WRITER = 1,
};

/*
 * channel_key.b of a pipe's channel, of a unix socket's (key.a: the reading
 * socket) and of a unix datagram socket's named by its reader's name (key.a:
 * a hash of the name). A TCP key's holds its family and ports; a UDP key's
 * its family, CHANNEL_KEY_UDP and the reader's port.
 */
#define CHANNEL_KEY_PIPE 0
#define CHANNEL_KEY_UNIX 1
#define CHANNEL_KEY_UNIX_NAME 2
#define CHANNEL_KEY_EVENTFD 3
#define CHANNEL_KEY_UDP (1ULL << 40)

/*
 * A datagram channel that any number of writers share: a named unix datagram
 * socket or a UDP port. Writers the monitor does not follow put messages in
 * it too, so each read is checked against the socket (took_own_messages).
 */
static __always_inline int shared_channel(const struct channel_key *key)
{
	return key->b == CHANNEL_KEY_UNIX_NAME || (key->b & CHANNEL_KEY_UDP);
}

/* Where a write goes as its caller names it: a user struct sockaddr and its length (0: the connected peer). */
struct destination {
	u64 sockaddr;
	u64 length;
};

/* sun_path's size in struct sockaddr_un. */
#define UNIX_PATH_MAX 108

/* unix_name_hash's scratch space: a name, too big for the BPF stack. */
struct unix_name {
	u64 words[16];
};
BPF_PERCPU_ARRAY(unix_name_heap, struct unix_name, 1);

/*
 * A hash of a unix socket name (sun_path, `length` bytes of it), as the
 * writer names it in its sockaddr (user memory) or the reader's socket holds
 * it (kernel memory): both ends get the same for the same name. A path ends
 * at its first NUL, which a caller may pass or not; an abstract name (a NUL
 * first) is exactly `length` bytes. 0: none. The name is hashed a word at a
 * time, with no branch on its bytes: the verifier then walks it once.
 */
static __always_inline u64 unix_name_hash(u64 name, u64 length, int user)
{
	u32 zero = 0;
	struct unix_name *scratch = unix_name_heap.lookup(&zero);
	if (!scratch || !name || !length)
		return 0;
	__builtin_memset(scratch, 0, sizeof(*scratch));
	u8 first = 0;
	if (user ? bpf_probe_read_user(&first, 1, (const void *)name)
		 : bpf_probe_read_kernel(&first, 1, (const void *)name))
		return 0;
	if (length > UNIX_PATH_MAX)
		length = UNIX_PATH_MAX;
	u64 hash = 0xcbf29ce484222325ULL;
	if (first) {
		/* A path: up to its NUL, or the byte after its length, where the kernel puts one. */
		u64 size = length + 1;
		barrier_var(size);
		size &= 127;
		long n = user ? bpf_probe_read_user_str(scratch->words, size, (const void *)name)
			      : bpf_probe_read_kernel_str(scratch->words, size, (const void *)name);
		if (n <= 1)
			return 0;
	} else {
		barrier_var(length);
		length &= 127;
		if (user ? bpf_probe_read_user(scratch->words, length, (const void *)name)
			 : bpf_probe_read_kernel(scratch->words, length, (const void *)name))
			return 0;
		hash ^= length; /* an abstract name's trailing NULs are part of it */
	}
#pragma nounroll
	for (int i = 0; i < 16; i++)
		hash = (hash ^ scratch->words[i]) * 0x100000001b3ULL;
	return hash ? hash : 1;
}

/* The name a unix socket is bound to, hashed (unix_name_hash); 0 when it has none. */
static __always_inline u64 unix_socket_name(const void *sk)
{
	const void *address = sk ? (const void *)read_kernel_u64(sk, OFF_unix_sock__addr) : NULL;
	if (!address)
		return 0;
	s32 length = (s32)read_kernel_u32(address, OFF_unix_address__len);
	/* name is a struct sockaddr_un: sun_path follows the 2-byte family. */
	return length > 2 ? unix_name_hash((u64)address + OFF_unix_address__name + 2, length - 2, 0) : 0;
}

/* The family of a user struct sockaddr; 0 when there is none. */
static __always_inline u16 destination_family(const struct destination *to)
{
	u16 family = 0;
	if (to && to->sockaddr && to->length >= sizeof(family))
		bpf_probe_read_user(&family, sizeof(family), (const void *)to->sockaddr);
	return family;
}

/*
 * A UDP channel's key: the reader's address and port. A reader bound to the
 * wildcard address, and a writer sending to it, name the loopback address:
 * the one both ends agree on for a local reader.
 */
static __always_inline void udp_key(struct channel_key *key, u16 family, u64 address, u16 port)
{
	if (!address)
		address = family == AF_INET ? 0x0100007f    /* 127.0.0.1, network order */
					    : (u64)1 << 56; /* ::1, its halves xor-ed */
	key->a = address;
	key->b = (u64)family << 48 | CHANNEL_KEY_UDP | port;
}

static __always_inline u32 read_user_u32(u64 address)
{
	u32 value = 0;
	bpf_probe_read_user(&value, sizeof(value), (const void *)address);
	return value;
}

/* The address and port in a user sockaddr of `family`: 1 when it holds them. */
static __always_inline int udp_address(const struct destination *at, u16 family, u64 *host, u16 *port)
{
	if (at->length < (family == AF_INET ? 8 : 24))
		return 0;
	/* sockaddr_in: the port at 2, the address at 4; sockaddr_in6: the address at 8. */
	if (bpf_probe_read_user(port, sizeof(*port), (const char *)at->sockaddr + 2))
		return 0;
	*port = (*port >> 8) | (*port << 8); /* network order */
	if (family == AF_INET) {
		*host = read_user_u32(at->sockaddr + 4);
	} else {
		u64 halves[2] = {};
		bpf_probe_read_user(halves, sizeof(halves), (const char *)at->sockaddr + 8);
		*host = halves[0] ^ halves[1];
	}
	return 1;
}

/* A writer's UDP destination from its sockaddr: 1 when there is one (a key made). */
static __always_inline int udp_destination(const struct destination *to, u16 family, struct channel_key *key)
{
	u16 port = 0;
	u64 host = 0;
	if (!udp_address(to, family, &host, &port))
		return 0;
	udp_key(key, family, host, port);
	return 1;
}

/*
 * A UDP datagram's sender, as its segment and its reader's receive call
 * (src_addr, msg_name) both name it: the sending socket's port, and its
 * address folded to 16 bits. 0: unknown. One port's datagrams from followed
 * and unfollowed senders are told apart by where they came from, not only
 * by counting what the reader's socket holds.
 */
static __always_inline u32 udp_sender(u64 host, u16 port)
{
	host ^= host >> 32;
	host ^= host >> 16;
	return (u32)port << 16 | (u16)host;
}

/*
 * A UDP writer's sender: its socket's port and address. A socket bound to
 * no address sends a local reader's datagram from the address it sends to
 * (`key`: the reader's). One not bound yet (its first sendto binds it) is
 * unknown until its datagram lands (see name_udp_sender).
 */
static __always_inline u32 udp_writer_sender(const struct channel_key *key, const void *sk)
{
	u16 port = 0, family = 0;
	bpf_probe_read_kernel(&port, sizeof(port), (const char *)sk + OFF_sock_common__skc_num);
	bpf_probe_read_kernel(&family, sizeof(family), (const char *)sk + OFF_sock_common__skc_family);
	if (!port)
		return 0;
	u64 host = 0;
	if (family == AF_INET) {
		host = read_kernel_u32(sk, OFF_sock_common__skc_rcv_saddr);
	} else {
		u64 halves[2] = {};
		bpf_probe_read_kernel(halves, sizeof(halves), (const char *)sk + OFF_sock_common__skc_v6_rcv_saddr);
		host = halves[0] ^ halves[1];
	}
	return udp_sender(host ? host : key->a, port);
}

/* The sender a UDP reader's receive call names in `from`: 0 when it names none of the key's family. */
static __always_inline u32 udp_read_sender(const struct channel_key *key, const struct destination *from)
{
	u16 family = key->b >> 48, port = 0;
	u64 host = 0;
	if (destination_family(from) != family || !udp_address(from, family, &host, &port) || !port)
		return 0;
	return udp_sender(host, port);
}

/* A reader's writing end that closed: any channel's end matches it. */
#define ANY_END ((u64)-1)

/* One end of a channel, as channel_of finds it behind an fd. */
struct channel_end {
	struct channel_key key;
	u64 inode; /* the fd's inode number */
	u64 end;   /* the writing end, as both ends name it */
	u64 file;  /* the open file's address: a connection's identity for its reader */
	u64 sock;  /* the socket's struct sock; 0 for a pipe */
};

/* Whether an IPv6 address (two words, as in memory) is an IPv4-mapped one, ::ffff:a.b.c.d. */
static __always_inline int v4_mapped(const u64 *halves)
{
	return halves[0] == 0 && (u32)halves[1] == 0xffff0000;
}

/*
 * Whether an anonymous-inode file is an eventfd. They all share one inode,
 * so only the name of the file's dentry tells.
 */
static __always_inline int is_eventfd(const void *file)
{
	static const char name[] = "[eventfd]";
	const void *dentry = (const void *)read_kernel_u64(file, OFF_file__f_path + OFF_path__dentry);
	const void *text = dentry ? (const void *)read_kernel_u64(dentry, OFF_dentry__d_name + OFF_qstr__name) : NULL;
	char found[sizeof(name)] = {};
	if (!text || bpf_probe_read_kernel(found, sizeof(found), text) != 0)
		return 0;
#pragma unroll
	for (int i = 0; i < sizeof(name); i++)
		if (found[i] != name[i])
			return 0;
	return 1;
}

/*
 * An inet socket's own and peer addresses, each folded to 64 bits, and the
 * family a key names them in: an IPv4 peer of a dual-stack socket is named
 * as its IPv4 end names it. 0 for other families.
 */
static __always_inline u16 inet_addresses(const void *sk, u16 family, u64 *own, u64 *peer)
{
	if (family == AF_INET) {
		*own = read_kernel_u32(sk, OFF_sock_common__skc_rcv_saddr);
		*peer = read_kernel_u32(sk, OFF_sock_common__skc_daddr);
		return AF_INET;
	}
	if (family != AF_INET6)
		return 0;
	u64 halves[2] = {}, peer_halves[2] = {};
	bpf_probe_read_kernel(halves, sizeof(halves), (const char *)sk + OFF_sock_common__skc_v6_rcv_saddr);
	bpf_probe_read_kernel(peer_halves, sizeof(peer_halves), (const char *)sk + OFF_sock_common__skc_v6_daddr);
	if (v4_mapped(halves) && v4_mapped(peer_halves)) {
		*own = halves[1] >> 32;
		*peer = peer_halves[1] >> 32;
		return AF_INET;
	}
	*own = halves[0] ^ halves[1];
	*peer = peer_halves[0] ^ peer_halves[1];
	return AF_INET6;
}

/*
 * A UDP socket's key as its reader: its own address and port. 0 while it
 * has no port (a socket's first sendto binds it).
 */
static __always_inline int udp_reader_key(const void *sk, struct channel_key *key)
{
	u16 family = 0, port = 0;
	bpf_probe_read_kernel(&family, sizeof(family), (const char *)sk + OFF_sock_common__skc_family);
	bpf_probe_read_kernel(&port, sizeof(port), (const char *)sk + OFF_sock_common__skc_num);
	u64 own = 0, peer = 0;
	family = inet_addresses(sk, family, &own, &peer);
	if (!family || !port)
		return 0;
	udp_key(key, family, own, port);
	return 1;
}

/*
 * The channel that fd writes to (CHANNEL_WRITER) or reads from, as the
 * reader sees it: a unix socket's reading end, a TCP (from, to) address
 * pair, or a pipe's inode. CHANNEL_NONE for anything else.
 *
 * Datagrams are named by their reader's address, which both ends know
 * without being connected: a unix datagram socket's bound name (hashed), a
 * UDP socket's address and port. A writer names it in `to` (sendto, a
 * msghdr's msg_name), or else through its connected peer. A unix datagram
 * reader without a name keeps the reading socket's key.
 *
 * Sockets and inodes are freed and their memory reused, so a key can outlive
 * its channel. `end` names the writing end as both ends see it: the writer's
 * unix socket inode number (for a reader, its peer socket: writer_end gives
 * the number), or the pipe's. A read counts only when its end still matches
 * (TCP keys hold both ports: their reuse is rare). A shared datagram channel
 * has no one writing end: its `end` is 0 on both sides.
 */
static __always_inline enum channel_kind channel_of(s64 fd, enum channel_side side, const struct destination *to,
						    struct channel_end *found)
{
	int writing = side == CHANNEL_WRITER;
	const void *file = fd_file(fd);
	if (!file)
		return CHANNEL_NONE;
	found->file = (u64)file;
	u64 inode_address = 0, private_data = 0, mode_word = 0;
	read_kernel_two(file, OFF_file__f_inode, OFF_file__private_data, &inode_address, &private_data);
	const void *inode = (const void *)inode_address;
	if (!inode)
		return CHANNEL_NONE;
	read_kernel_two(inode, OFF_inode__i_mode, OFF_inode__i_ino, &mode_word, &found->inode);
	u16 imode = (u16)mode_word;
	found->end = 0;
	if ((imode & S_IFMT) == S_IFIFO) {
		found->key.a = (u64)inode;
		found->key.b = CHANNEL_KEY_PIPE;
		found->end = found->inode;
		return CHANNEL_PIPE;
	}
	if ((imode & S_IFMT) == 0 && is_eventfd(file)) {
		found->key.a = private_data; /* its struct eventfd_ctx */
		found->key.b = CHANNEL_KEY_EVENTFD;
		return CHANNEL_EVENTFD;
	}
	if ((imode & S_IFMT) != S_IFSOCK)
		return CHANNEL_NONE;
	const void *socket = (const void *)private_data;
	const void *sk = socket ? (const void *)read_kernel_u64(socket, OFF_socket__sk) : NULL;
	if (!sk)
		return CHANNEL_NONE;
	found->sock = (u64)sk;
	u16 family = 0;
	bpf_probe_read_kernel(&family, sizeof(family), (const char *)sk + OFF_sock_common__skc_family);
	u16 type = 0;
	bpf_probe_read_kernel(&type, sizeof(type), (const char *)sk + OFF_sock__sk_type);
	if (family == AF_UNIX) {
		const void *peer = (const void *)read_kernel_u64(sk, OFF_unix_sock__peer);
		if (type == SOCK_DGRAM) {
			/* The reader's name: the writer's destination, its connected peer's, or its own. */
			u64 name = 0;
			if (writing && destination_family(to) == AF_UNIX)
				name = unix_name_hash(to->sockaddr + 2, to->length - 2, 1);
			else
				name = unix_socket_name(writing ? peer : sk);
			if (name) {
				found->key.a = name;
				found->key.b = CHANNEL_KEY_UNIX_NAME;
				return CHANNEL_SOCKET;
			}
			if (!writing) {
				/* An unnamed reader: its own socket, whatever writes to it. */
				found->key.a = (u64)sk;
				found->key.b = CHANNEL_KEY_UNIX;
				found->end = (u64)peer;
				return CHANNEL_SOCKET;
			}
		}
		if (!peer)
			return CHANNEL_NONE;
		found->key.a = writing ? (u64)peer : (u64)sk;
		found->key.b = CHANNEL_KEY_UNIX;
		/* The writer's socket inode number: never reused, unlike the memory of a socket pair. */
		if (writing)
			found->end = found->inode;
		else
			found->end = (u64)peer; /* its inode number only matters for a known channel: see writer_end */
		return CHANNEL_SOCKET;
	}
	u16 peer_port = 0;
	u16 own_port = 0;
	bpf_probe_read_kernel(&peer_port, sizeof(peer_port), (const char *)sk + OFF_sock_common__skc_dport);
	bpf_probe_read_kernel(&own_port, sizeof(own_port), (const char *)sk + OFF_sock_common__skc_num);
	peer_port = (peer_port >> 8) | (peer_port << 8); /* network order */
	if (type == SOCK_DGRAM && writing && destination_family(to) == family &&
	    (family == AF_INET || family == AF_INET6) && udp_destination(to, family, &found->key))
		return CHANNEL_SOCKET;
	u64 own = 0, peer = 0;
	family = inet_addresses(sk, family, &own, &peer);
	if (!family)
		return CHANNEL_NONE;
	if (type == SOCK_DGRAM) {
		/* A connected writer sends to its peer; a reader is named by its own address. */
		udp_key(&found->key, family, writing ? peer : own, writing ? peer_port : own_port);
		return CHANNEL_SOCKET;
	}
	u64 from = writing ? own : peer, towards = writing ? peer : own;
	u64 from_port = writing ? own_port : peer_port, to_port = writing ? peer_port : own_port;
	found->key.a = from ^ (towards << 32) ^ (towards >> 32);
	found->key.b = (u64)family << 48 | from_port << 16 | to_port;
	return CHANNEL_SOCKET;
}

/*
 * The channel a daemon thread's write goes to, looked up once as the write
 * starts and handed down the programs that follow it. Only good for a write
 * that names no destination: a datagram's `to` may name another channel.
 */
struct written_channel {
	struct channel_end end;
	u32 kind; /* enum channel_kind */
	u32 _pad;
};

/* A write that may name its destination (sendto, sendmsg, sendmmsg): its channel depends on it. */
static __always_inline int names_destination(const struct syscall_spec *spec)
{
	return (spec->io_length == IO_LENGTH_COUNT && spec->sockaddr_arg) || spec->io_length == IO_LENGTH_MSGHDR ||
	       spec->io_length == IO_LENGTH_MMSGHDR;
}

/* The inode number of a struct sock's socket; 0 once it closed (the memory not yet reused). */
static __always_inline u64 socket_inode(const void *sk)
{
	const void *socket = (const void *)read_kernel_u64(sk, OFF_sock__sk_socket);
	return socket ? read_kernel_u64((const char *)socket + OFF_socket_alloc__vfs_inode, OFF_inode__i_ino) : 0;
}

/* The inode number of the unix socket peer (a reader's writing end), or ANY_END once it closed. */
static __always_inline u64 writer_end(const void *peer)
{
	u64 inode = socket_inode(peer);
	return inode ? inode : ANY_END;
}

/* The buffers waiting in a unix socket's receive queue: for a datagram or seqpacket socket, its messages. */
static __always_inline u32 queued_buffers(u64 sock)
{
	return read_kernel_u32((const char *)sock + OFF_sock__sk_receive_queue, OFF_sk_buff_head__qlen);
}

/* The messages waiting in a datagram socket: a UDP socket moves them to its reader queue in batches. */
static __always_inline u32 queued_messages(const struct channel_key *key, u64 sock)
{
	u32 queued = queued_buffers(sock);
	if (key->b & CHANNEL_KEY_UDP)
		queued += read_kernel_u32((const char *)sock + OFF_udp_sock__reader_queue, OFF_sk_buff_head__qlen);
	return queued;
}

/* Forgets the channel's `n` oldest segments. */
static __always_inline void drop_oldest(struct channel *channel, u32 n)
{
	u32 held = held_segments(channel);
	if (n > held)
		n = held;
	channel->first += n;
	if (n)
		channel->started = 0;
	channel_emptied(channel, 0);
}

/*
 * Whether the read that just took `taken` messages from a shared datagram
 * channel's socket took the channel's oldest ones; 0 when it took others',
 * or when that cannot be known. Writers the monitor does not follow add
 * messages at any time, so a read is known to be the channel's only when
 * the socket held the channel's messages and no others: `left` (what it
 * holds now) plus `taken` is the channel's segment count, no write to the
 * channel is between its entry and exit, and one thread reads. A read that
 * cannot be known puts the channel out of step (unsynced) until the socket
 * is empty: it may have taken one of the channel's messages. Segments beyond
 * what the socket can hold are for messages it never will (a reader that
 * restarted, a write that failed): the oldest go.
 */
static __always_inline int took_own_messages(struct channel *channel, const struct channel_key *key, u64 sock,
					     u32 taken)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	int one_reader = !channel->reader_tid || channel->reader_tid == tid;
	channel->reader_tid = tid;
	u32 left = queued_messages(key, sock);
	int quiet = !channel->in_flight;
	if (quiet && one_reader && held_segments(channel) > left + taken)
		drop_oldest(channel, held_segments(channel) - (left + taken));
	int took = quiet && one_reader && !channel->unsynced && taken && held_segments(channel) == left + taken &&
		   !channel->in_flight;
	if (!took)
		channel->unsynced = 1;
	if (!left) {
		/* The socket is empty: all but the messages still on their way were read. */
		if (!took && held_segments(channel) > channel->in_flight)
			drop_oldest(channel, held_segments(channel) - channel->in_flight);
		channel->unsynced = 0;
		channel->reader_tid = 0;
	}
	return took;
}

#endif
