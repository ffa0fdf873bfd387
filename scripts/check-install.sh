#!/bin/sh
# make check-install: `make install` into a staging DESTDIR, then checks that
# the four files are in place and work: the binary prints its help, the man
# page formats without warnings, the completion scripts complete command
# lines in bash and zsh (scripts/check-completions.sh). The stage is
# removed afterwards. Arguments are passed on to make (BUILD_DIR=..., SWIFT=...).
set -eu
cd "$(dirname "$0")/.."

stage=$(mktemp -d /tmp/ebpf-monitor-stage-XXXXXX)
trap 'rm -rf "$stage"' EXIT
make --no-print-directory install DESTDIR="$stage" PREFIX=/usr/local "$@"
prefix=$stage/usr/local

status=0
fail() {
	echo "check-install: $*" >&2
	status=1
}
"$prefix/bin/ebpf-monitor" --help | grep -q -- '--summary-only' || fail "bin/ebpf-monitor --help does not run"
page=$prefix/share/man/man1/ebpf-monitor.1
[ -f "$page" ] || fail "no $page"
warnings=$(groff -mdoc -ww -z -Tutf8 "$page" 2>&1) || fail "groff cannot format $page"
[ -z "$warnings" ] || fail "the man page has warnings: $warnings"
bash -n "$prefix/share/bash-completion/completions/ebpf-monitor" || fail "the bash completion does not parse"
zsh_completion=$prefix/share/zsh/site-functions/_ebpf-monitor
head -n 1 "$zsh_completion" | grep -q '^#compdef ebpf-monitor' || fail "the zsh completion has no #compdef line"
sh scripts/check-completions.sh "$prefix" || fail "the completions do not complete"
[ "$status" = 0 ] && echo "check-install: the binary, man page and bash and zsh completions install and work"
exit "$status"
