#!/bin/sh
# Installs what ebpf-monitor needs to build and run: BCC, libbpf, kernel
# headers, tracefs. Idempotent and quick when everything is present.
set -eu

release=$(uname -r)
packages="libbpfcc-dev libbpf-dev bpftool pkg-config"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done

headers_dir=/lib/modules/$release/build
if [ ! -e "$headers_dir/include" ]; then
	if apt-cache show "linux-headers-$release" >/dev/null 2>&1; then
		missing="$missing linux-headers-$release"
	else
		missing="$missing linux-headers-amd64"
	fi
fi

if [ -n "$missing" ]; then
	echo "setup: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || apt-get update -qq
	apt-get install -y -qq $missing >/dev/null || apt-get install -y $missing
fi

# No headers for this exact kernel: link the nearest generic ones. BCC needs
# build -> the -amd64 dir and source -> the -common dir; BCC_KERNEL_SOURCE
# alone does not work with Debian's split headers.
if [ ! -e "$headers_dir/include" ]; then
	arch_dir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
	common_dir=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$arch_dir" ] || [ -z "$common_dir" ]; then
		echo "setup: no kernel headers could be installed for $release" >&2
		exit 1
	fi
	mkdir -p "/lib/modules/$release"
	ln -sfn "$arch_dir" "/lib/modules/$release/build"
	ln -sfn "$common_dir" "/lib/modules/$release/source"
	echo "setup: warning: no headers for $release; linked $(basename "$arch_dir")." >&2
	echo "setup: warning: their struct layouts differ; ebpf-monitor takes offsets from BTF." >&2
fi

if [ ! -e /sys/kernel/tracing/events ]; then
	mount -t tracefs tracefs /sys/kernel/tracing
fi
