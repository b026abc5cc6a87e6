# claude-bpf: build, test, install.
#   make                 build build/claude-bpf (BPF object and skeleton too)
#   make deps            install the Debian packages it needs (root; ./setup deps)
#   make deps-test       ... and those the tests, fuzzers, analysers, benchmarks
#                        and vmtest need (./setup deps test)
#   make test            unit tests, integration tests, the image, the Debian
#                        package and the README's set-up (root for all but the first)
#   make test-unit       cmocka unit tests, no root
#   make SAN=1 test      the same with AddressSanitizer and UBSan
#   make vmlinux         regenerate vmlinux/vmlinux.h from the running kernel
#   make bench           benchmarks against no filter, iptables, nftables (root;
#                        QUICK=1 for the reduced suite); see bench/README.md
#   make vmtest          integration tests in qemu guests: Debian kernels, pure
#                        cgroup v2, systemd, rootless podman (root; KERNEL=6.1)
#   make install         to $(DESTDIR)$(PREFIX)/sbin
#   make deb             the Debian package, build/claude-bpf_VERSION_ARCH.deb
#   make image           build the agent's image $(IMAGE) with podman (image/build)
#   make image BASE=debootstrap   ... on a base made here with debootstrap
#   make image-base      (re)make that base, $(BASE_LOCAL)
#   V=1                  show the full commands

PREFIX  ?= /usr/local
CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
# The BPF object's lock-free cache assumes x86's memory ordering (see the
# top of bpf/claude_bpf.bpf.c), and vmlinux/vmlinux.h is x86-64's.
ifneq ($(ARCH),x86)
$(error claude-bpf builds for x86-64 only: the BPF object's lock-free decision cache relies on x86 memory ordering (bpf/claude_bpf.bpf.c); ARCH is $(ARCH))
endif

# SANITIZE=1 is the same as SAN=1.
SAN ?= $(SANITIZE)
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build
endif

# One version, debian/changelog's; the data folder is where `make install`
# puts the image recipe, which `claude-bpf image` runs.
VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DATADIR ?= $(PREFIX)/share/claude-bpf

CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(SANFLAGS) \
	-Iinclude -Iuser -I$(BUILD)
override LDFLAGS += $(SANFLAGS)
LDLIBS  := -lbpf -lelf -lz -lcares -lseccomp -ljson-c -lldns
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Werror \
	-Iinclude -Ivmlinux

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# The layers of user/, each using only those before it (tests/layers):
# base and core are free of libbpf (unit tests and fuzzers link them),
# engine drives the kernel, cmd parses argv and prints.
PURE_SRCS := $(wildcard user/base/*.c user/core/*.c)
ENGINE_SRCS := $(wildcard user/engine/*.c)
USER_SRCS := $(PURE_SRCS) $(ENGINE_SRCS) $(wildcard user/cmd/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
PURE_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(PURE_SRCS))
ENGINE_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(ENGINE_SRCS))
PURE_LIBS := -lcares -lseccomp -ljson-c -lldns
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOL_BINS := $(BUILD)/tests/probe $(BUILD)/tests/probe-static $(BUILD)/tests/events \
	$(BUILD)/tests/dnsd $(BUILD)/tests/decide
BENCH_BINS := $(BUILD)/bench/netbench $(BUILD)/bench/resolvebench $(BUILD)/bench/hooks.bpf.o

.DELETE_ON_ERROR:
.PHONY: all deps deps-test test test-unit test-integration test-image test-package \
	test-setup install uninstall vmlinux clean image image-base deb bench fuzz lint vmtest

all: $(BUILD)/claude-bpf

$(BUILD)/claude_bpf.bpf.o: bpf/claude_bpf.bpf.c include/claude_bpf.h vmlinux/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/claude_bpf.skel.h: $(BUILD)/claude_bpf.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name claude_bpf > $@

# Each object depends on the headers it includes, as the compiler found
# them (-MMD; -MP: a header deleted since is no error).
DEPFLAGS = -MMD -MP -MF $(@:.o=.d) -MT $@

$(BUILD)/user/%.o: user/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# store.c embeds the BPF object through the skeleton, the one file that
# includes it: only it waits for the skeleton (named here, since its .d
# does not exist before its first build), and it is rebuilt with it.
$(BUILD)/user/engine/store.o: $(BUILD)/claude_bpf.skel.h

# main.c prints the version and runs the installed image recipe.
$(BUILD)/user/cmd/main.o: debian/changelog
$(BUILD)/user/cmd/main.o: override CFLAGS += -DCBPF_VERSION='"$(VERSION)"' -DCBPF_DATADIR='"$(DATADIR)"'

$(BUILD)/claude-bpf: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(PURE_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -MF $@.d -MT $@ $^ -lcmocka $(PURE_LIBS) -o $@

# The decision's test vectors, one table for the unit test and the tool
# that runs them through the BPF programs.
VECTOR_SRCS := tests/decision/vectors.c
$(BUILD)/tests/test_decision: $(VECTOR_SRCS)

-include $(USER_OBJS:.o=.d) $(UNIT_BINS:=.d)

# The probe runs the leak matrix of selftest too (core/leak.c, which judges
# rules with core/rules.c).
PROBE_SRCS := tests/tools/probe.c user/core/leak.c user/core/rules.c user/core/config.c \
	user/base/errors.c user/core/cgroup.c user/core/families.c user/base/json.c
PROBE_HDRS := user/core/leak.h user/core/rules.h user/core/config.h user/base/addr.h \
	user/core/cgroup.h user/core/families.h user/base/json.h include/claude_bpf.h
$(BUILD)/tests/probe: $(PROBE_SRCS) $(PROBE_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(PROBE_SRCS) -o $@

# The probe inside the podman tests' busybox image, which has no libc.
# Without the sanitizers: they do not link statically.
$(BUILD)/tests/probe-static: $(PROBE_SRCS) $(PROBE_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(filter-out -fsanitize=%,$(CFLAGS)) -static $(PROBE_SRCS) -o $@

$(BUILD)/tests/events: tests/tools/events.c include/claude_bpf.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@

# The decision's vectors through the real egress program (BPF_PROG_RUN),
# each rule set applied with the engine's own calls.
DECIDE_OBJS := $(PURE_OBJS) $(ENGINE_OBJS)
$(BUILD)/tests/decide: tests/tools/decide.c $(VECTOR_SRCS) $(DECIDE_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -MMD -MP -MF $@.d -MT $@ $^ $(LDLIBS) -o $@

-include $(BUILD)/tests/decide.d

# The DNS forwarder's tests' authoritative server.
$(BUILD)/tests/dnsd: tests/tools/dnsd.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< -lldns -o $@

$(BUILD)/bench/%: bench/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@

# Programs that allow everything, on the same hooks: the bench's floor.
$(BUILD)/bench/hooks.bpf.o: bench/hooks.bpf.c vmlinux/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The package lists live in ./setup, which runs on a machine without make.
deps:
	./setup deps

deps-test:
	./setup deps test

test: test-unit test-integration test-image test-package test-setup

test-unit: $(UNIT_BINS)
	$(Q)tests/run-unit $(UNIT_BINS)
	$(Q)mkdir -p $(BUILD) && completion/test > $(BUILD)/completion-test.log 2>&1 || \
		{ cat $(BUILD)/completion-test.log; exit 1; }
	$(Q)printf '== completion/test\n%s\n' "$$(tail -n 1 $(BUILD)/completion-test.log)"

test-integration: $(BUILD)/claude-bpf $(TOOL_BINS)
	$(Q)BUILD=$(BUILD) tests/integration/run

# The integration tests in qemu guests, each a Debian kernel on a Debian
# root file system with systemd, pure cgroup v2 and podman, run with this
# build (root). KERNEL: 6.1 (Debian 12), 6.12 (Debian 13), or a package
# linux-image-*-cloud-amd64; see vmtest/README.md.
KERNEL ?= 6.1 6.12
vmtest: $(BUILD)/claude-bpf $(TOOL_BINS) deb
	$(Q)BUILD=$(BUILD) DEBIAN_MIRROR=$(DEBIAN_MIRROR) vmtest/run $(KERNEL)

# The real image, built from scratch, and Claude Code run in it by
# claude-bpf run (root; a few minutes).
test-image: $(BUILD)/claude-bpf
	$(Q)BUILD=$(BUILD) CBPF=$(CURDIR)/$(BUILD)/claude-bpf tests/setup/image.sh

# The Debian package: built, lintian, then installed with apt into a fresh
# Debian root, upgraded, refused an ABI change, removed and purged there
# with a policy really loaded (root).
test-package: $(BUILD)/claude-bpf
	$(Q)BUILD=$(BUILD) tests/setup/package.sh

# The README's first set-up command in a fresh Debian root, then Claude
# Code's version from claude-bpf run there (root; after test-image, whose
# base it reuses).
test-setup: $(BUILD)/claude-bpf
	$(Q)BUILD=$(BUILD) tests/setup/readme.sh

# libFuzzer targets (clang), each run FUZZ_RUNS times from its seed corpus
# (copied, so the corpus in the repository stays as it is).
FUZZ_RUNS ?= 200000
FUZZ_BUILD := build-fuzz
FUZZ_TARGETS := config resolv seccomp dns
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Iuser \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(PURE_SRCS) $(wildcard user/base/*.h user/core/*.h)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) $< $(PURE_SRCS) $(PURE_LIBS) -o $@

fuzz: $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))
	$(Q)for t in $(FUZZ_TARGETS); do \
		rm -rf $(FUZZ_BUILD)/corpus-$$t && cp -r tests/fuzz/corpus/$$t $(FUZZ_BUILD)/corpus-$$t && \
		echo "  FUZZ     $$t ($(FUZZ_RUNS) runs)" && \
		$(FUZZ_BUILD)/fuzz_$$t -runs=$(FUZZ_RUNS) -max_len=4096 -print_final_stats=1 \
			$(FUZZ_BUILD)/corpus-$$t 2>$(FUZZ_BUILD)/fuzz-$$t.log || \
			{ tail -40 $(FUZZ_BUILD)/fuzz-$$t.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units' $(FUZZ_BUILD)/fuzz-$$t.log; \
	done

# Static analysis, clean or failing: the layers of user/ (tests/layers),
# clang-tidy (.clang-tidy) and cppcheck.
# Findings inside the generated skeleton are libbpf's, not ours.
LINT_SRCS := $(USER_SRCS) tests/tools/probe.c tests/tools/events.c tests/tools/dnsd.c \
	tests/tools/decide.c $(VECTOR_SRCS)
lint: $(BUILD)/claude_bpf.skel.h
	$(call msg,LAYERS,user/)
	$(Q)tests/layers
	$(call msg,TIDY,$(LINT_SRCS))
	$(Q)clang-tidy --quiet $(LINT_SRCS) -- -std=c11 -D_GNU_SOURCE -Iinclude -Iuser -I$(BUILD) \
		2>/dev/null | grep -E '(warning|error):' | grep -vE '(^|/)$(BUILD)/' > $(BUILD)/lint.log; \
		if [ -s $(BUILD)/lint.log ]; then cat $(BUILD)/lint.log; exit 1; fi
	$(call msg,CPPCHECK,$(LINT_SRCS))
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--std=c11 -D_GNU_SOURCE -Iinclude -Iuser --suppress=missingIncludeSystem \
		--inline-suppr $(LINT_SRCS)

# Root; writes bench/results.md (QUICK=1: $(BUILD)/bench/results-quick.md).
bench: $(BUILD)/claude-bpf $(BENCH_BINS) $(BUILD)/tests/probe $(BUILD)/tests/dnsd
	$(Q)BUILD=$(BUILD) QUICK=$(if $(filter 1,$(QUICK)),1,0) bench/run

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

# --- The agent's image ------------------------------------------------------
# make image [IMAGE=claude-sandbox:latest] [BASE=IMAGE|debootstrap]
#            [REBUILD_BASE=1] [NO_CACHE=1]
#            [CLAUDE_CODE_VERSION=X.Y.Z] [CLAUDE_CODE_INSTALL=npm|official]
# The recipe is image/build (installed, `claude-bpf image` runs it): the base
# is Debian's trixie-slim from the registry, or made here with debootstrap
# when the registry cannot supply it (or with BASE=debootstrap) and kept as
# BASE_LOCAL (remade by `make image-base`, or by REBUILD_BASE=1). The host's
# extra CA certificates are trusted by the build and the image.
IMAGE ?= claude-sandbox:latest
BASE  ?= docker.io/library/debian:trixie-slim
# The first Debian mirror in this machine's apt sources, for vmtest.
DEBIAN_MIRROR ?= $(shell image/build --print-mirror)

IMAGE_ARGS = --image '$(IMAGE)' --base '$(BASE)' $(if $(filter 1,$(REBUILD_BASE)),--rebuild-base) \
	$(if $(NO_CACHE),--no-cache) $(if $(filter 1,$(V)),-v) \
	$(if $(CLAUDE_CODE_VERSION),--claude-code-version '$(CLAUDE_CODE_VERSION)') \
	$(if $(CLAUDE_CODE_INSTALL),--claude-code-install '$(CLAUDE_CODE_INSTALL)')
image:
	$(Q)IMAGE_WORKDIR=$(CURDIR)/$(BUILD) $(if $(BASE_LOCAL),BASE_LOCAL='$(BASE_LOCAL)') image/build $(IMAGE_ARGS)

image-base:
	$(Q)IMAGE_WORKDIR=$(CURDIR)/$(BUILD) $(if $(BASE_LOCAL),BASE_LOCAL='$(BASE_LOCAL)') image/build --base-only $(if $(filter 1,$(V)),-v)

SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
COMPLETIONSDIR ?= $(PREFIX)/share/bash-completion/completions

# The allowlist is configuration: an edited one is never overwritten. Into
# the system itself (no DESTDIR), podman's drop-in is linked where podman's
# defaults cannot start a container; the Debian package does that in its
# postinst.
install: $(BUILD)/claude-bpf
	install -D -m 0755 $(BUILD)/claude-bpf $(DESTDIR)$(PREFIX)/sbin/claude-bpf
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	sed '1s/"claude-bpf [^"]*"/"claude-bpf $(VERSION)"/' man/claude-bpf.8 > $(DESTDIR)$(PREFIX)/share/man/man8/claude-bpf.8
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|g' systemd/claude-bpf.service \
		> $(DESTDIR)$(UNITDIR)/claude-bpf.service
	install -D -m 0644 completion/claude-bpf $(DESTDIR)$(COMPLETIONSDIR)/claude-bpf
	install -D -m 0644 allowed-hosts.conf $(DESTDIR)$(DATADIR)/allowed-hosts.conf
	install -D -m 0755 image/build $(DESTDIR)$(DATADIR)/image/build
	install -D -m 0644 Containerfile $(DESTDIR)$(DATADIR)/image/Containerfile
	install -D -m 0755 podman/containers-conf $(DESTDIR)$(DATADIR)/podman/containers-conf
	install -D -m 0644 podman/containers.conf $(DESTDIR)$(DATADIR)/podman/containers.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/claude-bpf/allowed-hosts.conf || \
		install -D -m 0644 allowed-hosts.conf $(DESTDIR)$(SYSCONFDIR)/claude-bpf/allowed-hosts.conf
	$(if $(DESTDIR),,$(DATADIR)/podman/containers-conf install)

uninstall:
	$(if $(DESTDIR),,$(DATADIR)/podman/containers-conf remove)
	rm -f $(DESTDIR)$(PREFIX)/sbin/claude-bpf $(DESTDIR)$(PREFIX)/share/man/man8/claude-bpf.8 \
		$(DESTDIR)$(UNITDIR)/claude-bpf.service $(DESTDIR)$(COMPLETIONSDIR)/claude-bpf
	rm -rf $(DESTDIR)$(DATADIR)

# The Debian package (debian/), built the Debian way from a copy of this
# tree without its build folders, into $(BUILD)/: dpkg-buildpackage writes
# beside the source folder.
DEB_DIR := $(BUILD)/deb
deb:
	$(call msg,DEB,$(BUILD)/claude-bpf_$(VERSION)_$(shell dpkg --print-architecture).deb)
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/claude-bpf-$(VERSION)
	$(Q)tar -C $(CURDIR) --exclude=./.git --exclude='./build*' -c . | tar -C $(DEB_DIR)/claude-bpf-$(VERSION) -x
	$(Q)cd $(DEB_DIR)/claude-bpf-$(VERSION) && dpkg-buildpackage -us -uc -b $(if $(filter 1,$(V)),,> $(CURDIR)/$(DEB_DIR)/build.log 2>&1) || \
		{ $(if $(filter 1,$(V)),,tail -n 40 $(CURDIR)/$(DEB_DIR)/build.log; echo "dpkg-buildpackage failed; the whole log: $(DEB_DIR)/build.log";) exit 1; }
	$(Q)mv $(DEB_DIR)/*.deb $(DEB_DIR)/*.changes $(DEB_DIR)/*.buildinfo $(BUILD)/
	$(Q)rm -rf $(DEB_DIR)/claude-bpf-$(VERSION)

clean:
	rm -rf build build-san build-fuzz
