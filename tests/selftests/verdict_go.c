// SPDX-License-Identifier: GPL-2.0
/*
 * verdict_go.c - a policy that lets every fault go: the access completes at
 * once, the policy is asked exactly once per fault, and its context
 * describes the fault (stat(2) dev and inode, page index, the access of a
 * read, a MAP_SHARED write and a MAP_PRIVATE write, tgid and pid).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"
#include "verdict_go.skel.h"

#define NR_PAGES	8

struct verdict_go_ctx {
	struct verdict_go *skel;
	struct st_share share;
	char *priv;
	struct bpf_link *link;
};

static void verdict_go_cleanup(void *arg)
{
	struct verdict_go_ctx *c = arg;

	if (c->priv)
		munmap(c->priv, NR_PAGES * ST_PAGE);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	verdict_go__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status verdict_go_setup(void **arg)
{
	struct verdict_go_ctx *c = calloc(1, sizeof(*c));

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	ST_OPEN_SKEL_SHARE(c, verdict_go, NR_PAGES, true);
	c->priv = st_share_mmap(&c->share, MAP_PRIVATE);
	if (!c->priv)
		goto fail;
	return CCMAP_TEST_PASS;
fail:
	verdict_go_cleanup(c);
	return CCMAP_TEST_FAIL;
}

/* One access, one fault, and what the policy saw of it. */
static enum ccmap_test_status check_fault(struct verdict_go_ctx *c,
					  const char *what, char *addr,
					  bool write, unsigned int pgoff,
					  unsigned int access)
{
	struct verdict_go__bss *bss = c->skel->bss;
	__u64 before = bss->nr_fault;
	struct st_stats s0, s1;
	unsigned char v;
	int err;

	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	if (write)
		err = st_write8(addr, 'W');
	else
		err = st_read8(addr, &v);
	CCMAP_ASSERT(!err, "%s: SIGBUS", what);
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(write || v == st_fill(pgoff), "%s: read '%c'", what, v);
	CCMAP_ASSERT(bss->nr_fault == before + 1,
		     "%s: policy asked %llu times, want 1", what,
		     (unsigned long long)(bss->nr_fault - before));
	CCMAP_ASSERT(s1.faults == s0.faults + 1 && s1.waits == s0.waits &&
		     s1.sigbus == s0.sigbus,
		     "%s: faults +%llu waits +%llu sigbus +%llu", what,
		     s1.faults - s0.faults, s1.waits - s0.waits,
		     s1.sigbus - s0.sigbus);
	CCMAP_ASSERT(bss->last.dev == c->share.dev &&
		     bss->last.ino == c->share.ino &&
		     bss->last.pgoff == pgoff && bss->last.access == access &&
		     bss->last.tgid == (__u32)getpid() &&
		     bss->last.pid == (__u32)gettid() && bss->last.recheck == 0,
		     "%s: ctx dev %#llx ino %llu pgoff %llu access %u tgid %u pid %u recheck %u; want dev %#llx ino %llu pgoff %u access %u tgid %d pid %d",
		     what, (unsigned long long)bss->last.dev,
		     (unsigned long long)bss->last.ino,
		     (unsigned long long)bss->last.pgoff, bss->last.access,
		     bss->last.tgid, bss->last.pid, bss->last.recheck,
		     (unsigned long long)c->share.dev,
		     (unsigned long long)c->share.ino, pgoff, access,
		     getpid(), gettid());
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status verdict_go_run(void *arg)
{
	struct verdict_go_ctx *c = arg;
	enum ccmap_test_status st;
	unsigned char v;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.verdict_go_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	st = check_fault(c, "read", c->share.map + 3 * ST_PAGE, false, 3,
			 CCMAP_ACC_READ);
	if (st != CCMAP_TEST_PASS)
		return st;
	st = check_fault(c, "shared write", c->share.map + 5 * ST_PAGE, true, 5,
			 CCMAP_ACC_WRITE);
	if (st != CCMAP_TEST_PASS)
		return st;
	st = check_fault(c, "private write", c->priv + 6 * ST_PAGE, true, 6,
			 CCMAP_ACC_COW);
	if (st != CCMAP_TEST_PASS)
		return st;

	/* Mapped now: no more faults. */
	CCMAP_ASSERT(!st_read8(c->share.map + 3 * ST_PAGE, &v) &&
		     !st_write8(c->share.map + 5 * ST_PAGE + 1, 'X') &&
		     !st_write8(c->priv + 6 * ST_PAGE + 1, 'Y'), "SIGBUS");
	CCMAP_ASSERT(c->skel->bss->nr_fault == 3, "policy asked %llu times, want 3",
		     (unsigned long long)c->skel->bss->nr_fault);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test verdict_go_test = {
	.name = "verdict_go",
	.description = "verdict 0: fault maps at once; ctx has dev/ino/pgoff/access/tgid/pid",
	.setup = verdict_go_setup,
	.run = verdict_go_run,
	.cleanup = verdict_go_cleanup,
};
REGISTER_CCMAP_TEST(verdict_go_test)
