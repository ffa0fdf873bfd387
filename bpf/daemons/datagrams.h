/*
 * Datagram channels many write to: a named unix datagram socket, a UDP
 * port. Each datagram is a segment with its writer's tag; a read takes
 * whole datagrams, and only those it can be sure of.
 */
#ifndef BPF_DAEMONS_DATAGRAMS_H
#define BPF_DAEMONS_DATAGRAMS_H

#include "lib/common.h"
#include "daemons/channels.h"
#include "daemons/endpoints.h"
#include "syscalls/specs.h"

/*
 * A read of `messages` datagrams from a shared channel: the tags of the
 * segments it took, oldest first, and how many; -1 when they may be other
 * writers' (see took_own_messages).
 */
static __always_inline int take_datagrams(struct channel *channel, const struct channel_key *key, u64 sock,
					  u32 messages, struct taken_segments *taken)
{
	if (!took_own_messages(channel, key, sock, messages))
		return -1;
	u32 bytes = 0, left = 0;
#pragma unroll
	for (int i = 0; i < CHANNEL_SEGMENTS; i++)
		if (i < messages)
			bytes += channel->segments[(channel->first + i) & (CHANNEL_SEGMENTS - 1)].bytes;
	int count = take_segments(channel, bytes, taken, &left);
	return left ? -1 : count;
}

/* A struct mmsghdr as a 64-bit process passes it: a msghdr and the bytes the call moved. */
struct user_mmsghdr64 {
	struct user_msghdr64 msg_hdr;
	u32 msg_len;
	u32 _pad;
};
_Static_assert(sizeof(struct user_mmsghdr64) == 64, "struct mmsghdr layout");

/* The bytes of a write's iovecs (at most WRITE_IOVECS counted). */
static __always_inline u32 iovec_bytes(u64 iov, u64 count)
{
	u64 total = 0;
#pragma unroll
	for (int i = 0; i < WRITE_IOVECS; i++) {
		if (i >= count)
			break;
		u64 length = 0;
		bpf_probe_read_user(&length, sizeof(length), &((const struct user_iovec64 *)iov)[i].iov_len);
		total += length;
	}
	return capped_bytes(total);
}

/*
 * Where a write goes as its caller names it: sendto's address, a msghdr's
 * msg_name (the first message's, for sendmmsg); none for the others.
 */
static __always_inline struct destination write_destination(const struct syscall_spec *spec, const u64 *args)
{
	struct destination to = {};
	if (spec->io_length == IO_LENGTH_COUNT && spec->sockaddr_arg) {
		to.sockaddr = spec_arg(args, spec->sockaddr_arg);
		to.length = to.sockaddr ? spec_arg(args, spec->sockaddr_len_arg) : 0;
	} else if (spec->io_length == IO_LENGTH_MSGHDR || spec->io_length == IO_LENGTH_MMSGHDR) {
		const struct user_msghdr64 *message = (const struct user_msghdr64 *)args[1];
		u32 length = 0;
		bpf_probe_read_user(&to.sockaddr, sizeof(to.sockaddr), &message->msg_name);
		bpf_probe_read_user(&length, sizeof(length), &message->msg_namelen);
		to.length = to.sockaddr ? length : 0;
	}
	return to;
}

/*
 * sendmmsg: the first message's length is the write's, and the next ones
 * that go where it goes (the same msg_name) are segments of their own
 * (write->more), up to WRITE_MESSAGES. Returns the first's length.
 */
static __always_inline u32 mmsg_lengths(const u64 *args, struct channel_write *write)
{
	const struct user_mmsghdr64 *messages = (const struct user_mmsghdr64 *)args[1];
	u64 count = args[2];
	u32 zero = 0;
	struct mmsg_lengths *more = mmsg_heap.lookup(&zero);
	if (!more)
		count = 1;
	u64 first_name = 0;
	u32 first = 0;
#pragma unroll
	for (int i = 0; i < WRITE_MESSAGES; i++) {
		if (i >= count)
			break;
		const struct user_msghdr64 *header = &messages[i].msg_hdr;
		u64 name = 0, iov = 0, iovlen = 0;
		if (bpf_probe_read_user(&name, sizeof(name), &header->msg_name))
			break;
		if (i == 0)
			first_name = name;
		else if (name != first_name)
			break; /* another destination: left to no one */
		bpf_probe_read_user(&iov, sizeof(iov), &header->msg_iov);
		bpf_probe_read_user(&iovlen, sizeof(iovlen), &header->msg_iovlen);
		u32 length = iovec_bytes(iov, iovlen);
		if (i == 0)
			first = length;
		else if (more) {
			more->bytes[i - 1] = length ? length : 1;
			write->more = i;
		}
	}
	return first;
}

/*
 * Fills in a write's destination, and for sendmmsg its messages' lengths
 * (its bytes: the first message's).
 */
static __always_inline void describe_write(const struct syscall_spec *spec, const u64 *args,
					   struct channel_write *write)
{
	write->to = write_destination(spec, args);
	if (spec->io_length == IO_LENGTH_MMSGHDR)
		write->bytes = mmsg_lengths(args, write);
}

/* A write's result as settle_write takes it: sendmmsg's count of messages sent, as bytes. */
static __always_inline s64 write_result(const struct syscall_spec *spec, const struct write_in_flight *flight, s64 ret)
{
	if (spec->io_length != IO_LENGTH_MMSGHDR)
		return ret;
	return ret > 0 ? flight->bytes : ret; /* (messages it did not send stay: a read drops them) */
}

/*
 * A write's message is in its reader's socket (sk_data_ready, in the
 * writer's context): it is no longer on its way, so reads of the channel
 * count it from now on, and need not wait for the write's exit.
 */
static __always_inline void message_queued(struct write_in_flight *flight)
{
	if (!flight || !flight->counted)
		return;
	struct channel *channel = channels.lookup(&flight->key);
	if (channel && channel->in_flight)
		__sync_fetch_and_add(&channel->in_flight, -1);
	flight->counted -= 1;
}

/*
 * What a read or write moved, for the I/O totals: its result, but for
 * sendmmsg and recvmmsg (which return how many messages) the msg_len of
 * each, at most IO_MESSAGES of them.
 */
#define IO_MESSAGES 8
static __always_inline s64 io_bytes(const struct syscall_spec *spec, const u64 *args, s64 ret)
{
	if (spec->io_length != IO_LENGTH_MMSGHDR || ret <= 0)
		return ret;
	const struct user_mmsghdr64 *messages = (const struct user_mmsghdr64 *)args[1];
	s64 total = 0;
#pragma unroll
	for (int i = 0; i < IO_MESSAGES; i++) {
		if (i >= ret)
			break;
		u32 length = 0;
		bpf_probe_read_user(&length, sizeof(length), &messages[i].msg_len);
		total += length;
	}
	return total;
}

#endif
