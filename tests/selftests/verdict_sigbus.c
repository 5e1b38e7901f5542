// SPDX-License-Identifier: GPL-2.0
/*
 * verdict_sigbus.c - a verdict of -errno fails the access with SIGBUS (read
 * and write, caught with sigsetjmp/siglongjmp), counts in stats/sigbus, and
 * is not a policy error: the policy stays attached and serves other pages.
 */
#include <stdlib.h>

#include "util.h"
#include "verdict_sigbus.skel.h"

#define NR_PAGES	4
#define BAD_PAGE	1	/* as in verdict_sigbus.bpf.c */

struct verdict_sigbus_ctx {
	struct verdict_sigbus *skel;
	struct st_share share;
	struct bpf_link *link;
};

static void verdict_sigbus_cleanup(void *arg)
{
	struct verdict_sigbus_ctx *c = arg;

	st_link_destroy(&c->link);
	st_share_close(&c->share);
	verdict_sigbus__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(verdict_sigbus, NR_PAGES, verdict_sigbus_cleanup)

static enum ccmap_test_status verdict_sigbus_run(void *arg)
{
	struct verdict_sigbus_ctx *c = arg;
	char *bad = c->share.map + BAD_PAGE * ST_PAGE;
	unsigned long long seq0, seq1;
	struct st_stats s0, s1;
	char state[32];
	unsigned char v;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.verdict_sigbus_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_stats_read(&s0) && !st_sysfs_ull("enable_seq", &seq0),
		     "sysfs");

	CCMAP_ASSERT(st_read8(bad, &v) == -EFAULT, "read of the refused page: %s",
		     "no SIGBUS");
	CCMAP_ASSERT(st_write8(bad, 'W') == -EFAULT, "write of the refused page: %s",
		     "no SIGBUS");
	/* Twice, each time asked again: a refusal maps nothing. */
	CCMAP_ASSERT(st_read8(bad, &v) == -EFAULT, "second read: no SIGBUS");
	CCMAP_ASSERT(c->skel->bss->nr_refused == 3, "policy refused %llu, want 3",
		     (unsigned long long)c->skel->bss->nr_refused);

	/* The policy is fine and serves the other pages. */
	CCMAP_ASSERT(!st_read8(c->share.map, &v) && v == st_fill(0),
		     "page 0 after the refusals");
	CCMAP_ASSERT(!st_write8(c->share.map + 2 * ST_PAGE, 'W'),
		     "write page 2 after the refusals");
	CCMAP_ASSERT(!st_stats_read(&s1) && !st_sysfs_ull("enable_seq", &seq1),
		     "sysfs");
	CCMAP_ASSERT(s1.sigbus - s0.sigbus == 3 && s1.errors == s0.errors &&
		     s1.waits == s0.waits,
		     "sigbus +%llu errors +%llu waits +%llu",
		     s1.sigbus - s0.sigbus, s1.errors - s0.errors,
		     s1.waits - s0.waits);
	CCMAP_ASSERT(!st_sysfs_str("state", state, sizeof(state)) &&
		     !strcmp(state, "enabled") && seq1 == seq0,
		     "state '%s', enable_seq %llu -> %llu", state, seq0, seq1);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test verdict_sigbus_test = {
	.name = "verdict_sigbus",
	.description = "verdict -errno: SIGBUS for reads and writes, policy stays",
	.setup = verdict_sigbus_setup,
	.run = verdict_sigbus_run,
	.cleanup = verdict_sigbus_cleanup,
};
REGISTER_CCMAP_TEST(verdict_sigbus_test)
