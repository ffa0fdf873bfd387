#!/usr/bin/env bash
# Syscall storms: a watched program makes calls at set rates, and the
# monitor's trace (JSON, written to a file on /dev/shm, as users keep it) is
# checked against what was made. For each rate it prints the rate reached,
# the calls the trace shows, the events counted lost, whether every call
# missing from the trace was counted lost (the count may also hold other
# events of the command, lost in the same overflow), the monitor's CPU per
# event, and how long the monitor took to end once the program had (the time
# it needed to drain its buffer).
#
# Two mixes (bench/storm.c): "open", failed openat() calls, each one event,
# the worst case; and "io", pread() calls, which the kernel side adds up into
# one event per file. RATES are calls per second; 0 is as fast as one thread
# can. Run as root:
#
#   MONITOR=.build/release/ebpf-monitor bash bench/storm.sh
#   RATES='100000 300000' SECONDS_EACH=10 MIXES=open bash bench/storm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MONITOR=$(readlink -f "${MONITOR:-.build/release/ebpf-monitor}")
RATES=${RATES:-50000 100000 150000 200000 250000 300000 0}
MIXES=${MIXES:-open io}
SECONDS_EACH=${SECONDS_EACH:-5}
MONITOR_ARGS=${MONITOR_ARGS:-}

[ "$(id -u)" = 0 ] || { echo "storm: needs root" >&2; exit 1; }
[ -x "$MONITOR" ] || { echo "storm: no $MONITOR; run: make build" >&2; exit 1; }
work=$(mktemp -d /dev/shm/ebpf-monitor-storm.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -o "$work/storm" bench/storm.c

now() { date +%s%N; }
field() { sed -n "s/.*[[:space:]]$1=\([0-9.]*\).*/\1/p" "$work/stderr" | tail -n 1; }

echo "syscall storms, $(date -u +%FT%TZ), $(git rev-parse --short HEAD), $(nproc) CPUs, ${SECONDS_EACH} s each, monitor flags: --format json --output FILE $MONITOR_ARGS"
echo
echo "| mix | rate asked | calls/s reached | untraced calls/s | calls in trace | counted lost | lost share | every missing call counted | monitor CPU per event | monitor ends after program |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for mix in $MIXES; do
	for rate in $RATES; do
		untraced=$("$work/storm" "$mix" "$rate" "$SECONDS_EACH")
		# The program's own end time is written by the shell that runs it, so the
		# monitor's drain is timed from the moment the last call was made.
		"$MONITOR" --format json --output "$work/trace" $MONITOR_ARGS -- \
			sh -c '"$1" "$2" "$3" "$4" >"$5/calls"; date +%s%N >"$5/ended"' sh \
			"$work/storm" "$mix" "$rate" "$SECONDS_EACH" "$work" 2>"$work/stderr"
		exited=$(now)
		calls=$(sed -n 's/calls=\([0-9]*\).*/\1/p' "$work/calls")
		seconds=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' "$work/calls")
		base_calls=${untraced#calls=}
		base_calls=${base_calls%% *}
		base_seconds=${untraced##*seconds=}
		if [ "$mix" = open ]; then
			traced=$(grep -c '"path":"/nonexistent/storm"' "$work/trace" || true)
		else
			# One event for the file, carrying the number of calls it adds up.
			traced=$(grep '"action":"read"' "$work/trace" | grep '"path":"'"$work"'/storm"' |
				sed -n 's/.*"calls":\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
		fi
		lost=$(field lost)
		events=$(field events)
		cpu=$(field trace_cpu_seconds)
		counted=no
		[ "$traced" -le "$calls" ] && [ "$((calls - traced))" -le "$lost" ] && counted=yes
		awk -v mix="$mix" -v rate="$rate" -v calls="$calls" -v s="$seconds" -v bc="$base_calls" \
			-v bs="$base_seconds" -v traced="$traced" -v lost="$lost" -v counted="$counted" -v cpu="$cpu" \
			-v events="$events" -v drain="$(((exited - $(cat "$work/ended")) / 1000000))" 'BEGIN {
			printf "| %s | %s | %.0f | %.0f | %d | %d | %.1f%% | %s | %s | %.2f s |\n",
				mix, rate == 0 ? "unpaced" : rate, calls / s, bc / bs, traced, lost, 100 * lost / calls,
				counted, mix == "open" ? sprintf("%.2f us", cpu * 1e6 / events) : "-", drain / 1000 }'
		rm -f "$work/trace"
	done
done
