// SPDX-License-Identifier: GPL-2.0
/*
 * stall_exit.c - the watchdog: a policy tells a fault to wait and then
 * wakes nothing at all.  At the deadline (timeout_ms = 300) the fault gets
 * SIGBUS and the policy is detached with CCMAP_EXIT_ERROR_STALL, visible in
 * sysfs, in ops.exit and as EPOLLHUP on the link; the same policy can be
 * attached again and serves faults.
 */
#include <stdlib.h>

#include "util.h"
#include "stall_exit.skel.h"

#define TIMEOUT_MS	300	/* as in stall_exit.bpf.c */

struct stall_exit_ctx {
	struct stall_exit *skel;
	struct st_share share;
	struct bpf_link *link;
};

static void stall_exit_cleanup(void *arg)
{
	struct stall_exit_ctx *c = arg;

	st_link_destroy(&c->link);
	st_share_close(&c->share);
	stall_exit__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(stall_exit, 2, stall_exit_cleanup)

static enum ccmap_test_status stall_exit_run(void *arg)
{
	struct stall_exit_ctx *c = arg;
	const struct ccmap_user_exit_info *uei = &c->skel->data->uei;
	struct st_stats s0, s1;
	struct st_exit ex;
	double t0, waited;
	unsigned char v;
	int rd;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.stall_exit_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");

	t0 = st_now();
	rd = st_read8(c->share.map, &v);
	waited = st_now() - t0;
	CCMAP_ASSERT(rd == -EFAULT, "the stalled read did not get SIGBUS");
	CCMAP_ASSERT(waited >= TIMEOUT_MS / 1000.0 && waited < 5.0,
		     "SIGBUS after %.3fs, deadline %d ms", waited, TIMEOUT_MS);

	CCMAP_ASSERT(!st_wait_hup(c->link, 2000), "no EPOLLHUP after the stall");
	CCMAP_ASSERT(st_no_policy(), "still attached after the stall");
	CCMAP_ASSERT(!st_exit_read(&ex), "exit info");
	printf("# SIGBUS after %.3fs; %s %d: %s\n", waited, ex.kind_str, ex.kind,
	       ex.reason);
	CCMAP_ASSERT(ex.kind == CCMAP_EXIT_ERROR_STALL &&
		     !strcmp(ex.kind_str, "error_stall") &&
		     !strcmp(ex.ops, "st_stall_exit") &&
		     !strncmp(ex.reason, "stall: ", 7),
		     "sysfs exit '%s %d' ops '%s' reason '%s'", ex.kind_str,
		     ex.kind, ex.ops, ex.reason);
	CCMAP_ASSERT(uei->kind == CCMAP_EXIT_ERROR_STALL &&
		     !strcmp(uei->reason, ex.reason),
		     "ops.exit saw kind %d reason '%s'", uei->kind, uei->reason);
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(s1.timeouts - s0.timeouts == 1 && s1.sigbus - s0.sigbus == 1 &&
		     s1.errors - s0.errors == 1,
		     "timeouts +%llu sigbus +%llu errors +%llu",
		     s1.timeouts - s0.timeouts, s1.sigbus - s0.sigbus,
		     s1.errors - s0.errors);

	/* Healthy: the policy attaches again and serves. */
	st_link_destroy(&c->link);
	c->skel->data->stall = 0;
	c->link = st_attach(c->skel->maps.stall_exit_ops);
	CCMAP_ASSERT(c->link, "attach after the stall: %s", strerror(errno));
	CCMAP_ASSERT(!st_read8(c->share.map, &v) && v == st_fill(0),
		     "page 0 after the stall");
	st_link_destroy(&c->link);
	CCMAP_ASSERT(uei->kind == CCMAP_EXIT_UNREG, "last exit kind %d",
		     uei->kind);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test stall_exit_test = {
	.name = "stall_exit",
	.description = "a wait nobody wakes: SIGBUS at the deadline and an ERROR_STALL exit",
	.setup = stall_exit_setup,
	.run = stall_exit_run,
	.cleanup = stall_exit_cleanup,
};
REGISTER_CCMAP_TEST(stall_exit_test)
