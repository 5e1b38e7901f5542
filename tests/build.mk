# SPDX-License-Identifier: GPL-2.0
# Test programs (included by the top-level Makefile).

# In-guest kernel selftests: one .bpf.c/.c pair per test, one runner binary.
SELFTEST_DIR  := $(TOP)/tests/selftests
SELFTEST_BPF  := $(wildcard $(SELFTEST_DIR)/*.bpf.c)
SELFTEST_NAMES := $(patsubst $(SELFTEST_DIR)/%.bpf.c,%,$(SELFTEST_BPF))
SELFTEST_SRCS := $(SELFTEST_DIR)/runner.c $(SELFTEST_DIR)/util.c \
		 $(SELFTEST_NAMES:%=$(SELFTEST_DIR)/%.c)
SELFTEST_HDRS := $(SELFTEST_DIR)/ccmap_test.h $(SELFTEST_DIR)/util.h \
		 $(SELFTEST_DIR)/selftest_abi.h
SELFTEST_SKELS := $(SELFTEST_NAMES:%=$(BUILD)/skel/%.skel.h)
SELFTESTS     := $(BUILD)/bin/ccmap-selftests

# Every selftest policy includes selftest.bpf.h (the generic rule only
# knows bpf/*.h).
$(SELFTEST_NAMES:%=$(BUILD)/bpf/%.bpf.o): $(SELFTEST_DIR)/selftest.bpf.h \
	$(SELFTEST_DIR)/selftest_abi.h

# Programs the verifier must reject: objects without a skeleton (one would
# fail to load), opened by the reject test from <build>/bpf/reject/.
SELFTEST_REJECT := $(patsubst $(SELFTEST_DIR)/reject/%.bpf.c,$(BUILD)/bpf/reject/%.bpf.o,\
		   $(wildcard $(SELFTEST_DIR)/reject/*.bpf.c))

$(BUILD)/bpf/reject/%.bpf.o: $(SELFTEST_DIR)/reject/%.bpf.c $(VMLINUX_H) $(BPF_HDRS)
	@echo "  BPF      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(SELFTESTS): $(SELFTEST_SRCS) $(SELFTEST_HDRS) $(SELFTEST_SKELS) $(LIBBPF) \
		$(SELFTEST_REJECT)
	@echo "  CC       $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) -I$(SELFTEST_DIR) $(SELFTEST_SRCS) $(LIBBPF) \
		-lelf -lz -lpthread -o $@

# Guest helpers.
$(BUILD)/bin/tcp_pingpong: $(TOP)/tests/vm/tcp_pingpong.c
	@echo "  CC       $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) $< -o $@

# Corosync membership events printed, for tests/vm/corosync.sh; the module
# is the agent's (loader/agent/member.c).
CC_MEMBER := $(BUILD)/tests/vm/cc_member
$(CC_MEMBER): $(TOP)/tests/vm/cc_member.c $(TOP)/loader/agent/member.c $(TOP)/loader/agent/member.h
	@echo "  CC       $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) -I$(TOP)/loader/agent $< $(TOP)/loader/agent/member.c \
		$(COROSYNC_LIBS) -o $@
test-progs: $(CC_MEMBER)

# Host unit tests: each tests/unit/test_*.c links libccmap.a; every test is
# built twice, plainly and with ASan+UBSan.
UNIT_SRCS  := $(wildcard $(TOP)/tests/unit/test_*.c)
UNIT_BINS  := $(patsubst $(TOP)/tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
UNIT_ASAN  := $(patsubst $(TOP)/tests/unit/%.c,$(BUILD)/tests/unit-asan/%,$(UNIT_SRCS))
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

$(BUILD)/tests/unit/%: $(TOP)/tests/unit/%.c $(TOP)/tests/unit/tap.h $(LIBCCMAP)
	@echo "  CC       $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(LIBCCMAP) $(LIB_LDLIBS) -o $@

$(BUILD)/tests/unit-asan/%: $(TOP)/tests/unit/%.c $(TOP)/tests/unit/tap.h $(LIB_SRCS) $(wildcard $(TOP)/loader/include/ccmap/*.h)
	@echo "  CC       $@ (ASan+UBSan)"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) $(SAN_FLAGS) $< $(LIB_SRCS) $(LIB_LDLIBS) -o $@

# libFuzzer targets: tests/fuzz/fuzz_*.c with the library sources.
FUZZ_SRCS := $(wildcard $(TOP)/tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst $(TOP)/tests/fuzz/%.c,$(BUILD)/tests/fuzz/%,$(FUZZ_SRCS))

$(BUILD)/tests/fuzz/%: $(TOP)/tests/fuzz/%.c $(LIB_SRCS)
	@echo "  FUZZ     $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) -g -O1 $(WARN) -std=gnu11 -D_GNU_SOURCE -I$(TOP)/loader/include -I$(TOP)/bpf \
		-fsanitize=fuzzer,address,undefined $< $(LIB_SRCS) $(LIB_LDLIBS) -o $@

# Cluster workloads run by tests/cluster/run.sh in every guest.
CLUSTER_SRCS := $(wildcard $(TOP)/tests/cluster/cc_*.c)
CLUSTER_BINS := $(patsubst $(TOP)/tests/cluster/%.c,$(BUILD)/tests/cluster/%,$(CLUSTER_SRCS))

$(BUILD)/tests/cluster/%: $(TOP)/tests/cluster/%.c $(TOP)/tests/cluster/cluster.h
	@echo "  CC       $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(USER_CFLAGS) $< -lpthread -o $@

PROGS += $(SELFTESTS) $(BUILD)/bin/tcp_pingpong $(CLUSTER_BINS)

.PHONY: test-progs
test-progs: $(PROGS) $(UNIT_BINS) $(UNIT_ASAN) $(FUZZ_BINS)
