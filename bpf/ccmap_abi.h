/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ccmap_abi.h - constants and layouts shared by user space (agent, loader,
 * ccmapctl, tests) and BPF programs.
 *
 * The kernel side lives in the patched kernel (mm/ccmap.c,
 * include/linux/ccmap.h, include/trace/events/ccmap.h; see
 * kernel-patch/).  BPF programs get the kernel's enums and structs from the
 * patched kernel's vmlinux.h, so the enums below are only defined when
 * vmlinux.h was not included first: BPF code includes ccmap.bpf.h, which
 * includes vmlinux.h and then this file.  The values must match the kernel's;
 * like sched_ext, ccmap promises no stable ABI across kernel versions.
 *
 * No dependencies beyond <linux/types.h> and <linux/bpf.h> (struct
 * bpf_spin_lock), so it compiles on the host.
 */
#ifndef __CCMAP_ABI_H
#define __CCMAP_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <linux/bpf.h>	/* struct bpf_spin_lock in struct ccmap_page_state */

/* Access a fault asks for: struct ccmap_fault_ctx.access. */
enum ccmap_access {
	CCMAP_ACC_READ		= 1,	/* read fault, maps read-only */
	CCMAP_ACC_COW		= 2,	/* MAP_PRIVATE write: reads the page */
	CCMAP_ACC_WRITE		= 3,	/* MAP_SHARED write, maps writable */
};

enum ccmap_consts {
	CCMAP_OPS_NAME_LEN	= 64,	/* struct ccmap_ops.name */
	CCMAP_EXIT_REASON_LEN	= 128,	/* struct ccmap_exit_info.reason */
	CCMAP_TIMEOUT_DFL_MS	= 5000,	/* struct ccmap_ops.timeout_ms == 0 */
	CCMAP_TIMEOUT_MAX_MS	= 60000,
};

/* struct ccmap_ops.flags */
enum ccmap_ops_flags {
	/* On a detach by user space, faults get SIGBUS instead of waiting. */
	CCMAP_OPS_SIGBUS_ON_DETACH	= 1 << 0,
};

/* Why a policy left: struct ccmap_exit_info.kind, sysfs exit_kind. */
enum ccmap_exit_kind {
	CCMAP_EXIT_NONE		= 0,
	CCMAP_EXIT_UNREG	= 64,	/* detached by user space */
	CCMAP_EXIT_UNREG_UPDATE	= 65,	/* replaced through its link */
	CCMAP_EXIT_ERROR	= 1024,	/* kernel-detected misbehaviour */
	CCMAP_EXIT_ERROR_BPF	= 1025,	/* bpf_ccmap_error() */
	CCMAP_EXIT_ERROR_STALL	= 1026,	/* watchdog */
	CCMAP_EXIT_ERROR_INIT	= 1027,	/* ops.init() failed, attach refused */
};

/* struct ccmap_page_ctx.flags (ops.zap, ops.mkclean) */
enum ccmap_page_flags {
	/* bit 0 unused */
	CCMAP_PAGE_EXITING	= 1 << 1,	/* the inode is being evicted */
	CCMAP_PAGE_BEYOND_EOF	= 1 << 2,	/* beyond i_size (truncate) */
};

/* bpf_ccmap_manage() flags */
enum ccmap_manage_flags {
	CCMAP_MANAGE_UNMANAGE	= 1 << 0,
};
#endif /* !__VMLINUX_H__ */

/* ccmap:ccmap_zap and ccmap:ccmap_mkclean "who" field */
#define CCMAP_TRACE_WHO_POLICY		0	/* bpf_ccmap_zap/mkclean() */
#define CCMAP_TRACE_WHO_REMOVE		1	/* folio left the page cache */
#define CCMAP_TRACE_WHO_WRITEBACK	2	/* writeback write-protected */

/* ccmap:ccmap_wait_end "outcome" field */
#define CCMAP_TRACE_WAIT_WOKEN		0
#define CCMAP_TRACE_WAIT_TIMEOUT	1
#define CCMAP_TRACE_WAIT_SIGNAL		2

/* The transition argument of bpf_ccmap_trace_state(). */
#define CCMAP_TRANSITION(from, to)					\
	((((__u64)(__u32)(from)) << 32) | (__u64)(__u32)(to))

/* sysfs files, each one value and a newline */
#define CCMAP_SYSFS_DIR		"/sys/kernel/ccmap"
#define CCMAP_SYSFS_STATE	CCMAP_SYSFS_DIR "/state"	/* enabled|disabled */
#define CCMAP_SYSFS_OPS		CCMAP_SYSFS_DIR "/ops"		/* attached name */
#define CCMAP_SYSFS_EXIT_KIND	CCMAP_SYSFS_DIR "/exit_kind"	/* "<name> <num>" */
#define CCMAP_SYSFS_EXIT_REASON	CCMAP_SYSFS_DIR "/exit_reason"
#define CCMAP_SYSFS_EXIT_OPS	CCMAP_SYSFS_DIR "/exit_ops"
#define CCMAP_SYSFS_ENABLE_SEQ	CCMAP_SYSFS_DIR "/enable_seq"
#define CCMAP_SYSFS_TIMEOUT_MS	CCMAP_SYSFS_DIR "/timeout_ms"
#define CCMAP_SYSFS_NR_WAITING	CCMAP_SYSFS_DIR "/nr_waiting"
/* counters: faults waits wakes timeouts sigbus zaps mkcleans errors */
#define CCMAP_SYSFS_STATS	CCMAP_SYSFS_DIR "/stats"

/*
 * Exit information a policy copies out of ops.exit() into its .data so that
 * the loader can report it (sched_ext's user_exit_info, in small): see
 * CCMAP_UEI_DEFINE() and ccmap_uei_record() in ccmap.bpf.h.
 */
struct ccmap_user_exit_info {
	__s32 kind;			/* enum ccmap_exit_kind, 0 = running */
	__u32 reserved;
	char name[64];			/* CCMAP_OPS_NAME_LEN */
	char reason[128];		/* CCMAP_EXIT_REASON_LEN */
};


/*
 * ---- Per-page state library (bpf/ccmap_policy.bpf.h) -------------------
 *
 * Every policy includes ccmap_policy.bpf.h and is built with
 * bpf/ccmap_agent.bpf.c in front of it, which defines the maps below,
 * pinned by name under the bpffs directory the agent chooses
 * (bpf_object_open_opts.pin_root_path, CCMAP_PIN_ROOT_DFL by default), so
 * that a policy swapped in later finds the same state, and the
 * SEC("syscall") programs the agent runs with BPF_PROG_RUN, whose ctx_in is
 * one of the args structs below.
 */
#define CCMAP_PIN_ROOT_DFL	"/sys/fs/bpf/ccmap"

/* Pinned map names (at most 15 characters). */
#define CCMAP_MAP_SHARES	"ccmap_shares"	/* (dev, ino) -> share id */
#define CCMAP_MAP_SINFO		"ccmap_sinfo"	/* share id -> struct ccmap_share_info */
#define CCMAP_MAP_PAGES		"ccmap_pages"	/* (share, pgoff) -> struct ccmap_page_state */
#define CCMAP_MAP_REQS		"ccmap_reqs"	/* ring buffer of struct ccmap_req_rec */
#define CCMAP_MAP_LOST		"ccmap_lost"	/* requests the ring buffer had no room for */
#define CCMAP_MAP_BSTATS	"ccmap_bstats"	/* per-CPU u64 counters, enum ccmap_bstat */

/* Names of the SEC("syscall") programs. */
#define CCMAP_PROG_SHARE_ADD	"ccmap_share_add"
#define CCMAP_PROG_SHARE_DEL	"ccmap_share_del"
#define CCMAP_PROG_GRANT	"ccmap_grant"
#define CCMAP_PROG_REVOKE	"ccmap_revoke"
#define CCMAP_PROG_DOWNGRADE	"ccmap_downgrade"
#define CCMAP_PROG_FAIL		"ccmap_fail"
#define CCMAP_PROG_RAISE_ERROR	"ccmap_raise_error"	/* test hook, optional */
#define CCMAP_PROG_YIELD	"ccmap_yield"	/* the policy's, optional: see below */

#define CCMAP_STATE_MAX_SHARES	32		/* as CCMAP_MAX_SHARES */
#define CCMAP_STATE_MAX_PAGES	(1u << 20)	/* pages of all shares */
#define CCMAP_REQS_BYTES	(256u * 1024)	/* ring buffer size */
#define CCMAP_LOST_MAX		4096

/* Page states (values match enum ccmap_pstate of ccmap/directory.h). */
#define CCMAP_ST_I		0	/* Invalid: every access asks */
#define CCMAP_ST_S		1	/* Shared: reads go, writes ask */
#define CCMAP_ST_E		2	/* Exclusive: everything goes */

/* struct ccmap_page_state.flags */
#define CCMAP_PGF_LOST		0x01	/* request parked in CCMAP_MAP_LOST */

/* How long faults woken by ccmap_fail get SIGBUS (they retry at once). */
#define CCMAP_FAIL_WINDOW_NS	(2000ull * 1000 * 1000)

struct ccmap_share_key {
	__u64 dev;		/* stat(2) st_dev encoding, as struct ccmap_fault_ctx */
	__u64 ino;
};

struct ccmap_share_info {
	__u64 dev;
	__u64 ino;
	__u64 npages;
	__u32 active;		/* 1 once ccmap_share_add succeeded */
	__u32 reserved;
};

struct ccmap_page_key {
	__u32 share;
	__u32 reserved;		/* zero */
	__u64 pgoff;
};

/*
 * One page.  Written by the fault (pending) and by the agent's programs
 * (everything), always under @lock.  User space sees @lock as zero.
 */
struct ccmap_page_state {
	struct bpf_spin_lock lock;
	__u8  state;		/* CCMAP_ST_* */
	__u8  pending;		/* 0, or CCMAP_ST_S / CCMAP_ST_E asked of the agent */
	__u8  flags;		/* CCMAP_PGF_* */
	__u8  reserved;
	__u64 version;		/* version of the copy held (agent's view) */
	__u64 key;		/* wait key of this page, never 0 */
	__u64 fail_until;	/* ktime ns: faults get -fail_err until then */
	__s32 fail_err;		/* positive errno */
	__u32 reserved2;
	__u64 granted_ns;	/* ktime ns of the last grant that raised @state */
};

/*
 * A request from a fault to the agent (ring buffer record): @want on page
 * @pgoff, which the fault waits for, and the same for the other pages of
 * the unit [@first, @first + @npages) the policy chose (the agent asks for
 * those it does not hold, in one burst, and nothing waits for them).
 * @npages 0 or 1: the page alone.  The agent caps a unit at
 * CCMAP_UNIT_MAX pages.
 */
struct ccmap_req_rec {
	__u32 share;
	__u32 want;		/* CCMAP_ST_S or CCMAP_ST_E */
	__u64 pgoff;
	__u32 tgid;
	__u32 pid;
	__u64 stamp_ns;		/* bpf_ktime_get_ns() of the fault */
	__u64 first;		/* the unit: first page ... */
	__u32 npages;		/* ... and its length */
	__u32 reserved;
};

#define CCMAP_UNIT_MAX		256	/* pages per request record (1 MiB) */

/* Counters of the BPF side (per-CPU array CCMAP_MAP_BSTATS). */
enum ccmap_bstat {
	CCMAP_BST_FAULTS = 0,	/* ops.fault calls (first calls, not rechecks) */
	CCMAP_BST_GO,		/* granted at once from local rights */
	CCMAP_BST_POSTED,	/* requests posted to the agent */
	CCMAP_BST_COALESCED,	/* faults that joined a pending request */
	CCMAP_BST_UNKNOWN,	/* managed file not in the shares map: -EIO */
	CCMAP_BST_BEYOND,	/* page outside the share: -EIO */
	CCMAP_BST_RING_FULL,	/* request parked in the lost map */
	CCMAP_BST_LOST_FULL,	/* ... and that was full too: -ENOBUFS */
	CCMAP_BST_FAILED,	/* faults failed by ccmap_fail */
	CCMAP_BST_ZAP_NOTIFY,	/* ops.zap notifications */
	CCMAP_BST_MKCLEAN_NOTIFY, /* ops.mkclean notifications */
	CCMAP_BST_NR,
};

/* ctx_in of ccmap_share_add / ccmap_share_del. */
struct ccmap_args_share {
	__s32 fd;		/* the replica, open O_RDWR in the agent */
	__u32 share;		/* share id (its index in the configuration) */
	__u64 dev;		/* fstat(fd) */
	__u64 ino;
	__u64 npages;
	__s64 ret;		/* out: bpf_ccmap_manage() result */
	__u32 flags;		/* out: CCMAP_SHARE_WAS_MANAGED */
	__u32 reserved;
};

/* ccmap_args_share.flags: the file was managed already (agent restart). */
#define CCMAP_SHARE_WAS_MANAGED	0x1

#define CCMAP_SPAN_EOF		(~0ull)

/*
 * ctx_in of ccmap_grant / ccmap_revoke / ccmap_downgrade / ccmap_fail, and
 * of the policy's optional ccmap_yield: the home asks this node to lower
 * page @pgoff to @state (CCMAP_ST_I: another node wants to write it,
 * CCMAP_ST_S: to read it); the program sets @ret to how many nanoseconds the
 * agent keeps the page before giving it up (0: now, at most
 * CCMAP_YIELD_MAX_NS) and returns 0.
 */
struct ccmap_args_page {
	__s32 fd;		/* the replica (revoke, downgrade) */
	__u32 share;
	__u64 pgoff;
	__u64 version;		/* grant: version of the copy now held */
	__u32 state;		/* grant: CCMAP_ST_S or CCMAP_ST_E */
	__s32 err;		/* fail: positive errno, 0 for EIO */
	__u64 span;		/* revoke, downgrade: pages to zap/mkclean from
				 * @pgoff: 0 for one, CCMAP_SPAN_EOF for all */
	__s64 ret;		/* out: zap/mkclean result */
	__u32 old_state;	/* out: state before */
	__u32 reserved;
};

/* The longest a policy may keep a page another node asked for (1 s). */
#define CCMAP_YIELD_MAX_NS	(1000ull * 1000 * 1000)

#endif /* __CCMAP_ABI_H */
