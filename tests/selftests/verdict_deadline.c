// SPDX-License-Identifier: GPL-2.0
/*
 * verdict_deadline.c - a fault the policy never answers gets SIGBUS at the
 * policy's deadline (timeout_ms = 300), counted in stats/timeouts and
 * stats/sigbus.  A thread keeps waking another key meanwhile, so the policy
 * is alive and the watchdog must not call it a stall: it stays attached.
 */
#include <pthread.h>
#include <stdlib.h>

#include "util.h"
#include "verdict_deadline.skel.h"

#define TIMEOUT_MS	300	/* as in verdict_deadline.bpf.c */
#define OTHER_KEY	2	/* hashes to another bucket than key 1 */
#define WAKE_EVERY_MS	20

struct verdict_deadline_ctx {
	struct verdict_deadline *skel;
	struct st_share share;
	struct bpf_link *link;
	pthread_t tid;
	bool started;
	volatile int stop;
	unsigned long wakes, wake_errors;
};

/* The policy's other business: wakes for a key nobody waits on. */
static void *verdict_deadline_waker(void *arg)
{
	struct verdict_deadline_ctx *c = arg;

	while (!c->stop) {
		if (st_wake(c->skel->progs.st_wake_prog, OTHER_KEY))
			c->wake_errors++;
		else
			__atomic_add_fetch(&c->wakes, 1, __ATOMIC_RELAXED);
		st_sleep_ms(WAKE_EVERY_MS);
	}
	return NULL;
}

static void verdict_deadline_stop(struct verdict_deadline_ctx *c)
{
	c->stop = 1;
	if (c->started)
		pthread_join(c->tid, NULL);
	c->started = false;
}

static void verdict_deadline_cleanup(void *arg)
{
	struct verdict_deadline_ctx *c = arg;

	verdict_deadline_stop(c);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	verdict_deadline__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(verdict_deadline, 2, verdict_deadline_cleanup)

static enum ccmap_test_status verdict_deadline_run(void *arg)
{
	struct verdict_deadline_ctx *c = arg;
	unsigned long long seq0, seq1, tmo;
	struct st_stats s0, s1;
	double t0, waited;
	char buf[80];
	unsigned char v;
	int err, rd;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.verdict_deadline_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_sysfs_ull("timeout_ms", &tmo) && tmo == TIMEOUT_MS,
		     "timeout_ms %llu", tmo);
	CCMAP_ASSERT(!st_stats_read(&s0) && !st_sysfs_ull("enable_seq", &seq0),
		     "sysfs");

	err = pthread_create(&c->tid, NULL, verdict_deadline_waker, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;
	t0 = st_now();
	while (!__atomic_load_n(&c->wakes, __ATOMIC_RELAXED) && st_now() - t0 < 3)
		st_sleep_ms(1);

	t0 = st_now();
	rd = st_read8(c->share.map, &v);
	waited = st_now() - t0;
	verdict_deadline_stop(c);
	CCMAP_ASSERT(!st_stats_read(&s1) && !st_sysfs_ull("enable_seq", &seq1),
		     "sysfs");
	printf("# SIGBUS after %.3fs; %lu wakes of another key in all\n",
	       waited, c->wakes);

	CCMAP_ASSERT(rd == -EFAULT, "the unanswered read did not get SIGBUS");
	CCMAP_ASSERT(waited >= TIMEOUT_MS / 1000.0 && waited < 5.0,
		     "SIGBUS after %.3fs, deadline %d ms", waited, TIMEOUT_MS);
	CCMAP_ASSERT(!c->wake_errors && c->wakes >= 2, "wakes %lu, errors %lu",
		     c->wakes, c->wake_errors);
	CCMAP_ASSERT(s1.timeouts - s0.timeouts == 1 && s1.sigbus - s0.sigbus == 1,
		     "timeouts +%llu sigbus +%llu", s1.timeouts - s0.timeouts,
		     s1.sigbus - s0.sigbus);
	/* Not a stall: no error, still attached, same enable sequence. */
	CCMAP_ASSERT(s1.errors == s0.errors, "errors +%llu",
		     s1.errors - s0.errors);
	CCMAP_ASSERT(!st_sysfs_str("ops", buf, sizeof(buf)) &&
		     !strcmp(buf, "st_verdict_deadline") && seq1 == seq0,
		     "ops '%s', enable_seq %llu -> %llu", buf, seq0, seq1);
	CCMAP_ASSERT(st_wait_hup(c->link, 0) == -ETIMEDOUT, "link hung up");
	/* And it still serves. */
	CCMAP_ASSERT(!st_read8(c->share.map + ST_PAGE, &v) && v == st_fill(1),
		     "page 1 after the timeout");
	return CCMAP_TEST_PASS;
}

static struct ccmap_test verdict_deadline_test = {
	.name = "verdict_deadline",
	.description = "an unanswered fault gets SIGBUS at timeout_ms; no stall while the policy wakes",
	.setup = verdict_deadline_setup,
	.run = verdict_deadline_run,
	.cleanup = verdict_deadline_cleanup,
};
REGISTER_CCMAP_TEST(verdict_deadline_test)
