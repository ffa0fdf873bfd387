/*
 * Quiet spells: while no command's work is under way in any daemon, a
 * daemon thread that holds nothing for a command is not followed. Its calls
 * are only counted, and a followed daemon serving other clients costs
 * little more than one that is not followed.
 *
 * Work is under way while a command awaits an answer on a socket it wrote
 * to (struct command_end.awaiting), while a channel that a daemon may read
 * holds a command's bytes (struct channel.holds_work), and for
 * QUIET_AFTER_NS after the last call of a tagged daemon thread or the last
 * write of a command's bytes: that covers the time a worker takes to start
 * a job it took off a queue unseen, when the command expects no answer.
 *
 * A quiet spell leaves channels out of step with their sockets (their
 * reads and writes went unseen) and threads with stale state. So when work
 * resumes after threads slept, a new epoch starts. A channel of an older
 * epoch that holds no command's bytes is taken as absent and is made again
 * (see channel_is_stale), and a thread that slept starts afresh
 * (wake_thread).
 */
#ifndef BPF_DAEMONS_QUIET_H
#define BPF_DAEMONS_QUIET_H

#include "lib/common.h"

#define QUIET_AFTER_NS (1000ULL * 1000)

BPF_ARRAY(command_work, struct command_work, 1);

static __always_inline struct command_work *work_state(void)
{
	u32 zero = 0;
	return command_work.lookup(&zero);
}

#if ATOMIC_FETCH
/*
 * Whether no command's work is under way, so that the calling thread may
 * sleep; if so, the epoch is over when work resumes. User space deletes the
 * channels and sockets of ended commands; those that held work it counts
 * in CONFIG_FORGOTTEN_WORK.
 */
static __always_inline int quiet_spell(void)
{
	struct command_work *work = work_state();
	if (!work || (work->held > 0 && work->held - (s64)config_value(CONFIG_FORGOTTEN_WORK) > 0))
		return 0;
	/* Once past, `until` is closed (0), so that calls deep in a spell read no clock. */
	s64 until = work->until;
	if (until && ((s64)bpf_ktime_get_ns() <= until || __sync_val_compare_and_swap(&work->until, until, 0) != until))
		return 0;
	if (!work->slept)
		work->slept = 1;
	return 1;
}
#else
/* Without atomic fetch operations (Linux 5.12) work cannot be counted exactly: no quiet spells. */
static __always_inline int quiet_spell(void)
{
	return 0;
}
#endif

/* A command's work goes on: a quiet spell in which threads slept is over, and a new epoch starts. */
static __always_inline void work_goes_on(void)
{
	struct command_work *work = work_state();
	if (!work)
		return;
	if (work->slept) {
		work->slept = 0;
		__sync_fetch_and_add(&work->epoch,
				     1); /* (two CPUs may both start one: it only costs a channel made again) */
	}
	work->until = bpf_ktime_get_ns() + QUIET_AFTER_NS;
}

static __always_inline u64 work_epoch(void)
{
	struct command_work *work = work_state();
	return work ? work->epoch : 0;
}

/*
 * A flag of work under way changes from `from` to `to`; the count follows.
 * Two CPUs may race to change it, so only the one whose exchange found
 * `from` counts.
 */
static __always_inline void flag_work(u64 *flag, u64 from, u64 to)
{
#if ATOMIC_FETCH
	if (*flag != from || __sync_val_compare_and_swap(flag, from, to) != from)
		return;
	struct command_work *work = work_state();
	if (work)
		__sync_fetch_and_add(&work->held, to ? 1 : -1);
#endif
}

/* The channel now holds a command's bytes. */
static __always_inline void channel_holds_work(struct channel *channel)
{
	flag_work(&channel->holds_work, 0, 1);
}

/* Segments left the channel (or it goes, when `dropped`): an empty one holds no work. */
static __always_inline void channel_emptied(struct channel *channel, int dropped)
{
	if (!held_segments(channel) || dropped)
		flag_work(&channel->holds_work, 1, 0);
}

/* A channel of an older epoch that holds no work: its reads and writes may have gone unseen. */
static __always_inline int channel_is_stale(const struct channel *channel)
{
	return !channel->holds_work && channel->epoch != work_epoch();
}

#endif
