// SPDX-License-Identifier: GPL-2.0
/*
 * private_zap.c - MAP_PRIVATE and bpf_ccmap_zap() (the "seed 000" case):
 * a private page written before a zap keeps its private data, stays
 * mapped and writable (the zap keeps COW copies), while a private page that
 * was only read is unmapped by the zap, faults again (the policy is asked)
 * and shows the file's new contents written with pwrite() after the zap.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"
#include "private_zap.skel.h"

#define NR_PAGES	4
#define COW_PAGE	0	/* written privately before the zap */
#define READ_PAGE	1	/* only read privately before the zap */

struct private_zap_ctx {
	struct private_zap *skel;
	struct st_share share;
	char *priv;
	struct bpf_link *link;
};

static void private_zap_cleanup(void *arg)
{
	struct private_zap_ctx *c = arg;

	if (c->priv)
		munmap(c->priv, NR_PAGES * ST_PAGE);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	private_zap__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status private_zap_setup(void **arg)
{
	struct private_zap_ctx *c = calloc(1, sizeof(*c));

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	ST_OPEN_SKEL_SHARE(c, private_zap, NR_PAGES, false);
	c->priv = st_share_mmap(&c->share, MAP_PRIVATE);
	if (!c->priv)
		goto fail;
	return CCMAP_TEST_PASS;
fail:
	private_zap_cleanup(c);
	return CCMAP_TEST_FAIL;
}

static int fill_file_page(int fd, unsigned int page, unsigned char byte)
{
	unsigned char buf[ST_PAGE_SIZE];

	memset(buf, byte, sizeof(buf));
	return pwrite(fd, buf, sizeof(buf), (off_t)page * ST_PAGE) ==
	       (ssize_t)sizeof(buf) ? 0 : -1;
}

static enum ccmap_test_status private_zap_run(void *arg)
{
	struct private_zap_ctx *c = arg;
	struct private_zap__bss *bss = c->skel->bss;
	char *cow = c->priv + COW_PAGE * ST_PAGE;
	char *rd = c->priv + READ_PAGE * ST_PAGE;
	__u64 cow0, rd0;
	long long n;
	unsigned char v;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.private_zap_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	/* Before the zap: one private write, one private read. */
	CCMAP_ASSERT(!st_write8(cow, 'P'), "private write: SIGBUS");
	CCMAP_ASSERT(bss->faults[COW_PAGE] == 1 && bss->cow[COW_PAGE] == 1,
		     "private write: %llu faults (%llu COW), want 1 COW",
		     (unsigned long long)bss->faults[COW_PAGE],
		     (unsigned long long)bss->cow[COW_PAGE]);
	CCMAP_ASSERT(!st_read8(rd, &v) && v == st_fill(READ_PAGE),
		     "private read '%c'", v);
	CCMAP_ASSERT(bss->faults[READ_PAGE] == 1, "private read: %llu faults",
		     (unsigned long long)bss->faults[READ_PAGE]);

	/* Revoke everything, then new file contents arrive. */
	n = st_zap(c->skel->progs.st_zap_prog, c->share.fd, 0, 0);
	CCMAP_ASSERT(n >= 0, "zap: %s", strerror((int)-n));
	CCMAP_ASSERT(!fill_file_page(c->share.fd, COW_PAGE, 'X') &&
		     !fill_file_page(c->share.fd, READ_PAGE, 'Y'),
		     "pwrite: %s", strerror(errno));
	cow0 = bss->faults[COW_PAGE];
	rd0 = bss->faults[READ_PAGE];

	/* The private copy is untouched, still mapped and writable. */
	CCMAP_ASSERT(!st_read8(cow, &v) && v == 'P',
		     "written private page reads '%c' after the zap", v);
	CCMAP_ASSERT(!st_read8(cow + ST_PAGE - 1, &v) && v == st_fill(COW_PAGE),
		     "written private page's tail reads '%c'", v);
	CCMAP_ASSERT(!st_write8(cow + 1, 'Q'), "private write after the zap");
	CCMAP_ASSERT(bss->faults[COW_PAGE] == cow0,
		     "the private copy faulted %llu times after the zap",
		     (unsigned long long)(bss->faults[COW_PAGE] - cow0));

	/* The page only read privately refaults and shows the new data. */
	CCMAP_ASSERT(!st_read8(rd, &v) && v == 'Y',
		     "read-only private page reads '%c' after zap + pwrite", v);
	CCMAP_ASSERT(bss->faults[READ_PAGE] == rd0 + 1 &&
		     bss->last_access == CCMAP_ACC_READ,
		     "read-only private page: %llu faults after the zap (last access %u), want 1 READ",
		     (unsigned long long)(bss->faults[READ_PAGE] - rd0),
		     bss->last_access);

	/* The file has the new data; the private copy stayed private. */
	CCMAP_ASSERT(pread(c->share.fd, &v, 1, COW_PAGE * ST_PAGE) == 1 &&
		     v == 'X', "file page %d reads '%c'", COW_PAGE, v);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test private_zap_test = {
	.name = "private_zap",
	.description = "MAP_PRIVATE: COW copy survives a zap, a read page refaults to new data",
	.setup = private_zap_setup,
	.run = private_zap_run,
	.cleanup = private_zap_cleanup,
};
REGISTER_CCMAP_TEST(private_zap_test)
