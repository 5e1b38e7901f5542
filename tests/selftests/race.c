// SPDX-License-Identifier: GPL-2.0
/*
 * race.c - no access without the right, under a revoker.  Reader and
 * writer threads access the pages of a share in a loop while the main
 * thread, as the agent, revokes one page after the other (race_revoke:
 * state I, then bpf_ccmap_zap) and grants it again (race_grant: S or E in
 * turn, logged with a new generation, then wake), for RUN_SECONDS.
 *
 * The audit uses the page contents, which the revoker changes with
 * pwrite() only while the page is revoked:
 *  - right after the zap it fills the page with POISON | gen and checks the
 *    poison is intact before it restores the page (word 0 = the new
 *    generation, the rest 0) and grants it; a thread that ever reads poison,
 *    or a poison that changed, is an access without a right;
 *  - at each revoke it checks the page as the closing grant left it: after
 *    an S grant exactly as restored (no store went through), after an E
 *    grant only the writers' own words changed;
 *  - every generation a thread read in word 0 must be one the policy logged
 *    as granted for that page (grant_log).
 * The threads must see SIGBUS never, and the run must really race: many
 * revocations, reads, writes and faults that waited.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "race.skel.h"

#define NR_READERS	2
#define NR_WRITERS	2
#define NR_THREADS	(NR_READERS + NR_WRITERS)
#define RUN_SECONDS	3.0
#define MAX_CYCLES	(RACE_LOG - RACE_PAGES)
#define WORDS		(ST_PAGE_SIZE / 8)

#define TAG_MASK	0xffff000000000000ULL
#define POISON		0xdead000000000000ULL	/* | gen, while revoked */
#define WTAG		0x5757000000000000ULL	/* | gen, a writer's store */

struct race_ctx;

struct race_thread {
	struct race_ctx *c;
	pthread_t tid;
	bool started;
	unsigned int id;	/* writers: their word is 1 + id */
	bool writer;
	unsigned long reads, writes, sigbus, poison, bad_gen;
	__u64 poison_val;
	unsigned int poison_page;
};

struct race_ctx {
	struct race *skel;
	struct st_share share;
	struct bpf_link *link;
	volatile int stop;
	struct race_thread th[NR_THREADS];
	/* generations read in word 0, per page (bitmaps) */
	unsigned char seen[RACE_PAGES][RACE_LOG / 8];
};

static __u64 *page_words(struct race_ctx *c, unsigned int p)
{
	return (__u64 *)(c->share.map + p * ST_PAGE);
}

/* A value read from a page: poison, or a generation to remember. */
static void race_saw(struct race_thread *t, unsigned int p, __u64 v)
{
	if ((v & TAG_MASK) == POISON) {
		if (!t->poison++) {
			t->poison_val = v;
			t->poison_page = p;
		}
	} else if (v >= RACE_LOG) {
		t->bad_gen++;
	} else {
		__atomic_or_fetch(&t->c->seen[p][v / 8], 1 << (v % 8),
				  __ATOMIC_RELAXED);
	}
}

static void *race_worker(void *arg)
{
	struct race_thread *t = arg;
	struct race_ctx *c = t->c;
	unsigned int p;
	__u64 v, w;

	while (!c->stop) {
		for (p = 0; p < RACE_PAGES; p++) {
			__u64 *pw = page_words(c, p);

			if (st_read64(&pw[0], &v)) {
				t->sigbus++;
				continue;
			}
			race_saw(t, p, v);
			if (!t->writer) {
				/* The far end of the page too. */
				if (st_read64(&pw[WORDS - 1], &w))
					t->sigbus++;
				else if ((w & TAG_MASK) == POISON)
					race_saw(t, p, w);
				t->reads++;
			} else if (st_write64(&pw[1 + t->id], WTAG | (v & ~TAG_MASK))) {
				t->sigbus++;
			} else {
				t->writes++;
			}
		}
	}
	return NULL;
}

static int race_grant(struct race_ctx *c, unsigned int p, unsigned int state)
{
	struct st_args a = { .fd = c->share.fd, .page = p, .arg = state };
	int err = st_run(c->skel->progs.race_grant, &a);

	return err ? err : (int)a.ret;
}

/* Grants every page E so that no thread stays in a fault, then joins. */
static void race_stop(struct race_ctx *c)
{
	unsigned int i;

	c->stop = 1;
	if (c->link)
		for (i = 0; i < RACE_PAGES; i++)
			race_grant(c, i, RACE_E);
	for (i = 0; i < NR_THREADS; i++) {
		if (c->th[i].started)
			pthread_join(c->th[i].tid, NULL);
		c->th[i].started = false;
	}
}

static void race_cleanup(void *arg)
{
	struct race_ctx *c = arg;

	race_stop(c);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	race__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(race, RACE_PAGES, race_cleanup)

static int page_io(struct race_ctx *c, unsigned int p, __u64 *buf, bool write)
{
	off_t off = (off_t)p * ST_PAGE;
	ssize_t n = write ? pwrite(c->share.fd, buf, ST_PAGE, off) :
			    pread(c->share.fd, buf, ST_PAGE, off);

	return n == (ssize_t)ST_PAGE ? 0 : -EIO;
}

static void page_fill(__u64 *buf, __u64 word0, __u64 rest)
{
	unsigned int i;

	buf[0] = word0;
	for (i = 1; i < WORDS; i++)
		buf[i] = rest;
}

/* The revoker's findings. */
struct race_audit {
	unsigned long cycles, io_err, zap_err, grant_err;
	unsigned long store_in_s, store_revoked, corrupt_in_e;
	char first[160];
};

static void race_violation(struct race_audit *au, unsigned long *counter,
			   unsigned int p, __u64 gen, const char *what)
{
	if (!au->first[0])
		snprintf(au->first, sizeof(au->first),
			 "page %u generation %llu: %s", p,
			 (unsigned long long)gen, what);
	(*counter)++;
}

/* The page as the closing grant (of @gen, in @state) left it. */
static void race_audit_closed(struct race_audit *au, const __u64 *buf,
			      unsigned int p, unsigned int state, __u64 gen)
{
	unsigned int i;

	if (buf[0] != gen) {
		race_violation(au, &au->corrupt_in_e, p, gen, "word 0 changed");
		return;
	}
	for (i = 1; i < WORDS; i++) {
		if (!buf[i])
			continue;
		if (state == RACE_S) {
			race_violation(au, &au->store_in_s, p, gen,
				       "a store went through a read-only grant");
			return;
		}
		if (i > NR_WRITERS || (buf[i] & TAG_MASK) != WTAG ||
		    (buf[i] & ~TAG_MASK) > gen) {
			race_violation(au, &au->corrupt_in_e, p, gen,
				       "a word no writer may write changed");
			return;
		}
	}
}

/* One revoke-poison-restore-grant cycle of page @p. */
static void race_cycle(struct race_ctx *c, struct race_audit *au,
		       unsigned int p, unsigned int *state, __u64 *gen)
{
	__u64 buf[WORDS], poison[WORDS];
	struct st_args a = { .fd = c->share.fd, .page = p };
	unsigned int next;
	__u64 g;

	if (st_run(c->skel->progs.race_revoke, &a) || a.ret < 0) {
		au->zap_err++;
		return;
	}
	g = a.arg;
	if (page_io(c, p, buf, false)) {
		au->io_err++;
		return;
	}
	race_audit_closed(au, buf, p, state[p], gen[p]);

	/* Revoked: poison, let the threads run, the poison must be intact. */
	page_fill(poison, POISON | g, POISON | g);
	if (page_io(c, p, poison, true)) {
		au->io_err++;
		return;
	}
	sched_yield();
	nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 }, NULL);
	if (page_io(c, p, buf, false)) {
		au->io_err++;
		return;
	}
	if (memcmp(buf, poison, sizeof(buf)))
		race_violation(au, &au->store_revoked, p, g,
			       "a store went through while revoked");

	/* Restore with the new generation, then grant S or E. */
	page_fill(buf, g, 0);
	if (page_io(c, p, buf, true)) {
		au->io_err++;
		return;
	}
	next = (au->cycles / RACE_PAGES) & 1 ? RACE_E : RACE_S;
	if (race_grant(c, p, next)) {
		au->grant_err++;
		return;
	}
	state[p] = next;
	gen[p] = g;
}

/* Every generation a thread read for page @p was granted for @p. */
static unsigned long race_check_log(struct race_ctx *c, char *first,
				    size_t len)
{
	static unsigned char granted[RACE_PAGES][RACE_LOG / 8];
	const struct race__bss *bss = c->skel->bss;
	unsigned long bad = 0;
	unsigned int p, g, i;
	__u64 n = bss->nr_grants < RACE_LOG ? bss->nr_grants : RACE_LOG;

	memset(granted, 0, sizeof(granted));
	for (i = 0; i < n; i++) {
		p = bss->grant_log[i].page;
		g = (unsigned int)bss->grant_log[i].gen;
		if (p < RACE_PAGES && g < RACE_LOG)
			granted[p][g / 8] |= 1 << (g % 8);
	}
	for (p = 0; p < RACE_PAGES; p++) {
		for (g = 0; g < RACE_LOG; g++) {
			if (!(c->seen[p][g / 8] & (1 << (g % 8))) ||
			    (granted[p][g / 8] & (1 << (g % 8))))
				continue;
			if (!bad++)
				snprintf(first, len,
					 "page %u generation %u was read but never granted",
					 p, g);
		}
	}
	return bad;
}

static enum ccmap_test_status race_run(void *arg)
{
	struct race_ctx *c = arg;
	const struct race__bss *bss = c->skel->bss;
	unsigned int state[RACE_PAGES], p, i;
	unsigned long reads = 0, writes = 0, sigbus = 0, poison = 0, bad_gen = 0;
	unsigned long unlogged;
	struct race_audit au = { };
	__u64 gen[RACE_PAGES], buf[WORDS];
	char first[160] = "";
	double t0, secs;
	int err;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.race_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	/* Generation 0: restored and shared. */
	page_fill(buf, 0, 0);
	for (p = 0; p < RACE_PAGES; p++) {
		CCMAP_ASSERT(!page_io(c, p, buf, true), "pwrite: %s",
			     strerror(errno));
		CCMAP_ASSERT(!race_grant(c, p, RACE_S), "initial grant");
		state[p] = RACE_S;
		gen[p] = 0;
	}

	for (i = 0; i < NR_THREADS; i++) {
		c->th[i].c = c;
		c->th[i].writer = i >= NR_READERS;
		c->th[i].id = c->th[i].writer ? i - NR_READERS : i;
		err = pthread_create(&c->th[i].tid, NULL, race_worker, &c->th[i]);
		CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
		c->th[i].started = true;
	}

	t0 = st_now();
	while (st_now() - t0 < RUN_SECONDS && au.cycles < MAX_CYCLES) {
		race_cycle(c, &au, au.cycles % RACE_PAGES, state, gen);
		au.cycles++;
	}
	secs = st_now() - t0;
	race_stop(c);

	for (i = 0; i < NR_THREADS; i++) {
		struct race_thread *t = &c->th[i];

		reads += t->reads;
		writes += t->writes;
		sigbus += t->sigbus;
		bad_gen += t->bad_gen;
		if (t->poison && !poison)
			snprintf(first, sizeof(first),
				 "thread %u read %#llx from page %u", i,
				 (unsigned long long)t->poison_val,
				 t->poison_page);
		poison += t->poison;
	}
	printf("# %lu revocations in %.2fs; %lu reads, %lu writes; policy: %llu go, %llu waits, %llu grants\n",
	       au.cycles, secs, reads, writes, (unsigned long long)bss->nr_go,
	       (unsigned long long)bss->nr_wait,
	       (unsigned long long)bss->nr_grants);

	CCMAP_ASSERT(!au.io_err && !au.zap_err && !au.grant_err,
		     "agent errors: %lu pread/pwrite, %lu revoke, %lu grant",
		     au.io_err, au.zap_err, au.grant_err);
	CCMAP_ASSERT(!sigbus, "%lu accesses got SIGBUS", sigbus);
	CCMAP_ASSERT(!poison, "%lu reads saw a revoked page: %s", poison, first);
	CCMAP_ASSERT(!au.store_revoked && !au.store_in_s && !au.corrupt_in_e,
		     "stores while revoked %lu, under S %lu, corrupt under E %lu: %s",
		     au.store_revoked, au.store_in_s, au.corrupt_in_e, au.first);
	CCMAP_ASSERT(!bad_gen, "%lu reads saw no generation", bad_gen);
	CCMAP_ASSERT(bss->nr_grants == au.cycles + 2 * RACE_PAGES,
		     "policy logged %llu grants, the agent made %lu",
		     (unsigned long long)bss->nr_grants,
		     au.cycles + 2 * RACE_PAGES);
	unlogged = race_check_log(c, first, sizeof(first));
	CCMAP_ASSERT(!unlogged, "%lu generations read without a grant: %s",
		     unlogged, first);
	/* It raced. */
	CCMAP_ASSERT(au.cycles >= 50 && reads >= 1000 && writes >= 100 &&
		     bss->nr_wait >= 50,
		     "too little happened: %lu revocations, %lu reads, %lu writes, %llu waits",
		     au.cycles, reads, writes, (unsigned long long)bss->nr_wait);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test race_test = {
	.name = "race",
	.description = "threads fault while pages are revoked/zapped and regranted; no access without the right",
	.setup = race_setup,
	.run = race_run,
	.cleanup = race_cleanup,
};
REGISTER_CCMAP_TEST(race_test)
