// SPDX-License-Identifier: GPL-2.0
/*
 * verdict_wait.c - a positive verdict makes the fault sleep until the
 * policy's state changes and bpf_ccmap_wake() is called: a thread reads a
 * page the policy has not granted; the main thread sees it waiting (sysfs
 * nr_waiting, the recheck call), grants the page and wakes the key from a
 * SEC("syscall") program WAKE_DELAY_MS later; the read then completes with
 * the right data, after the wake, having waited at least that long.
 */
#include <pthread.h>
#include <stdlib.h>

#include "util.h"
#include "verdict_wait.skel.h"

#define WAKE_DELAY_MS	300

struct verdict_wait_ctx {
	struct verdict_wait *skel;
	struct st_share share;
	struct bpf_link *link;
	pthread_t tid;
	bool started;
	/* the reader's results */
	volatile int done;
	int err;
	unsigned char val;
	double t_start, t_end;
};

static void *verdict_wait_reader(void *arg)
{
	struct verdict_wait_ctx *c = arg;

	c->t_start = st_now();
	c->err = st_read8(c->share.map, &c->val);
	c->t_end = st_now();
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void verdict_wait_cleanup(void *arg)
{
	struct verdict_wait_ctx *c = arg;

	/* The wait is bounded (timeout_ms): the join returns. */
	if (c->started)
		pthread_join(c->tid, NULL);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	verdict_wait__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(verdict_wait, 1, verdict_wait_cleanup)

static enum ccmap_test_status verdict_wait_run(void *arg)
{
	struct verdict_wait_ctx *c = arg;
	struct verdict_wait__bss *bss = c->skel->bss;
	struct st_args grant = { };
	struct st_stats s0, s1;
	double t_wake, waited;
	int err;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.verdict_wait_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");

	err = pthread_create(&c->tid, NULL, verdict_wait_reader, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;

	/* The reader sleeps in the fault, after the recheck call. */
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000), "the reader does not wait");
	CCMAP_ASSERT(bss->nr_ask == 1 && bss->nr_recheck == 1,
		     "policy asked %llu times, %llu rechecks; want 1 and 1",
		     (unsigned long long)bss->nr_ask,
		     (unsigned long long)bss->nr_recheck);
	CCMAP_ASSERT(bss->last_key > 0, "no key returned");
	st_sleep_ms(WAKE_DELAY_MS);
	CCMAP_ASSERT(!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE),
		     "the read completed without a grant");

	/* Grant (state first) and wake the key, from a syscall program. */
	t_wake = st_now();
	err = st_run(c->skel->progs.grant_and_wake, &grant);
	CCMAP_ASSERT(!err && grant.ret == 0, "grant: %d, wake returned %lld", err,
		     (long long)grant.ret);
	pthread_join(c->tid, NULL);
	c->started = false;
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");

	waited = c->t_end - c->t_start;
	printf("# waited %.3fs, woken %.3fs after the wake\n", waited,
	       c->t_end - t_wake);
	CCMAP_ASSERT(!c->err, "the read got SIGBUS");
	CCMAP_ASSERT(c->val == st_fill(0), "read '%c'", c->val);
	CCMAP_ASSERT(c->t_end >= t_wake, "completed before the wake");
	CCMAP_ASSERT(waited >= WAKE_DELAY_MS / 1000.0, "waited only %.3fs",
		     waited);
	/* Woken: asked again (and granted), not timed out. */
	return st_check_woken_once(bss->nr_ask, bss->nr_go, &s0, &s1);
}

static struct ccmap_test verdict_wait_test = {
	.name = "verdict_wait",
	.description = "verdict > 0: the fault sleeps until grant + bpf_ccmap_wake()",
	.setup = verdict_wait_setup,
	.run = verdict_wait_run,
	.cleanup = verdict_wait_cleanup,
};
REGISTER_CCMAP_TEST(verdict_wait_test)
