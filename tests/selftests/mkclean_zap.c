// SPDX-License-Identifier: GPL-2.0
/*
 * mkclean_zap.c - bpf_ccmap_mkclean() write-protects: reads still go
 * without a fault, the next store faults for WRITE.  bpf_ccmap_zap()
 * unmaps: the next read faults for READ.  Both act on their range only and
 * report how many folios they changed.
 */
#include <stdlib.h>

#include "util.h"
#include "mkclean_zap.skel.h"

#define NR_PAGES	4

struct mkclean_zap_ctx {
	struct mkclean_zap *skel;
	struct st_share share;
	struct bpf_link *link;
};

static void mkclean_zap_cleanup(void *arg)
{
	struct mkclean_zap_ctx *c = arg;

	st_link_destroy(&c->link);
	st_share_close(&c->share);
	mkclean_zap__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(mkclean_zap, NR_PAGES, mkclean_zap_cleanup)

/* Access page @pg; want @nr (0/1) faults, the last one for @access. */
static enum ccmap_test_status expect(struct mkclean_zap_ctx *c,
				     const char *what, unsigned int pg,
				     bool write, unsigned int nr,
				     unsigned int access)
{
	struct mkclean_zap__bss *bss = c->skel->bss;
	char *addr = c->share.map + pg * ST_PAGE;
	__u64 n0 = bss->nr_fault;
	unsigned char v;
	int err;

	err = write ? st_write8(addr + 1, 'W') : st_read8(addr, &v);
	CCMAP_ASSERT(!err, "%s: SIGBUS", what);
	CCMAP_ASSERT(write || v == st_fill(pg), "%s: read '%c'", what, v);
	CCMAP_ASSERT(bss->nr_fault - n0 == nr, "%s: %llu faults, want %u", what,
		     (unsigned long long)(bss->nr_fault - n0), nr);
	CCMAP_ASSERT(!nr || (bss->last_pgoff == pg && bss->last_access == access),
		     "%s: fault on page %llu for access %u, want page %u access %u",
		     what, (unsigned long long)bss->last_pgoff, bss->last_access,
		     pg, access);
	return CCMAP_TEST_PASS;
}

#define EXPECT(...)							\
	do {								\
		enum ccmap_test_status __st = expect(c, __VA_ARGS__);	\
		if (__st != CCMAP_TEST_PASS)				\
			return __st;					\
	} while (0)

static enum ccmap_test_status mkclean_zap_run(void *arg)
{
	struct mkclean_zap_ctx *c = arg;
	const struct bpf_program *zap = c->skel->progs.st_zap_prog;
	const struct bpf_program *mkclean = c->skel->progs.st_mkclean_prog;
	int fd = c->share.fd;
	struct st_stats s0, s1;
	long long n;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.mkclean_zap_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");

	/* p0 writable and dirty, p1 read-only. */
	EXPECT("write p0", 0, true, 1, CCMAP_ACC_WRITE);
	EXPECT("write p0 again", 0, true, 0, 0);
	EXPECT("read p1", 1, false, 1, CCMAP_ACC_READ);

	/* mkclean p0..p1: only p0 had a writable PTE. */
	n = st_mkclean(mkclean, fd, 0, 2 * ST_PAGE);
	CCMAP_ASSERT(n == 1, "mkclean p0-p1 returned %lld, want 1", n);
	n = st_mkclean(mkclean, fd, 0, 2 * ST_PAGE);
	CCMAP_ASSERT(n == 0, "second mkclean returned %lld, want 0", n);
	EXPECT("read p0 after mkclean", 0, false, 0, 0);
	EXPECT("write p0 after mkclean", 0, true, 1, CCMAP_ACC_WRITE);
	EXPECT("write p0 again", 0, true, 0, 0);

	/* zap p0 only: p0 refaults for a read, p1 stays mapped. */
	n = st_zap(zap, fd, 0, ST_PAGE);
	CCMAP_ASSERT(n >= 0, "zap p0: %s", strerror((int)-n));
	EXPECT("read p1 after zapping p0", 1, false, 0, 0);
	EXPECT("read p0 after zap", 0, false, 1, CCMAP_ACC_READ);
	EXPECT("read p0 again", 0, false, 0, 0);
	EXPECT("write p0 after the read", 0, true, 1, CCMAP_ACC_WRITE);

	/* zap to the end of the file (len 0): both refault. */
	n = st_zap(zap, fd, 0, 0);
	CCMAP_ASSERT(n >= 0, "zap all: %s", strerror((int)-n));
	EXPECT("write p0 after zap all", 0, true, 1, CCMAP_ACC_WRITE);
	EXPECT("read p1 after zap all", 1, false, 1, CCMAP_ACC_READ);

	/* Bad ranges and files are refused. */
	n = st_zap(zap, fd, 1ULL << 63, ST_PAGE);
	CCMAP_ASSERT(n == -EINVAL, "zap of a bad range returned %lld", n);
	n = st_mkclean(mkclean, -1, 0, 0);
	CCMAP_ASSERT(n == -EBADF, "mkclean of fd -1 returned %lld", n);

	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(s1.zaps - s0.zaps == 2 && s1.mkcleans - s0.mkcleans == 2,
		     "zaps +%llu mkcleans +%llu, want 2 and 2",
		     s1.zaps - s0.zaps, s1.mkcleans - s0.mkcleans);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test mkclean_zap_test = {
	.name = "mkclean_zap",
	.description = "mkclean makes the next store fault, zap the next read",
	.setup = mkclean_zap_setup,
	.run = mkclean_zap_run,
	.cleanup = mkclean_zap_cleanup,
};
REGISTER_CCMAP_TEST(mkclean_zap_test)
