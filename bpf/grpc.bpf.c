/*
 * gRPC streams (included into daemons.bpf.c). grpc-go sends the requests of
 * all its callers on one connection through one writer goroutine (the
 * "loopy writer"), which batches the frames of several streams into one
 * write: dockerd's calls for two docker clients reach containerd together.
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

#define GRPC_FRAMES 8    /* frames parsed per write; the rest go with the last run */
#define GRPC_RUNS 4      /* runs of frames for one tag, queued as segments */
#define HTTP2_HEADERS 1
#define HTTP2_END_STREAM 1
#define HTTP2_LAST_TYPE 9  /* CONTINUATION */

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
	u64 writer_end;  /* see channel_of */
};
BPF_TABLE("lru_hash", struct grpc_stream, struct task_tag, grpc_streams, 8192);
BPF_TABLE("lru_hash", struct grpc_stream, struct grpc_served, grpc_served, 8192);
BPF_TABLE("lru_hash", struct go_key, struct task_tag, grpc_headers, 1024);  /* header frame -> its caller's tag */
BPF_TABLE("lru_hash", struct go_key, struct channel_key, grpc_readers, 4096); /* reader goroutine -> its connection */

/* A writer goroutine: how much of its last frame is still to come in its next write, and for whom. */
struct grpc_writer {
	u32 carry;
	u32 server;  /* a server's writer: its HEADERS answer streams, they open none */
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
	struct grpc_served served;  /* the frame's tag */
};
BPF_PERCPU_ARRAY(grpc_heap, struct grpc_runs, 1);

/* executeAndPut(c, f, it cbItem): a tagged caller's item, perhaps a new stream's headers. */
int uprobe__grpc_execute_and_put(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!daemons.lookup(&pid))
		return 0;
	struct go_key caller = { .pid = pid, .g = ctx->r14 };
	struct task_tag *tag = go_tags.lookup(&caller);
	if (!tag || !tag->tag)
		return 0;
	struct go_key item = { .pid = pid, .g = ctx->di };  /* the interface's data word */
	struct task_tag copy = *tag;
	grpc_headers.update(&item, &copy);
	return 0;
}

/* loopyWriter.headerHandler(l, h): the writer goroutine takes a stream's headers, with its id. */
int uprobe__grpc_header_handler(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!daemons.lookup(&pid))
		return 0;
	struct go_key writer = { .pid = pid, .g = ctx->r14 };
	/* loopyWriter.side, at 0: clientSide is 0, serverSide 1 (read each time: goroutines are reused). */
	u64 side = 0;
	bpf_probe_read_user(&side, sizeof(side), (const void *)ctx->ax);
	struct grpc_writer *known = grpc_writers.lookup(&writer);
	if (known) {
		known->server = side != 0;
	} else {
		struct grpc_writer fresh = { .server = side != 0 };
		grpc_writers.update(&writer, &fresh);
	}
	struct go_key item = { .pid = pid, .g = ctx->bx };
	struct task_tag *tag = grpc_headers.lookup(&item);
	if (!tag)
		return 0;
	struct grpc_stream stream = { .a = writer.g, .pid = pid };
	bpf_probe_read_user(&stream.stream, sizeof(stream.stream), (const void *)ctx->bx);
	struct task_tag copy = *tag;
	grpc_streams.update(&stream, &copy);
	grpc_headers.delete(&item);
	return 0;
}

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
	mix_tags(&last->tag, tag->tag, tag->also_tag, tag->attribution);
	last->bytes += bytes;
}

/*
 * A write by a gRPC writer goroutine: its frames, queued on the channel as
 * runs of one tag each. Returns what tag_channel returns, or 0 when the
 * writer is no gRPC writer (the caller then tags the write whole).
 */
static __always_inline int grpc_write(u32 pid, struct daemon_thread *self, const u64 *args, u32 length, u32 *reaches)
{
	if (!self->g || !length)
		return 0;
	struct go_key key = { .pid = pid, .g = self->g };
	struct grpc_writer *writer = grpc_writers.lookup(&key);
	if (!writer)
		return 0;
	struct channel_key channel = {};
	u64 inode = 0, end = 0, file = 0, sock = 0;
	if (!channel_of((s64)(int)args[0], 1, &channel, &inode, &end, &file, &sock))
		return 0;
	u32 zero = 0;
	struct grpc_runs *runs = grpc_heap.lookup(&zero);
	if (!runs)
		return 0;
	runs->count = 0;
	const char *buffer = (const char *)args[1];
	/* The end of the last frame, begun in an earlier write. */
	u32 carried = writer->carry < length ? writer->carry : length;
	add_run(runs, &writer->tag, carried);
	writer->carry -= carried;
	runs->offset = carried;
	runs->served.writer_end = end;
	for (int i = 0; i < GRPC_FRAMES; i++) {
		u32 offset = runs->offset;
		if (offset + 9 > length)
			break;
		u8 header[9] = {};
		if (bpf_probe_read_user(header, sizeof(header), buffer + offset) != 0 || header[3] > HTTP2_LAST_TYPE)
			break;  /* not a frame: out of step (the rest goes with the last run) */
		u32 frame = 9 + ((u32)header[0] << 16 | (u32)header[1] << 8 | header[2]);
		struct grpc_stream stream = { .a = key.g, .pid = pid,
					      .stream = ((u32)header[5] << 24 | (u32)header[6] << 16 | (u32)header[7] << 8
							 | header[8]) & 0x7fffffff };
		struct task_tag *known = stream.stream ? grpc_streams.lookup(&stream) : NULL;
		struct grpc_served *served = &runs->served;
		served->tag.tag = known ? known->tag : 0;
		served->tag.also_tag = known ? known->also_tag : 0;
		served->tag.attribution = known ? (known->attribution | ATTRIBUTION_DAEMON) & ~ATTRIBUTION_WOKEN : 0;
		if (header[3] == HTTP2_HEADERS && stream.stream && !writer->server) {
			/* A new stream: its server learns whose it is by the connection. */
			struct grpc_stream key = { .a = channel.a, .b = channel.b, .stream = stream.stream };
			grpc_served.update(&key, served);
		}
		if (known && header[3] <= HTTP2_HEADERS && (header[4] & HTTP2_END_STREAM))
			grpc_streams.delete(&stream);  /* DATA (0) or HEADERS ending the stream: its last frame from this side */
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
	int result = tag_channel((s64)(int)args[0], run->tag.tag, run->tag.also_tag, run->tag.attribution, 0, run->bytes,
				 reaches, 1, &self->flight);
	struct channel *queue = count > 1 ? channels.lookup(&channel) : NULL;
	if (!queue)
		return result;
	for (int i = 1; i < GRPC_RUNS; i++) {
		if (i < count) {
			run = &runs->runs[i];
			queue_segment(queue, run->tag.tag, run->tag.also_tag, run->tag.attribution, run->bytes);
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
int uprobe__grpc_operate_headers(struct pt_regs *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (!daemons.lookup(&pid))
		return 0;
	struct go_key reader = { .pid = pid, .g = ctx->r14 };
	struct channel_key *channel = grpc_readers.lookup(&reader);
	if (!channel)
		return 0;
	u64 headers = 0;
	struct grpc_stream stream = { .a = channel->a, .b = channel->b };
	bpf_probe_read_user(&headers, sizeof(headers), (const void *)ctx->bx);
	if (!headers || bpf_probe_read_user(&stream.stream, sizeof(stream.stream), (const void *)(headers + 8)) != 0)
		return 0;
	struct grpc_served *known = grpc_served.lookup(&stream);
	if (!known)
		return 0;  /* not a stream we saw written: the reader keeps what it read */
	struct grpc_served served = *known;
	grpc_served.delete(&stream);
	struct channel *current = channels.lookup(channel);
	if (!current || current->writer_end != served.writer_end)
		return 0;  /* written on an earlier connection that had this socket's memory */
	struct task_tag tag = served.tag;
	reader_tag(&tag, 1, 1);
	/* Until its next stream, for whom the stream is (tag 0: someone else); its handler goroutine takes it. */
	go_tags.update(&reader, &tag);
	struct daemon_thread *self = this_thread(1);
	if (self)
		set_thread_tag(self, &tag);
	return 0;
}
