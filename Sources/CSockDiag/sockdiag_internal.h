#ifndef SOCKDIAG_INTERNAL_H
#define SOCKDIAG_INTERNAL_H
/* Shared by the CSockDiag sources; not part of the module's interface. */
#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

/* TCP states, as include/net/tcp_states.h numbers them. */
enum { ST_ESTABLISHED = 1, ST_SYN_RECV = 3, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LISTEN = 10, ST_NEW_SYN_RECV = 12 };

/* Called for each reply message of our request that is neither DONE nor
 * ERROR. Returns 0 to go on, 1 to stop (found), or a negative errno. */
typedef int (*visit_fn)(const struct nlmsghdr *h, void *ctx);

/* Sends one SOCK_DIAG_BY_FAMILY request (body: a unix_diag_req or an
 * inet_diag_req_v2) and feeds the replies to visit. A dump (dump != 0) runs
 * until NLMSG_DONE or until visit stops it; an exact request has one reply.
 * Returns 0, a negative errno (from the kernel's NLMSG_ERROR too), or
 * visit's error. */
int sockdiag_exchange(const void *body, size_t body_len, int dump, visit_fn visit, void *ctx);

/* Walks the attributes that follow a fixed header of header_len bytes.
 * Calls each(type, payload, payload_len, ctx) for every well-formed one and
 * stops at the first that does not fit. */
typedef void (*attr_fn)(uint16_t type, const uint8_t *payload, size_t len, void *ctx);
void sockdiag_each_attribute(const struct nlmsghdr *h, size_t header_len, attr_fn each, void *ctx);

#endif
