#!/bin/sh
# Docker for the integration tests that follow a real daemon (DockerTests).
#
#   sh scripts/docker.sh start   install, start and prepare Docker
#   sh scripts/docker.sh stop    stop what `start` started; remove test leftovers
#   sh scripts/docker.sh clean   remove test leftovers only
#   sh scripts/docker.sh status  say what runs and who started it
#
# start: installs Debian's docker.io (with containerd and runc) and
# busybox-static when `dockerd` is missing. Starts `containerd` and
# `dockerd --iptables=false --ip6tables=false --bridge=none` in the background
# when they are not running (there is no systemd here), and writes the pids it
# started to $STATE. Waits until the daemon answers, then builds the image
# ebpf-monitor/busybox:latest with `docker import` from a rootfs holding
# busybox-static and its applet links. Idempotent, and quiet and fast (one
# client call) when the daemon runs and the image exists.
#
# stop: removes containers and volumes named ebpf-monitor-test*, then stops
# only the daemons listed in $STATE (dockerd first, then containerd and the
# shims of that containerd), waits for them to exit and removes $STATE.
# Daemons it did not start are left alone.
#
# The client is Debian's /usr/bin/docker (20.10, API 1.41, matched to its
# dockerd); /usr/local/bin/docker, a newer client, may come first on PATH and
# also works (it negotiates the API version down), but the tests and this
# script name /usr/bin/docker. Must run as root.
set -eu

STATE=${EBPF_MONITOR_DOCKER_STATE:-/run/ebpf-monitor-docker.started}
LOCK=/run/ebpf-monitor-docker.lock
LOGDIR=/var/log
IMAGE=ebpf-monitor/busybox:latest
DOCKER=/usr/bin/docker
CONTAINERD_SOCK=/run/containerd/containerd.sock
DOCKER_SOCK=/var/run/docker.sock
TEST_PREFIX=ebpf-monitor-test
WAIT_SECONDS=60

say() { echo "docker.sh: $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Seconds since $1 (from now_ms), with one decimal.
since() { ms=$(($(now_ms) - $1)); echo "$((ms / 1000)).$((ms % 1000 / 100)) s"; }
die() { say "error: $*"; exit 1; }

# Pids of the processes whose comm is exactly $1 (no pgrep: procps may be absent).
pids_of() {
	for f in /proc/[0-9]*/comm; do
		read -r c <"$f" 2>/dev/null || continue
		[ "$c" = "$1" ] || continue
		p=${f#/proc/}
		echo "${p%/comm}"
	done
}

running() { [ -n "$(pids_of "$1")" ]; }

# Is pid $1 alive and still the process named $2 (guards against pid reuse)?
alive_as() {
	c=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
	[ "$c" = "$2" ]
}

daemon_ready() { "$DOCKER" info >/dev/null 2>&1; }

image_present() { "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; }

install_packages() {
	export DEBIAN_FRONTEND=noninteractive
	# No systemd runs here (pid 1 is not systemd, /run/systemd/system is
	# absent), so deb-systemd-invoke does nothing. invoke-rc.d would still run
	# /etc/init.d/docker start: a policy-rc.d that says 101 ("action
	# forbidden") keeps the postinst from starting anything. An existing one
	# is left as it is.
	policy=/usr/sbin/policy-rc.d
	added_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		added_policy=1
	fi
	say "installing $*"
	t_install=$(now_ms)
	rc=0
	# An install that was cut off makes dpkg refuse every other until it is finished.
	dpkg --configure -a >/dev/null 2>&1 || true
	{ apt-get update -qq >/dev/null || apt-get update; } &&
		{ apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
			apt-get install -y --no-install-recommends "$@"; } || rc=$?
	[ "$added_policy" = 1 ] && rm -f "$policy"
	[ "$rc" = 0 ] || die "apt-get install $* failed ($rc)"
	say "installed in $(since "$t_install")"
}

# Starts $1 (a name) running "$@" (after the name) in its own session, output
# to $LOGDIR/ebpf-monitor-$1.log, and records its pid in $STATE.
start_daemon() {
	name=$1
	shift
	log=$LOGDIR/ebpf-monitor-$name.log
	say "starting $name (log $log)"
	# setsid: not in the caller's process group, so a Ctrl-C on `make test`
	# or a test killing its group does not reach the daemon. A background
	# child of a non-interactive shell is no group leader, so setsid execs in
	# place and $! is the daemon's pid.
	# 9>&-: the lock's descriptor must not live on in the daemon.
	setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
	pid=$!
	echo "$name $pid" >>"$STATE"
}

# Waits up to $WAIT_SECONDS for $1 (a command) to succeed while the daemon
# named $2 with pid $3 (empty: not ours) stays alive.
wait_for() {
	check=$1 name=$2 pid=$3
	i=0
	while ! $check; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$LOGDIR/ebpf-monitor-$name.log" >&2 || true
			die "$name exited during start-up; see $LOGDIR/ebpf-monitor-$name.log"
		fi
		i=$((i + 1))
		[ "$i" -le $((WAIT_SECONDS * 10)) ] || die "$name not ready after $WAIT_SECONDS s"
		sleep 0.1
	done
}

containerd_ready() { [ -S "$CONTAINERD_SOCK" ] && ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; }

build_image() {
	busybox=/bin/busybox
	# Debian's plain `busybox` is dynamically linked: the image needs the static one.
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" ||
		install_packages busybox-static
	root=$(mktemp -d /tmp/ebpf-monitor-rootfs.XXXXXX)
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
	chmod 1777 "$root/tmp"
	cp "$busybox" "$root/bin/busybox"
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
	done
	for applet in sh echo cat ls mkdir touch sleep rm; do
		[ -L "$root/bin/$applet" ] || die "busybox has no applet $applet"
	done
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	say "importing $IMAGE ($("$busybox" | head -n 1 | cut -d' ' -f1-2))"
	tar -C "$root" --numeric-owner -cf - . |
		"$DOCKER" import --change 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
	rm -rf "$root"
	trap - EXIT
}

# Drops $STATE when none of its pids is still the daemon it names (a crash,
# or someone stopped them by hand).
forget_stale_state() {
	[ -f "$STATE" ] || return 0
	while read -r name pid; do
		alive_as "$pid" "$name" && return 0
	done <"$STATE"
	rm -f "$STATE"
}

start() {
	# Fast path: the daemon answers and the image is there.
	# (A client that finds no daemon takes most of a second to say so: look for the socket first.)
	if [ -x "$DOCKER" ] && [ -S "$DOCKER_SOCK" ] && image_present; then
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "must run as root: sudo sh $0 start"
	exec 9>"$LOCK"
	flock -w 120 9 || die "$LOCK: still locked after 120 s"
	t_start=$(now_ms)
	command -v dockerd >/dev/null 2>&1 && [ -x "$DOCKER" ] ||
		install_packages docker.io busybox-static
	forget_stale_state

	if ! daemon_ready; then
		t_daemons=$(now_ms)
		if [ -z "$(ls /sys/fs/cgroup 2>/dev/null)" ]; then
			say "mounting cgroup2 on /sys/fs/cgroup"
			mount -t cgroup2 cgroup2 /sys/fs/cgroup
		fi
		if ! running containerd; then
			start_daemon containerd containerd
			wait_for containerd_ready containerd "$pid"
		fi
		if ! running dockerd; then
			start_daemon dockerd dockerd --iptables=false --ip6tables=false --bridge=none \
				--containerd="$CONTAINERD_SOCK"
			wait_for daemon_ready dockerd "$pid"
		else
			wait_for daemon_ready dockerd ""
		fi
		say "dockerd ready in $(since "$t_daemons"): $("$DOCKER" version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}})')"
	fi
	if ! image_present; then
		t_image=$(now_ms)
		build_image
		say "image imported in $(since "$t_image")"
	fi
	say "ready in $(since "$t_start")"
}

# Stops the daemon named $1 if $STATE says this script started it.
stop_ours() {
	name=$1
	t_stop=$(now_ms)
	[ -f "$STATE" ] || return 0
	pid=$(awk -v n="$name" '$1 == n { print $2 }' "$STATE" | tail -n 1)
	[ -n "$pid" ] || return 0
	alive_as "$pid" "$name" || return 0
	say "stopping $name ($pid)"
	kill -TERM "$pid" 2>/dev/null || return 0
	# dockerd stops running containers first (10 s each by default).
	i=0
	while alive_as "$pid" "$name"; do
		i=$((i + 1))
		if [ "$i" -gt 400 ]; then
			say "$name ($pid) still runs after 40 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
			break
		fi
		sleep 0.1
	done
	say "$name stopped in $(since "$t_stop")"
}

# Shims that the containerd we started left behind (they outlive it by
# design; with no containers running there are none).
stop_shims() {
	for pid in $(pids_of containerd-shim); do
		grep -qa "$CONTAINERD_SOCK" "/proc/$pid/cmdline" 2>/dev/null || continue
		say "stopping leftover containerd-shim ($pid)"
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while alive_as "$pid" containerd-shim && [ "$i" -lt 50 ]; do
			i=$((i + 1))
			sleep 0.1
		done
	done
}

remove_test_objects() {
	[ -S "$DOCKER_SOCK" ] && daemon_ready || return 0
	containers=$("$DOCKER" ps -aq --filter "name=$TEST_PREFIX" 2>/dev/null || true)
	[ -z "$containers" ] || "$DOCKER" rm -f $containers >/dev/null 2>&1 || true
	volumes=$("$DOCKER" volume ls -q --filter "name=$TEST_PREFIX" 2>/dev/null || true)
	[ -z "$volumes" ] || "$DOCKER" volume rm -f $volumes >/dev/null 2>&1 || true
}

stop() {
	[ "$(id -u)" = 0 ] || die "must run as root: sudo sh $0 stop"
	if [ -x "$DOCKER" ]; then remove_test_objects; fi
	[ -f "$STATE" ] || return 0
	exec 9>"$LOCK"
	flock -w 120 9 || die "$LOCK: still locked after 120 s"
	stop_ours dockerd
	stopped_containerd=0
	if awk '$1 == "containerd" { found = 1 } END { exit !found }' "$STATE"; then
		stop_ours containerd
		stopped_containerd=1
	fi
	[ "$stopped_containerd" = 0 ] || stop_shims
	rm -f "$STATE"
}

status() {
	for name in containerd dockerd; do
		pids=$(pids_of "$name" | tr '\n' ' ')
		echo "$name: ${pids:-not running}"
	done
	if [ -f "$STATE" ]; then echo "started by docker.sh: $(tr '\n' ' ' <"$STATE")"; fi
	if daemon_ready; then
		image_present && echo "image $IMAGE: present" || echo "image $IMAGE: missing"
	fi
}

case ${1:-} in
start) start ;;
stop) stop ;;
clean)
	[ "$(id -u)" = 0 ] || die "must run as root: sudo sh $0 clean"
	[ ! -x "$DOCKER" ] || remove_test_objects
	;;
status) status ;;
*)
	echo "usage: $0 start|stop|clean|status" >&2
	exit 2
	;;
esac
