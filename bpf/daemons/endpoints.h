/*
 * The channel behind an fd: what a writer and its reader both can name.
 * See struct channel in events.h.
 */
#ifndef BPF_DAEMONS_ENDPOINTS_H
#define BPF_DAEMONS_ENDPOINTS_H

#include "lib/common.h"
#include "lib/files.h"

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

/* channel_key.b of a pipe's channel and of a unix socket's; a TCP or UDP key's holds its family and ports. */
#define CHANNEL_KEY_PIPE 0
#define CHANNEL_KEY_UNIX 1
#define CHANNEL_KEY_EVENTFD 2

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
 * The channel that fd writes to (CHANNEL_WRITER) or reads from, as the
 * reader sees it: a unix socket's reading end, a TCP/UDP (from, to) address
 * pair, or a pipe's inode. CHANNEL_NONE for anything else.
 *
 * Sockets and inodes are freed and their memory reused, so a key can outlive
 * its channel. `end` names the writing end as both ends see it: the writer's
 * unix socket inode number (for a reader, its peer socket: writer_end gives
 * the number), or the pipe's. A read counts only when its end still matches
 * (TCP and UDP keys hold both ports: their reuse is rare).
 */
static __always_inline enum channel_kind channel_of(s64 fd, enum channel_side side, struct channel_end *found)
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
	if (family == AF_UNIX) {
		const void *peer = (const void *)read_kernel_u64(sk, OFF_unix_sock__peer);
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
	u64 own = 0, peer = 0;
	if (family == AF_INET) {
		own = read_kernel_u32(sk, OFF_sock_common__skc_rcv_saddr);
		peer = read_kernel_u32(sk, OFF_sock_common__skc_daddr);
	} else if (family == AF_INET6) {
		u64 halves[2] = {};
		bpf_probe_read_kernel(halves, sizeof(halves), (const char *)sk + OFF_sock_common__skc_v6_rcv_saddr);
		own = halves[0] ^ halves[1];
		bpf_probe_read_kernel(halves, sizeof(halves), (const char *)sk + OFF_sock_common__skc_v6_daddr);
		peer = halves[0] ^ halves[1];
	} else {
		return CHANNEL_NONE;
	}
	u64 from = writing ? own : peer, to = writing ? peer : own;
	u64 from_port = writing ? own_port : peer_port, to_port = writing ? peer_port : own_port;
	found->key.a = from ^ (to << 32) ^ (to >> 32);
	found->key.b = (u64)family << 48 | from_port << 16 | to_port;
	return CHANNEL_SOCKET;
}

/*
 * Whether fd is a wake-up's writing end: an eventfd or a pipe. Written by a
 * daemon thread, it may signal another thread of the daemon (see completions.h).
 */
static __always_inline int wakeup_kind(s64 fd)
{
	const void *file = fd_file(fd);
	const void *inode = file ? (const void *)read_kernel_u64(file, OFF_file__f_inode) : NULL;
	u16 imode = 0;
	if (inode)
		bpf_probe_read_kernel(&imode, sizeof(imode), (const char *)inode + OFF_inode__i_mode);
	return (imode & S_IFMT) == S_IFIFO || (inode && (imode & S_IFMT) == 0 && is_eventfd(file));
}

/* The inode number of the unix socket peer (a reader's writing end), or ANY_END once it closed. */
static __always_inline u64 writer_end(const void *peer)
{
	const void *writer = (const void *)read_kernel_u64(peer, OFF_sock__sk_socket);
	/* The writer closed: its socket is gone, the memory not yet reused. */
	return writer ? read_kernel_u64((const char *)writer + OFF_socket_alloc__vfs_inode, OFF_inode__i_ino) : ANY_END;
}

/* The buffers waiting in a unix socket's receive queue: for a datagram or seqpacket socket, its messages. */
static __always_inline u32 queued_buffers(u64 sock)
{
	return read_kernel_u32((const char *)sock + OFF_sock__sk_receive_queue, OFF_sk_buff_head__qlen);
}

#endif
