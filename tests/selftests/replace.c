// SPDX-License-Identifier: GPL-2.0
/*
 * replace.c - atomic replacement: threads read and write a share in a loop
 * (dropping their PTEs with MADV_DONTNEED after each pass, so every access
 * faults) while the policy is swapped through bpf_link__update_map() again
 * and again.  No fault may find no policy: no SIGBUS (both policies have
 * CCMAP_OPS_SIGBUS_ON_DETACH), no wait, and every fault the kernel counted
 * was answered by one of the two policies.  The replaced policy exits with
 * CCMAP_EXIT_UNREG_UPDATE.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util.h"
#include "replace.skel.h"

#define NR_THREADS	3
#define NR_PAGES	16
#define NR_SWAPS	40	/* even: policy a is attached at the end */
#define SWAP_GAP_MS	10

struct replace_thread {
	struct replace_ctx *c;
	pthread_t tid;
	bool started;
	unsigned int id;
	unsigned long accesses, sigbus, bad, madvise_err;
};

struct replace_ctx {
	struct replace *skel;
	struct st_share share;
	struct bpf_link *link;
	volatile int stop;
	struct replace_thread th[NR_THREADS];
};

static void *replace_worker(void *arg)
{
	struct replace_thread *t = arg;
	char *map = t->c->share.map;
	unsigned long iter = 0;
	unsigned char v;
	unsigned int p;

	while (!t->c->stop) {
		for (p = 0; p < NR_PAGES; p++) {
			char *page = map + p * ST_PAGE;

			if ((p + iter + t->id) & 1) {
				/* Not byte 0, which the readers check. */
				if (st_write8(page + 64 + t->id, 'w'))
					t->sigbus++;
			} else if (st_read8(page, &v)) {
				t->sigbus++;
			} else if (v != st_fill(p)) {
				t->bad++;
			}
			__atomic_add_fetch(&t->accesses, 1, __ATOMIC_RELAXED);
		}
		if (madvise(map, NR_PAGES * ST_PAGE, MADV_DONTNEED))
			t->madvise_err++;
		iter++;
	}
	return NULL;
}

static void replace_stop(struct replace_ctx *c)
{
	unsigned int i;

	c->stop = 1;
	for (i = 0; i < NR_THREADS; i++) {
		if (c->th[i].started)
			pthread_join(c->th[i].tid, NULL);
		c->th[i].started = false;
	}
}

static void replace_cleanup(void *arg)
{
	struct replace_ctx *c = arg;

	replace_stop(c);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	replace__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(replace, NR_PAGES, replace_cleanup)

static unsigned long replace_min_accesses(struct replace_ctx *c)
{
	unsigned long min = ~0UL, n;
	unsigned int i;

	for (i = 0; i < NR_THREADS; i++) {
		n = __atomic_load_n(&c->th[i].accesses, __ATOMIC_RELAXED);
		if (n < min)
			min = n;
	}
	return min;
}

static enum ccmap_test_status replace_run(void *arg)
{
	struct replace_ctx *c = arg;
	struct replace__bss *bss = c->skel->bss;
	struct replace__data *data = c->skel->data;
	unsigned long sigbus = 0, bad = 0, madv = 0, accesses = 0;
	int swap_err = 0, failed_swap = -1, err, i;
	unsigned long long answered;
	struct st_stats s0, s1;
	struct st_exit ex;
	double t0;
	char buf[80];

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.replace_a);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");

	for (i = 0; i < NR_THREADS; i++) {
		c->th[i].c = c;
		c->th[i].id = i;
		err = pthread_create(&c->th[i].tid, NULL, replace_worker,
				     &c->th[i]);
		CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
		c->th[i].started = true;
	}
	/* Every thread is faulting before the first swap. */
	t0 = st_now();
	while (replace_min_accesses(c) < NR_PAGES && st_now() - t0 < 5)
		st_sleep_ms(5);

	for (i = 1; i <= NR_SWAPS; i++) {
		struct bpf_map *next = i & 1 ? c->skel->maps.replace_b :
					       c->skel->maps.replace_a;

		err = bpf_link__update_map(c->link, next);
		if (err && !swap_err) {
			swap_err = err;
			failed_swap = i;
		}
		st_sleep_ms(SWAP_GAP_MS);
	}
	replace_stop(c);

	for (i = 0; i < NR_THREADS; i++) {
		sigbus += c->th[i].sigbus;
		bad += c->th[i].bad;
		madv += c->th[i].madvise_err;
		accesses += c->th[i].accesses;
	}
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	answered = bss->faults_a + bss->faults_b;
	printf("# %lu accesses, %llu faults (a %llu, b %llu), %d swaps in %.2fs\n",
	       accesses, s1.faults - s0.faults,
	       (unsigned long long)bss->faults_a,
	       (unsigned long long)bss->faults_b, NR_SWAPS, st_now() - t0);

	CCMAP_ASSERT(!swap_err, "swap %d failed: %s", failed_swap,
		     strerror(-swap_err));
	CCMAP_ASSERT(accesses >= NR_THREADS * NR_PAGES, "only %lu accesses",
		     accesses);
	CCMAP_ASSERT(!sigbus, "%lu accesses got SIGBUS", sigbus);
	CCMAP_ASSERT(!bad, "%lu reads saw wrong data", bad);
	CCMAP_ASSERT(!madv, "%lu madvise() calls failed", madv);
	/* Nothing waited: no fault ever found no policy. */
	CCMAP_ASSERT(s1.waits == s0.waits && s1.timeouts == s0.timeouts &&
		     s1.sigbus == s0.sigbus,
		     "waits +%llu timeouts +%llu sigbus +%llu",
		     s1.waits - s0.waits, s1.timeouts - s0.timeouts,
		     s1.sigbus - s0.sigbus);
	/* Every fault was answered by one of the two policies. */
	CCMAP_ASSERT(answered == s1.faults - s0.faults,
		     "kernel counted %llu faults, the policies answered %llu",
		     s1.faults - s0.faults, answered);
	CCMAP_ASSERT(bss->faults_a && bss->faults_b,
		     "faults a %llu b %llu: the swaps were not under load",
		     (unsigned long long)bss->faults_a,
		     (unsigned long long)bss->faults_b);
	CCMAP_ASSERT(bss->inits_a + bss->inits_b == NR_SWAPS + 1 &&
		     bss->exits_a + bss->exits_b == NR_SWAPS,
		     "inits %llu+%llu exits %llu+%llu for %d swaps",
		     (unsigned long long)bss->inits_a,
		     (unsigned long long)bss->inits_b,
		     (unsigned long long)bss->exits_a,
		     (unsigned long long)bss->exits_b, NR_SWAPS);

	/* b was replaced last, by a. */
	CCMAP_ASSERT(!st_sysfs_str("ops", buf, sizeof(buf)) &&
		     !strcmp(buf, "st_replace_a"), "ops '%s'", buf);
	CCMAP_ASSERT(data->uei_b.kind == CCMAP_EXIT_UNREG_UPDATE &&
		     !strcmp(data->uei_b.name, "st_replace_b") &&
		     !strcmp(data->uei_b.reason, "replaced by \"st_replace_a\""),
		     "ops.exit of b saw kind %d name '%s' reason '%s'",
		     data->uei_b.kind, data->uei_b.name, data->uei_b.reason);
	CCMAP_ASSERT(!st_exit_read(&ex), "exit info");
	CCMAP_ASSERT(ex.kind == CCMAP_EXIT_UNREG_UPDATE &&
		     !strcmp(ex.kind_str, "replaced") &&
		     !strcmp(ex.ops, "st_replace_b") &&
		     !strcmp(ex.reason, "replaced by \"st_replace_a\""),
		     "sysfs exit '%s %d' ops '%s' reason '%s'", ex.kind_str,
		     ex.kind, ex.ops, ex.reason);

	/* The one attached at the end leaves with UNREG. */
	st_link_destroy(&c->link);
	CCMAP_ASSERT(data->uei_a.kind == CCMAP_EXIT_UNREG,
		     "ops.exit of a saw kind %d", data->uei_a.kind);
	CCMAP_ASSERT(st_no_policy(), "attached after destroying the link");
	return CCMAP_TEST_PASS;
}

static struct ccmap_test replace_test = {
	.name = "replace",
	.description = "policy swapped 40 times through the link under a faulting load",
	.setup = replace_setup,
	.run = replace_run,
	.cleanup = replace_cleanup,
};
REGISTER_CCMAP_TEST(replace_test)
