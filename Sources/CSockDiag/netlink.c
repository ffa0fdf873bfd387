/*
 * The netlink exchange shared by unix.c and inet.c. Replies are parsed with
 * explicit bounds checks on every header and attribute, so a short or
 * malformed reply is skipped, never read past.
 */
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

/* See sockdiag_internal.h. Closing the socket abandons the rest of a dump. */
int sockdiag_exchange(const void *body, size_t body_len, int dump, visit_fn visit, void *ctx)
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
	request.nlh.nlmsg_seq = 1;
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
		int left = (int)got;
		int seen = 0;
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)buffer; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != request.nlh.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				result = 0;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
					result = -EBADMSG;
				} else {
					const struct nlmsgerr *error = NLMSG_DATA(h);
					result = error->error; /* already negative; 0 is an ack */
				}
				goto out;
			}
			seen = 1;
			int verdict = visit(h, ctx);
			if (verdict != 0) {
				result = verdict > 0 ? 0 : verdict;
				goto out;
			}
		}
		if (!dump && seen) {
			result = 0;
			goto out;
		}
	}
out:
	free(buffer);
	close(fd);
	return result;
}

void sockdiag_each_attribute(const struct nlmsghdr *h, size_t header_len, attr_fn each, void *ctx)
{
	size_t start = NLMSG_HDRLEN + NLMSG_ALIGN(header_len);
	if (h->nlmsg_len <= start)
		return;
	const uint8_t *p = (const uint8_t *)h + start;
	size_t left = h->nlmsg_len - start;
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

