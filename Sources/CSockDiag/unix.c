/* Unix sockets through UNIX_DIAG: see CSockDiag.h. */
#include "CSockDiag.h"
#include "sockdiag_internal.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>

/* One message being parsed. */
struct unix_parse {
	sockdiag_unix socket;
	uint32_t icon; /* the reader's icon, or 0 */
	int holds_icon;
};

static void unix_attribute(uint16_t type, const uint8_t *payload, size_t len, void *ctx)
{
	struct unix_parse *parse = ctx;
	sockdiag_unix *socket = &parse->socket;
	switch (type) {
	case UNIX_DIAG_NAME: {
		size_t n = len < sizeof socket->name ? len : sizeof socket->name;
		memcpy(socket->name, payload, n);
		socket->name_len = (uint16_t)n;
		break;
	}
	case UNIX_DIAG_PEER:
		if (len >= sizeof(uint32_t)) {
			memcpy(&socket->peer_inode, payload, sizeof(uint32_t));
			socket->has_peer = 1;
		}
		break;
	case UNIX_DIAG_SHUTDOWN:
		if (len >= 1)
			socket->shutdown = payload[0];
		break;
	case UNIX_DIAG_ICONS:
		for (size_t i = 0; parse->icon && i + sizeof(uint32_t) <= len; i += sizeof(uint32_t)) {
			uint32_t icon;
			memcpy(&icon, payload + i, sizeof icon);
			if (icon == parse->icon)
				parse->holds_icon = 1;
		}
		break;
	}
}

static int visit_unix(const struct nlmsghdr *header, const uint8_t *body, size_t len, void *ctx)
{
	const sockdiag_unix_reader *reader = ctx;
	struct unix_diag_msg message;
	if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY || len < sizeof message)
		return 0;
	memcpy(&message, body, sizeof message);
	struct unix_parse parse = { .icon = reader->icon };
	parse.socket.inode = message.udiag_ino;
	parse.socket.type = message.udiag_type;
	parse.socket.state = message.udiag_state;
	sockdiag_each_attribute(body, len, sizeof message, unix_attribute, &parse);
	return reader->each(&parse.socket, parse.holds_icon, reader->ctx) ? 1 : 0;
}

int sockdiag_unix_parse(const void *buf, size_t len, const sockdiag_unix_reader *reader)
{
	if (!reader || !reader->each)
		return -EINVAL;
	return sockdiag_walk(buf, len, visit_unix, (void *)reader);
}

static int unix_reply(const void *buf, size_t len, void *ctx)
{
	return sockdiag_unix_parse(buf, len, ctx);
}

/* What a query looks for, and where the match goes. */
struct unix_search {
	sockdiag_unix *out;
	const uint8_t *name; /* a listener's bound name, or NULL */
	size_t name_len;
	int found;
};

static int take_first(const sockdiag_unix *socket, int holds_icon, void *ctx)
{
	(void)holds_icon;
	struct unix_search *search = ctx;
	*search->out = *socket;
	search->found = 1;
	return 1;
}

int sockdiag_unix_query(uint32_t inode, sockdiag_unix *out)
{
	if (!out || inode == 0)
		return -EINVAL;
	struct unix_diag_req request = {
		.sdiag_family = AF_UNIX,
		.udiag_states = ~0U,
		.udiag_ino = inode,
		.udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_NAME,
		.udiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE },
	};
	struct unix_search search = { .out = out };
	sockdiag_unix_reader reader = { .each = take_first, .ctx = &search };
	int error = sockdiag_exchange(&request, sizeof request, 0, unix_reply, &reader);
	if (error)
		return error;
	return search.found && out->inode == inode ? 0 : -ENOENT;
}

static int take_icon_holder(const sockdiag_unix *socket, int holds_icon, void *ctx)
{
	return holds_icon ? take_first(socket, holds_icon, ctx) : 0;
}

int sockdiag_unix_listener_for(uint32_t client_inode, sockdiag_unix *out)
{
	if (!out || client_inode == 0)
		return -EINVAL;
	struct unix_diag_req request = {
		.sdiag_family = AF_UNIX,
		.udiag_states = 1U << ST_LISTEN,
		.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_ICONS,
		.udiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE },
	};
	struct unix_search search = { .out = out };
	sockdiag_unix_reader reader = { .icon = client_inode, .each = take_icon_holder, .ctx = &search };
	int error = sockdiag_exchange(&request, sizeof request, 1, unix_reply, &reader);
	if (error)
		return error;
	return search.found ? 0 : -ENOENT;
}

/* A bound path ends at its NUL (the kernel stores one); an abstract name is exact. */
static int unix_name_is(const sockdiag_unix *socket, const uint8_t *name, size_t len)
{
	size_t have = socket->name_len;
	if (have > 0 && socket->name[0] != 0)
		have = strnlen((const char *)socket->name, have);
	return have == len && memcmp(socket->name, name, len) == 0;
}

static int take_named(const sockdiag_unix *socket, int holds_icon, void *ctx)
{
	struct unix_search *search = ctx;
	return unix_name_is(socket, search->name, search->name_len) ? take_first(socket, holds_icon, ctx) : 0;
}

int sockdiag_unix_listener_named(const uint8_t *name, size_t len, sockdiag_unix *out)
{
	if (!out || !name || len == 0 || len > sizeof out->name)
		return -EINVAL;
	struct unix_diag_req request = {
		.sdiag_family = AF_UNIX,
		.udiag_states = 1U << ST_LISTEN,
		.udiag_show = UDIAG_SHOW_NAME,
		.udiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE },
	};
	struct unix_search search = { .out = out, .name = name, .name_len = len };
	sockdiag_unix_reader reader = { .each = take_named, .ctx = &search };
	int error = sockdiag_exchange(&request, sizeof request, 1, unix_reply, &reader);
	if (error)
		return error;
	return search.found && out->inode != 0 ? 0 : -ENOENT;
}
