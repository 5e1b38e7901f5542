// SPDX-License-Identifier: GPL-2.0
/*
 * fault_deadline.c - one deadline per fault, whatever wakes it.  A policy
 * never grants the test's file (timeout_ms = 1000):
 *
 *  - own key: a fault waits on page 0 while the test wakes the fault's own
 *    key every WAKE_EVERY_MS (the policy's answer does not change): the
 *    fault must still get SIGBUS at about its deadline, not one deadline
 *    after the last wake;
 *  - collision: the same on page 1 with wakes of another key that hashes
 *    to the same kernel wait bucket;
 *  - fresh keys: a policy that answers every call with a new key (the
 *    recheck never matches) is an error exit with a reason, and the fault
 *    gets SIGBUS instead of retrying forever.
 *
 * The wakers run for WAKE_FOR_S, longer than the deadline, so a kernel that
 * restarts the deadline at every wake fails the time check.
 */
#include <pthread.h>
#include <stdlib.h>

#include "util.h"
#include "fault_deadline.skel.h"

#define NR_PAGES	4
#define TIMEOUT_MS	1000	/* as in fault_deadline.bpf.c */
#define WAKE_EVERY_MS	50
#define WAKE_FOR_S	3.5
#define LATE_S		2.2	/* SIGBUS later than this: deadline restarted */
#define CCMAP_WAIT_BITS	8	/* mm/ccmap.c: 256 wait buckets */

struct fault_deadline_ctx {
	struct fault_deadline *skel;
	struct st_share share;
	struct bpf_link *link;
	pthread_t tid;
	bool started;
	unsigned int page;
	volatile int done;
	int err;
	double t_start, t_end;
};

static void fault_deadline_cleanup(void *arg)
{
	struct fault_deadline_ctx *c = arg;

	if (c->started) {
		/* A fault retrying forever would never return: detach first. */
		st_link_destroy(&c->link);
		pthread_join(c->tid, NULL);
	}
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	fault_deadline__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(fault_deadline, NR_PAGES, fault_deadline_cleanup)

static void *fd_reader(void *arg)
{
	struct fault_deadline_ctx *c = arg;
	unsigned char v;

	c->t_start = st_now();
	c->err = st_read8(c->share.map + c->page * ST_PAGE, &v);
	c->t_end = st_now();
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool fd_done(struct fault_deadline_ctx *c)
{
	return __atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
}

/* The kernel's bucket of a key: hash_64(key, CCMAP_WAIT_BITS). */
static unsigned int fd_bucket(__u64 key)
{
	return (unsigned int)((key * 0x61C8864680B583EBull) >>
			      (64 - CCMAP_WAIT_BITS));
}

static enum ccmap_test_status fd_start(struct fault_deadline_ctx *c,
				       unsigned int pg)
{
	int err;

	c->page = pg;
	c->done = 0;
	c->err = 0;
	err = pthread_create(&c->tid, NULL, fd_reader, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;
	return CCMAP_TEST_PASS;
}

static void fd_join(struct fault_deadline_ctx *c)
{
	pthread_join(c->tid, NULL);
	c->started = false;
}

/* A fault on @pg, woken with @wake_key (0: its own) until it ends. */
static enum ccmap_test_status fd_woken(struct fault_deadline_ctx *c,
				       unsigned int pg, bool collide,
				       const char *what)
{
	struct fault_deadline__bss *bss = c->skel->bss;
	__u64 key, wake_key, rechecks;
	struct st_stats s0, s1;
	unsigned int wakes = 0;
	double end, t;

	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	rechecks = bss->nr_recheck;
	if (fd_start(c, pg) != CCMAP_TEST_PASS)
		return CCMAP_TEST_FAIL;
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000), "%s: the fault does not wait", what);
	key = __atomic_load_n(&bss->last_key, __ATOMIC_ACQUIRE);
	wake_key = key;
	if (collide) {
		for (wake_key = key + 1; fd_bucket(wake_key) != fd_bucket(key) ||
		     !wake_key; wake_key++)
			;
	}
	end = st_now() + WAKE_FOR_S;
	while (!fd_done(c) && st_now() < end) {
		CCMAP_ASSERT(st_wake(c->skel->progs.st_wake_prog, wake_key) == 0,
			     "wake");
		wakes++;
		st_sleep_ms(WAKE_EVERY_MS);
	}
	fd_join(c);
	t = c->t_end - c->t_start;
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	printf("# %s: key %llu, woken with %llu (bucket %u) %u times: %s after %.3fs, %llu rechecks\n",
	       what, (unsigned long long)key, (unsigned long long)wake_key,
	       fd_bucket(wake_key), wakes, c->err ? "SIGBUS" : "served", t,
	       (unsigned long long)(bss->nr_recheck - rechecks));
	CCMAP_ASSERT(c->err == -EFAULT, "%s: the fault was served", what);
	CCMAP_ASSERT(t >= TIMEOUT_MS / 1000.0 * 0.9,
		     "%s: SIGBUS after %.3fs, before the deadline", what, t);
	CCMAP_ASSERT(t < LATE_S, "%s: SIGBUS only after %.3fs: the deadline restarted at a wake",
		     what, t);
	CCMAP_ASSERT(wakes > 5 && bss->nr_recheck - rechecks > 2,
		     "%s: the wakes did not reach the fault", what);
	CCMAP_ASSERT(s1.timeouts - s0.timeouts == 1 && s1.sigbus - s0.sigbus == 1,
		     "%s: timeouts +%llu sigbus +%llu, want 1 and 1", what,
		     s1.timeouts - s0.timeouts, s1.sigbus - s0.sigbus);
	CCMAP_ASSERT(s1.errors == s0.errors && !st_no_policy(),
		     "%s: the policy was detached (wakes happened: no stall)", what);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status fd_fresh(struct fault_deadline_ctx *c)
{
	struct st_exit ex;
	double end;

	c->link = st_attach(c->skel->maps.fd_fresh_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	if (fd_start(c, 2) != CCMAP_TEST_PASS)
		return CCMAP_TEST_FAIL;
	end = st_now() + 2 * TIMEOUT_MS / 1000.0;
	while (!fd_done(c) && st_now() < end)
		st_sleep_ms(10);
	CCMAP_ASSERT(fd_done(c), "a policy that changes the key at every call keeps the fault busy (%llu asks)",
		     (unsigned long long)c->skel->bss->nr_ask);
	fd_join(c);
	printf("# fresh keys: %s after %.3fs, %llu asks\n",
	       c->err ? "SIGBUS" : "served", c->t_end - c->t_start,
	       (unsigned long long)c->skel->bss->nr_ask);
	CCMAP_ASSERT(c->err == -EFAULT, "the fault was served");
	CCMAP_ASSERT(!st_wait_hup(c->link, 3000), "no error exit");
	CCMAP_ASSERT(!st_exit_read(&ex), "exit info");
	printf("# exit: %s: %s\n", ex.kind_str, ex.reason);
	CCMAP_ASSERT(ex.kind == CCMAP_EXIT_ERROR && strstr(ex.reason, "wait key"),
		     "exit '%s' '%s', want an error naming the wait key",
		     ex.kind_str, ex.reason);
	st_link_destroy(&c->link);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status fault_deadline_run(void *arg)
{
	struct fault_deadline_ctx *c = arg;
	enum ccmap_test_status st;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.fd_never_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	st = fd_woken(c, 0, false, "own key");
	if (st == CCMAP_TEST_PASS)
		st = fd_woken(c, 1, true, "collision");
	st_link_destroy(&c->link);
	if (st == CCMAP_TEST_PASS)
		st = fd_fresh(c);
	return st;
}

static struct ccmap_test fault_deadline_test = {
	.name = "fault_deadline",
	.description = "one deadline per fault across wakes and retries; a policy that keeps changing the key is an error",
	.setup = fault_deadline_setup,
	.run = fault_deadline_run,
	.cleanup = fault_deadline_cleanup,
};
REGISTER_CCMAP_TEST(fault_deadline_test)
