// SPDX-License-Identifier: GPL-2.0
/*
 * gup_wait.c - a fault that may not drop its lock: pread() of
 * /proc/self/mem at a share's mapping faults the page in through GUP
 * without FOLL_UNLOCKABLE, so the fault has no FAULT_FLAG_ALLOW_RETRY and
 * waits holding the mmap lock.
 *
 * Served: the policy makes the fault wait, a SEC("syscall") program grants
 * the page and wakes it WAKE_DELAY_MS later; the pread returns the page's
 * bytes and took at least that long.  Not served: the policy never grants
 * page 1 and wakes nothing; at the deadline (timeout_ms = 1000) the pread
 * fails with EIO (GUP's -EFAULT), the timeout is logged, the watchdog
 * detaches the policy as stalled, and the kernel logs no warning.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"
#include "gup_wait.skel.h"

#define NR_PAGES	2
#define WAKE_DELAY_MS	200
#define TIMEOUT_MS	1000	/* as in gup_wait.bpf.c */
#define READ_LEN	64
/* FAULT_FLAG_* of include/linux/mm_types.h */
#define ST_FAULT_FLAG_ALLOW_RETRY	(1u << 2)
#define ST_FAULT_FLAG_REMOTE		(1u << 7)

struct gup_wait_ctx {
	struct gup_wait *skel;
	struct st_share share;
	struct bpf_link *link;
	int mem_fd;		/* /proc/self/mem; 0: not open */
	int kmsg_fd;		/* /dev/kmsg; 0: not open */
	pthread_t tid;
	bool started;
	/* the reader's results */
	volatile int done;
	ssize_t n;
	int err;
	unsigned char buf[READ_LEN];
	double t_start, t_end;
};

/* pread() of page @pg of the mapping through /proc/self/mem. */
static void gup_read(struct gup_wait_ctx *c, unsigned int pg)
{
	uintptr_t addr = (uintptr_t)(c->share.map + pg * ST_PAGE);

	memset(c->buf, 0, sizeof(c->buf));
	c->t_start = st_now();
	c->n = pread(c->mem_fd, c->buf, sizeof(c->buf), (off_t)addr);
	c->err = c->n < 0 ? errno : 0;
	c->t_end = st_now();
}

static void *gup_wait_reader(void *arg)
{
	struct gup_wait_ctx *c = arg;

	gup_read(c, 0);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void gup_wait_cleanup(void *arg)
{
	struct gup_wait_ctx *c = arg;

	/* The wait is bounded (timeout_ms): the join returns. */
	if (c->started)
		pthread_join(c->tid, NULL);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	if (c->mem_fd > 0)
		close(c->mem_fd);
	if (c->kmsg_fd > 0)
		close(c->kmsg_fd);
	gup_wait__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status gup_wait_setup(void **arg)
{
	struct gup_wait_ctx *c = calloc(1, sizeof(*c));

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	ST_OPEN_SKEL_SHARE(c, gup_wait, NR_PAGES, true);
	c->mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	if (c->mem_fd < 0) {
		CCMAP_ERR("open /proc/self/mem: %s", strerror(errno));
		c->mem_fd = 0;
		goto fail;
	}
	c->kmsg_fd = st_kmsg_open();
	if (c->kmsg_fd < 0) {
		c->kmsg_fd = 0;
		goto fail;
	}
	return CCMAP_TEST_PASS;
fail:
	gup_wait_cleanup(c);
	return CCMAP_TEST_FAIL;
}

static enum ccmap_test_status gup_wait_served(struct gup_wait_ctx *c)
{
	struct gup_wait__bss *bss = c->skel->bss;
	struct st_args grant = { .page = 0 };
	struct st_stats s0, s1;
	double t_wake, waited;
	unsigned int i;
	int err;

	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	err = pthread_create(&c->tid, NULL, gup_wait_reader, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;

	/*
	 * The reader holds the mmap lock while it waits: this thread must not
	 * map or unmap anything until it is woken.
	 */
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000), "the GUP fault does not wait");
	CCMAP_ASSERT(bss->nr_ask == 1 && bss->nr_recheck == 1,
		     "policy asked %llu times, %llu rechecks; want 1 and 1",
		     (unsigned long long)bss->nr_ask,
		     (unsigned long long)bss->nr_recheck);
	st_sleep_ms(WAKE_DELAY_MS);
	CCMAP_ASSERT(!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE),
		     "the pread completed without a grant");

	t_wake = st_now();
	err = st_run(c->skel->progs.grant_and_wake, &grant);
	CCMAP_ASSERT(!err && grant.ret == 0, "grant: %d, wake returned %lld",
		     err, (long long)grant.ret);
	pthread_join(c->tid, NULL);
	c->started = false;
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");

	waited = c->t_end - c->t_start;
	printf("# GUP fault flags %#x; pread waited %.3fs, done %.3fs after the wake\n",
	       bss->wait_flags, waited, c->t_end - t_wake);
	CCMAP_ASSERT(bss->wait_pgoff == 0, "waited for page %llu",
		     (unsigned long long)bss->wait_pgoff);
	CCMAP_ASSERT(!(bss->wait_flags & ST_FAULT_FLAG_ALLOW_RETRY) &&
		     (bss->wait_flags & ST_FAULT_FLAG_REMOTE),
		     "fault flags %#x: want REMOTE without ALLOW_RETRY",
		     bss->wait_flags);
	CCMAP_ASSERT(c->n == READ_LEN, "pread returned %zd (%s)", c->n,
		     strerror(c->err));
	for (i = 0; i < READ_LEN; i++)
		CCMAP_ASSERT(c->buf[i] == st_fill(0), "byte %u is %#x", i,
			     c->buf[i]);
	CCMAP_ASSERT(c->t_end >= t_wake, "completed before the wake");
	CCMAP_ASSERT(waited >= WAKE_DELAY_MS / 1000.0, "waited only %.3fs",
		     waited);
	/* Woken: GUP faulted again and the policy let it go. */
	return st_check_woken_once(bss->nr_ask, bss->nr_go, &s0, &s1);
}

static enum ccmap_test_status gup_wait_unserved(struct gup_wait_ctx *c)
{
	struct gup_wait__bss *bss = c->skel->bss;
	struct st_stats s0, s1;
	struct st_exit ex;
	bool logged;
	double waited;
	int problems;

	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	/* Nobody grants page 1 or wakes anything: in this thread. */
	gup_read(c, 1);
	waited = c->t_end - c->t_start;
	printf("# unserved pread: %zd (%s) after %.3fs\n", c->n,
	       c->n < 0 ? strerror(c->err) : "no error", waited);
	CCMAP_ASSERT(c->n < 0 && (c->err == EIO || c->err == EFAULT),
		     "pread returned %zd (%s), want EIO or EFAULT", c->n,
		     strerror(c->err));
	CCMAP_ASSERT(bss->wait_pgoff == 1, "waited for page %llu",
		     (unsigned long long)bss->wait_pgoff);
	CCMAP_ASSERT(waited >= TIMEOUT_MS / 1000.0 && waited < 5.0,
		     "failed after %.3fs, deadline %d ms", waited, TIMEOUT_MS);
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(s1.waits - s0.waits == 1 && s1.timeouts - s0.timeouts == 1 &&
		     s1.sigbus - s0.sigbus == 1,
		     "waits +%llu timeouts +%llu sigbus +%llu, want 1 each",
		     s1.waits - s0.waits, s1.timeouts - s0.timeouts,
		     s1.sigbus - s0.sigbus);
	CCMAP_ASSERT(!st_wait_nr_waiting(0, 0), "nr_waiting not back to 0");

	/* It woke nothing for a whole deadline: detached as stalled. */
	CCMAP_ASSERT(!st_wait_hup(c->link, 2000), "no EPOLLHUP after the stall");
	CCMAP_ASSERT(!st_exit_read(&ex), "exit info");
	CCMAP_ASSERT(ex.kind == CCMAP_EXIT_ERROR_STALL &&
		     !strcmp(ex.ops, "st_gup_wait"),
		     "exit '%s %d' ops '%s'", ex.kind_str, ex.kind, ex.ops);

	/* The timeout is logged; nothing worse is. */
	problems = st_kmsg_scan(c->kmsg_fd, "timed out after ", &logged);
	CCMAP_ASSERT(problems == 0, "%d kernel problems logged", problems);
	CCMAP_ASSERT(logged, "the timeout was not logged");
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status gup_wait_run(void *arg)
{
	struct gup_wait_ctx *c = arg;
	enum ccmap_test_status st;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.gup_wait_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	st = gup_wait_served(c);
	if (st != CCMAP_TEST_PASS)
		return st;
	return gup_wait_unserved(c);
}

static struct ccmap_test gup_wait_test = {
	.name = "gup_wait",
	.description = "GUP without ALLOW_RETRY (/proc/self/mem) waits holding the lock; EIO at the deadline",
	.setup = gup_wait_setup,
	.run = gup_wait_run,
	.cleanup = gup_wait_cleanup,
};
REGISTER_CCMAP_TEST(gup_wait_test)
