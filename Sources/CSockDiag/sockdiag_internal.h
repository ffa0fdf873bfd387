#ifndef SOCKDIAG_INTERNAL_H
#define SOCKDIAG_INTERNAL_H
/* Shared by the CSockDiag sources; not part of the module's interface. */
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

/* TCP states, as include/net/tcp_states.h numbers them. */
enum { ST_ESTABLISHED = 1, ST_SYN_RECV = 3, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LISTEN = 10, ST_NEW_SYN_RECV = 12 };

/* Called for each reply message of our request that is neither DONE nor
 * ERROR, with a copy of its header and its body (nlmsg_len - NLMSG_HDRLEN
 * bytes, all inside the datagram). Returns 0 to go on, 1 to stop (found),
 * or a negative errno. */
typedef int (*visit_fn)(const struct nlmsghdr *header, const uint8_t *body, size_t len, void *ctx);

/* Walks the messages of one reply datagram (see the parsers in CSockDiag.h
 * for what it returns): every header is checked against what is left of
 * the datagram before its body is read. */
int sockdiag_walk(const void *buf, size_t len, visit_fn visit, void *ctx);

/* Parses one reply datagram: 0 when the reply is complete, SOCKDIAG_MORE,
 * or a negative errno. sockdiag_unix_parse and sockdiag_inet_parse, behind
 * a small adapter each. */
typedef int (*reply_fn)(const void *buf, size_t len, void *ctx);

/* Sends one SOCK_DIAG_BY_FAMILY request (body: a unix_diag_req or an
 * inet_diag_req_v2) and feeds each reply datagram to parse. A dump
 * (dump != 0) runs until parse says the reply is complete; an exact request
 * has one reply datagram. Returns 0 or a negative errno (from the socket or
 * from parse). */
int sockdiag_exchange(const void *body, size_t body_len, int dump, reply_fn parse, void *ctx);

/* Walks the attributes that follow a fixed header of header_len bytes in a
 * message body of len bytes. Calls each(type, payload, payload_len, ctx)
 * for every well-formed one and stops at the first that does not fit. */
typedef void (*attr_fn)(uint16_t type, const uint8_t *payload, size_t len, void *ctx);
void sockdiag_each_attribute(const uint8_t *body, size_t len, size_t header_len, attr_fn each, void *ctx);

#endif
