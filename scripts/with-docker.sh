#!/usr/bin/env bash
# with-docker.sh CMD [ARGS...]: runs CMD with Docker up (scripts/docker.sh
# start), then stops what that start started, whether CMD passes, fails or is
# interrupted, and whether or not the start itself got all the way. Daemons
# that ran before (started by hand, by an earlier `docker.sh start`, or by
# anyone else) stay up; only the tests' leftover containers and volumes
# (named ebpf-monitor-test*) are removed from them. Exits with CMD's status.
# Docker needs root: when not root, docker.sh runs under sudo and CMD does not.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${EBPF_MONITOR_DOCKER_STATE:-/run/ebpf-monitor-docker.started}
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

before=$(cat "$state" 2>/dev/null || true)
cleanup() {
	local after
	after=$(cat "$state" 2>/dev/null || true)
	if [ -n "$after" ] && [ "$after" != "$before" ]; then
		$sudo sh "$here/docker.sh" stop
	else
		$sudo sh "$here/docker.sh" clean
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

$sudo sh "$here/docker.sh" start || exit $?

# CMD runs as a child that the shell waits for, so that a SIGINT or SIGTERM
# sent to this script alone is passed on at once instead of after CMD ends.
# `<&0`: keep stdin (a background child would get /dev/null).
"$@" <&0 &
child=$!
trap 'kill -INT "$child" 2>/dev/null' INT
trap 'kill -TERM "$child" 2>/dev/null' TERM
while :; do
	wait "$child"
	status=$?
	# wait returns early when a trapped signal arrives: wait again until CMD is gone.
	kill -0 "$child" 2>/dev/null || break
done
exit "$status"
