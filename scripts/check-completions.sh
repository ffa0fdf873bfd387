#!/bin/sh
# Completes a few command lines with the installed completion scripts, as a
# user's shell would, and checks what comes back. bash: the completion
# function called as bash's `complete` calls it. zsh: an interactive zsh in a
# pseudo-terminal (zsh/zpty), given the line and a Tab; zsh is installed when
# missing.
#
#   sh scripts/check-completions.sh PREFIX     (PREFIX holds bin/ and share/)
set -eu
prefix=$1
PATH=$prefix/bin:$PATH
export PATH
status=0
fail() {
	echo "check-completions: $*" >&2
	status=1
}

# bash: the words and the index of the one completed, as `complete -F` passes them.
bash_complete() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_ebpf-monitor ebpf-monitor "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' sh "$prefix/share/bash-completion/completions/ebpf-monitor" "$@"
}
bash_complete ebpf-monitor --summ | grep -qx -- '--summary-only' || fail "bash: --summ does not complete to --summary-only"
bash_complete ebpf-monitor --format '' | grep -qx json || fail "bash: --format does not offer json"

if ! command -v zsh >/dev/null; then
	[ "$(id -u)" = 0 ] || { fail "zsh is missing (apt-get install zsh)"; exit 1; }
	apt-get install -y -qq zsh >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq zsh >/dev/null; }
fi
# zsh: what the line reads after a Tab, with anything zsh printed on the way.
zsh_complete() {
	zsh -f -c '
		zmodload zsh/zpty
		zpty z zsh -f -i
		zpty -w z "PS1=\"> \"; fpath=($1/share/zsh/site-functions \$fpath); autoload -U compinit; compinit -u -D"
		zpty -w -n z "$2"$'"'"'\t'"'"'
		sleep 1
		out=""
		while zpty -r -t z chunk; do out+=$chunk; done
		zpty -d z
		print -r -- "$out"' zsh "$prefix" "$1"
}
out=$(zsh_complete 'ebpf-monitor --summ')
echo "$out" | grep -q -- 'ebpf-monitor --summary-only' || fail "zsh: --summ does not complete to --summary-only"
echo "$out" | grep -q '_arguments' && fail "zsh: the completion fails: $(echo "$out" | grep _arguments)"
zsh_complete 'ebpf-monitor --utc -- mkfif' | grep -q -- '-- mkfifo' || fail "zsh: the command after -- does not complete"
[ "$status" = 0 ] && echo "check-completions: bash and zsh complete options, their values and the command after --"
exit "$status"
