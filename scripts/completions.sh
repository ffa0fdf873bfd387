#!/bin/sh
# make completions: the bash and zsh completion scripts, generated from the
# binary's own options by swift-argument-parser, into DIR.
#
#   sh scripts/completions.sh BINARY DIR
#
# The zsh script is corrected on the way: for a command whose last argument
# is a command line after `--`, the generator writes two rest-argument specs
# (the command's, and one for the `help` subcommand), which zsh refuses
# ("doubled rest argument definition") on every completion. The one kept
# completes the command after `--` as zsh completes any command line.
set -eu
binary=$1
dir=$2
mkdir -p "$dir"
"$binary" --generate-completion-script bash >"$dir/ebpf-monitor.bash"
"$binary" --generate-completion-script zsh | sed \
	-e "/^        '(-): :->command'\$/d" \
	-e "/^        '(-)\*:: :->arg'\$/d" \
	-e "s/^        '\*:command:'\$/        '*:::command:_normal'/" >"$dir/_ebpf-monitor"
grep -q "'\*:::command:_normal'" "$dir/_ebpf-monitor" || {
	echo "completions: the zsh script's command spec was not found; the generator's output changed" >&2
	exit 1
}
