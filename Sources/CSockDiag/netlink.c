/*
 * The netlink exchange shared by unix.c and inet.c, and the walk over a
 * reply datagram that their parsers share. The walk is a pure function of
 * the bytes, apart from the I/O, so that tests and the fuzzer reach it.
 * Every header and attribute is checked against what is left before it is
 * read, so a short or malformed reply is refused or skipped, never read past.
 */
#include "CSockDiag.h"
#include "sockdiag_internal.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Big enough for any netlink dump skb: the kernel caps them at 32 KiB. */
#define RECV_BUFFER (64 * 1024)

/* The largest errno (include/linux/err.h's MAX_ERRNO): an error field
 * outside -MAX_ERRNO..-1 is no errno. */
#define MAX_ERRNO 4095

static int errno_field(const uint8_t *body, size_t len)
{
	int value;
	if (len < sizeof value)
		return 0;
	memcpy(&value, body, sizeof value);
	return value;
}

static int is_errno(int value)
{
	return value < 0 && value >= -MAX_ERRNO;
}

/* One message of our request: DONE ends a dump (its body holds the dump's
 * own status, negative when it failed), ERROR carries a negative errno or
 * 0 for an ack, and anything else goes to visit. */
static int message(const struct nlmsghdr *header, const uint8_t *body, size_t len, visit_fn visit, void *ctx)
{
	switch (header->nlmsg_type) {
	case NLMSG_DONE: {
		int status = errno_field(body, len);
		return is_errno(status) ? status : 0;
	}
	case NLMSG_ERROR: {
		if (len < sizeof(struct nlmsgerr))
			return -EBADMSG;
		int error = errno_field(body, len);
		return error == 0 || is_errno(error) ? error : -EBADMSG;
	}
	default: {
		int verdict = visit(header, body, len, ctx);
		if (verdict == 0)
			return SOCKDIAG_MORE;
		return verdict > 0 ? 0 : verdict;
	}
	}
}

/* See sockdiag_internal.h. A header that claims less than itself or more
 * than is left makes the rest of the datagram unreadable: -EBADMSG. */
int sockdiag_walk(const void *buf, size_t len, visit_fn visit, void *ctx)
{
	const uint8_t *p = buf;
	size_t left = buf ? len : 0;
	while (left > 0) {
		struct nlmsghdr header;
		if (left < sizeof header)
			return -EBADMSG;
		memcpy(&header, p, sizeof header);
		if (header.nlmsg_len < NLMSG_HDRLEN || header.nlmsg_len > left)
			return -EBADMSG;
		if (header.nlmsg_seq == SOCKDIAG_SEQ) {
			int status = message(&header, p + NLMSG_HDRLEN, header.nlmsg_len - NLMSG_HDRLEN, visit, ctx);
			if (status != SOCKDIAG_MORE)
				return status;
		}
		size_t step = NLMSG_ALIGN((size_t)header.nlmsg_len);
		if (step >= left)
			break;
		p += step;
		left -= step;
	}
	return SOCKDIAG_MORE;
}

/* See sockdiag_internal.h. Closing the socket abandons the rest of a dump. */
int sockdiag_exchange(const void *body, size_t body_len, int dump, reply_fn parse, void *ctx)
{
	struct {
		struct nlmsghdr nlh;
		uint8_t body[128];
	} request;
	if (body_len > sizeof request.body)
		return -EINVAL;
	memset(&request, 0, sizeof request);
	request.nlh.nlmsg_len = NLMSG_LENGTH(body_len);
	request.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	request.nlh.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
	request.nlh.nlmsg_seq = SOCKDIAG_SEQ;
	memcpy(NLMSG_DATA(&request.nlh), body, body_len);

	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	/* The kernel always answers; the timeout only guards the caller's loop. */
	struct timeval timeout = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	uint8_t *buffer = malloc(RECV_BUFFER);
	if (!buffer) {
		close(fd);
		return -ENOMEM;
	}
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int result;
	ssize_t sent;
	do
		sent = sendto(fd, &request, request.nlh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
	while (sent < 0 && errno == EINTR);
	if (sent < 0) {
		result = -errno;
		goto out;
	}

	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = buffer, .iov_len = RECV_BUFFER };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t got = recvmsg(fd, &msg, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			result = -errno;
			goto out;
		}
		if (msg.msg_flags & MSG_TRUNC) {
			result = -EMSGSIZE;
			goto out;
		}
		if (got == 0 || msg.msg_namelen != sizeof from || from.nl_pid != 0) {
			result = -EIO;
			goto out;
		}
		result = parse(buffer, (size_t)got, ctx);
		if (result != SOCKDIAG_MORE)
			goto out;
		/* An exact request has one reply datagram: nothing more will come. */
		if (!dump) {
			result = 0;
			goto out;
		}
	}
out:
	free(buffer);
	close(fd);
	return result;
}

void sockdiag_each_attribute(const uint8_t *body, size_t len, size_t header_len, attr_fn each, void *ctx)
{
	size_t start = NLMSG_ALIGN(header_len);
	if (len <= start)
		return;
	const uint8_t *p = body + start;
	size_t left = len - start;
	while (left >= NLA_HDRLEN) {
		struct nlattr attribute;
		memcpy(&attribute, p, sizeof attribute);
		if (attribute.nla_len < NLA_HDRLEN || attribute.nla_len > left)
			return;
		each(attribute.nla_type & NLA_TYPE_MASK, p + NLA_HDRLEN, attribute.nla_len - NLA_HDRLEN, ctx);
		size_t step = NLA_ALIGN(attribute.nla_len);
		if (step >= left)
			return;
		p += step;
		left -= step;
	}
}
