#!/bin/sh
# Installs what ebpf-monitor needs to build, test, run and benchmark: BCC,
# libbpf, bpftool, kernel headers, tracefs; python3 for the demo and the
# test fixtures; strace and GNU time for `make bench`. Idempotent: when
# everything is present it runs no apt at all and takes well under a second.
# With --tests (make test), also Go, for the Go fixture daemon of the
# attribution tests, and the real servers of RealServerTests (Apache with
# mod_cgid, nginx with php-fpm, a JDK, MariaDB, memcached, curl), and
# Chromium, which ReportBrowserTests run headless to open the --report page.
# The tests start their own instances; the packaged services are kept from
# starting at install. With --kernels (make test-kernels), also QEMU and the tools
# that make its guests (mmdebstrap, cpio, zstd), and gcc and Go for the
# fixtures they run. Must run as root (Debian/Ubuntu).
set -eu

release=$(uname -r)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
packages="libbpfcc-dev libbpf-dev bpftool pkg-config python3 strace time"
servers="apache2 nginx-light php-fpm default-jdk-headless mariadb-server mariadb-client memcached curl"
[ "${1:-}" = "--tests" ] && packages="$packages golang-go $servers chromium"
[ "${1:-}" = "--kernels" ] && packages="$packages golang-go gcc qemu-system-x86 mmdebstrap cpio zstd"
headers_dir=/lib/modules/$release/build

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

# Newest installed Debian header dirs: <ver>-<arch> (build) and <ver>-common (source).
find_headers() {
	arch_dir=$(ls -d /usr/src/linux-headers-*-"$arch" 2>/dev/null | sort -V | tail -n 1)
	common_dir=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1)
	[ -n "$arch_dir" ] && [ -n "$common_dir" ]
}

have_headers() {
	[ -e "$headers_dir/include" ] || [ -e "$headers_dir/Makefile" ]
}

missing=""
for p in $packages; do
	installed "$p" || missing="$missing $p"
done

# Headers: only install a package when neither the exact headers nor any
# generic ones are on disk. A missing link alone is fixed below, without apt.
need_headers=0
if ! have_headers && ! installed "linux-headers-$release" && ! find_headers; then
	need_headers=1
fi

if [ -n "$missing" ] || [ "$need_headers" = 1 ]; then
	if [ "$(id -u)" != 0 ]; then
		[ "$need_headers" = 1 ] && missing="$missing (kernel headers)"
		echo "setup: need root to install:$missing; run: sudo make setup" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	echo "setup: apt-get update" >&2
	apt-get update -qq >/dev/null || apt-get update
	if [ "$need_headers" = 1 ]; then
		# Prefer the distribution's headers for this exact kernel.
		if apt-cache show "linux-headers-$release" >/dev/null 2>&1; then
			missing="$missing linux-headers-$release"
		else
			missing="$missing linux-headers-$arch"
		fi
	fi
	# Debian's maintainer scripts start each service they install; a
	# policy-rc.d that answers 101 keeps them stopped. An existing one is
	# left as it is; ours is removed when the install ends.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	echo "setup: installing$missing" >&2
	# An install that was cut off makes dpkg refuse every other until it is finished.
	dpkg --configure -a >/dev/null 2>&1 || true
	apt-get install -y -qq $missing >/dev/null || apt-get install -y $missing
fi

# No headers for this exact kernel: link the nearest generic ones. BCC needs
# build -> the -<arch> dir and source -> the -common dir; BCC_KERNEL_SOURCE
# alone does not work with Debian's split headers.
if ! have_headers; then
	if ! find_headers; then
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
