#!/usr/bin/env bash
# A long --pid session: a shell runs COMMANDS commands (default 100,000),
# every other one creating a file and the next removing it, under one monitor; the monitor's RSS
# and the fill of its largest kernel maps are sampled every STEP commands.
# Prints a table of the samples. Run as root; the trace goes to a file on
# /dev/shm, as users keep it.
#
#   MONITOR=.build/release/ebpf-monitor COMMANDS=100000 bash bench/long-session.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MONITOR=${MONITOR:-.build/release/ebpf-monitor}
COMMANDS=${COMMANDS:-100000}
STEP=${STEP:-10000}
work=$(mktemp -d /dev/shm/ebpf-monitor-long.XXXXXX)
trap 'kill "$shell" "$monitor" 2>/dev/null || true; rm -rf "$work"' EXIT

# The shell waits on a fifo for each batch, so commands start only once the
# monitor is ready, and each batch's end is known.
mkfifo "$work/go" "$work/done"
cat >"$work/shell.sh" <<'SH'
cd "$1"
while read -r count <"$1/go"; do
	i=0
	while [ "$i" -lt "$count" ]; do
		# One command each: a file made by one, removed by the next.
		if [ $((i % 2)) = 0 ]; then /bin/touch "f$i"; else /bin/rm -f "f$((i - 1))"; fi
		i=$((i + 1))
	done
	echo done >"$1/done"
done
SH
bash "$work/shell.sh" "$work" &
shell=$!
"$MONITOR" --pid="$shell" --format json --output "$work/trace.jsonl" 2>"$work/stderr" &
monitor=$!
until grep -q 'ready ' "$work/stderr"; do sleep 0.1; done

map_entries() { # the entries in the monitor's map named $1
	bpftool -j map dump name "$1" 2>/dev/null | python3 -c 'import json,sys
try: print(len(json.load(sys.stdin)))
except Exception: print("?")'
}
sample() {
	printf '| %s | %s | %s | %s | %s |\n' "$1" \
		"$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$monitor/status")" \
		"$(map_entries watched)" "$(map_entries io_totals)" "$(map_entries channels)"
}
echo "long --pid session: $COMMANDS commands (touch, then rm, of a file), $(date -u +%FT%TZ), $(git rev-parse --short HEAD)"
echo
echo "| commands | monitor RSS, MiB | watched entries | io_totals entries | channels entries |"
echo "|---|---|---|---|---|"
sample 0
done_count=0
while [ "$done_count" -lt "$COMMANDS" ]; do
	echo "$STEP" >"$work/go"
	read -r _ <"$work/done"
	done_count=$((done_count + STEP))
	sleep 1 # let the monitor drain its buffer and print the summaries
	sample "$done_count"
done
kill -INT "$monitor"
wait "$monitor" || true
grep ' end ' "$work/stderr" | sed 's/^/monitor: /'
