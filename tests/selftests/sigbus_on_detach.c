// SPDX-License-Identifier: GPL-2.0
/*
 * sigbus_on_detach.c - CCMAP_OPS_SIGBUS_ON_DETACH.  A policy with the flag
 * makes a thread wait in a fault on page 0; user space detaches it: the
 * waiting fault gets SIGBUS at once, and so does a new fault on page 1,
 * both long before the 3 s deadline.  A policy without the flag, detached
 * the same way: the waiting fault on page 2 keeps waiting, now for the
 * next policy, and a policy attached GAP_MS later serves it with the right
 * data.  Neither counts a timeout.
 */
#include <pthread.h>
#include <stdlib.h>

#include "util.h"
#include "sigbus_on_detach.skel.h"

#define NR_PAGES	4
#define TIMEOUT_MS	3000	/* as in sigbus_on_detach.bpf.c */
#define AT_ONCE_S	1.0	/* well before the deadline, under TCG */
#define GAP_MS		300	/* no policy for that long */

struct sigbus_on_detach_ctx {
	struct sigbus_on_detach *skel;
	struct st_share share;
	struct bpf_link *link;
	pthread_t tid;
	bool started;
	/* the reader's page and results */
	unsigned int page;
	volatile int done;
	int err;
	unsigned char val;
	double t_end;
};

static void *sigbus_on_detach_reader(void *arg)
{
	struct sigbus_on_detach_ctx *c = arg;

	c->err = st_read8(c->share.map + c->page * ST_PAGE, &c->val);
	c->t_end = st_now();
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void sigbus_on_detach_cleanup(void *arg)
{
	struct sigbus_on_detach_ctx *c = arg;

	/* The wait is bounded (timeout_ms): the join returns. */
	if (c->started)
		pthread_join(c->tid, NULL);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	sigbus_on_detach__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(sigbus_on_detach, NR_PAGES, sigbus_on_detach_cleanup)

/* Starts the reader on page @pg and waits until its fault waits. */
static enum ccmap_test_status start_reader(struct sigbus_on_detach_ctx *c,
					   unsigned int pg)
{
	int err;

	c->page = pg;
	c->done = 0;
	c->err = 0;
	c->val = 0;
	err = pthread_create(&c->tid, NULL, sigbus_on_detach_reader, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000), "the reader of p%u does not wait",
		     pg);
	CCMAP_ASSERT(!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE),
		     "the read of p%u completed without a grant", pg);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status check_exit(const char *ops)
{
	struct st_exit ex;

	CCMAP_ASSERT(st_no_policy(), "still attached");
	CCMAP_ASSERT(!st_exit_read(&ex), "exit info");
	CCMAP_ASSERT(ex.kind == CCMAP_EXIT_UNREG && !strcmp(ex.ops, ops),
		     "exit '%s %d' ops '%s', want unregistered, %s", ex.kind_str,
		     ex.kind, ex.ops, ops);
	return CCMAP_TEST_PASS;
}

#define CHECK_STEP(expr)						\
	do {								\
		enum ccmap_test_status __st = (expr);			\
		if (__st != CCMAP_TEST_PASS)				\
			return __st;					\
	} while (0)

static enum ccmap_test_status
sigbus_on_detach_flag(struct sigbus_on_detach_ctx *c)
{
	struct st_stats s0, s1;
	double t_detach, t;
	unsigned char v;
	int err;

	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	c->link = st_attach(c->skel->maps.sod_sigbus_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CHECK_STEP(start_reader(c, 0));

	t_detach = st_now();
	st_link_destroy(&c->link);
	pthread_join(c->tid, NULL);
	c->started = false;
	CHECK_STEP(check_exit("st_sod_sigbus"));
	printf("# with the flag: the waiting fault got %s %.3fs after the detach\n",
	       c->err ? "SIGBUS" : "no SIGBUS", c->t_end - t_detach);
	CCMAP_ASSERT(c->err == -EFAULT, "the waiting fault did not get SIGBUS");
	CCMAP_ASSERT(c->t_end - t_detach < AT_ONCE_S,
		     "SIGBUS %.3fs after the detach, deadline %d ms",
		     c->t_end - t_detach, TIMEOUT_MS);

	/* A new fault, with no policy at all: SIGBUS at once. */
	t = st_now();
	err = st_read8(c->share.map + ST_PAGE, &v);
	t = st_now() - t;
	CCMAP_ASSERT(err == -EFAULT, "a new fault did not get SIGBUS");
	CCMAP_ASSERT(t < AT_ONCE_S, "the new fault got SIGBUS after %.3fs", t);
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(s1.sigbus - s0.sigbus == 2 && s1.timeouts == s0.timeouts &&
		     s1.errors == s0.errors,
		     "sigbus +%llu timeouts +%llu errors +%llu, want 2, 0, 0",
		     s1.sigbus - s0.sigbus, s1.timeouts - s0.timeouts,
		     s1.errors - s0.errors);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status
sigbus_on_detach_noflag(struct sigbus_on_detach_ctx *c)
{
	struct sigbus_on_detach__bss *bss = c->skel->bss;
	struct st_stats s0, s1;
	double t_attach;
	__u64 asks;

	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	c->link = st_attach(c->skel->maps.sod_wait_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CHECK_STEP(start_reader(c, 2));

	st_link_destroy(&c->link);
	CHECK_STEP(check_exit("st_sod_wait"));
	/* Still (again) waiting, for a policy this time. */
	st_sleep_ms(GAP_MS);
	CCMAP_ASSERT(!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE),
		     "the waiting fault ended without a policy (%s)",
		     c->err ? "SIGBUS" : "served");
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 0), "the fault does not wait");

	/* The next policy grants: it serves the waiting fault. */
	asks = bss->nr_ask;
	bss->granted = 1;
	t_attach = st_now();
	c->link = st_attach(c->skel->maps.sod_wait_ops);
	CCMAP_ASSERT(c->link, "attach again: %s", strerror(errno));
	pthread_join(c->tid, NULL);
	c->started = false;
	printf("# without the flag: served %.3fs after the next attach\n",
	       c->t_end - t_attach);
	CCMAP_ASSERT(!c->err && c->val == st_fill(2), "the waiting fault: %s '%c'",
		     c->err ? "SIGBUS" : "read", c->val);
	CCMAP_ASSERT(c->t_end >= t_attach, "served before the next attach");
	CCMAP_ASSERT(bss->nr_ask > asks, "the next policy was not asked");
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(s1.sigbus == s0.sigbus && s1.timeouts == s0.timeouts,
		     "sigbus +%llu timeouts +%llu, want 0 and 0",
		     s1.sigbus - s0.sigbus, s1.timeouts - s0.timeouts);
	st_link_destroy(&c->link);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status sigbus_on_detach_run(void *arg)
{
	struct sigbus_on_detach_ctx *c = arg;
	enum ccmap_test_status st;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	st = sigbus_on_detach_flag(c);
	if (st != CCMAP_TEST_PASS)
		return st;
	return sigbus_on_detach_noflag(c);
}

static struct ccmap_test sigbus_on_detach_test = {
	.name = "sigbus_on_detach",
	.description = "CCMAP_OPS_SIGBUS_ON_DETACH: SIGBUS at once on detach; without it faults wait for the next policy",
	.setup = sigbus_on_detach_setup,
	.run = sigbus_on_detach_run,
	.cleanup = sigbus_on_detach_cleanup,
};
REGISTER_CCMAP_TEST(sigbus_on_detach_test)
