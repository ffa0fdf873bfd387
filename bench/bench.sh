#!/usr/bin/env bash
# make bench: what ebpf-monitor costs a traced workload, against running it
# untraced, under `strace -f` and under the lean BCC tracer, all measured in
# one run.
#
# - Each workload times itself from the inside (date +%s%N at its start and
#   end, written to a file), so the tracer's start-up is not counted.
# - The variants alternate round-robin (the first variant rotates each round)
#   after one discarded warm-up round; the median of RUNS runs is reported.
# - The monitor's start-up (ready_seconds= on its stderr) and its peak RSS
#   (GNU time's %M) are reported separately.
# - The monitor runs four ways: JSON written to a file with its default
#   ring buffer ("ebpf-monitor"), the same with the per-CPU perf buffers of
#   kernels older than 5.8 ("perf-buffer", --buffer perf), the text trace
#   written to a file ("text-file"), and JSON thrown away ("json-devnull",
#   --output /dev/null), which shows what writing the trace costs.
# - The lean BCC tracer (bench/lean-tracer.py, "lean-bcc") makes the file
#   and process records the monitor's trace is built from with the fewest
#   probes and nothing else: what any tracer of them costs here.
# - The traces are written as users write them: the monitor's output
#   (--output), strace's text and the lean tracer's records to a file, on
#   /dev/shm, removed after each run.
# - Time to ready is measured apart, READY_RUNS starts (default 5) of the
#   monitor beside two anchors: bpftrace with a one-probe script, and BCC's
#   syscount (bpfcc-tools, Python; execsnoop needs kprobes, which this
#   machine lacks), each timed from its start to the line it prints once its
#   probes are attached (the monitor's ready line, bpftrace's BEGIN probe,
#   syscount's "Tracing"). The monitor's own ready_seconds, which starts at
#   main() and so leaves out the dynamic loader, is printed beside it. The
#   anchors are installed when missing. With BASELINE, that build is started
#   after the monitor in each round, and its median is printed too.
# - Everything temporary lives on /dev/shm (the root disk is slow and noisy).
#
# At the end it prints the table that docs/benchmarks.md keeps (one row per
# workload, with the date and the command that reproduces it), and keeps it
# with the full report under OUT_DIR: bench-<date>.txt and bench-<date>.md.
#
# Environment: RUNS (default 9, at least 5 for the figures we publish),
# MONITOR (the ebpf-monitor binary, default .build/release/ebpf-monitor),
# MONITOR_ARGS (extra monitor flags, e.g. '--buffer-pages 8192'; default none),
# WORKLOADS (space-separated subset of the workloads below), OUT_DIR (where
# the result table is kept; default bench-results/), BASELINE (another
# ebpf-monitor binary, e.g. a build of the previous commit: it runs as one
# more variant, "baseline", so a change is measured against it in one run).
#
# To add a workload NAME, define wl_NAME_describe (one line) and
# wl_NAME_prepare, which writes "$wdir/run.sh" (and any fixtures into
# "$wdir"). run.sh gets the results file as $1, and must write the elapsed
# nanoseconds of its timed part to it; per-run preparation and clean-up go
# outside the timed part. Then append NAME to ALL_WORKLOADS. A workload may
# define wl_NAME_target to print its own ebpf-monitor/untraced target
# (default TARGET_RATIO), and wl_NAME_anchor to print reference figures of
# other tracers measured on this kind of machine.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-9}
MONITOR=${MONITOR:-.build/release/ebpf-monitor}
MONITOR_ARGS=${MONITOR_ARGS:-}
OUT_DIR=${OUT_DIR:-bench-results}
ALL_WORKLOADS="true_loop tar"
WORKLOADS=${WORKLOADS:-$ALL_WORKLOADS}
BASELINE=${BASELINE:-}
VARIANTS=(untraced ebpf-monitor perf-buffer text-file json-devnull strace lean-bcc)
[ -n "$BASELINE" ] && VARIANTS+=(baseline)

# Targets: the default ratio target (each workload may have
# its own, see wl_NAME_target), the monitor's time to ready, and no event
# lost by the monitor on any workload.
TARGET_RATIO=1.10
TARGET_READY=1.0
READY_RUNS=${READY_RUNS:-5}
[ "$READY_RUNS" -ge 1 ] 2>/dev/null || { echo "bench: READY_RUNS must be a number, at least 1" >&2; exit 2; }
TARGET_CPU_US=5
TARGET_LOST=0

die() { echo "bench: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (run: sudo make bench)"
[ -x "$MONITOR" ] || die "no $MONITOR; run: make bench (it builds the release binary)"
command -v strace >/dev/null || die "strace is missing; run: make setup"
[ -x /usr/bin/time ] || die "GNU time (/usr/bin/time) is missing; run: make setup"
[ "$RUNS" -ge 1 ] 2>/dev/null || die "RUNS must be a positive number"
MONITOR=$(readlink -f "$MONITOR")
if [ -n "$BASELINE" ]; then
	[ -x "$BASELINE" ] || die "no $BASELINE (BASELINE must be an ebpf-monitor binary)"
	BASELINE=$(readlink -f "$BASELINE")
fi

shm=$(mktemp -d /dev/shm/ebpf-monitor-bench.XXXXXX)
trap 'rm -rf "$shm"' EXIT

# ---------------------------------------------------------------- workloads

wl_true_loop_target() { echo 1.05; }
wl_true_loop_describe() { echo "loop of 1,000 /bin/true"; }
wl_true_loop_anchor() { echo "strace -f 3.7x, bpftrace 1.38x"; }
wl_true_loop_prepare() {
	cat >"$wdir/run.sh" <<'EOF'
out=$1
start=$(date +%s%N)
for i in $(seq 1000); do /bin/true; done
end=$(date +%s%N)
echo $((end - start)) >"$out"
EOF
}

# tar: a metadata-heavy file workload. The tarball is made once per bench run (a
# tar of Debian's linux-headers-*-common tree, installed by make setup; about
# 9,400 files, 530 directories) and reused. Each run extracts it into a
# fresh directory and deletes the result with rm -rf; both are timed.
tar_source() { ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1; }
wl_tar_describe() {
	local files=?
	[ -s "$wdir/files" ] && files=$(cat "$wdir/files")
	echo "tar -x of $files files ($(basename "$(tar_source)")) into /dev/shm, then rm -rf"
}
wl_tar_target() { echo 1.10; }
wl_tar_anchor() { echo "strace -f 35x, bpftrace 3.3x (9,400-file tar -x into tmpfs)"; }
wl_tar_prepare() {
	local src
	src=$(tar_source)
	[ -n "$src" ] || die "tar: no /usr/src/linux-headers-*-common; run: make setup"
	tar -C "$(dirname "$src")" -cf "$wdir/tree.tar" "$(basename "$src")"
	tar -tvf "$wdir/tree.tar" | grep -c '^-' >"$wdir/files"
	cat >"$wdir/run.sh" <<'EOF'
set -e
out=$1
here=$(dirname "$0")
dest=$(mktemp -d "$here/x.XXXXXX")
start=$(date +%s%N)
tar -C "$dest" -xf "$here/tree.tar"
rm -rf "$dest"
end=$(date +%s%N)
echo $((end - start)) >"$out"
EOF
}

# ---------------------------------------------------------------- variants

# run_variant VARIANT RUNDIR: runs the workload once under VARIANT; leaves
# elapsed ns in RUNDIR/elapsed, and for the monitor its stderr and peak RSS.
# Traces go to a file in RUNDIR (on /dev/shm), deleted once the run is over.
run_variant() {
	local variant=$1 dir=$2
	mkdir -p "$dir"
	case $variant in
	untraced)
		sh "$wdir/run.sh" "$dir/elapsed"
		;;
	ebpf-monitor | perf-buffer | text-file | json-devnull | baseline)
		local rc=0 binary=$MONITOR flags=(--format json --output "$dir/trace")
		[ "$variant" = baseline ] && binary=$BASELINE
		[ "$variant" = perf-buffer ] && flags+=(--buffer perf)
		[ "$variant" = text-file ] && flags=(--format text --output "$dir/trace")
		[ "$variant" = json-devnull ] && flags=(--format json --output /dev/null)
		/usr/bin/time -f %M -o "$dir/rss_kib" \
			"$binary" "${flags[@]}" $MONITOR_ARGS -- sh "$wdir/run.sh" "$dir/elapsed" \
			2>"$dir/stderr" || rc=$?
		rm -f "$dir/trace"
		if [ "$rc" != 0 ]; then
			cat "$dir/stderr" >&2
			die "ebpf-monitor exited with $rc"
		fi
		;;
	strace)
		strace -f -o "$dir/strace.txt" sh "$wdir/run.sh" "$dir/elapsed"
		rm -f "$dir/strace.txt"
		;;
	lean-bcc)
		/usr/bin/python3 bench/lean-tracer.py "$dir/trace" sh "$wdir/run.sh" "$dir/elapsed" 2>"$dir/stderr" ||
			{ cat "$dir/stderr" >&2; die "lean-tracer.py failed"; }
		rm -f "$dir/trace"
		;;
	*) die "unknown variant $variant" ;;
	esac
	[ -s "$dir/elapsed" ] || die "$variant: the workload wrote no time"
}

# ---------------------------------------------------------------- statistics

# median: of the numbers on stdin, one a line.
median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# collect WORKLOAD VARIANT FILE: the values of FILE over the counted runs.
collect() {
	local f
	for f in "$shm/$1/runs"/*/"$2"/"$3"; do
		[ -e "$f" ] && cat "$f"
	done
}

verdict() { if awk -v a="$1" -v b="$2" "BEGIN { exit !(a $3 b) }"; then echo met; else echo MISSED; fi; }

field() { # field NAME < stderr: the value of NAME= in the monitor's status lines
	sed -n "s/.*[[:space:]]$1=\([0-9.]*\).*/\1/p"
}

# cpu_per_event VARIANT: the monitor's own CPU time while tracing (user +
# system, from its end line) per event it reported; the median over the runs
# of the current workload ($wdir) of each run's ratio.
cpu_per_event() {
	local f
	for f in "$wdir"/runs/*/"$1"/stderr; do
		grep ' end ' "$f" | awk '{ c = e = ""
			for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "trace_cpu_seconds") c = kv[2]; if (kv[1] == "events") e = kv[2] }
			if (c != "" && e > 0) print c / e * 1e6 }'
	done | median
}

# ---------------------------------------------------------------- main

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mkdir -p "$OUT_DIR"
report="$OUT_DIR/bench-$(date -u +%Y%m%d-%H%M%S).txt"
table=${report%.txt}.md
exec > >(tee "$report")
# Rows of the table for docs/benchmarks.md, one per workload.
rows=()

echo "ebpf-monitor benchmark, $stamp"
echo "machine: $(uname -sr), $(nproc) cpus, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
	"$(. /etc/os-release && echo "$PRETTY_NAME")"
[ -n "$BASELINE" ] && echo "baseline: $BASELINE"
echo "monitor: $MONITOR ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- Sources bpf 2>/dev/null || echo ', with local changes'))"
[ -n "$MONITOR_ARGS" ] && echo "monitor flags added: $MONITOR_ARGS"
echo "method: each workload timed from inside; median of $RUNS runs; variants alternated round-robin after 1 warm-up round"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
echo

# The anchors: bpftrace and BCC's syscount (time to ready), BCC's Python
# module (the lean tracer).
command -v bpftrace >/dev/null && command -v syscount-bpfcc >/dev/null ||
	{ apt-get update -qq && apt-get install -y -qq bpftrace bpfcc-tools >/dev/null; } ||
	die "bpftrace and bpfcc-tools, the anchors, could not be installed"

n=${#VARIANTS[@]}
for wl in $WORKLOADS; do
	declare -F "wl_${wl}_prepare" >/dev/null || die "unknown workload $wl (have: $ALL_WORKLOADS)"
	wdir="$shm/$wl"
	mkdir -p "$wdir/runs"
	"wl_${wl}_prepare"
	echo "bench: running $("wl_${wl}_describe"): 1 warm-up + $RUNS rounds of ${VARIANTS[*]}" >&2

	for ((round = 0; round <= RUNS; round++)); do
		# Round 0 is the warm-up; its results are kept apart and not counted.
		if [ "$round" = 0 ]; then rdir="$wdir/warmup"; else rdir="$wdir/runs/$round"; fi
		for ((k = 0; k < n; k++)); do
			v=${VARIANTS[$(((round + k) % n))]}
			run_variant "$v" "$rdir/$v"
		done
		printf 'bench:   round %d/%d done%s\n' "$round" "$RUNS" "$([ "$round" = 0 ] && echo ' (warm-up)')" >&2
	done

	base=$(collect "$wl" untraced elapsed | median)
	echo "workload: $("wl_${wl}_describe")"
	printf '  %-14s %10s %8s %14s   %s\n' variant median_s ratio min-max_s "each run, s"
	for v in "${VARIANTS[@]}"; do
		med=$(collect "$wl" "$v" elapsed | median)
		runs=$(for ((r = 1; r <= RUNS; r++)); do awk '{ printf "%.3f ", $1 / 1e9 }' "$wdir/runs/$r/$v/elapsed"; done)
		label=$v
		[ "$v" = strace ] && label="strace -f"
		[ "$v" = lean-bcc ] && label="lean BCC"
		spread=$(collect "$wl" "$v" elapsed | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f-%.3f", lo / 1e9, hi / 1e9 }')
		printf '  %-14s %10.3f %7.2fx %14s   %s\n' "$label" "$(awk -v m="$med" 'BEGIN { print m / 1e9 }')" \
			"$(awk -v m="$med" -v b="$base" 'BEGIN { print m / b }')" "$spread" "$runs"
		printf -v "ratio_${v//-/_}" '%.2fx' "$(awk -v m="$med" -v b="$base" 'BEGIN { print m / b }')"
	done

	ready=$(for f in "$wdir"/runs/*/ebpf-monitor/stderr; do field ready_seconds <"$f" | head -n 1; done | median)
	ready_max=$(for f in "$wdir"/runs/*/ebpf-monitor/stderr; do field ready_seconds <"$f" | head -n 1; done | sort -g | tail -n 1)
	rss=$(collect "$wl" ebpf-monitor rss_kib | median)
	rss_max=$(collect "$wl" ebpf-monitor rss_kib | sort -g | tail -n 1)
	events=$(for f in "$wdir"/runs/*/ebpf-monitor/stderr; do grep ' end ' "$f" | field events; done | median)
	lost=$(for f in "$wdir"/runs/*/ebpf-monitor/stderr; do grep ' end ' "$f" | field lost; done | awk '{ s += $1 } END { print s + 0 }')
	perf_lost=$(for f in "$wdir"/runs/*/perf-buffer/stderr; do grep ' end ' "$f" | field lost; done | awk '{ s += $1 } END { print s + 0 }')
	printf '  monitor start-up, its own count from main() (the time to ready section times it from outside): median %.3f s, max %.3f s\n' "$ready" "$ready_max"
	steady=$(for f in "$wdir"/runs/*/ebpf-monitor/stderr; do grep ' end ' "$f" | field rss_kib; done | median)
	# The peak is BCC compiling at start-up, unless the RSS at the end comes
	# close to it: then it grew while tracing (ring buffer pages, state).
	peak_note="the peak is BCC compiling at start-up"
	awk -v s="$steady" -v p="$rss" 'BEGIN { exit !(s >= 0.95 * p) }' && peak_note="reached while tracing: ring buffer pages and state"
	printf '  monitor peak RSS: median %.1f MiB, max %.1f MiB (%s)\n' \
		"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$rss_max" 'BEGIN { print k / 1024 }')" "$peak_note"
	printf '  monitor RSS while tracing, at the end: median %.1f MiB\n' "$(awk -v k="$steady" 'BEGIN { print k / 1024 }')"
	lost_med=$(for f in "$wdir"/runs/*/ebpf-monitor/stderr; do grep ' end ' "$f" | field lost; done | median)
	lost_runs=$(for f in "$wdir"/runs/*/ebpf-monitor/stderr; do grep ' end ' "$f" | field lost; done | awk '$1 > 0 { n++ } END { print n + 0 }')
	printf '  monitor events per run: median %s; lost: median %s per run, %s over all runs, in %s of %s runs\n' \
		"$events" "$lost_med" "$lost" "$lost_runs" "$RUNS"
	cpu=$(for f in "$wdir"/runs/*/ebpf-monitor/stderr; do grep ' end ' "$f" | field trace_cpu_seconds; done | median)
	cpu_per_event=$(cpu_per_event ebpf-monitor)
	printf '  monitor CPU while tracing: median %.3f s per run, %.2f us per event\n' "$cpu" "$cpu_per_event"
	[ -n "$BASELINE" ] && printf '  baseline CPU while tracing, the same runs: %.2f us per event\n' "$(cpu_per_event baseline)"
	echo "  target monitor CPU <= $TARGET_CPU_US us per event: $(verdict "$cpu_per_event" "$TARGET_CPU_US" '<=')"
	echo "  with --buffer perf: $ratio_perf_buffer of untraced, $perf_lost events lost over all runs"
	echo "  trace written as text to a file: $ratio_text_file; JSON to /dev/null: $ratio_json_devnull"
	echo "  the lean BCC tracer of the same file and process records (bench/lean-tracer.py): $ratio_lean_bcc"

	ratio=$(awk -v m="$(collect "$wl" ebpf-monitor elapsed | median)" -v b="$base" 'BEGIN { print m / b }')
	target=$TARGET_RATIO
	declare -F "wl_${wl}_target" >/dev/null && target=$("wl_${wl}_target")
	echo "  target ebpf-monitor/untraced <= $target: $(verdict "$ratio" "$target" '<=') ($(printf %.2f "$ratio"))"
	ends=$(cat "$wdir"/runs/*/ebpf-monitor/stderr | grep -c ' end ' || true)
	if [ "$ends" = "$RUNS" ]; then
		echo "  target lost events = $TARGET_LOST: $(verdict "$lost" "$TARGET_LOST" '==') ($lost over $RUNS runs)"
	else
		echo "  target lost events = $TARGET_LOST: UNKNOWN (an end line in only $ends of $RUNS runs)"
	fi
	declare -F "wl_${wl}_anchor" >/dev/null && echo "  other tracers, measured on this kind of machine: $("wl_${wl}_anchor")"
	echo
	rows+=("$(printf '| %s | %.3f | %s | %s | %s | %s | %s | %s | %.2f | %.0f | %s |' "$("wl_${wl}_describe")" \
		"$(awk -v b="$base" 'BEGIN { print b / 1e9 }')" "$ratio_ebpf_monitor" "$ratio_text_file" "$ratio_json_devnull" \
		"$ratio_perf_buffer" "$ratio_strace" "$ratio_lean_bcc" "$cpu_per_event" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$lost")")
done

# ---------------------------------------------------------------- time to ready

# first_line_seconds PATTERN CMD...: seconds from starting CMD until its
# output (stdout and stderr) holds PATTERN; the command is then ended.
first_line_seconds() {
	local pattern=$1 out="$shm/ready.out" start pid
	shift
	start=$(date +%s%N)
	"$@" >"$out" 2>&1 &
	pid=$!
	until grep -q -- "$pattern" "$out" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || { echo nan; return; }
		sleep 0.005
	done
	awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 }'
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# ready_line_seconds MONITOR: seconds from starting MONITOR until its ready
# line reaches this shell. The line is read as it comes: polling for it
# would take CPU from the start-up it times.
ready_line_seconds() {
	local start
	start=$(date +%s%N)
	"$1" -- sleep 1 2>&1 >/dev/null | {
		while IFS= read -r line; do
			case $line in *ready_seconds=*)
				awk -v s="$start" -v e="$(date +%s%N)" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 }'
				echo "$line" >"$shm/ready.line"
				break
				;;
			esac
		done
		cat >/dev/null
	}
}

echo "bench: time to ready, $READY_RUNS starts each of ebpf-monitor, bpftrace and BCC's syscount" >&2
for ((i = 1; i <= READY_RUNS; i++)); do
	ready_line_seconds "$MONITOR" >>"$shm/ready.monitor"
	field ready_seconds <"$shm/ready.line" >>"$shm/ready.internal"
	if [ -n "$BASELINE" ]; then
		ready_line_seconds "$BASELINE" >>"$shm/ready.baseline"
	fi
	first_line_seconds READY bpftrace -e 'BEGIN { printf("READY\n"); } tracepoint:syscalls:sys_enter_execve { printf("%s\n", comm); }' >>"$shm/ready.bpftrace"
	first_line_seconds Tracing env PYTHONUNBUFFERED=1 syscount-bpfcc >>"$shm/ready.bcc"
done
ready_monitor=$(median <"$shm/ready.monitor")
ready_bpftrace=$(median <"$shm/ready.bpftrace")
ready_bcc=$(median <"$shm/ready.bcc")
echo "time to ready, median of $READY_RUNS starts: ebpf-monitor $ready_monitor s, bpftrace $ready_bpftrace s, BCC syscount $ready_bcc s"
echo "  each: ebpf-monitor $(tr '\n' ' ' <"$shm/ready.monitor")/ bpftrace $(tr '\n' ' ' <"$shm/ready.bpftrace")/ syscount $(tr '\n' ' ' <"$shm/ready.bcc")"
echo "  ebpf-monitor's own count, from main() (after the dynamic loader): median $(median <"$shm/ready.internal") s"
if [ -n "$BASELINE" ]; then
	echo "  baseline (started alternately with ebpf-monitor): median $(median <"$shm/ready.baseline") s; each: $(tr '\n' ' ' <"$shm/ready.baseline")"
fi
echo "  target ebpf-monitor time to ready <= $TARGET_READY s: $(verdict "$ready_monitor" "$TARGET_READY" '<=')"
echo

# The table for docs/benchmarks.md: medians of RUNS runs, ratios against untraced.
{
	echo "Measured $stamp on $(uname -sr), $(nproc) cpus, with \`make bench\` (RUNS=$RUNS${MONITOR_ARGS:+, MONITOR_ARGS='$MONITOR_ARGS'}):"
	echo
	echo "| workload | untraced, s | JSON to a file | text to a file | JSON to /dev/null | --buffer perf | strace -f | lean BCC tracer | monitor CPU, us/event | peak RSS, MiB | lost events |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
	echo
	echo "| time to ready, median of $READY_RUNS starts | ebpf-monitor | bpftrace | BCC syscount |"
	echo "|---|---|---|---|"
	echo "| seconds | $ready_monitor | $ready_bpftrace | $ready_bcc |"
} >"$table"
echo "table for docs/benchmarks.md:"
echo
cat "$table"
echo

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "kept in $report and $table"
# A missed target is reported, not a failure: benchmarks are not timed tests.
exit 0
