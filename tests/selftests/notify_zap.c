// SPDX-License-Identifier: GPL-2.0
/*
 * notify_zap.c - ops.zap() is called for every share folio the kernel
 * removes from the page cache, once per folio, with its page and flags:
 *
 * tmpfs: fallocate(PUNCH_HOLE | KEEP_SIZE) over a dirty and a clean page
 * (a hole read through the mapping), ftruncate() shrinking the file
 * (CCMAP_PAGE_BEYOND_EOF), bpf_ccmap_invalidate() refused (-EOPNOTSUPP);
 * no call when the file is unmanaged and closed (a share holds a reference
 * on its inode, so it is only evicted once it is no share any more:
 * CCMAP_PAGE_EXITING cannot be seen today).
 *
 * ext4: bpf_ccmap_invalidate() of clean pages (flags 0; they refault from
 * the disk), of a dirty page (-EBUSY, no call), ftruncate() over a dirty
 * and a clean page, no call at the unmanage and close.
 *
 * Dirty and clean folios get the same flags: truncation and hole punching
 * discard the data by definition (the dirty bit is already cancelled when
 * ops.zap() runs), invalidation and reclaim only drop clean folios.  No call
 * may set a bit outside ALL_FLAGS (bit 0 is unused).  bpf_ccmap_zap() unmaps
 * but removes nothing: no call.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"
#include "notify_zap.skel.h"

#define LOG_LEN		64	/* as in notify_zap.bpf.c */
#define TMPFS_PAGES	8	/* filled, then grown to TMPFS_SIZE with holes */
#define TMPFS_SIZE	10
#define EXT4_PAGES	4
#define ALL_FLAGS	(CCMAP_PAGE_EXITING | CCMAP_PAGE_BEYOND_EOF)

struct notify_zap_ctx {
	struct notify_zap *skel;
	struct st_share share;
	struct bpf_link *link;
	bool ext4;
};

struct zap_want {
	__u64 pgoff;
	__u32 flags;
};

/* Short names for the tables of expected calls. */
enum {
	BEYOND	= CCMAP_PAGE_BEYOND_EOF,
	EXITING	= CCMAP_PAGE_EXITING,
};

static void notify_zap_cleanup(void *arg)
{
	struct notify_zap_ctx *c = arg;

	st_link_destroy(&c->link);
	st_share_close(&c->share);
	if (c->ext4)
		st_ext4_umount();
	notify_zap__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status notify_zap_setup(void **arg)
{
	struct notify_zap_ctx *c = calloc(1, sizeof(*c));

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	c->skel = notify_zap__open_and_load();
	if (!c->skel) {
		CCMAP_ERR("open_and_load: %s", strerror(errno));
		free(c);
		return CCMAP_TEST_FAIL;
	}
	return CCMAP_TEST_PASS;
}

static void show_flags(char *buf, size_t len, __u32 flags)
{
	snprintf(buf, len, "%s%s%s%s", flags ? "" : "0",
		 flags & CCMAP_PAGE_EXITING ? "X" : "",
		 flags & CCMAP_PAGE_BEYOND_EOF ? "B" : "",
		 flags & ~ALL_FLAGS ? "?" : "");
}

/*
 * The ops.zap() calls since log entry @from must be exactly one per page of
 * @want, each for one page, with the flags of @want in the bits of @mask
 * and no bit outside ALL_FLAGS.  Moves @from past them.
 */
static enum ccmap_test_status expect_zaps(struct notify_zap_ctx *c,
					  const char *what, __u32 *from,
					  const struct zap_want *want,
					  unsigned int nr_want, __u32 mask)
{
	struct notify_zap__bss *bss = c->skel->bss;
	__u32 n = bss->nr_zap - *from, i, j;
	char line[512], f[8];
	size_t len = 0;

	for (i = 0; i < n && i < LOG_LEN; i++) {
		const struct st_page_rec *r = &bss->zap_log[(*from + i) % LOG_LEN];

		show_flags(f, sizeof(f), r->flags);
		len += snprintf(line + len, sizeof(line) - len, " %llu/%u/%s",
				(unsigned long long)r->pgoff, r->nr, f);
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
	}
	line[len] = '\0';
	printf("# %s: ops.zap (page/nr/flags):%s\n", what, n ? line : " none");
	CCMAP_ASSERT(n == nr_want, "%s: %u ops.zap calls, want %u", what, n,
		     nr_want);
	for (i = 0; i < n; i++) {
		const struct st_page_rec *r = &bss->zap_log[(*from + i) % LOG_LEN];

		CCMAP_ASSERT(!(r->flags & ~ALL_FLAGS),
			     "%s: page %llu: unknown flags %#x", what,
			     (unsigned long long)r->pgoff, r->flags);
	}
	for (j = 0; j < nr_want; j++) {
		const struct st_page_rec *r = NULL;

		for (i = 0; i < n; i++) {
			r = &bss->zap_log[(*from + i) % LOG_LEN];
			if (r->pgoff == want[j].pgoff)
				break;
		}
		CCMAP_ASSERT(i < n, "%s: no ops.zap for page %llu", what,
			     (unsigned long long)want[j].pgoff);
		CCMAP_ASSERT(r->nr == 1, "%s: page %llu: nr %u", what,
			     (unsigned long long)r->pgoff, r->nr);
		show_flags(f, sizeof(f), want[j].flags & mask);
		CCMAP_ASSERT((r->flags & mask) == (want[j].flags & mask),
			     "%s: page %llu: flags %#x, want %s (%#x) in %#x",
			     what, (unsigned long long)r->pgoff, r->flags, f,
			     want[j].flags & mask, mask);
	}
	*from = bss->nr_zap;
	return CCMAP_TEST_PASS;
}

#define EXPECT_ZAPS(what, mask, ...)					\
	do {								\
		static const struct zap_want __w[] = { __VA_ARGS__ };	\
		enum ccmap_test_status __st =				\
			expect_zaps(c, what, &from, __w,		\
				    sizeof(__w) / sizeof(__w[0]), mask); \
		if (__st != CCMAP_TEST_PASS)				\
			return __st;					\
	} while (0)

static long long invalidate(struct notify_zap_ctx *c, __u64 off, __u64 len)
{
	struct st_args a = {
		.fd = c->share.fd,
		.off = off,
		.len = len,
	};
	int err = st_run(c->skel->progs.invalidate_prog, &a);

	return err ? err : a.ret;
}

/* Map the share (st_share_open() with map = false); NULL on failure. */
static char *map_share(struct notify_zap_ctx *c)
{
	c->skel->bss->st_target_dev = c->share.dev;
	c->skel->bss->st_target_ino = c->share.ino;
	c->share.map = st_share_mmap(&c->share, MAP_SHARED);
	return c->share.map;
}

static enum ccmap_test_status notify_zap_tmpfs(struct notify_zap_ctx *c)
{
	struct notify_zap__bss *bss = c->skel->bss;
	__u32 from;
	unsigned char v;
	long long n;

	CCMAP_ASSERT(!st_share_open(&c->share, "/tmp", TMPFS_PAGES,
				    c->skel->progs.st_manage_prog, false),
		     "tmpfs share");
	/* Pages 8 and 9 are holes. */
	CCMAP_ASSERT(!ftruncate(c->share.fd, TMPFS_SIZE * ST_PAGE),
		     "grow: %s", strerror(errno));
	c->share.npages = TMPFS_SIZE;
	CCMAP_ASSERT(map_share(c), "mmap");
	from = bss->nr_zap;

	/* p5 mapped read-only, p6 written through the mapping, p8 a hole
	 * read through it: a clean folio. */
	CCMAP_ASSERT(!st_read8(c->share.map + 5 * ST_PAGE, &v) && v == st_fill(5),
		     "read p5");
	CCMAP_ASSERT(!st_write8(c->share.map + 6 * ST_PAGE, 'W'), "write p6");
	CCMAP_ASSERT(!st_read8(c->share.map + 8 * ST_PAGE, &v) && v == 0,
		     "read the hole p8: %#x", v);

	/* Unmapping removes nothing. */
	n = st_zap(c->skel->progs.st_zap_prog, c->share.fd, 0, 0);
	CCMAP_ASSERT(n >= 0, "bpf_ccmap_zap: %s", strerror((int)-n));
	EXPECT_ZAPS("tmpfs bpf_ccmap_zap", ALL_FLAGS);
	n = invalidate(c, 0, 0);
	CCMAP_ASSERT(n == -EOPNOTSUPP, "tmpfs bpf_ccmap_invalidate: %lld", n);
	EXPECT_ZAPS("tmpfs bpf_ccmap_invalidate", ALL_FLAGS);

	/* Punch p7 (written by pwrite: dirty) and p8 (clean): same flags. */
	CCMAP_ASSERT(!fallocate(c->share.fd,
				FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				7 * ST_PAGE, 2 * ST_PAGE),
		     "punch: %s", strerror(errno));
	EXPECT_ZAPS("tmpfs punch p7-p8", ALL_FLAGS, { 7, 0 }, { 8, 0 });

	/* Shrink to 5 pages: p5 and p6 are dropped, p9 never existed. */
	CCMAP_ASSERT(!ftruncate(c->share.fd, 5 * ST_PAGE), "truncate: %s",
		     strerror(errno));
	EXPECT_ZAPS("tmpfs truncate to 5 pages", ALL_FLAGS, { 5, BEYOND },
		    { 6, BEYOND });
	CCMAP_ASSERT(!st_read8(c->share.map + 4 * ST_PAGE, &v) && v == st_fill(4),
		     "read p4 after the truncate");

	/*
	 * A share holds its inode: it is evicted only after it was
	 * unmanaged, when it is no share any more, so no call.
	 */
	st_share_close(&c->share);
	EXPECT_ZAPS("tmpfs unmanage and last close", ALL_FLAGS);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status notify_zap_ext4(struct notify_zap_ctx *c)
{
	struct notify_zap__bss *bss = c->skel->bss;
	char dir[128];
	__u64 reads;
	__u32 from;
	unsigned char v;
	long long n;

	CCMAP_ASSERT(!st_ext4_mount(dir, sizeof(dir)), "ext4 scratch mount");
	c->ext4 = true;
	CCMAP_ASSERT(!st_share_open(&c->share, dir, EXT4_PAGES,
				    c->skel->progs.st_manage_prog, false),
		     "ext4 share");
	CCMAP_ASSERT(!fsync(c->share.fd), "fsync: %s", strerror(errno));
	CCMAP_ASSERT(map_share(c), "mmap");
	from = bss->nr_zap;

	/* p0, p1 mapped read-only (clean), p2 dirtied through the mapping,
	 * p3 cached and clean. */
	CCMAP_ASSERT(!st_read8(c->share.map, &v) && v == st_fill(0), "read p0");
	CCMAP_ASSERT(!st_read8(c->share.map + ST_PAGE, &v) && v == st_fill(1),
		     "read p1");
	CCMAP_ASSERT(!st_write8(c->share.map + 2 * ST_PAGE, 'W'), "write p2");

	n = st_zap(c->skel->progs.st_zap_prog, c->share.fd, 0, 0);
	CCMAP_ASSERT(n >= 0, "bpf_ccmap_zap: %s", strerror((int)-n));
	EXPECT_ZAPS("ext4 bpf_ccmap_zap", ALL_FLAGS);

	/* Invalidate p0-p1: dropped clean; they refault from the disk. */
	n = invalidate(c, 0, 2 * ST_PAGE);
	CCMAP_ASSERT(n == 0, "invalidate p0-p1: %lld", n);
	EXPECT_ZAPS("ext4 invalidate p0-p1", ALL_FLAGS, { 0, 0 }, { 1, 0 });
	reads = bss->nr_read;
	CCMAP_ASSERT(!st_read8(c->share.map, &v) && v == st_fill(0),
		     "read p0 after the invalidate: '%c'", v);
	CCMAP_ASSERT(bss->nr_read == reads + 1, "%llu read faults, want 1",
		     (unsigned long long)(bss->nr_read - reads));

	/* A dirty page cannot be invalidated. */
	n = invalidate(c, 2 * ST_PAGE, ST_PAGE);
	CCMAP_ASSERT(n == -EBUSY, "invalidate of the dirty p2: %lld", n);
	EXPECT_ZAPS("ext4 invalidate dirty p2", ALL_FLAGS);

	/* Shrink to 2 pages: p2 (dirty) and p3 (clean) are dropped alike. */
	CCMAP_ASSERT(!ftruncate(c->share.fd, 2 * ST_PAGE), "truncate: %s",
		     strerror(errno));
	EXPECT_ZAPS("ext4 truncate to 2 pages", ALL_FLAGS, { 2, BEYOND },
		    { 3, BEYOND });

	st_share_close(&c->share);
	EXPECT_ZAPS("ext4 unmanage and last close", ALL_FLAGS);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status notify_zap_run(void *arg)
{
	struct notify_zap_ctx *c = arg;
	enum ccmap_test_status st;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.notify_zap_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	st = notify_zap_tmpfs(c);
	if (st != CCMAP_TEST_PASS)
		return st;
	return notify_zap_ext4(c);
}

static struct ccmap_test notify_zap_test = {
	.name = "notify_zap",
	.description = "ops.zap for truncate, hole punch, invalidate, eviction (tmpfs, ext4); not for bpf_ccmap_zap",
	.setup = notify_zap_setup,
	.run = notify_zap_run,
	.cleanup = notify_zap_cleanup,
};
REGISTER_CCMAP_TEST(notify_zap_test)
