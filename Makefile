# claude-bpf: build, test, install.
#   make                 build build/claude-bpf (BPF object and skeleton too)
#   make deps            install the Debian packages it needs (root)
#   make test            unit tests, then integration tests (root for the latter)
#   make test-unit       cmocka unit tests, no root
#   make SAN=1 test      the same with AddressSanitizer and UBSan
#   make vmlinux         regenerate vmlinux/vmlinux.h from the running kernel
#   make install         to $(DESTDIR)$(PREFIX)/sbin
#   V=1                  show the full commands

PREFIX  ?= /usr/local
CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

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

DEB_PACKAGES := build-essential clang llvm libbpf-dev bpftool libelf-dev \
	zlib1g-dev libc-ares-dev libcmocka-dev pkg-config iproute2 dnsmasq-base jq

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Modules free of libbpf: unit tests link these.
PURE_SRCS := user/errors.c user/config.c user/rules.c user/cgroup.c user/resolve.c
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(USER_SRCS))
PURE_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(PURE_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOL_BINS := $(BUILD)/tests/probe $(BUILD)/tests/events

.DELETE_ON_ERROR:
.PHONY: all deps test test-unit test-integration install uninstall vmlinux clean

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

$(BUILD)/claude-bpf: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(PURE_OBJS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -lcmocka -lcares -o $@

$(BUILD)/tests/probe: tests/tools/probe.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@

$(BUILD)/tests/events: tests/tools/events.c include/claude_bpf.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LDLIBS) -o $@

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES)

test: test-unit test-integration

test-unit: $(UNIT_BINS)
	$(Q)tests/run-unit $(UNIT_BINS)

test-integration: $(BUILD)/claude-bpf $(TOOL_BINS)
	$(Q)BUILD=$(BUILD) tests/integration/run

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

install: $(BUILD)/claude-bpf
	install -D -m 0755 $(BUILD)/claude-bpf $(DESTDIR)$(PREFIX)/sbin/claude-bpf

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/claude-bpf

clean:
	rm -rf build build-san
