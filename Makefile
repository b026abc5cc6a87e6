# claude-bpf: build, test, install.
#   make                 build build/claude-bpf (BPF object and skeleton too)
#   make deps            install the Debian packages it needs (root)
#   make test            unit tests, then integration tests (root for the latter)
#   make test-unit       cmocka unit tests, no root
#   make SAN=1 test      the same with AddressSanitizer and UBSan
#   make vmlinux         regenerate vmlinux/vmlinux.h from the running kernel
#   make bench           benchmarks against no filter, iptables, nftables (root;
#                        QUICK=1 for the reduced suite); see bench/README.md
#   make vmtest          integration tests in qemu guests: Debian kernels, pure
#                        cgroup v2, systemd, rootless podman (root; KERNEL=6.1)
#   make install         to $(DESTDIR)$(PREFIX)/sbin
#   make image           build the agent's image $(IMAGE) with podman
#   make image BASE=debootstrap   ... on a base made here with debootstrap
#   make image-base      (re)make that base, $(BASE_LOCAL)
#   V=1                  show the full commands

PREFIX  ?= /usr/local
CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# SANITIZE=1 is the same as SAN=1.
SAN ?= $(SANITIZE)
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build
endif

CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(SANFLAGS) \
	-Iinclude -Iuser -I$(BUILD)
override LDFLAGS += $(SANFLAGS)
LDLIBS  := -lbpf -lelf -lz -lcares
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Werror \
	-Iinclude -Ivmlinux

DEB_PACKAGES := build-essential clang llvm libclang-rt-dev clang-tidy cppcheck libbpf-dev bpftool libelf-dev \
	zlib1g-dev libc-ares-dev libcmocka-dev pkg-config iproute2 dnsmasq-base jq \
	podman runc conmon netavark aardvark-dns iptables busybox-static
# For `make image` and `claude-bpf run`: podman (rootless too: uidmap,
# slirp4netns), runc (crun refuses hybrid cgroups), debootstrap for the base.
IMAGE_PACKAGES := podman runc uidmap slirp4netns debootstrap debian-archive-keyring
# For `make bench`: what it compares against, its DNS server, CPU pinning.
BENCH_PACKAGES := iptables nftables dnsmasq-base jq util-linux
# For `make vmtest`: qemu, the guest's root file system and its disks, the
# kernel packages' modules and the busybox initramfs.
VM_PACKAGES := qemu-system-x86 debootstrap debian-archive-keyring e2fsprogs kmod cpio \
	busybox-static

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Modules free of libbpf: unit tests link these.
PURE_SRCS := user/errors.c user/config.c user/rules.c user/cgroup.c user/resolve.c \
	user/podman.c user/leak.c
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
PURE_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(PURE_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOL_BINS := $(BUILD)/tests/probe $(BUILD)/tests/probe-static $(BUILD)/tests/events
BENCH_BINS := $(BUILD)/bench/netbench $(BUILD)/bench/resolvebench $(BUILD)/bench/hooks.bpf.o

.DELETE_ON_ERROR:
.PHONY: all deps test test-unit test-integration test-image install uninstall vmlinux clean \
	image image-base bench fuzz lint vmtest

all: $(BUILD)/claude-bpf

$(BUILD)/claude_bpf.bpf.o: bpf/claude_bpf.bpf.c include/claude_bpf.h vmlinux/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/claude_bpf.skel.h: $(BUILD)/claude_bpf.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name claude_bpf > $@

$(BUILD)/user/%.o: user/%.c $(wildcard user/*.h) include/claude_bpf.h | $(BUILD)/claude_bpf.skel.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# store.c embeds the BPF object through the skeleton: it is rebuilt with it.
$(BUILD)/user/store.o: $(BUILD)/claude_bpf.skel.h

$(BUILD)/claude-bpf: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(PURE_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -lcmocka -lcares -o $@

# The probe runs the leak matrix of selftest too (user/leak.c, free of libbpf).
PROBE_SRCS := tests/tools/probe.c user/leak.c user/cgroup.c
$(BUILD)/tests/probe: $(PROBE_SRCS) user/leak.h user/cgroup.h include/claude_bpf.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(PROBE_SRCS) -o $@

# The probe inside the podman tests' busybox image, which has no libc.
# Without the sanitizers: they do not link statically.
$(BUILD)/tests/probe-static: $(PROBE_SRCS) user/leak.h user/cgroup.h include/claude_bpf.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) -static $(PROBE_SRCS) -o $@

$(BUILD)/tests/events: tests/tools/events.c include/claude_bpf.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@

$(BUILD)/bench/%: bench/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@

# Programs that allow everything, on the same hooks: the bench's floor.
$(BUILD)/bench/hooks.bpf.o: bench/hooks.bpf.c vmlinux/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES) \
		$(IMAGE_PACKAGES) $(BENCH_PACKAGES) $(VM_PACKAGES)

test: test-unit test-integration test-image

test-unit: $(UNIT_BINS)
	$(Q)tests/run-unit $(UNIT_BINS)

test-integration: $(BUILD)/claude-bpf $(TOOL_BINS)
	$(Q)BUILD=$(BUILD) tests/integration/run

# The integration tests in qemu guests, each a Debian kernel on a Debian
# root file system with systemd, pure cgroup v2 and podman, run with this
# build (root). KERNEL: 6.1 (Debian 12), 6.12 (Debian 13), or a package
# linux-image-*-cloud-amd64; see vmtest/README.md.
KERNEL ?= 6.1 6.12
vmtest: $(BUILD)/claude-bpf $(TOOL_BINS)
	$(Q)BUILD=$(BUILD) DEBIAN_MIRROR=$(DEBIAN_MIRROR) vmtest/run $(KERNEL)

# The real image, built from scratch, and Claude Code run in it by
# claude-bpf run (root; a few minutes).
test-image: $(BUILD)/claude-bpf
	$(Q)CBPF=$(CURDIR)/$(BUILD)/claude-bpf tests/integration/image-build.sh

# libFuzzer targets (clang), each run FUZZ_RUNS times from its seed corpus
# (copied, so the corpus in the repository stays as it is).
FUZZ_RUNS ?= 200000
FUZZ_BUILD := build-fuzz
FUZZ_TARGETS := config resolv
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Iuser \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(PURE_SRCS) $(wildcard user/*.h)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) $< $(PURE_SRCS) -lcares -o $@

fuzz: $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))
	$(Q)for t in $(FUZZ_TARGETS); do \
		rm -rf $(FUZZ_BUILD)/corpus-$$t && cp -r tests/fuzz/corpus/$$t $(FUZZ_BUILD)/corpus-$$t && \
		echo "  FUZZ     $$t ($(FUZZ_RUNS) runs)" && \
		$(FUZZ_BUILD)/fuzz_$$t -runs=$(FUZZ_RUNS) -max_len=4096 -print_final_stats=1 \
			$(FUZZ_BUILD)/corpus-$$t 2>$(FUZZ_BUILD)/fuzz-$$t.log || \
			{ tail -40 $(FUZZ_BUILD)/fuzz-$$t.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units' $(FUZZ_BUILD)/fuzz-$$t.log; \
	done

# Static analysis, clean or failing: clang-tidy (.clang-tidy) and cppcheck.
# Findings inside the generated skeleton are libbpf's, not ours.
LINT_SRCS := $(USER_SRCS) tests/tools/probe.c tests/tools/events.c
lint: $(BUILD)/claude_bpf.skel.h
	$(call msg,TIDY,$(LINT_SRCS))
	$(Q)clang-tidy --quiet $(LINT_SRCS) -- -std=c11 -D_GNU_SOURCE -Iinclude -Iuser -I$(BUILD) \
		2>/dev/null | grep -E '(warning|error):' | grep -vE '(^|/)$(BUILD)/' > $(BUILD)/lint.log; \
		if [ -s $(BUILD)/lint.log ]; then cat $(BUILD)/lint.log; exit 1; fi
	$(call msg,CPPCHECK,$(LINT_SRCS))
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--std=c11 -D_GNU_SOURCE -Iinclude -Iuser --suppress=missingIncludeSystem \
		--inline-suppr $(LINT_SRCS)

# Root; writes bench/results.md (QUICK=1: $(BUILD)/bench/results-quick.md).
bench: $(BUILD)/claude-bpf $(BENCH_BINS)
	$(Q)BUILD=$(BUILD) QUICK=$(if $(filter 1,$(QUICK)),1,0) bench/run

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

# --- The agent's image ------------------------------------------------------
# make image [IMAGE=claude-sandbox:latest] [BASE=IMAGE|debootstrap]
#            [REBUILD_BASE=1] [NO_CACHE=1]
#            [CLAUDE_CODE_VERSION=X.Y.Z] [CLAUDE_CODE_INSTALL=npm|official]
# The base is Debian's trixie-slim from the registry; when the registry cannot
# supply it (or with BASE=debootstrap) the base is made here with debootstrap
# from the Debian mirror this machine's apt uses, and kept as $(BASE_LOCAL)
# (remade by `make image-base`, or by REBUILD_BASE=1). The host's extra CA
# certificates ($(IMAGE_CA_DIR)/*.crt) are trusted by the build and the image.
IMAGE        ?= claude-sandbox:latest
BASE         ?= docker.io/library/debian:trixie-slim
BASE_LOCAL   ?= localhost/claude-sandbox-base:trixie
IMAGE_SUITE  ?= trixie
IMAGE_CA_DIR ?= /usr/local/share/ca-certificates
IMAGE_CTX    := $(BUILD)/image
IMAGE_ROOTFS := $(BUILD)/image-rootfs
PODMAN       ?= podman
IMAGE_VERBOSE := $(filter 1,$(V))
# Not $(MAKE) itself in the recipe: `make -n image` would then run it.
IMAGE_SUBMAKE = $(MAKE) --no-print-directory

# The first Debian mirror (and security mirror) in this machine's apt sources.
APT_URIS = { sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' \
	/etc/apt/sources.list /etc/apt/sources.list.d/*.list; \
	sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources; } 2>/dev/null | tr ' ' '\n'
DEBIAN_MIRROR ?= $(or $(shell $(APT_URIS) | sed -nE 's|^(https?://.*/debian)/?$$|\1|p' | head -n 1),http://deb.debian.org/debian)
DEBIAN_SECURITY_MIRROR ?= $(or $(shell $(APT_URIS) | sed -nE 's|^(https?://.*/debian-security)/?$$|\1|p' | head -n 1),http://deb.debian.org/debian-security)

# podman: a CONTAINERS_CONF from the environment or the command line wins.
# Otherwise podman/containers.conf (runc, no default ulimits) is used where
# podman's own defaults cannot start a container: cgroups not pure v2 (crun
# refuses hybrid mode), or root without CAP_SYS_RESOURCE (podman's default
# ulimits then fail with "error setting rlimits").
ifeq ($(origin CONTAINERS_CONF),undefined)
PODMAN_CONF_NEEDED := $(shell [ "$$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] || \
	{ [ "$$(id -u)" = 0 ] && [ $$(( 0x$$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status) >> 24 & 1 )) = 0 ]; } && echo yes)
PODMAN_ENV := $(if $(PODMAN_CONF_NEEDED),CONTAINERS_CONF=$(CURDIR)/podman/containers.conf)
endif

image:
	$(Q)base='$(BASE)'; \
	if [ "$$base" != debootstrap ] && ! $(PODMAN_ENV) $(PODMAN) image exists "$$base" && \
	   ! $(PODMAN_ENV) $(PODMAN) pull "$$base" >/dev/null; then \
		printf '  %-8s %s\n' BASE "no $$base from the registry: making the base with debootstrap"; \
		base=debootstrap; \
	fi; \
	if [ "$$base" = debootstrap ]; then \
		if [ "$(REBUILD_BASE)" = 1 ] || ! $(PODMAN_ENV) $(PODMAN) image exists $(BASE_LOCAL); then \
			$(IMAGE_SUBMAKE) image-base || exit 1; \
		fi; \
		base=$(BASE_LOCAL); \
	fi; \
	rm -rf $(IMAGE_CTX) && mkdir -p $(IMAGE_CTX)/ca && \
	if [ -d $(IMAGE_CA_DIR) ]; then \
		find -L $(IMAGE_CA_DIR) -type f -name '*.crt' -exec install -m 0644 {} $(IMAGE_CTX)/ca/ \; || exit 1; \
	fi; \
	printf '  %-8s %s\n' IMAGE "$(IMAGE) on $$base, $$(ls $(IMAGE_CTX)/ca | wc -l) extra CA certificate(s)$(if $(IMAGE_VERBOSE),, (log: $(BUILD)/image.log))"; \
	$(PODMAN_ENV) $(PODMAN) build -f Containerfile -t $(IMAGE) --build-arg BASE="$$base" \
		$(if $(CLAUDE_CODE_VERSION),--build-arg CLAUDE_CODE_VERSION=$(CLAUDE_CODE_VERSION)) \
		$(if $(CLAUDE_CODE_INSTALL),--build-arg CLAUDE_CODE_INSTALL=$(CLAUDE_CODE_INSTALL)) \
		$(if $(NO_CACHE),--no-cache) $(IMAGE_CTX) $(if $(IMAGE_VERBOSE),,> $(BUILD)/image.log 2>&1) || \
		{ $(if $(IMAGE_VERBOSE),,tail -n 40 $(BUILD)/image.log; echo "podman build failed; the whole log is $(BUILD)/image.log";) exit 1; }

image-base:
	$(call msg,DEBOOT,$(BASE_LOCAL) from $(DEBIAN_MIRROR))
	$(Q)mkdir -p $(BUILD)
	$(Q)rm -rf --one-file-system $(IMAGE_ROOTFS)
	$(Q)debootstrap --variant=minbase $(IMAGE_SUITE) $(IMAGE_ROOTFS) $(DEBIAN_MIRROR) \
		$(if $(IMAGE_VERBOSE),,> $(BUILD)/debootstrap.log 2>&1) || \
		{ $(if $(IMAGE_VERBOSE),,tail -n 20 $(BUILD)/debootstrap.log;) rm -rf --one-file-system $(IMAGE_ROOTFS); exit 1; }
	$(Q)printf '%s\n' 'Types: deb' 'URIs: $(DEBIAN_MIRROR)' 'Suites: $(IMAGE_SUITE) $(IMAGE_SUITE)-updates' \
		'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
		$(if $(DEBIAN_SECURITY_MIRROR),'' 'Types: deb' 'URIs: $(DEBIAN_SECURITY_MIRROR)' 'Suites: $(IMAGE_SUITE)-security' \
		'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg') \
		> $(IMAGE_ROOTFS)/etc/apt/sources.list.d/debian.sources
	$(Q)rm -f $(IMAGE_ROOTFS)/etc/apt/sources.list $(IMAGE_ROOTFS)/etc/hostname
	$(Q): > $(IMAGE_ROOTFS)/etc/resolv.conf
	$(Q)rm -rf $(IMAGE_ROOTFS)/var/cache/apt/archives/*.deb $(IMAGE_ROOTFS)/var/lib/apt/lists/* \
		$(IMAGE_ROOTFS)/var/log/*.log $(IMAGE_ROOTFS)/var/log/apt/*
	$(call msg,IMPORT,$(BASE_LOCAL))
	$(Q)tar --numeric-owner -C $(IMAGE_ROOTFS) -c . | \
		$(PODMAN_ENV) $(PODMAN) import -q --change 'CMD ["/bin/bash"]' - $(BASE_LOCAL) >/dev/null
	$(Q)rm -rf --one-file-system $(IMAGE_ROOTFS)

SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system

# The allowlist is configuration: an edited one is never overwritten.
install: $(BUILD)/claude-bpf
	install -D -m 0755 $(BUILD)/claude-bpf $(DESTDIR)$(PREFIX)/sbin/claude-bpf
	install -D -m 0644 man/claude-bpf.8 $(DESTDIR)$(PREFIX)/share/man/man8/claude-bpf.8
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' systemd/claude-bpf.service \
		> $(DESTDIR)$(UNITDIR)/claude-bpf.service
	install -D -m 0644 allowed-hosts.conf $(DESTDIR)$(PREFIX)/share/claude-bpf/allowed-hosts.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/claude-bpf/allowed-hosts.conf || \
		install -D -m 0644 allowed-hosts.conf $(DESTDIR)$(SYSCONFDIR)/claude-bpf/allowed-hosts.conf

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/claude-bpf $(DESTDIR)$(PREFIX)/share/man/man8/claude-bpf.8 \
		$(DESTDIR)$(UNITDIR)/claude-bpf.service \
		$(DESTDIR)$(PREFIX)/share/claude-bpf/allowed-hosts.conf

clean:
	rm -rf build build-san build-fuzz
