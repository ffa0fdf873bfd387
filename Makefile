# ebpf-monitor
#
#   make run                  trace the built-in demo (scripts/demo.sh)
#   make run ARGS='--pid=N'   pass arguments to ebpf-monitor instead
#   make test                 unit and integration tests (root for the latter)
#   make unit                 unit tests alone: no root, no setup, no Docker
#   make lint | format        check | rewrite the Swift and bpf/ formatting
#   make test-kernels         the real binary in QEMU on Debian's 5.10, 6.1, 6.12
#   make bench                overhead against untraced and strace -f
#   make storm                syscall storms: the rate at which events start to be lost
#   make attribution-bench    daemon attribution on the fixture designs and real servers,
#                             and what being followed costs a daemon
#   make fuzz                 the decoder, tracker and parsers under libFuzzer (FUZZ_SECONDS each)
#   make install | uninstall  the binary, man page and completions under PREFIX
#   make check-install        make install into a temporary DESTDIR, checked
#   make setup | build | clean
#
# Every target that needs the machine set up does it itself: `make setup` is
# idempotent and takes a fraction of a second when all is present. Tracing
# needs root; when make is not run as root, run and bench use sudo.

SHELL := /bin/bash
# The Swift toolchain lives here on our machines, and may not be on PATH in CI.
export PATH := $(PATH):/opt/swift/usr/bin

SWIFT ?= swift
# SwiftPM's build folder; another (e.g. BUILD_DIR=.build-mine) builds apart.
BUILD_DIR ?= .build
SWIFT_FLAGS := $(if $(filter .build,$(BUILD_DIR)),,--scratch-path $(BUILD_DIR))
ARGS ?=
# Extra flags for `swift test`, e.g. TEST_FLAGS='--filter MonitorTests'.
TEST_FLAGS ?=
DEMO := sh scripts/demo.sh
BIN := $(BUILD_DIR)/release/ebpf-monitor
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all help setup build test unit lint format run bench fuzz clean

all: build

help:
	@sed -n '3,15s/^# \{0,1\}//p' Makefile

setup:
	@$(SUDO) sh scripts/setup.sh

# Release build: what `make run` and `make bench` use.
build: setup
	$(SWIFT) build -c release $(SWIFT_FLAGS)

# Debug build, then every test target (MonitorTests, IntegrationTests). The
# debug executable is built first: the integration tests run it. Tests run
# one at a time (--no-parallel; Swift Testing is parallel by default): the
# unit tests take milliseconds anyway, and integration tests that load probes
# and run bursts of processes on 2 cores would disturb each other.
# The Docker tests need dockerd: scripts/with-docker.sh installs and starts it
# (scripts/docker.sh start: 13-40 s on a fresh machine, ~1 s to start the
# installed daemons, nothing when they run),
# and afterwards stops what it started, even when the tests fail.
test:
	@$(SUDO) sh scripts/setup.sh --tests
	$(SWIFT) build $(SWIFT_FLAGS)
	bash scripts/with-docker.sh $(SWIFT) test --no-parallel $(SWIFT_FLAGS) $(TEST_FLAGS)

# The unit tests (MonitorTests) alone, in a build that leaves out every
# target needing libbcc or libbpf (see Package.swift), so nothing needs root
# or the machine set up.
unit:
	EBPF_MONITOR_UNIT_ONLY=1 $(SWIFT) test --no-parallel --scratch-path $(BUILD_DIR)-unit $(TEST_FLAGS)

lint:
	@sh scripts/lint.sh check

format:
	@sh scripts/lint.sh fix

run: build
	$(SUDO) $(BIN) $(if $(strip $(ARGS)),$(ARGS),-- $(DEMO))

bench: build
	$(SUDO) env MONITOR=$(BIN) $(if $(BASELINE),BASELINE=$(BASELINE)) bash bench/bench.sh

# Attribution of daemon work: precision and recall of the files
# credited to a watched client of each fixture daemon, with 1, 2 and 8
# clients, and what being followed costs a daemon's throughput (against an
# unfollowed twin, and against no monitor). Options in bench/attribution.py
# (DESIGNS, CLIENTS, REQUESTS, SECONDS, ...).
# Debian's stock kernels under QEMU (TCG), the real binary and a scenario set
# inside each: Tests/KernelMatrix/matrix.py. KERNELS='6.1 6.12' picks some.
# The guests have no Swift runtime: the binary is built with -static-stdlib,
# in a build folder of its own.
KERNELS ?=
.PHONY: test-kernels
test-kernels:
	@$(SUDO) sh scripts/setup.sh --kernels
	$(SWIFT) build -c release --scratch-path $(BUILD_DIR)-static -Xswiftc -static-stdlib
	$(SUDO) python3 Tests/KernelMatrix/matrix.py --monitor $(BUILD_DIR)-static/release/ebpf-monitor $(KERNELS)

# Syscall storms at set rates (bench/storm.sh: RATES, MIXES, SECONDS_EACH):
# what the trace shows against the calls made, and what was counted lost.
.PHONY: storm
storm: build
	$(SUDO) env MONITOR=$(BIN) bash bench/storm.sh

# Attribution of daemon work (bench/attribution.py: DESIGNS, CLIENTS, SERVERS,
# TURNS and more): precision and recall on the fixture daemons and Debian's
# servers, the cost of being followed, the hooks' cost to untraced processes.
.PHONY: attribution-bench
attribution-bench: build
	@$(SUDO) sh scripts/setup.sh --tests
	$(SUDO) env MONITOR=$(BIN) $(if $(BASELINE),BASELINE=$(BASELINE)) python3 bench/attribution.py

# Installation, with DESTDIR for staging (make install DESTDIR=/tmp/stage).
# The man page and the completion scripts are generated from the release
# binary's own options, so they never disagree with --help.
PREFIX ?= /usr/local
DESTDIR ?=
SHARE_DIR := $(BUILD_DIR)/share
INSTALLED := $(DESTDIR)$(PREFIX)/bin/ebpf-monitor \
	$(DESTDIR)$(PREFIX)/share/man/man1/ebpf-monitor.1 \
	$(DESTDIR)$(PREFIX)/share/bash-completion/completions/ebpf-monitor \
	$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ebpf-monitor
.PHONY: man completions install uninstall check-install

man: build
	SWIFT=$(SWIFT) sh scripts/manual.sh $(SHARE_DIR) $(SWIFT_FLAGS)

completions: build
	sh scripts/completions.sh $(BIN) $(SHARE_DIR)

install: build man completions
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ebpf-monitor
	install -D -m 0644 $(SHARE_DIR)/ebpf-monitor.1 $(DESTDIR)$(PREFIX)/share/man/man1/ebpf-monitor.1
	install -D -m 0644 $(SHARE_DIR)/ebpf-monitor.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ebpf-monitor
	install -D -m 0644 $(SHARE_DIR)/_ebpf-monitor $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ebpf-monitor

uninstall:
	rm -f $(INSTALLED)

# make install into a temporary DESTDIR, and the four files checked there.
check-install:
	sh scripts/check-install.sh BUILD_DIR=$(BUILD_DIR) SWIFT=$(SWIFT)

# libFuzzer with the address sanitizer, FUZZ_SECONDS for each target:
# FuzzTracker feeds malformed record streams to the decoder, the tracker, the
# sinks and the redactor; FuzzParsers feeds malformed sock_diag replies and
# hostile /proc contents (stat, cmdline, status, fdinfo, mountinfo, fd links)
# to their parsers, C and Swift alike. Seeds are kept in Tests/Fuzz/corpus
# and Tests/Fuzz/corpus-parsers (Tests/Fuzz/seeds.py). What a run finds goes
# to $(FUZZ_DIR)/corpus-TARGET, and a crash to $(FUZZ_DIR)/TARGET-crash-*,
# which `make fuzz` then fails on. A crash becomes a unit test.
FUZZ_SECONDS ?= 60
FUZZ_DIR := $(BUILD_DIR)-fuzz
# $(call fuzz-run,TARGET,SEEDS,MAX_LEN): one target's run.
fuzz-run = mkdir -p $(FUZZ_DIR)/corpus-$(1) && $(FUZZ_DIR)/debug/$(1) -max_total_time=$(FUZZ_SECONDS) \
	-max_len=$(3) -timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/$(1)- \
	$(FUZZ_DIR)/corpus-$(1) Tests/Fuzz/$(2)
fuzz:
	EBPF_MONITOR_FUZZ=1 $(SWIFT) build --scratch-path $(FUZZ_DIR) \
		-Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address
	$(call fuzz-run,FuzzTracker,corpus,16384)
	$(call fuzz-run,FuzzParsers,corpus-parsers,8192)

clean:
	$(SWIFT) package clean $(SWIFT_FLAGS)
	rm -rf $(BUILD_DIR)-unit $(BUILD_DIR)-static $(BUILD_DIR)-fuzz $(SHARE_DIR)
	rm -rf bench-results
