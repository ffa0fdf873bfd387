/* Unix sockets through UNIX_DIAG: see CSockDiag.h. */
#include "CSockDiag.h"
#include "sockdiag_internal.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>

struct unix_parse {
	sockdiag_unix *out;
	uint32_t wanted_icon; /* a pending client's inode to look for, or 0 */
	int found_icon;
	const uint8_t *wanted_name; /* a listener's bound name to look for, or NULL */
	size_t wanted_name_len;
};

static void unix_attribute(uint16_t type, const uint8_t *payload, size_t len, void *ctx)
{
	struct unix_parse *parse = ctx;
	sockdiag_unix *out = parse->out;
	switch (type) {
	case UNIX_DIAG_NAME: {
		size_t n = len < sizeof out->name ? len : sizeof out->name;
		memcpy(out->name, payload, n);
		out->name_len = (uint16_t)n;
		break;
	}
	case UNIX_DIAG_PEER:
		if (len >= sizeof(uint32_t)) {
			memcpy(&out->peer_inode, payload, sizeof(uint32_t));
			out->has_peer = 1;
		}
		break;
	case UNIX_DIAG_SHUTDOWN:
		if (len >= 1)
			out->shutdown = payload[0];
		break;
	case UNIX_DIAG_ICONS:
		for (size_t i = 0; parse->wanted_icon && i + sizeof(uint32_t) <= len; i += sizeof(uint32_t)) {
			uint32_t icon;
			memcpy(&icon, payload + i, sizeof icon);
			if (icon == parse->wanted_icon)
				parse->found_icon = 1;
		}
		break;
	}
}

static int parse_unix(const struct nlmsghdr *h, struct unix_parse *parse)
{
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
		return -EBADMSG;
	struct unix_diag_msg message;
	memcpy(&message, NLMSG_DATA(h), sizeof message);
	memset(parse->out, 0, sizeof *parse->out);
	parse->out->inode = message.udiag_ino;
	parse->out->type = message.udiag_type;
	parse->out->state = message.udiag_state;
	parse->found_icon = 0;
	sockdiag_each_attribute(h, sizeof message, unix_attribute, parse);
	return 0;
}

static int visit_unix_exact(const struct nlmsghdr *h, void *ctx)
{
	int error = parse_unix(h, ctx);
	return error ? error : 1;
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
	struct unix_parse parse = { .out = out };
	out->inode = 0;
	int error = sockdiag_exchange(&request, sizeof request, 0, visit_unix_exact, &parse);
	if (error)
		return error;
	return out->inode == inode ? 0 : -ENOENT;
}

static int visit_unix_listener(const struct nlmsghdr *h, void *ctx)
{
	struct unix_parse *parse = ctx;
	if (parse_unix(h, parse) != 0)
		return 0;
	return parse->found_icon ? 1 : 0;
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
	struct unix_parse parse = { .out = out, .wanted_icon = client_inode };
	int error = sockdiag_exchange(&request, sizeof request, 1, visit_unix_listener, &parse);
	if (error)
		return error;
	return parse.found_icon ? 0 : -ENOENT;
}


/* A bound path ends at its NUL (the kernel stores one); an abstract name is exact. */
static int unix_name_is(const sockdiag_unix *socket, const uint8_t *name, size_t len)
{
	size_t have = socket->name_len;
	if (have > 0 && socket->name[0] != 0)
		have = strnlen((const char *)socket->name, have);
	return have == len && memcmp(socket->name, name, len) == 0;
}

static int visit_unix_named(const struct nlmsghdr *h, void *ctx)
{
	struct unix_parse *parse = ctx;
	if (parse_unix(h, parse) != 0)
		return 0;
	return unix_name_is(parse->out, parse->wanted_name, parse->wanted_name_len);
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
	struct unix_parse parse = { .out = out, .wanted_name = name, .wanted_name_len = len };
	int error = sockdiag_exchange(&request, sizeof request, 1, visit_unix_named, &parse);
	if (error)
		return error;
	return out->inode != 0 && unix_name_is(out, name, len) ? 0 : -ENOENT;
}
