// SPDX-License-Identifier: GPL-2.0
/*
 * error_exit.c - a policy error detaches the policy: bpf_ccmap_error() from
 * a SEC("syscall") program, bpf_ccmap_error() from ops.fault, and an
 * invalid verdict.  Each time the link reports EPOLLHUP, sysfs and ops.exit
 * tell the kind and the reason, faults wait for the next policy instead of
 * failing, and attaching again serves them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util.h"
#include "error_exit.skel.h"

#define NR_PAGES	4
#define ERR_PAGE	1	/* as in error_exit.bpf.c */

/* what ops.fault does on ERR_PAGE (error_exit.bpf.c) */
enum { MODE_GO, MODE_ERROR, MODE_BAD_VERDICT };

struct error_exit_ctx {
	struct error_exit *skel;
	struct st_share share;
	struct bpf_link *link;
	pthread_t tid;
	bool started;
	volatile int done;
	int err;
	unsigned char val;
};

static void error_exit_cleanup(void *arg)
{
	struct error_exit_ctx *c = arg;

	/* A waiting reader gives up at the deadline (SIGBUS, caught). */
	if (c->started)
		pthread_join(c->tid, NULL);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	error_exit__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(error_exit, NR_PAGES, error_exit_cleanup)

/* Checks the policy left with @kind and @reason (a prefix). */
static enum ccmap_test_status check_exit(struct error_exit_ctx *c,
					 const char *what, int kind,
					 const char *kind_str,
					 const char *reason)
{
	const struct ccmap_user_exit_info *uei = &c->skel->data->uei;
	struct st_exit ex;

	CCMAP_ASSERT(!st_wait_hup(c->link, 2000), "%s: no EPOLLHUP", what);
	CCMAP_ASSERT(st_no_policy(), "%s: still attached", what);
	CCMAP_ASSERT(!st_exit_read(&ex), "exit info");
	CCMAP_ASSERT(ex.kind == kind && !strcmp(ex.kind_str, kind_str) &&
		     !strcmp(ex.ops, "st_error_exit") &&
		     !strncmp(ex.reason, reason, strlen(reason)),
		     "%s: sysfs exit '%s %d' ops '%s' reason '%s'; want '%s %d' reason '%s...'",
		     what, ex.kind_str, ex.kind, ex.ops, ex.reason, kind_str,
		     kind, reason);
	CCMAP_ASSERT(uei->kind == kind && !strcmp(uei->name, "st_error_exit") &&
		     !strncmp(uei->reason, reason, strlen(reason)),
		     "%s: ops.exit saw kind %d name '%s' reason '%s'", what,
		     uei->kind, uei->name, uei->reason);
	printf("# %s: %s %d: %s\n", what, ex.kind_str, ex.kind, ex.reason);
	return CCMAP_TEST_PASS;
}

static void *error_exit_reader(void *arg)
{
	struct error_exit_ctx *c = arg;

	c->err = st_read8(c->share.map + 2 * ST_PAGE, &c->val);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* With no policy, a fault waits for the next attach, which serves it. */
static enum ccmap_test_status wait_for_next(struct error_exit_ctx *c)
{
	int err;

	c->done = 0;
	c->err = 0;
	c->val = 0;
	err = pthread_create(&c->tid, NULL, error_exit_reader, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000),
		     "a fault without a policy does not wait");
	CCMAP_ASSERT(!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE),
		     "a fault without a policy completed");
	st_link_destroy(&c->link);
	c->link = st_attach(c->skel->maps.error_exit_ops);
	CCMAP_ASSERT(c->link, "attach after the error: %s", strerror(errno));
	pthread_join(c->tid, NULL);
	c->started = false;
	CCMAP_ASSERT(!c->err && c->val == st_fill(2),
		     "the waiting fault: %s, read '%c'",
		     c->err ? "SIGBUS" : "ok", c->val);
	return CCMAP_TEST_PASS;
}

#define CHECK_STEP(expr)						\
	do {								\
		enum ccmap_test_status __st = (expr);			\
		if (__st != CCMAP_TEST_PASS)				\
			return __st;					\
	} while (0)

static enum ccmap_test_status error_exit_run(void *arg)
{
	struct error_exit_ctx *c = arg;
	struct error_exit__bss *bss = c->skel->bss;
	struct st_args a = { };
	struct st_stats s0, s1;
	unsigned char v;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");

	/* 1: bpf_ccmap_error() from a syscall program. */
	c->link = st_attach(c->skel->maps.error_exit_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_read8(c->share.map, &v) && v == st_fill(0), "page 0");
	CCMAP_ASSERT(!st_run(c->skel->progs.raise_error, &a), "raise_error");
	CHECK_STEP(check_exit(c, "error from a syscall program",
			      CCMAP_EXIT_ERROR_BPF, "error_bpf",
			      "st_error_exit: error from a syscall program"));
	CHECK_STEP(wait_for_next(c));

	/* 2: bpf_ccmap_error() from ops.fault; that fault gets SIGBUS. */
	bss->mode = MODE_ERROR;
	CCMAP_ASSERT(st_read8(c->share.map + ERR_PAGE * ST_PAGE, &v) == -EFAULT,
		     "the fault that raised the error did not get SIGBUS");
	CHECK_STEP(check_exit(c, "error from ops.fault", CCMAP_EXIT_ERROR_BPF,
			      "error_bpf", "st_error_exit: error from ops.fault"));
	bss->mode = MODE_GO;
	CCMAP_ASSERT(!madvise(c->share.map, NR_PAGES * ST_PAGE, MADV_DONTNEED),
		     "madvise");
	CHECK_STEP(wait_for_next(c));

	/* 3: a verdict below -MAX_ERRNO. */
	bss->mode = MODE_BAD_VERDICT;
	CCMAP_ASSERT(st_read8(c->share.map + ERR_PAGE * ST_PAGE, &v) == -EFAULT,
		     "the invalid verdict did not give SIGBUS");
	CHECK_STEP(check_exit(c, "invalid verdict", CCMAP_EXIT_ERROR, "error",
			      "ops.fault() returned invalid verdict -100000"));
	bss->mode = MODE_GO;
	CCMAP_ASSERT(!madvise(c->share.map, NR_PAGES * ST_PAGE, MADV_DONTNEED),
		     "madvise");
	CHECK_STEP(wait_for_next(c));

	/* Healthy: serves the page that failed, and detaches cleanly. */
	CCMAP_ASSERT(!st_read8(c->share.map + ERR_PAGE * ST_PAGE, &v) &&
		     v == st_fill(ERR_PAGE), "page %d after the errors", ERR_PAGE);
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(s1.errors - s0.errors == 3, "errors +%llu, want 3",
		     s1.errors - s0.errors);
	CCMAP_ASSERT(bss->nr_exit == 3, "ops.exit called %llu times, want 3",
		     (unsigned long long)bss->nr_exit);
	st_link_destroy(&c->link);
	CCMAP_ASSERT(c->skel->data->uei.kind == CCMAP_EXIT_UNREG,
		     "last exit kind %d", c->skel->data->uei.kind);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test error_exit_test = {
	.name = "error_exit",
	.description = "bpf_ccmap_error (syscall prog, ops.fault) and a bad verdict detach the policy",
	.setup = error_exit_setup,
	.run = error_exit_run,
	.cleanup = error_exit_cleanup,
};
REGISTER_CCMAP_TEST(error_exit_test)
