#!/bin/sh
# make lint (check) and make format (rewrite): Swift through `swift format`
# (it ships with the toolchain; configuration in .swift-format) and bpf/
# through clang-format (configuration in .clang-format). Installs Debian's
# clang-format when it is missing and we are root.
set -eu
cd "$(dirname "$0")/.."

mode=${1:-check}
swift_paths="Package.swift Sources Tests"
c_files=$(find bpf -name '*.c' -o -name '*.h' | sort)

if ! command -v clang-format >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "lint: clang-format is missing; run: sudo apt-get install clang-format" >&2
		exit 1
	fi
	echo "lint: installing clang-format" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq clang-format >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq clang-format >/dev/null; }
fi

if [ "$mode" = fix ]; then
	swift format --in-place --recursive --parallel $swift_paths
	clang-format -i $c_files
	exit 0
fi

status=0
swift format lint --strict --recursive --parallel $swift_paths || status=1
clang-format --dry-run --Werror $c_files || status=1
[ "$status" = 0 ] && echo "lint: Swift and bpf/ are formatted" >&2
[ "$status" = 0 ] || echo "lint: run 'make format' to fix the files above" >&2
exit $status
