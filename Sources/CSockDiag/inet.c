/* TCP and UDP sockets through inet_diag: see CSockDiag.h. */
#include "CSockDiag.h"
#include "sockdiag_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* One message being parsed. */
struct inet_parse {
	sockdiag_inet socket;
	int v6only;
};

static void inet_attribute(uint16_t type, const uint8_t *payload, size_t len, void *ctx)
{
	struct inet_parse *parse = ctx;
	if (type == INET_DIAG_SKV6ONLY && len >= 1)
		parse->v6only = payload[0] != 0;
}

static int visit_inet(const struct nlmsghdr *header, const uint8_t *body, size_t len, void *ctx)
{
	const sockdiag_inet_reader *reader = ctx;
	struct inet_diag_msg message;
	if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY || len < sizeof message)
		return 0;
	memcpy(&message, body, sizeof message);
	if (message.idiag_family != AF_INET && message.idiag_family != AF_INET6)
		return 0;
	struct inet_parse parse = { 0 };
	sockdiag_inet *e = &parse.socket;
	e->inode = message.idiag_inode;
	e->family = message.idiag_family;
	e->protocol = reader->protocol;
	e->state = message.idiag_state;
	e->local_port = ntohs(message.id.idiag_sport);
	e->remote_port = ntohs(message.id.idiag_dport);
	size_t size = e->family == AF_INET ? 4 : 16;
	memcpy(e->local_addr, message.id.idiag_src, size);
	memcpy(e->remote_addr, message.id.idiag_dst, size);
	sockdiag_each_attribute(body, len, sizeof message, inet_attribute, &parse);
	return reader->each(&parse.socket, parse.v6only, reader->ctx) ? 1 : 0;
}

int sockdiag_inet_parse(const void *buf, size_t len, const sockdiag_inet_reader *reader)
{
	if (!reader || !reader->each)
		return -EINVAL;
	return sockdiag_walk(buf, len, visit_inet, (void *)reader);
}

static int inet_reply(const void *buf, size_t len, void *ctx)
{
	return sockdiag_inet_parse(buf, len, ctx);
}

typedef int (*inet_fn)(const sockdiag_inet *socket, int v6only, void *ctx);

/* Dumps one family's table of one protocol, of sockets on local port
 * sport (0: all), into each. */
static int inet_dump(uint8_t family, uint8_t protocol, uint16_t sport, inet_fn each, void *ctx)
{
	struct inet_diag_req_v2 request = {
		.sdiag_family = family,
		.sdiag_protocol = protocol,
		.idiag_states = ~0U,
		.id = { .idiag_sport = htons(sport), .idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } },
	};
	sockdiag_inet_reader reader = { .protocol = protocol, .each = each, .ctx = ctx };
	return sockdiag_exchange(&request, sizeof request, 1, inet_reply, &reader);
}

struct inet_find {
	uint32_t inode;
	sockdiag_inet found;
	int have;
};

static int each_inet_find(const sockdiag_inet *socket, int v6only, void *ctx)
{
	(void)v6only;
	struct inet_find *find = ctx;
	if (socket->inode != find->inode)
		return 0;
	find->found = *socket;
	find->have = 1;
	return 1;
}

int sockdiag_inet_query(uint32_t inode, uint8_t protocol, sockdiag_inet *out)
{
	if (!out || inode == 0)
		return -EINVAL;
	static const uint8_t both[] = { IPPROTO_TCP, IPPROTO_UDP };
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	int first_error = 0;
	for (size_t p = 0; p < sizeof both; p++) {
		if (protocol && protocol != both[p])
			continue;
		for (size_t f = 0; f < sizeof families; f++) {
			struct inet_find find = { .inode = inode };
			int error = inet_dump(families[f], both[p], 0, each_inet_find, &find);
			if (find.have) {
				*out = find.found;
				return 0;
			}
			if (error && !first_error)
				first_error = error;
		}
	}
	return first_error ? first_error : -ENOENT;
}

/* An address as 16 bytes, IPv4 as IPv4-mapped IPv6, so both families compare. */
static void normalized(uint8_t family, const uint8_t *addr, uint8_t out[16])
{
	if (family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, addr, 4);
	} else {
		memcpy(out, addr, 16);
	}
}

static int is_mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, prefix, 12) == 0;
}

static int is_zero(const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return 0;
	return 1;
}

/* Loopback, or assigned to one of this host's interfaces. */
static int is_local_address(const uint8_t a[16])
{
	static const uint8_t loopback6[16] = { [15] = 1 };
	if (memcmp(a, loopback6, 16) == 0 || (is_mapped(a) && a[12] == 127))
		return 1;
	struct ifaddrs *list;
	if (getifaddrs(&list) != 0)
		return 0;
	int local = 0;
	for (struct ifaddrs *i = list; i && !local; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		uint8_t mine[16];
		if (i->ifa_addr->sa_family == AF_INET)
			normalized(AF_INET, (const uint8_t *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr, mine);
		else if (i->ifa_addr->sa_family == AF_INET6)
			normalized(AF_INET6, (const uint8_t *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, mine);
		else
			continue;
		local = memcmp(mine, a, 16) == 0;
	}
	freeifaddrs(list);
	return local;
}

struct inet_peer_search {
	const sockdiag_inet *sock;
	uint8_t sock_local[16], sock_remote[16]; /* normalized */
	uint8_t protocol;
	sockdiag_inet exact;
	int have_exact;
	sockdiag_inet listener;
	int listener_score; /* 0 none; 3 bound to the address; 2 same-family wildcard; 1 IPv6 wildcard for IPv4 */
};

static int each_inet_peer(const sockdiag_inet *c, int v6only, void *ctx)
{
	struct inet_peer_search *search = ctx;
	if (c->local_port != search->sock->remote_port)
		return 0; /* the kernel filters on it; this makes sure */
	uint8_t local[16], remote[16];
	normalized(c->family, c->local_addr, local);
	normalized(c->family, c->remote_addr, remote);
	int self = c->inode != 0 && c->inode == search->sock->inode && c->family == search->sock->family;
	if (!self && c->remote_port == search->sock->local_port && c->remote_port != 0 &&
	    memcmp(local, search->sock_remote, 16) == 0 && memcmp(remote, search->sock_local, 16) == 0) {
		/* Prefer an entry that has a file over a lingering one. */
		if (!search->have_exact || (search->exact.inode == 0 && c->inode != 0)) {
			search->exact = *c;
			search->have_exact = 1;
		}
		return 0;
	}
	int listening = search->protocol == IPPROTO_TCP ? c->state == ST_LISTEN : c->remote_port == 0;
	if (!listening || c->inode == 0)
		return 0;
	int score = 0;
	if (memcmp(local, search->sock_remote, 16) == 0)
		score = 3;
	else if (c->family == AF_INET && is_zero(c->local_addr, 4) && is_mapped(search->sock_remote))
		score = 2;
	else if (c->family == AF_INET6 && is_zero(c->local_addr, 16))
		score = !is_mapped(search->sock_remote) ? 2 : (v6only ? 0 : 1);
	if (score > search->listener_score) {
		search->listener = *c;
		search->listener_score = score;
	}
	return 0;
}

int sockdiag_inet_peer(const sockdiag_inet *sock, sockdiag_inet *peer, int *kind)
{
	if (!sock || !peer || !kind)
		return -EINVAL;
	*kind = SOCKDIAG_PEER_NONE;
	memset(peer, 0, sizeof *peer);
	if (sock->remote_port == 0 || (sock->protocol == IPPROTO_TCP && sock->state == ST_LISTEN))
		return 0;
	struct inet_peer_search search = { .sock = sock, .protocol = sock->protocol };
	normalized(sock->family, sock->local_addr, search.sock_local);
	normalized(sock->family, sock->remote_addr, search.sock_remote);
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	for (size_t f = 0; f < sizeof families; f++) {
		/* An IPv4-only peer cannot hold an IPv6 address. */
		if (families[f] == AF_INET && !is_mapped(search.sock_remote))
			continue;
		int error = inet_dump(families[f], sock->protocol, sock->remote_port, each_inet_peer, &search);
		if (error)
			return error;
	}
	if (search.have_exact && search.exact.inode != 0) {
		*peer = search.exact;
		*kind = SOCKDIAG_PEER_CONNECTED;
		return 0;
	}
	if (sock->protocol == IPPROTO_TCP) {
		/* The other end exists but has no file: in the accept queue (it is
		 * then still open), or closed and lingering (then there is no peer). */
		uint8_t s = search.exact.state;
		int queued = s == ST_ESTABLISHED || s == ST_SYN_RECV || s == ST_NEW_SYN_RECV || s == ST_CLOSE_WAIT;
		if (search.have_exact && queued && search.listener_score > 0) {
			*peer = search.listener;
			*kind = SOCKDIAG_PEER_LISTENER;
		}
		return 0;
	}
	/* UDP: the socket that receives what sock sends. A wildcard bind only
	 * counts when the address sock sends to is this host's. */
	if (search.listener_score == 3 || (search.listener_score > 0 && is_local_address(search.sock_remote))) {
		*peer = search.listener;
		*kind = SOCKDIAG_PEER_LISTENER;
	}
	return 0;
}

int sockdiag_inet_format(const sockdiag_inet *sock, int remote, char *buf, size_t len)
{
	if (!sock || !buf)
		return -EINVAL;
	char text[INET6_ADDRSTRLEN];
	const uint8_t *addr = remote ? sock->remote_addr : sock->local_addr;
	if (!inet_ntop(sock->family == AF_INET ? AF_INET : AF_INET6, addr, text, sizeof text))
		return -errno;
	unsigned port = remote ? sock->remote_port : sock->local_port;
	int n = sock->family == AF_INET ? snprintf(buf, len, "%s:%u", text, port) : snprintf(buf, len, "[%s]:%u", text, port);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}


struct inet_listener_search {
	uint8_t target[16]; /* normalized */
	uint16_t port;
	sockdiag_inet best;
	int best_score; /* 2: bound to the address itself, 1: to the wildcard */
};

static int each_inet_listener(const sockdiag_inet *c, int v6only, void *ctx)
{
	(void)v6only;
	struct inet_listener_search *search = ctx;
	if (c->state != ST_LISTEN || c->local_port != search->port || c->inode == 0)
		return 0;
	uint8_t local[16];
	normalized(c->family, c->local_addr, local);
	int score = memcmp(local, search->target, 16) == 0 ? 2 : is_zero(c->local_addr, c->family == AF_INET ? 4 : 16) ? 1 : 0;
	if (score > search->best_score) {
		search->best = *c;
		search->best_score = score;
	}
	return 0;
}

int sockdiag_inet_listener_at(uint8_t family, const uint8_t *address, uint16_t port, sockdiag_inet *out)
{
	if (!out || !address || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	struct inet_listener_search search = { .port = port };
	normalized(family, address, search.target);
	static const uint8_t families[] = { AF_INET, AF_INET6 };
	for (size_t f = 0; f < sizeof families; f++) {
		int error = inet_dump(families[f], IPPROTO_TCP, port, each_inet_listener, &search);
		if (error)
			return error;
	}
	if (search.best_score == 0)
		return -ENOENT;
	*out = search.best;
	return 0;
}
