/*
 * gRPC streams. grpc-go sends the requests of all its callers on one
 * connection through one writer goroutine (the "loopy writer"), which
 * batches the frames of several streams into one write: dockerd's calls
 * for two docker clients reach containerd together.
 * The bytes of a write are split by stream, and the server hands each stream
 * to a new goroutine with the tag of the caller that opened it:
 *
 *   client  a caller goroutine queues its stream's headers (controlBuffer.executeAndPut):
 *           the header frame is noted with the caller's tag (grpc_headers)
 *           the writer goroutine takes them (loopyWriter.headerHandler): the
 *           stream id is known now (grpc_streams: writer goroutine, stream -> tag)
 *           the writer's write: parsed into HTTP/2 frames, queued as segments
 *           by stream tag; each new stream's tag is noted for the connection
 *           (grpc_served: channel, stream -> tag)
 *   server  a reader goroutine reads frames (grpc_readers: its connection),
 *           and takes each new stream (http2Server.operateHeaders): it works
 *           for the stream's caller while it starts the stream's handler
 *           goroutine, which takes the tag as its creator's.
 *
 * Go's register ABI: arguments in AX, BX, CX, DI, ...; the running g in R14.
 * Layouts used, unchanged in grpc-go 1.2x to 1.6x and golang.org/x/net/http2:
 * loopyWriter.side and headerFrame.streamID at 0; MetaHeadersFrame's
 * *HeadersFrame at 0, whose FrameHeader.StreamID is at 8. Uprobes on these
 * functions are attached only where the binary has their symbols
 * (Tracer.followGoroutines).
 */
#ifndef BPF_DAEMONS_GRPC_H
#define BPF_DAEMONS_GRPC_H

#include "lib/common.h"
#include "daemons/channels.h"
#include "daemons/go.h"
#include "daemons/threads.h"

#define GRPC_FRAMES 8 /* frames parsed per write; the rest go with the last run */
#define GRPC_RUNS 4   /* runs of frames for one tag, queued as segments */
/* An HTTP/2 frame header: a 24-bit length, the type, the flags, and a reserved bit and the 31-bit stream id. */
struct http2_frame_header {
	u8 length[3]; /* of the payload, big-endian */
	u8 type;
	u8 flags;
	u8 stream[4]; /* big-endian; the top bit is reserved */
};
#define HTTP2_FRAME_HEADER 9
_Static_assert(sizeof(struct http2_frame_header) == HTTP2_FRAME_HEADER, "HTTP/2 frame header layout");
#define HTTP2_STREAM_ID_MASK 0x7fffffff
#define HTTP2_DATA 0
#define HTTP2_HEADERS 1
#define HTTP2_END_STREAM 1
#define HTTP2_LAST_TYPE 9	       /* CONTINUATION */
#define HTTP2_FRAME_HEADER_STREAM_ID 8 /* offsetof(http2.FrameHeader, StreamID) */

/*
 * A stream: as its writer knows it (a = the writer goroutine, b = 0, pid),
 * or as its server will (a, b = the channel, pid 0). Stream ids start again
 * at 1 on every connection, and goroutines and sockets are reused: an entry
 * goes when its stream ends (END_STREAM) or its server takes it, and a
 * server's entry holds the writing end it was written from.
 */
struct grpc_stream {
	u64 a;
	u64 b;
	u32 pid;
	u32 stream;
};
struct grpc_served {
	struct task_tag tag;
	u64 writer_end; /* see channel_of */
};
BPF_TABLE("lru_hash", struct grpc_stream, struct task_tag, grpc_streams, 8192);
BPF_TABLE("lru_hash", struct grpc_stream, struct grpc_served, grpc_served, 8192);
BPF_TABLE("lru_hash", struct go_key, struct task_tag, grpc_headers, 1024);    /* header frame -> its caller's tag */
BPF_TABLE("lru_hash", struct go_key, struct channel_key, grpc_readers, 4096); /* reader goroutine -> its connection */

/* A writer goroutine: how much of its last frame is still to come in its next write, and for whom. */
struct grpc_writer {
	u32 carry;
	u32 server; /* a server's writer: its HEADERS answer streams, they open none */
	struct task_tag tag;
};
BPF_TABLE("lru_hash", struct go_key, struct grpc_writer, grpc_writers, 1024);

struct grpc_run {
	struct task_tag tag;
	u32 bytes;
	u32 _pad;
};
/*
 * A write's runs, and where its parse is. Kept in map memory, not on the
 * stack: the verifier does not track their values, so the paths through one
 * frame meet again at the next, and the loop costs it frames, not paths.
 */
struct grpc_runs {
	struct grpc_run runs[GRPC_RUNS];
	u32 count;
	u32 offset;
	struct grpc_served served; /* the frame's tag */
};
BPF_PERCPU_ARRAY(grpc_heap, struct grpc_runs, 1);

/* executeAndPut(c, f, it cbItem): a tagged caller's item, perhaps a new stream's headers. */
#if PART(1)
int uprobe__grpc_execute_and_put(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!daemons.lookup(&pid))
		return 0;
	struct go_key caller = { .pid = pid, .g = GO_G(ctx) };
	struct task_tag *tag = go_tags.lookup(&caller);
	if (!tag || !tag->tag)
		return 0;
	struct go_key item = { .pid = pid, .g = GO_ARG4(ctx) }; /* the interface's data word */
	struct task_tag copy = *tag;
	grpc_headers.update(&item, &copy);
	return 0;
}
#endif

/* loopyWriter.headerHandler(l, h): the writer goroutine takes a stream's headers, with its id. */
#if PART(1)
int uprobe__grpc_header_handler(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!daemons.lookup(&pid))
		return 0;
	struct go_key writer = { .pid = pid, .g = GO_G(ctx) };
	/* loopyWriter.side, at 0: clientSide is 0, serverSide 1 (read each time: goroutines are reused). */
	u64 side = 0;
	bpf_probe_read_user(&side, sizeof(side), (const void *)GO_ARG1(ctx));
	struct grpc_writer *known = grpc_writers.lookup(&writer);
	if (known) {
		known->server = side != 0;
	} else {
		struct grpc_writer fresh = { .server = side != 0 };
		grpc_writers.update(&writer, &fresh);
	}
	struct go_key item = { .pid = pid, .g = GO_ARG2(ctx) };
	struct task_tag *tag = grpc_headers.lookup(&item);
	if (!tag)
		return 0;
	struct grpc_stream stream = { .a = writer.g, .pid = pid };
	bpf_probe_read_user(&stream.stream, sizeof(stream.stream), (const void *)GO_ARG2(ctx));
	struct task_tag copy = *tag;
	grpc_streams.update(&stream, &copy);
	grpc_headers.delete(&item);
	return 0;
}
#endif

/* Adds `bytes` for `tag` to the runs: to the last if the tag is the same, else to a new one, or mixed into the last. */
static __always_inline void add_run(struct grpc_runs *runs, const struct task_tag *tag, u32 bytes)
{
	u32 n = runs->count;
	if (!bytes)
		return;
	struct grpc_run *last = &runs->runs[(n - 1) & (GRPC_RUNS - 1)];
	if (n && last->tag.tag == tag->tag && last->tag.also_tag == tag->also_tag) {
		last->bytes += bytes;
		return;
	}
	if (n < GRPC_RUNS) {
		runs->runs[n & (GRPC_RUNS - 1)].tag = *tag;
		runs->runs[n & (GRPC_RUNS - 1)].bytes = bytes;
		runs->count = n + 1;
		return;
	}
	mix_tags(&last->tag, tag);
	last->bytes += bytes;
}

/*
 * A write by a gRPC writer goroutine: its frames, queued on the channel as
 * runs of one tag each. Returns what tag_channel returns, or CHANNEL_NONE
 * when the writer is no gRPC writer (the caller then tags the write whole).
 */
static __always_inline enum channel_kind grpc_write(u32 pid, struct daemon_thread *self, const u64 *args, u32 length,
						    u32 *reaches)
{
	if (!self->g || !length)
		return CHANNEL_NONE;
	struct go_key key = { .pid = pid, .g = self->g };
	struct grpc_writer *writer = grpc_writers.lookup(&key);
	if (!writer)
		return CHANNEL_NONE;
	struct channel_end found = {};
	if (channel_of((s64)(int)args[0], CHANNEL_WRITER, NULL, &found) == CHANNEL_NONE)
		return CHANNEL_NONE;
	struct channel_key channel = found.key;
	u32 zero = 0;
	struct grpc_runs *runs = grpc_heap.lookup(&zero);
	if (!runs)
		return CHANNEL_NONE;
	runs->count = 0;
	const char *buffer = (const char *)args[1];
	/* The end of the last frame, begun in an earlier write. */
	u32 carried = writer->carry < length ? writer->carry : length;
	add_run(runs, &writer->tag, carried);
	writer->carry -= carried;
	runs->offset = carried;
	runs->served.writer_end = found.end;
	for (int i = 0; i < GRPC_FRAMES; i++) {
		u32 offset = runs->offset;
		if (offset + HTTP2_FRAME_HEADER > length)
			break;
		struct http2_frame_header header = {};
		if (bpf_probe_read_user(&header, sizeof(header), buffer + offset) != 0 || header.type > HTTP2_LAST_TYPE)
			break; /* not a frame: out of step (the rest goes with the last run) */
		u32 frame = HTTP2_FRAME_HEADER +
			    ((u32)header.length[0] << 16 | (u32)header.length[1] << 8 | header.length[2]);
		u32 id = (u32)header.stream[0] << 24 | (u32)header.stream[1] << 16 | (u32)header.stream[2] << 8 |
			 header.stream[3];
		struct grpc_stream stream = { .a = key.g, .pid = pid, .stream = id & HTTP2_STREAM_ID_MASK };
		struct task_tag *known = stream.stream ? grpc_streams.lookup(&stream) : NULL;
		struct grpc_served *served = &runs->served;
		served->tag.tag = known ? known->tag : 0;
		served->tag.also_tag = known ? known->also_tag : 0;
		served->tag.attribution = known ? (known->attribution | ATTRIBUTION_DAEMON) & ~ATTRIBUTION_WOKEN : 0;
		if (header.type == HTTP2_HEADERS && stream.stream && !writer->server) {
			/* A new stream: its server learns whose it is by the connection. */
			struct grpc_stream key = { .a = channel.a, .b = channel.b, .stream = stream.stream };
			grpc_served.update(&key, served);
		}
		if (known && (header.type == HTTP2_DATA || header.type == HTTP2_HEADERS) &&
		    (header.flags & HTTP2_END_STREAM))
			grpc_streams.delete(&stream); /* its last frame from this side */
		u32 bytes = frame < length - offset ? frame : length - offset;
		add_run(runs, &served->tag, bytes);
		runs->offset = offset + bytes;
		if (bytes < frame) {
			writer->carry = frame - bytes;
			writer->tag = served->tag;
		}
	}
	u32 offset = runs->offset;
	if (offset < length) {
		/* More frames than we parse, or none: they go with the last run, and the next write starts a frame. */
		struct task_tag none = {};
		u32 n = runs->count;
		add_run(runs, n ? &runs->runs[(n - 1) & (GRPC_RUNS - 1)].tag : &none, length - offset);
		writer->carry = 0;
	}
	u32 count = runs->count;
	/*
	 * The first run makes or checks the channel; the others queue behind it.
	 * A gRPC connection's channel is made at its first write seen, tagged or
	 * not: made later, bytes written before could wait ahead in the socket,
	 * and its reads would count for no one until the socket empties.
	 */
	struct grpc_run *run = &runs->runs[0];
	struct channel_write first = { .owner = run->tag, .bytes = run->bytes, .make = 1 };
	enum channel_kind result = tag_channel((s64)(int)args[0], &first, reaches, &self->flight, NULL);
	struct channel *queue = count > 1 ? channels.lookup(&channel) : NULL;
	if (!queue)
		return result;
	for (int i = 1; i < GRPC_RUNS; i++) {
		if (i < count) {
			run = &runs->runs[i];
			queue_segment(queue, &run->tag, run->bytes, 0);
			if (run->tag.tag && !queue->daemon_reads)
				count_fresh(queue, 1);
		}
	}
	/* A short write gives back bytes off the end: the last run's (settle_write). */
	self->flight.key = channel;
	self->flight.bytes = runs->runs[(count - 1) & (GRPC_RUNS - 1)].bytes;
	return result;
}

/* A Go reader's connection, for the streams it takes next. */
static __always_inline void grpc_read(const struct go_key *reader, const struct channel_key *channel)
{
	struct channel_key *known = grpc_readers.lookup(reader);
	if (!known || known->a != channel->a || known->b != channel->b)
		grpc_readers.update(reader, channel);
}

/* http2Server.operateHeaders(t, frame, ...): the reader goroutine takes a new stream. */
#if PART(1)
int uprobe__grpc_operate_headers(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!daemons.lookup(&pid))
		return 0;
	struct go_key reader = { .pid = pid, .g = GO_G(ctx) };
	struct channel_key *channel = grpc_readers.lookup(&reader);
	if (!channel)
		return 0;
	u64 headers = 0;
	struct grpc_stream stream = { .a = channel->a, .b = channel->b };
	bpf_probe_read_user(&headers, sizeof(headers), (const void *)GO_ARG2(ctx));
	const void *stream_id = (const void *)(headers + HTTP2_FRAME_HEADER_STREAM_ID);
	if (!headers || bpf_probe_read_user(&stream.stream, sizeof(stream.stream), stream_id) != 0)
		return 0;
	struct grpc_served *known = grpc_served.lookup(&stream);
	if (!known)
		return 0; /* not a stream we saw written: the reader keeps what it read */
	struct grpc_served served = *known;
	grpc_served.delete(&stream);
	struct channel *live = channels.lookup(channel);
	if (!live || live->writer_end != served.writer_end)
		return 0; /* written on an earlier connection that had this socket's memory */
	struct task_tag tag = served.tag;
	reader_tag(&tag, 1, 1);
	/* Until its next stream, for whom the stream is (tag 0: someone else); its handler goroutine takes it. */
	go_tags.update(&reader, &tag);
	struct daemon_thread *self = this_thread(1);
	if (self)
		set_thread_tag(self, &tag);
	return 0;
}
#endif

#endif
