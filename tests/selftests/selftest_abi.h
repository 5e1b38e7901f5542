/* SPDX-License-Identifier: GPL-2.0 */
/*
 * selftest_abi.h - what the selftests' BPF programs and their user-space
 * halves share: the context of the SEC("syscall") programs they run with
 * BPF_PROG_RUN.  Compiles both for BPF (after vmlinux.h) and on the host.
 */
#ifndef __SELFTEST_ABI_H
#define __SELFTEST_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The tests assume 4 KiB pages (x86-64, like the test kernel). */
#define ST_PAGE_SIZE	4096

/*
 * ctx_in of every SEC("syscall") program of the selftests.  The kernel
 * copies it back after the run, so @ret reaches the caller.
 */
struct st_args {
	__s32 fd;		/* a descriptor in the calling process */
	__u32 page;		/* a page index, for test-specific programs */
	__u64 off;		/* byte range for zap/mkclean */
	__u64 len;		/* 0 = to the end of the file */
	__u64 arg;		/* manage flags, wake key, a state... */
	__s64 ret;		/* out: the kfunc's return value */
};

/* What a policy records of a fault (struct ccmap_fault_ctx). */
struct st_fault_rec {
	__u64 dev;
	__u64 ino;
	__u64 pgoff;
	__u32 access;
	__u32 fault_flags;
	__u32 tgid;
	__u32 pid;
	__u32 recheck;
	__u32 reserved;
};

/* What a policy records of ops.zap / ops.mkclean (struct ccmap_page_ctx). */
struct st_page_rec {
	__u64 pgoff;
	__u32 nr;
	__u32 flags;
};

/* tracepoints test: what its programs keep of each ccmap:* event. */
#define TP_LOG		16

struct tp_fault_rec {		/* ccmap_fault */
	__u64 dev;
	__u64 ino;
	__u64 pgoff;
	__u32 access;
	__u32 flags;
	__s64 verdict;
};

struct tp_wait_rec {		/* ccmap_wait_begin, ccmap_wait_end */
	__u64 dev;
	__u64 ino;
	__u64 pgoff;
	__u64 key;
	__u64 waited_ns;	/* end */
	__u32 access;
	__u32 timeout_ms;	/* begin */
	__u32 outcome;		/* end */
	__u32 reserved;
};

struct tp_range_rec {		/* ccmap_zap, ccmap_mkclean */
	__u64 dev;
	__u64 ino;
	__u64 pgoff;
	__u64 nr;
	__s64 count;
	__u32 who;
	__u32 reserved;
};

struct tp_state_rec {		/* ccmap_state */
	__u64 dev;
	__u64 ino;
	__u64 pgoff;
	__u64 nr;
	__u32 from;
	__u32 to;
};

struct tp_manage_rec {		/* ccmap_manage */
	__u64 dev;
	__u64 ino;
	__u64 flags;
	__s32 ret;
	__u32 reserved;
};

struct tp_policy_rec {		/* ccmap_attach, ccmap_exit */
	char name[64];
	char reason[128];	/* exit */
	__u64 flags;		/* attach */
	__s32 kind;		/* exit */
	__u32 timeout_ms;	/* attach */
};

/* race test: the policy's per-page state and its log of grants. */
#define RACE_PAGES	4
#define RACE_LOG	8192
#define RACE_I		0	/* no access */
#define RACE_S		1	/* read */
#define RACE_E		2	/* read and write */

struct race_page {
	__u32 state;
	__u32 reserved;
	__u64 gen;		/* bumped by every revoke */
};

struct race_grant {
	__u32 page;
	__u32 state;
	__u64 gen;
};

#endif /* __SELFTEST_ABI_H */
