#ifndef CSOCKDIAG_H
#define CSOCKDIAG_H
/*
 * A small NETLINK_SOCK_DIAG client: what `ss` asks the kernel, so that the
 * monitor can name the other end of a socket by its inode, also for sockets
 * opened before it started. It never uses SO_PEERCRED / sk_peer_pid: those
 * name the socket's creator, which is wrong for inherited or socket-activated
 * sockets. Mapping a socket inode to its processes is done from /proc.
 *
 * Every query opens its own netlink socket and closes it before returning,
 * so calls are independent and thread-safe. Functions return 0 on
 * success and a negative errno on failure; -ENOENT means "no such socket".
 * Socket inode numbers are 32-bit in the kernel's diag interfaces.
 */
#include <stddef.h>
#include <stdint.h>

/* A unix socket as UNIX_DIAG reports it. */
typedef struct sockdiag_unix {
	uint32_t inode;
	/* Valid when has_peer. 0 means the peer has no file (yet or any more):
	 * a connection not accepted yet, or a peer that was closed. */
	uint32_t peer_inode;
	uint8_t has_peer;  /* UNIX_DIAG_PEER was present: the socket is connected */
	uint8_t type;      /* SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET */
	uint8_t state;     /* TCP_ESTABLISHED (1), TCP_CLOSE (7), TCP_LISTEN (10) */
	uint8_t shutdown;  /* 1: no more receives, 2: no more sends; 3 after the peer closed */
	uint16_t name_len; /* bytes in name; 0 when the socket is not bound */
	uint8_t pad[2];
	/* sun_path as bound: a path, or a NUL and then an abstract name. Not
	 * NUL-terminated; may hold NULs. */
	uint8_t name[108];
} sockdiag_unix;

/* One unix socket by inode (SOCK_DIAG_BY_FAMILY, exact lookup). */
int sockdiag_unix_query(uint32_t inode, sockdiag_unix *out);

/* The listening unix socket that holds client_inode's connection in its
 * accept queue (a dump of listeners with UDIAG_SHOW_ICONS). -ENOENT if none. */
int sockdiag_unix_listener_for(uint32_t client_inode, sockdiag_unix *out);

/*
 * The unix stream or seqpacket socket listening under `name` (a path, or a
 * NUL and an abstract name): who serves a connection that is already gone.
 */
int sockdiag_unix_listener_named(const uint8_t *name, size_t len, sockdiag_unix *out);

/* A TCP or UDP socket as inet_diag reports it. */
typedef struct sockdiag_inet {
	/* 0 when the socket has no file: still in a listener's accept queue, or
	 * closed and lingering (FIN_WAIT2, TIME_WAIT ...). */
	uint32_t inode;
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t state;    /* TCP_* numbering; UDP: 1 connected, 7 not */
	uint8_t pad;
	uint16_t local_port;  /* host byte order */
	uint16_t remote_port; /* host byte order; 0 when not connected */
	/* Network byte order: 4 bytes for AF_INET, 16 for AF_INET6. */
	uint8_t local_addr[16];
	uint8_t remote_addr[16];
} sockdiag_inet;

/* One TCP or UDP socket, IPv4 or IPv6, by inode. protocol is IPPROTO_TCP or
 * IPPROTO_UDP, or 0 to try TCP and then UDP. Dumps the tables (all states)
 * and stops at the first match. */
int sockdiag_inet_query(uint32_t inode, uint8_t protocol, sockdiag_inet *out);

enum {
	SOCKDIAG_PEER_NONE = 0,      /* no local socket at the other end */
	SOCKDIAG_PEER_CONNECTED = 1, /* the other end of the connection, with its file */
	SOCKDIAG_PEER_LISTENER = 2,  /* TCP: the listener whose accept queue holds the
	                                other end; UDP: the socket that receives what
	                                sock sends (bound to its remote address) */
};

/* The local socket at the other end of sock (as returned by
 * sockdiag_inet_query): the socket with the swapped 4-tuple, in either
 * family (IPv4-mapped IPv6 addresses match their IPv4 form). *kind is one of
 * SOCKDIAG_PEER_*. Returns 0 also when there is no peer (kind NONE): a
 * remote host, a listener, an unconnected UDP socket, or a peer that closed. */
int sockdiag_inet_peer(const sockdiag_inet *sock, sockdiag_inet *peer, int *kind);

/*
 * The TCP socket listening on `address` (4 bytes for AF_INET, 16 for
 * AF_INET6, network order) and `port`, or on the wildcard address there: who
 * serves a connection that is already gone.
 */
int sockdiag_inet_listener_at(uint8_t family, const uint8_t *address, uint16_t port, sockdiag_inet *out);

/* "1.2.3.4:80" or "[::1]:80" for one side of sock (remote != 0: the remote
 * side) into buf, NUL-terminated. Returns the length, or -ENOSPC. 64 bytes
 * always suffice. */
int sockdiag_inet_format(const sockdiag_inet *sock, int remote, char *buf, size_t len);

/*
 * The reply parsers behind the queries above: pure functions of the bytes,
 * apart from the I/O, so that tests and the fuzzer can feed them any reply.
 * Each takes one datagram as recv() returned it and walks its netlink
 * messages, checking every header and attribute against what is left of the
 * datagram before reading it. Messages of other requests (another
 * nlmsg_seq) are passed over; a socket message of another type, or too short
 * for its fixed header, is skipped; an attribute that does not fit ends the
 * attributes of its message. `each` is called for every socket described.
 *
 * Returns 0 when the reply is complete (NLMSG_DONE, an ack, or `each`
 * returned nonzero), SOCKDIAG_MORE when the next datagram must be read, or
 * a negative errno: the kernel's, from NLMSG_ERROR or from the NLMSG_DONE of
 * a failed dump; -EBADMSG for a message header that claims less than itself
 * or more than is left, or an NLMSG_ERROR that is short or holds no errno.
 */
enum { SOCKDIAG_SEQ = 1 };  /* the sequence number of every request */
enum { SOCKDIAG_MORE = 1 }; /* the reply goes on in the next datagram */

typedef struct sockdiag_unix_reader {
	/* A client's inode to look for in each listener's accept queue
	 * (UNIX_DIAG_ICONS), or 0. */
	uint32_t icon;
	/* holds_icon: the socket's accept queue holds `icon`. Returns 0 to go
	 * on, nonzero to stop. */
	int (*each)(const sockdiag_unix *socket, int holds_icon, void *ctx);
	void *ctx;
} sockdiag_unix_reader;

/* UNIX_DIAG replies (unix_diag_msg and UNIX_DIAG_* attributes). */
int sockdiag_unix_parse(const void *buf, size_t len, const sockdiag_unix_reader *reader);

typedef struct sockdiag_inet_reader {
	/* IPPROTO_TCP or IPPROTO_UDP: the table that was dumped, which the
	 * reply does not name. */
	uint8_t protocol;
	/* v6only: INET_DIAG_SKV6ONLY was set. Returns 0 to go on, nonzero to
	 * stop. */
	int (*each)(const sockdiag_inet *socket, int v6only, void *ctx);
	void *ctx;
} sockdiag_inet_reader;

/* inet_diag replies (inet_diag_msg and INET_DIAG_* attributes); a message
 * of a family other than AF_INET and AF_INET6 is skipped. */
int sockdiag_inet_parse(const void *buf, size_t len, const sockdiag_inet_reader *reader);

/* The socket inodes a process holds: for each /proc/PID/fd entry that is a
 * socket, one inode and its fd. Fills at most capacity pairs and returns how
 * many there are in all (call again with more room if that is larger), or a
 * negative errno (-ENOENT: the process is gone). */
int sockdiag_process_sockets(int32_t pid, uint32_t *inodes, int32_t *fds, size_t capacity);

/* The socket inode behind /proc/PID/fd/FD, 0 if it is not a socket, or a
 * negative errno (-ENOENT: no such process or fd). */
int64_t sockdiag_fd_socket_inode(int32_t pid, int32_t fd);

/* The inode in an fd link's target, "socket:[12345]" (len bytes, no NUL
 * needed); 0 for any other target, and for a number that is not plain
 * decimal digits or does not fit 32 bits. */
uint32_t sockdiag_socket_link_inode(const char *link, size_t len);

#endif
