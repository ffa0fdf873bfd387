#!/bin/sh
# make man: the manual page, generated from the command's own --help by
# swift-argument-parser's GenerateManual plugin (`swift package
# generate-manual`), then fixed in two places:
# - the generator lists the parser's implicit `help` subcommand, and so puts
#   a `subcommand` word in the synopsis: this command has no subcommands;
# - it fills the discussion into one paragraph: its example lines are kept
#   as lines, as --help shows them.
# Usage: scripts/manual.sh OUTPUT_DIR [swift package options, e.g. --scratch-path X]
set -eu
cd "$(dirname "$0")/.."

out=$1
shift
# The page's date: the last commit's, so a rebuild gives the same page.
date=$(git log -1 --format=%cs 2>/dev/null || date +%F)
mkdir -p "$out/generated"
${SWIFT:-swift} package "$@" generate-manual --configuration release --date "$date" -o "$out/generated"

awk '
/^\.Sh / { section = $2 }
section == "SYNOPSIS" && $0 == ".Ar subcommand" { next }
$0 == ".It Em help" { skipping = 1; next }
skipping { if ($0 == ".El") skipping = 0; next }
section == "DESCRIPTION" && /^\.Bl/ { section = "options" }
section == "DESCRIPTION" && !/^\.Sh/ { if ($0 == "") print ".Pp"; else { print; print ".br" }; next }
{ print }
' "$out/generated/ebpf-monitor.1" >"$out/ebpf-monitor.1"

if grep -q subcommand "$out/ebpf-monitor.1"; then
	echo "manual: the generator's help subcommand is still in $out/ebpf-monitor.1" >&2
	exit 1
fi
