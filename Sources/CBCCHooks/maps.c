/*
 * The maps BCC creates. First, maps shared with a BCC module in another
 * process: two processes compile the two parts of the programs at once
 * (Sources/Kernel/SplitCompile.swift), and both parts must use the same
 * maps. BCC creates every map its text declares when its compile ends. The
 * process that gets there first claims a word the two share and creates
 * them; once its compile has ended it lends them, each a name with its fd,
 * over a unix socket. In the other process this replacement of libbcc's
 * bcc_create_map_xattr waits for them at its first map, and hands BCC a
 * duplicate of the lent map of each name. The parts differ in length, so
 * the first to finish goes on to load its programs while the other still
 * compiles. Without a partner the real function runs.
 *
 * Both texts declare the same maps, so a name the lender did not send is an
 * error, not a map to create: a private copy would part the two halves.
 *
 * The maps this process does create get their BTF here where BCC has none
 * to give (create_with_btf): the programs are compiled without debug info.
 */
#define _GNU_SOURCE
#include "CBCCHooks.h"

#include <bcc/libbpf.h>
#include <bpf/btf.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LENT_MAX 256
#define NAME_MAX_LENGTH 64

struct lent_map {
	char name[NAME_MAX_LENGTH];
	int fd;
};

static struct lent_map lent[LENT_MAX];
static int lent_count;
static int partner = -1; /* the socket to the other compiling process, until the maps are claimed */
static _Atomic int *claim;
static int lender = -1; /* the socket the maps come from, until they have come */
static int borrowed;	/* 1: every map is a lent one */
static int lends;	/* 1: this process creates the maps, and lends them */
static int lender_failed; /* 1: the maps were to come, and the lender failed before it sent them */

void bcc_hooks_share_maps(int socket, int *shared)
{
	for (int index = 0; index < lent_count; index++)
		close(lent[index].fd); /* (BCC holds duplicates of those it took) */
	lent_count = 0;
	partner = socket;
	claim = (_Atomic int *)shared;
	lender = -1;
	borrowed = 0;
	lends = 0;
	lender_failed = 0;
}

int bcc_hooks_lends_maps(void) { return lends; }

int bcc_hooks_lender_failed(void) { return lender_failed; }

int bcc_hooks_lend_map(int socket, const char *name, int fd)
{
	char payload[NAME_MAX_LENGTH] = {0};
	strncpy(payload, name, NAME_MAX_LENGTH - 1);
	struct iovec iov = {.iov_base = payload, .iov_len = sizeof(payload)};
	union {
		char buffer[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct msghdr message = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		message.msg_control = control.buffer;
		message.msg_controllen = sizeof(control.buffer);
		struct cmsghdr *header = CMSG_FIRSTHDR(&message);
		header->cmsg_level = SOL_SOCKET;
		header->cmsg_type = SCM_RIGHTS;
		header->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(header), &fd, sizeof(int));
	}
	return sendmsg(socket, &message, MSG_NOSIGNAL) == (ssize_t)sizeof(payload) ? 0 : -errno;
}

/* Takes the lent maps off the socket, up to the end mark (a message with no fd); -errno when the lender failed. */
static int receive_lent(void)
{
	for (;;) {
		char payload[NAME_MAX_LENGTH];
		struct iovec iov = {.iov_base = payload, .iov_len = sizeof(payload)};
		union {
			char buffer[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} control;
		struct msghdr message = {
			.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer, .msg_controllen = sizeof(control.buffer)};
		ssize_t length = recvmsg(lender, &message, MSG_CMSG_CLOEXEC | MSG_WAITALL);
		if (length != (ssize_t)sizeof(payload))
			return length < 0 ? -errno : -EPIPE;
		struct cmsghdr *header = CMSG_FIRSTHDR(&message);
		if (!header || header->cmsg_type != SCM_RIGHTS)
			return 0;
		if (lent_count == LENT_MAX)
			return -ENOSPC;
		memcpy(&lent[lent_count].fd, CMSG_DATA(header), sizeof(int));
		memcpy(lent[lent_count].name, payload, NAME_MAX_LENGTH);
		lent[lent_count].name[NAME_MAX_LENGTH - 1] = 0;
		lent_count++;
	}
}

/*
 * Creates a map of local storage (task, socket, inode storage) that comes
 * with no BTF. The kernel wants one for these (it checks that the key is a
 * 4-byte int and that the value's size is the map's), and BCC gives the
 * types it finds in the debug info, which the monitor's programs are
 * compiled without. A key of type int and a value of a struct of the right
 * size, with no members, pass those checks.
 */
static int create_with_btf(int (*create)(struct bcc_create_map_attr *, bool), struct bcc_create_map_attr *attr,
			   bool allow_rlimit)
{
	struct btf *btf = btf__new_empty();
	int key = btf ? btf__add_int(btf, "int", 4, BTF_INT_SIGNED) : -1;
	int value = key > 0 ? btf__add_struct(btf, "value", attr->value_size) : -1;
	if (value < 0 || btf__load_into_kernel(btf) != 0) {
		btf__free(btf);
		errno = EINVAL;
		return -1;
	}
	attr->btf_fd = (__u32)btf__fd(btf);
	attr->btf_key_type_id = (__u32)key;
	attr->btf_value_type_id = (__u32)value;
	int fd = create(attr, allow_rlimit);
	int saved = errno;
	btf__free(btf); /* the map holds the BTF it was made with */
	errno = saved;
	return fd;
}

int bcc_create_map_xattr(struct bcc_create_map_attr *attr, bool allow_rlimit)
{
	if (partner >= 0) {
		int unclaimed = 0;
		if (atomic_compare_exchange_strong(claim, &unclaimed, 1))
			lends = 1;
		else
			lender = partner;
		partner = -1;
	}
	if (lender >= 0) {
		int status = receive_lent();
		lender = -1;
		borrowed = 1;
		if (status < 0) {
			lender_failed = 1;
			errno = -status;
			return -1;
		}
	}
	for (int index = 0; index < lent_count; index++)
		if (attr->name && strcmp(lent[index].name, attr->name) == 0)
			return fcntl(lent[index].fd, F_DUPFD_CLOEXEC, 0);
	if (borrowed) {
		errno = ENOENT;
		return -1;
	}
	static int (*create)(struct bcc_create_map_attr *, bool);
	if (!create)
		create = (int (*)(struct bcc_create_map_attr *, bool))dlsym(RTLD_NEXT, "bcc_create_map_xattr");
	if (!create) {
		errno = ENOSYS;
		return -1;
	}
	int local_storage = attr->map_type == BPF_MAP_TYPE_TASK_STORAGE || attr->map_type == BPF_MAP_TYPE_SK_STORAGE ||
			    attr->map_type == BPF_MAP_TYPE_INODE_STORAGE;
	if (local_storage && !attr->btf_key_type_id)
		return create_with_btf(create, attr, allow_rlimit);
	return create(attr, allow_rlimit);
}
