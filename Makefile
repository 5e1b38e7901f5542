# SPDX-License-Identifier: GPL-2.0
#
# ccmap - coherent mmap() across nodes with eBPF coherency policies.
#
#   make demo     boot three guests and run the multi-node demo
#   make test     host unit tests, fuzzers, model check and in-guest tests
#   make test-race  race selftests on two CPUs and on large folios
#   make test-membership  corosync membership and quorum in three guests
#   make soak     30 minutes of random faults under a counting workload
#
# Everything is built under $(BUILD) (default ./build, git-ignored): the
# patched kernel, libbpf and bpftool from the same tree, vmlinux.h, BPF
# objects, skeletons and the user-space programs.  `make deps` (run by the
# targets that need it) installs the Debian packages.

TOP     := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD   ?= $(TOP)/build
override BUILD := $(abspath $(BUILD))
KSRC    := $(BUILD)/linux
KIMAGE  := $(KSRC)/arch/x86/boot/bzImage
TOOLS   := $(BUILD)/tools
BPFTOOL := $(TOOLS)/sbin/bpftool
LIBBPF  := $(TOOLS)/libbpf/libbpf.a
VMLINUX_H := $(BUILD)/include/vmlinux.h

CLANG   ?= clang-19
LLVM_STRIP ?= llvm-strip-19
CC      ?= gcc
ifeq ($(origin CC),default)
CC      := gcc
endif
JOBS    ?= $(shell nproc)
Q       := $(if $(V),,@)

WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
USER_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE \
	-I$(TOP)/loader/include -I$(TOP)/bpf -I$(BUILD)/skel -I$(TOOLS)/include
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -mcpu=v3 $(WARN) \
	-Wno-unused-function -Wno-unused-parameter -I$(BUILD)/include -I$(TOOLS)/include -I$(TOP)/bpf


.PHONY: all deps kernel bpf-toolchain test test-race test-membership soak demo bench clean distclean help \
	progs check-kernel-patch

all: kernel bpf-toolchain progs

help:
	@sed -n '3,15p' $(TOP)/Makefile | sed 's/^# \{0,1\}//'

deps:
	$(Q)$(TOP)/tools/build/deps.sh

# The kernel script is idempotent: it re-applies kernel-patch/series only
# when it changed and lets kbuild rebuild what changed.
kernel: deps
	$(Q)$(TOP)/tools/build/kernel.sh $(TOP) $(BUILD) build

$(KIMAGE) $(KSRC)/vmlinux: | kernel

# ---- BPF toolchain, from the same kernel tree --------------------------

TOOLS_MAKE := $(MAKE) -s --no-print-directory ARCH= CROSS_COMPILE= \
	CC=$(CC) HOSTCC=$(CC) LD=ld EXTRA_CFLAGS='-g -O2 -w'

$(LIBBPF): | $(KIMAGE)
	@echo "  LIBBPF   $@"
	$(Q)mkdir -p $(TOOLS)/libbpf
	$(Q)$(TOOLS_MAKE) -C $(KSRC)/tools/lib/bpf OUTPUT=$(TOOLS)/libbpf/ \
		BUILD_STATIC_ONLY=1 DESTDIR=$(TOOLS) prefix= all install_headers \
		>$(BUILD)/logs/libbpf.log 2>&1 || { tail -20 $(BUILD)/logs/libbpf.log; exit 1; }

$(BPFTOOL): $(LIBBPF)
	@echo "  BPFTOOL  $@"
	$(Q)mkdir -p $(TOOLS)/bpftool
	$(Q)$(TOOLS_MAKE) -C $(KSRC)/tools/bpf/bpftool OUTPUT=$(TOOLS)/bpftool/ \
		LIBBPF_OUTPUT=$(TOOLS)/libbpf/ LIBBPF_DESTDIR=$(TOOLS)/ \
		CLANG=$(CLANG) LLVM_STRIP=$(LLVM_STRIP) prefix= DESTDIR=$(TOOLS)/ \
		install-bin >$(BUILD)/logs/bpftool.log 2>&1 || { tail -20 $(BUILD)/logs/bpftool.log; exit 1; }

$(VMLINUX_H): $(KSRC)/vmlinux $(BPFTOOL)
	@echo "  VMLINUX  $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(BPFTOOL) btf dump file $(KSRC)/vmlinux format c > $@.tmp && mv $@.tmp $@

bpf-toolchain: kernel $(VMLINUX_H)

# ---- BPF objects and skeletons ----------------------------------------

BPF_HDRS := $(wildcard $(TOP)/bpf/*.h)

# Every *.bpf.c is found by its name: names are unique across directories.
vpath %.bpf.c $(TOP)/policy $(TOP)/bpf $(TOP)/tests/selftests

$(BUILD)/bpf/%.bpf.o: %.bpf.c $(VMLINUX_H) $(BPF_HDRS)
	@echo "  BPF      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

POLICIES := $(patsubst $(TOP)/policy/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(wildcard $(TOP)/policy/*.bpf.c))

# A policy object is its own .bpf.c with bpf/ccmap_agent.bpf.c (the programs
# the agent runs and the pinned maps) put in front of it by the compiler, so
# a policy includes only the library it may use (bpf/ccmap_policy.bpf.h).
# (Linking two objects with bpftool gen object would be the natural way, but
# the 6.12 libbpf linker refuses kfunc externs declared in both.)
$(POLICIES): $(BUILD)/bpf/%.bpf.o: $(TOP)/policy/%.bpf.c $(TOP)/bpf/ccmap_agent.bpf.c \
		$(VMLINUX_H) $(BPF_HDRS)
	@echo "  BPF      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -include $(TOP)/bpf/ccmap_agent.bpf.c -c $< -o $@

$(BUILD)/skel/%.skel.h: $(BUILD)/bpf/%.bpf.o $(BPFTOOL)
	@echo "  SKEL     $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@.tmp && mv $@.tmp $@

# ---- user-space library and programs ----------------------------------

LIB_SRCS := $(wildcard $(TOP)/loader/lib/*.c)
LIB_OBJS := $(patsubst $(TOP)/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIBCCMAP := $(BUILD)/libccmap.a
LIB_LDLIBS := -lcrypto -lz

$(BUILD)/obj/%.o: $(TOP)/%.c $(wildcard $(TOP)/loader/include/ccmap/*.h) $(TOP)/bpf/ccmap_abi.h
	@echo "  CC       $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

$(LIBCCMAP): $(LIB_OBJS)
	@echo "  AR       $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# The agent and its CLI.  libcpg and libquorum come from Debian's corosync
# development packages (make deps).
COROSYNC_LIBS = $(shell pkg-config --libs libcpg libquorum 2>/dev/null || echo -lcpg -lquorum)
AGENT_SRCS := $(TOP)/loader/ccmapd.c $(wildcard $(TOP)/loader/agent/*.c)
AGENT_HDRS := $(wildcard $(TOP)/loader/agent/*.h $(TOP)/loader/include/ccmap/*.h) \
	$(TOP)/bpf/ccmap_abi.h

$(BUILD)/bin/ccmapd: $(AGENT_SRCS) $(AGENT_HDRS) $(LIBCCMAP) $(LIBBPF)
	@echo "  CC       $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) -I$(TOP)/loader/agent $(AGENT_SRCS) $(LIBCCMAP) \
		$(LIBBPF) -lelf -lz $(COROSYNC_LIBS) $(LIB_LDLIBS) -o $@

$(BUILD)/bin/ccmapctl: $(TOP)/loader/ccmapctl.c $(AGENT_HDRS) $(LIBCCMAP)
	@echo "  CC       $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(LIBCCMAP) $(LIB_LDLIBS) -o $@

# Every policy is a BPF object the agent loads by name.

PROGS += $(BUILD)/bin/ccmapd $(BUILD)/bin/ccmapctl $(POLICIES)

# ---- tests -------------------------------------------------------------

include $(TOP)/tests/build.mk

progs: $(PROGS)

test: deps
	$(Q)$(MAKE) --no-print-directory all test-progs
	$(Q)$(TOP)/tests/run-tests --build $(BUILD)

# The race and replace selftests on two virtual CPUs, on tmpfs and on tmpfs
# with large folios (about 30 s in the guest; measured on this machine).
# Not part of `make test`: two TCG CPUs take both host cores.
# corosync membership and quorum on three guests (tests/vm/corosync.sh,
# docs/membership.md): the groundwork for membership in ccmapd.  Not in
# `make test` until it has passed reliably on this machine.
test-membership: deps
	$(Q)$(MAKE) --no-print-directory all test-progs
	$(Q)$(TOP)/tools/vm/ccmap-vm -n 3 -t 420 -- \
		$(TOP)/tests/vm/corosync.sh $(BUILD)/tests/vm/cc_member

# Random faults (agent kill -9 and clean restarts, dropped connections,
# damaged frames, partitions) under a counting workload on three guests for
# SOAK_SECONDS (default 30 minutes), then the figures
# (tests/cluster/soak.sh).  Not part of `make test`.
SOAK_SECONDS ?= 1800
soak: deps
	$(Q)$(MAKE) --no-print-directory all test-progs
	$(Q)$(TOP)/tools/vm/ccmap-vm -n 3 -t $$(( $(SOAK_SECONDS) + 900 )) -- \
		env SOAK_SECONDS=$(SOAK_SECONDS) $(if $(SOAK_SEED),SOAK_SEED=$(SOAK_SEED)) \
		$(TOP)/tests/cluster/soak.sh

test-race: deps
	$(Q)$(MAKE) --no-print-directory all test-progs
	$(Q)$(TOP)/tools/vm/ccmap-vm -c 2 -t 1800 -- \
		$(TOP)/tests/vm/race_smp.sh $(BUILD)/bin/ccmap-selftests

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(TOP)/tools/demo.sh --build $(BUILD)

# Benchmarks report ratios measured in one run (see tools/bench/).
bench: deps
	$(Q)$(MAKE) --no-print-directory all test-progs
	$(Q)CCMAP_BUILD=$(BUILD) $(TOP)/tools/bench/latency.sh

clean:
	rm -rf $(BUILD)/bpf $(BUILD)/skel $(BUILD)/obj $(BUILD)/bin $(BUILD)/vm \
		$(BUILD)/tests $(LIBCCMAP)

distclean:
	rm -rf $(BUILD)

# Keep BPF objects and skeletons: they are inputs of several rules.  Only
# these: a bare .SECONDARY would also stop make from adding a new library
# object to an existing libccmap.a.
.SECONDARY: $(BUILD)/bpf/*.bpf.o $(BUILD)/bpf/reject/*.bpf.o $(BUILD)/skel/*.skel.h \
	$(POLICIES) $(SELFTEST_NAMES:%=$(BUILD)/bpf/%.bpf.o) $(SELFTEST_SKELS)
