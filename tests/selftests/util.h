/* SPDX-License-Identifier: GPL-2.0 */
/*
 * util.h - helpers of the in-guest selftests: shares (managed files and
 * their mappings), the agent-side syscall programs of selftest.bpf.h,
 * accesses that catch SIGBUS, /sys/kernel/ccmap/ and an ext4 scratch mount.
 *
 * Functions return 0 or -errno unless said otherwise; on failure they print
 * why with CCMAP_ERR, so a test only needs to assert on the result.
 */
#ifndef CCMAP_SELFTEST_UTIL_H
#define CCMAP_SELFTEST_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

#include "ccmap_abi.h"
#include "ccmap_test.h"
#include "selftest_abi.h"

#define ST_PAGE		((size_t)ST_PAGE_SIZE)

/* Like CCMAP_ASSERT, but for helpers and threads: logs, then goto out. */
#define ST_CHECK(cond, fmt, ...)					\
	do {								\
		if (!(cond)) {						\
			CCMAP_ERR("%s: " fmt, #cond, ##__VA_ARGS__);	\
			goto out;					\
		}							\
	} while (0)

/* ---- time ---- */

double st_now(void);			/* CLOCK_MONOTONIC, seconds */
void st_sleep_ms(unsigned int ms);

/* ---- shares ---- */

/*
 * A file made a share before it is mapped.  Page i of the file is filled
 * with the byte st_fill(i).
 */
struct st_share {
	int fd;			/* O_RDWR, unlinked (O_TMPFILE); 0: none */
	unsigned int npages;
	__u64 dev;		/* stat(2) st_dev, as struct ccmap_fault_ctx */
	__u64 ino;
	char *map;		/* MAP_SHARED, PROT_READ | PROT_WRITE; or NULL */
	/* the program that managed it: unmanages it on close */
	const struct bpf_program *manage;
};

static inline unsigned char st_fill(unsigned int page)
{
	return (unsigned char)('a' + page % 26);
}

/*
 * Creates an unlinked file of @npages in directory @dir (for "/tmp": in
 * $CCMAP_ST_DIR when set, e.g. a tmpfs with huge=always for large folios)
 * and fills it.  With
 * @manage (the test's st_manage_prog) it becomes a share; with @map it is
 * mapped MAP_SHARED read/write afterwards.  On failure everything is undone.
 */
int st_share_open(struct st_share *s, const char *dir, unsigned int npages,
		  const struct bpf_program *manage, bool map);
/*
 * Unmaps, unmanages (the kernel holds an inode reference for every share)
 * and closes; safe on a zeroed or half-closed share.  Call it before the
 * skeleton that managed the share is destroyed.
 */
void st_share_close(struct st_share *s);
/* Another mapping of the share (MAP_SHARED or MAP_PRIVATE); NULL on error. */
char *st_share_mmap(const struct st_share *s, int flags);

/* ---- the standard setup ---- */

/*
 * For a setup whose ctx @c has members skel and share: loads skeleton @name
 * into @c->skel, opens @c->share (@npages in /tmp, managed by the skeleton's
 * st_manage_prog, mapped when @map) and points the skeleton's bss
 * st_target_dev/st_target_ino at it.  On failure it jumps to the label fail.
 */
#define ST_OPEN_SKEL_SHARE(c, name, npages, map)			\
	do {								\
		(c)->skel = name##__open_and_load();			\
		if (!(c)->skel) {					\
			CCMAP_ERR("open_and_load: %s", strerror(errno)); \
			goto fail;					\
		}							\
		if (st_share_open(&(c)->share, "/tmp", (npages),	\
				  (c)->skel->progs.st_manage_prog, (map))) \
			goto fail;					\
		(c)->skel->bss->st_target_dev = (c)->share.dev;		\
		(c)->skel->bss->st_target_ino = (c)->share.ino;		\
	} while (0)

/*
 * Defines @name_setup() for a test whose struct @name_ctx has members skel
 * and share and needs nothing more: allocates the ctx, ST_OPEN_SKEL_SHARE()
 * with a mapped share of @npages; on failure calls @cleanup on the ctx.
 */
#define ST_DEFINE_SETUP(name, npages, cleanup)				\
static enum ccmap_test_status name##_setup(void **arg)			\
{									\
	struct name##_ctx *c = calloc(1, sizeof(*c));			\
									\
	CCMAP_ASSERT(c, "calloc");					\
	*arg = c;							\
	ST_OPEN_SKEL_SHARE(c, name, npages, true);			\
	return CCMAP_TEST_PASS;						\
fail:									\
	cleanup(c);							\
	return CCMAP_TEST_FAIL;						\
}

/* ---- the agent-side programs of selftest.bpf.h ---- */

/*
 * Runs a SEC("syscall") program with @a as its context; @a->ret holds the
 * kfunc's result afterwards.  Returns 0, or -errno if BPF_PROG_RUN failed or
 * the program returned non-zero.
 */
int st_run(const struct bpf_program *prog, struct st_args *a);
/* st_run() of st_zap_prog / st_mkclean_prog / st_wake_prog: returns the
 * kfunc's result (or the BPF_PROG_RUN error). */
long long st_zap(const struct bpf_program *prog, int fd, __u64 off, __u64 len);
long long st_mkclean(const struct bpf_program *prog, int fd, __u64 off,
		     __u64 len);
long long st_wake(const struct bpf_program *prog, __u64 key);

/* ---- accesses ---- */

/*
 * Load or store through a mapping, in the calling thread.  Return 0, or
 * -EFAULT when the access raised SIGBUS (caught with sigsetjmp/siglongjmp).
 * A SIGBUS outside these helpers still kills the process.
 */
int st_read8(const volatile void *addr, unsigned char *val);
int st_write8(volatile void *addr, unsigned char val);
int st_read64(const volatile void *addr, __u64 *val);
int st_write64(volatile void *addr, __u64 val);

/* ---- policies ---- */

/* bpf_map__attach_struct_ops(); NULL with errno set on failure. */
struct bpf_link *st_attach(struct bpf_map *ops);
/* Waits until the link reports EPOLLHUP: 0, or -ETIMEDOUT. */
int st_wait_hup(struct bpf_link *link, int timeout_ms);
/* Destroys *@link if set and clears it. */
void st_link_destroy(struct bpf_link **link);

/* ---- /sys/kernel/ccmap/ ---- */

/* Reads /sys/kernel/ccmap/@file into @buf without the newline. */
int st_sysfs_str(const char *file, char *buf, size_t len);
int st_sysfs_ull(const char *file, unsigned long long *val);

struct st_stats {
	unsigned long long faults, waits, wakes, timeouts, sigbus, zaps,
		mkcleans, errors, revokes;
};

int st_stats_read(struct st_stats *s);

/* The last exit: kind number, name of the kind, reason, policy name. */
struct st_exit {
	int kind;
	char kind_str[64];
	char reason[160];
	char ops[80];
};

int st_exit_read(struct st_exit *e);
/* True when no policy is attached: state "disabled" and ops empty. */
bool st_no_policy(void);
/* Waits until /sys/kernel/ccmap/nr_waiting reaches @n: 0 or -ETIMEDOUT. */
int st_wait_nr_waiting(unsigned long long n, int timeout_ms);

/*
 * The checks after one fault waited and was woken: the policy was asked
 * twice (@nr_ask: first calls, not rechecks) and let it go twice (@nr_go:
 * the woken fault's recheck, then its retry); between the stats @s0 and
 * @s1 one wait and one wake, no timeout, no SIGBUS; nr_waiting is back to 0.
 */
enum ccmap_test_status st_check_woken_once(unsigned long long nr_ask,
					   unsigned long long nr_go,
					   const struct st_stats *s0,
					   const struct st_stats *s1);

/* ---- the kernel log ---- */

/*
 * Opens /dev/kmsg positioned after the last record: st_kmsg_scan() then
 * sees only what the kernel logs from now on.  Returns the descriptor or
 * -errno.
 */
int st_kmsg_open(void);
/*
 * Reads the records logged since st_kmsg_open() (or the previous scan).
 * Returns how many show a kernel problem (BUG:, WARNING:, Call Trace:,
 * Oops, a lockdep report), printing each, and sets *@found when a record
 * contains @want (may be NULL); -errno on a read error.
 */
int st_kmsg_scan(int fd, const char *want, bool *found);

/* ---- ext4 scratch filesystem ---- */

/*
 * Makes a 64 MiB ext4 image in /tmp and mounts it on a loop device; the
 * mount point is written to @dir.  st_ext4_umount() undoes it.
 */
int st_ext4_mount(char *dir, size_t len);
void st_ext4_umount(void);

/* ---- files next to the binary ---- */

/*
 * The path of @rel relative to the build directory the binary was built in
 * (<build>/bin/ccmap-selftests -> <build>/@rel), e.g. "bpf/reject/x.bpf.o".
 */
int st_build_path(const char *rel, char *buf, size_t len);

#endif /* CCMAP_SELFTEST_UTIL_H */
