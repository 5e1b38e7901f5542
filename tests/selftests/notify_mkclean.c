// SPDX-License-Identifier: GPL-2.0
/*
 * notify_mkclean.c - ops.mkclean() is called when writeback write-protects
 * a share page that a store made writable and dirty, and the next store to
 * it faults and asks for CCMAP_ACC_WRITE again.  On ext4 (a loop device),
 * through fsync(), msync(MS_SYNC) and bpf_ccmap_writeback(); once per
 * folio, for the dirtied pages only, and not at all when nothing was
 * written through the mapping.  Not for bpf_ccmap_mkclean(), after which
 * writeback finds no writable PTE.  On tmpfs writeback does nothing.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"
#include "notify_mkclean.skel.h"

#define NR_PAGES	4
#define LOG_LEN		64	/* as in notify_mkclean.bpf.c */

struct notify_mkclean_ctx {
	struct notify_mkclean *skel;
	struct st_share share;
	struct bpf_link *link;
	bool ext4;
	__u32 from;		/* first ops.mkclean log entry not checked yet */
};

static void notify_mkclean_cleanup(void *arg)
{
	struct notify_mkclean_ctx *c = arg;

	st_link_destroy(&c->link);
	st_share_close(&c->share);
	if (c->ext4)
		st_ext4_umount();
	notify_mkclean__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status notify_mkclean_setup(void **arg)
{
	struct notify_mkclean_ctx *c = calloc(1, sizeof(*c));

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	c->skel = notify_mkclean__open_and_load();
	if (!c->skel) {
		CCMAP_ERR("open_and_load: %s", strerror(errno));
		free(c);
		return CCMAP_TEST_FAIL;
	}
	return CCMAP_TEST_PASS;
}

/*
 * The ops.mkclean() calls since the last check must be exactly one for each
 * page of the bit mask @pages, one page each, flags 0.
 */
static enum ccmap_test_status expect_mkcleans(struct notify_mkclean_ctx *c,
					      const char *what,
					      unsigned int pages)
{
	struct notify_mkclean__bss *bss = c->skel->bss;
	__u32 n = bss->nr_mkclean - c->from, i, seen = 0;

	CCMAP_ASSERT(n == (__u32)__builtin_popcount(pages),
		     "%s: %u ops.mkclean calls, want %d", what, n,
		     __builtin_popcount(pages));
	for (i = 0; i < n; i++) {
		const struct st_page_rec *r = &bss->mkclean_log[(c->from + i) %
								LOG_LEN];

		CCMAP_ASSERT(r->pgoff < NR_PAGES && (pages & (1u << r->pgoff)) &&
			     !(seen & (1u << r->pgoff)),
			     "%s: ops.mkclean for page %llu, want pages %#x once",
			     what, (unsigned long long)r->pgoff, pages);
		CCMAP_ASSERT(r->nr == 1 && r->flags == 0,
			     "%s: page %llu: nr %u flags %#x", what,
			     (unsigned long long)r->pgoff, r->nr, r->flags);
		seen |= 1u << r->pgoff;
	}
	c->from = bss->nr_mkclean;
	return CCMAP_TEST_PASS;
}

/* Store to page @pg; want @nr (0/1) WRITE faults on it. */
static enum ccmap_test_status expect_store(struct notify_mkclean_ctx *c,
					   const char *what, unsigned int pg,
					   unsigned int nr)
{
	struct notify_mkclean__bss *bss = c->skel->bss;
	__u64 w0 = bss->nr_write, r0 = bss->nr_read;

	CCMAP_ASSERT(!st_write8(c->share.map + pg * ST_PAGE + 1, 'W'),
		     "%s: SIGBUS", what);
	CCMAP_ASSERT(bss->nr_write - w0 == nr && bss->nr_read == r0,
		     "%s: %llu WRITE and %llu READ faults, want %u and 0", what,
		     (unsigned long long)(bss->nr_write - w0),
		     (unsigned long long)(bss->nr_read - r0), nr);
	CCMAP_ASSERT(!nr || bss->last_pgoff == pg, "%s: fault on page %llu",
		     what, (unsigned long long)bss->last_pgoff);
	return CCMAP_TEST_PASS;
}

#define CHECK_STEP(expr)						\
	do {								\
		enum ccmap_test_status __st = (expr);			\
		if (__st != CCMAP_TEST_PASS)				\
			return __st;					\
	} while (0)

static int share(struct notify_mkclean_ctx *c, const char *dir)
{
	int err;

	err = st_share_open(&c->share, dir, NR_PAGES,
			    c->skel->progs.st_manage_prog, false);
	if (err)
		return err;
	/* The pages were written with pwrite(): clean them before mapping. */
	if (fsync(c->share.fd)) {
		err = -errno;
		CCMAP_ERR("fsync: %s", strerror(errno));
		return err;
	}
	c->skel->bss->st_target_dev = c->share.dev;
	c->skel->bss->st_target_ino = c->share.ino;
	c->share.map = st_share_mmap(&c->share, MAP_SHARED);
	return c->share.map ? 0 : -ENOMEM;
}

static enum ccmap_test_status notify_mkclean_tmpfs(struct notify_mkclean_ctx *c)
{
	CCMAP_ASSERT(!share(c, "/tmp"), "tmpfs share");
	c->from = c->skel->bss->nr_mkclean;
	CHECK_STEP(expect_store(c, "tmpfs: store p0", 0, 1));
	CCMAP_ASSERT(!fsync(c->share.fd), "fsync: %s", strerror(errno));
	CHECK_STEP(expect_mkcleans(c, "tmpfs: fsync", 0));
	CHECK_STEP(expect_store(c, "tmpfs: store p0 after fsync", 0, 0));
	st_share_close(&c->share);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status notify_mkclean_ext4(struct notify_mkclean_ctx *c)
{
	const struct bpf_program *mkclean = c->skel->progs.st_mkclean_prog;
	struct notify_mkclean__bss *bss = c->skel->bss;
	struct st_args wb = { };
	unsigned char v;
	char dir[128];
	long long n;
	int err;

	CCMAP_ASSERT(!st_ext4_mount(dir, sizeof(dir)), "ext4 scratch mount");
	c->ext4 = true;
	CCMAP_ASSERT(!share(c, dir), "ext4 share");
	c->from = bss->nr_mkclean;

	/* fsync: p0 was stored to, p1 only read. */
	CHECK_STEP(expect_store(c, "store p0", 0, 1));
	CCMAP_ASSERT(!st_read8(c->share.map + ST_PAGE, &v) && v == st_fill(1),
		     "read p1");
	CCMAP_ASSERT(!fsync(c->share.fd), "fsync: %s", strerror(errno));
	CHECK_STEP(expect_mkcleans(c, "fsync after storing p0", 1u << 0));
	CCMAP_ASSERT(!st_read8(c->share.map, &v) && v == 'a' &&
		     bss->nr_read == 1, "read p0 after fsync: '%c', %llu reads",
		     v, (unsigned long long)bss->nr_read);
	CHECK_STEP(expect_store(c, "store p0 after fsync", 0, 1));
	CHECK_STEP(expect_store(c, "store p0 again", 0, 0));

	/* msync(MS_SYNC): p0 and p2 dirty. */
	CHECK_STEP(expect_store(c, "store p2", 2, 1));
	CCMAP_ASSERT(!msync(c->share.map, NR_PAGES * ST_PAGE, MS_SYNC),
		     "msync: %s", strerror(errno));
	CHECK_STEP(expect_mkcleans(c, "msync after storing p0, p2",
				   1u << 0 | 1u << 2));
	CHECK_STEP(expect_store(c, "store p2 after msync", 2, 1));
	CHECK_STEP(expect_store(c, "store p0 after msync", 0, 1));

	/* bpf_ccmap_writeback(): p3 as well. */
	CHECK_STEP(expect_store(c, "store p3", 3, 1));
	wb.fd = c->share.fd;
	err = st_run(c->skel->progs.writeback_prog, &wb);
	CCMAP_ASSERT(!err && wb.ret == 0, "bpf_ccmap_writeback: %d, %lld", err,
		     (long long)wb.ret);
	CHECK_STEP(expect_mkcleans(c, "bpf_ccmap_writeback after storing p0, p2, p3",
				   1u << 0 | 1u << 2 | 1u << 3));
	CHECK_STEP(expect_store(c, "store p3 after writeback", 3, 1));

	/* One more store to p3: one call; then nothing is dirty: none. */
	CCMAP_ASSERT(!fsync(c->share.fd), "fsync: %s", strerror(errno));
	CHECK_STEP(expect_mkcleans(c, "fsync after storing p3", 1u << 3));
	CCMAP_ASSERT(!fsync(c->share.fd), "fsync: %s", strerror(errno));
	CHECK_STEP(expect_mkcleans(c, "fsync with nothing dirty", 0));

	/* The policy's own mkclean is not reported, and leaves writeback
	 * nothing to write-protect. */
	CHECK_STEP(expect_store(c, "store p1", 1, 1));
	n = st_mkclean(mkclean, c->share.fd, 0, 0);
	CCMAP_ASSERT(n == 1, "bpf_ccmap_mkclean returned %lld, want 1", n);
	CHECK_STEP(expect_mkcleans(c, "bpf_ccmap_mkclean", 0));
	CCMAP_ASSERT(!fsync(c->share.fd), "fsync: %s", strerror(errno));
	CHECK_STEP(expect_mkcleans(c, "fsync after bpf_ccmap_mkclean", 0));
	CHECK_STEP(expect_store(c, "store p1 after bpf_ccmap_mkclean", 1, 1));

	/* The stores reached the disk's copy (the page cache, written back). */
	CCMAP_ASSERT(pread(c->share.fd, &v, 1, 2 * ST_PAGE + 1) == 1 && v == 'W',
		     "file page 2 byte 1 is '%c'", v);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status notify_mkclean_run(void *arg)
{
	struct notify_mkclean_ctx *c = arg;
	enum ccmap_test_status st;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.notify_mkclean_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	st = notify_mkclean_tmpfs(c);
	if (st != CCMAP_TEST_PASS)
		return st;
	return notify_mkclean_ext4(c);
}

static struct ccmap_test notify_mkclean_test = {
	.name = "notify_mkclean",
	.description = "ops.mkclean when writeback write-protects a stored page (fsync, msync, bpf_ccmap_writeback)",
	.setup = notify_mkclean_setup,
	.run = notify_mkclean_run,
	.cleanup = notify_mkclean_cleanup,
};
REGISTER_CCMAP_TEST(notify_mkclean_test)
