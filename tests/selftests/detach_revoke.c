// SPDX-License-Identifier: GPL-2.0
/*
 * detach_revoke.c - a policy that leaves takes the rights it granted with
 * it.  A policy lets every fault go; the test writes every page of a share
 * (MAP_SHARED) and one page of a MAP_PRIVATE mapping, and checks that a
 * second round of stores faults no more (the PTEs are writable, so the
 * test can see a revocation as a new fault).  Then:
 *
 *  - replaced through its link: stores still do not fault (state moves to
 *    the next policy with the pinned maps, nothing is revoked);
 *  - detached from user space: a store to a page written before waits for
 *    the next policy instead of completing, and completes once one is
 *    attached; the "revokes" counter moved; the private COW page kept its
 *    private byte;
 *  - error exit (bpf_ccmap_error() from a syscall program): the same.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util.h"
#include "detach_revoke.skel.h"

#define NR_PAGES	4
#define PRIV_PAGE	3
#define WAIT_MS		3000

struct detach_revoke_ctx {
	struct detach_revoke *skel;
	struct st_share share;
	struct bpf_link *link;
	char *priv;			/* MAP_PRIVATE mapping */
	pthread_t tid;
	bool started;
	unsigned int page;		/* the writer's page */
	volatile int done;
	int err;
};

static void detach_revoke_cleanup(void *arg)
{
	struct detach_revoke_ctx *c = arg;

	if (c->started)
		pthread_join(c->tid, NULL);	/* bounded by timeout_ms */
	st_link_destroy(&c->link);
	if (c->priv)
		munmap(c->priv, NR_PAGES * ST_PAGE);
	st_share_close(&c->share);
	detach_revoke__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(detach_revoke, NR_PAGES, detach_revoke_cleanup)

static void *dr_writer(void *arg)
{
	struct detach_revoke_ctx *c = arg;

	c->err = st_write8(c->share.map + c->page * ST_PAGE + 1, 'W');
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Stores to every page of the shared mapping: 0 or the first error. */
static int dr_store_all(struct detach_revoke_ctx *c, unsigned char v)
{
	unsigned int i;
	int err;

	for (i = 0; i < NR_PAGES; i++) {
		err = st_write8(c->share.map + i * ST_PAGE, v);
		if (err)
			return err;
	}
	return 0;
}

#define CHECK_STEP(expr)						\
	do {								\
		enum ccmap_test_status __st = (expr);			\
		if (__st != CCMAP_TEST_PASS)				\
			return __st;					\
	} while (0)

/* All pages written and writable under the attached policy. */
static enum ccmap_test_status dr_hold_all(struct detach_revoke_ctx *c,
					  unsigned char v)
{
	__u64 asks;

	CCMAP_ASSERT(!dr_store_all(c, v), "store under a go policy");
	asks = c->skel->bss->nr_ask;
	CCMAP_ASSERT(!dr_store_all(c, v + 1), "second store");
	CCMAP_ASSERT(c->skel->bss->nr_ask == asks,
		     "stores to writable pages asked %llu more times",
		     (unsigned long long)(c->skel->bss->nr_ask - asks));
	return CCMAP_TEST_PASS;
}

/*
 * With no policy attached, a store to page @pg must wait (its PTE was
 * revoked); the next policy then serves it.
 */
static enum ccmap_test_status dr_check_revoked(struct detach_revoke_ctx *c,
					       unsigned int pg,
					       const struct st_stats *s0,
					       const char *how)
{
	struct st_stats s1;
	__u64 asks;
	int err;

	CCMAP_ASSERT(st_no_policy(), "%s: still attached", how);
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	printf("# %s: %llu share(s) revoked\n", how, s1.revokes - s0->revokes);
	CCMAP_ASSERT(s1.revokes > s0->revokes, "%s: nothing revoked", how);

	c->page = pg;
	c->done = 0;
	c->err = 0;
	err = pthread_create(&c->tid, NULL, dr_writer, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;
	if (st_wait_nr_waiting(1, WAIT_MS)) {
		pthread_join(c->tid, NULL);
		c->started = false;
		CCMAP_ASSERT(0, "%s: a store to p%u completed (%s) with no policy: its writable PTE survived",
			     how, pg, c->err ? "SIGBUS" : "written");
	}
	CCMAP_ASSERT(!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE),
		     "%s: the store completed", how);

	asks = c->skel->bss->nr_ask;
	c->link = st_attach(c->skel->maps.dr_ops_a);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	pthread_join(c->tid, NULL);
	c->started = false;
	CCMAP_ASSERT(!c->err, "%s: the waiting store got SIGBUS", how);
	CCMAP_ASSERT(c->skel->bss->nr_ask > asks, "%s: the next policy was not asked",
		     how);
	CCMAP_ASSERT(c->share.map[pg * ST_PAGE + 1] == 'W', "%s: the store is lost",
		     how);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status detach_revoke_run(void *arg)
{
	struct detach_revoke_ctx *c = arg;
	struct st_args a = { };
	struct st_stats s0;
	__u64 asks;
	int err;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->priv = st_share_mmap(&c->share, MAP_PRIVATE);
	CCMAP_ASSERT(c->priv, "MAP_PRIVATE mapping");

	c->link = st_attach(c->skel->maps.dr_ops_a);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_write8(c->priv + PRIV_PAGE * ST_PAGE, 'P'), "COW store");
	CHECK_STEP(dr_hold_all(c, '1'));

	/* A replacement revokes nothing. */
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	err = bpf_link__update_map(c->link, c->skel->maps.dr_ops_b);
	CCMAP_ASSERT(!err, "link update: %s", strerror(-err));
	asks = c->skel->bss->nr_ask;
	CCMAP_ASSERT(!dr_store_all(c, '3'), "store after the update");
	CCMAP_ASSERT(c->skel->bss->nr_ask == asks,
		     "the update revoked rights: %llu new faults",
		     (unsigned long long)(c->skel->bss->nr_ask - asks));
	st_link_destroy(&c->link);

	/* Detached from user space. */
	c->link = st_attach(c->skel->maps.dr_ops_a);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CHECK_STEP(dr_hold_all(c, '4'));
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	st_link_destroy(&c->link);
	CHECK_STEP(dr_check_revoked(c, 0, &s0, "detach"));
	CCMAP_ASSERT(c->priv[PRIV_PAGE * ST_PAGE] == 'P',
		     "the private COW page lost its store: '%c'",
		     c->priv[PRIV_PAGE * ST_PAGE]);

	/* Error exit: the kernel detaches the policy itself. */
	CHECK_STEP(dr_hold_all(c, '6'));
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	CCMAP_ASSERT(!st_run(c->skel->progs.dr_raise_error, &a), "raise error");
	CCMAP_ASSERT(!st_wait_hup(c->link, WAIT_MS), "no EPOLLHUP after the error");
	st_link_destroy(&c->link);
	CHECK_STEP(dr_check_revoked(c, 2, &s0, "error exit"));
	CCMAP_ASSERT(c->priv[PRIV_PAGE * ST_PAGE] == 'P', "the private COW page changed");
	st_link_destroy(&c->link);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test detach_revoke_test = {
	.name = "detach_revoke",
	.description = "a policy that detaches or errors out takes its granted rights with it; a replacement does not",
	.setup = detach_revoke_setup,
	.run = detach_revoke_run,
	.cleanup = detach_revoke_cleanup,
};
REGISTER_CCMAP_TEST(detach_revoke_test)
