// SPDX-License-Identifier: GPL-2.0
/*
 * tracepoints.c - every ccmap:* tracepoint fires with the right fields.
 * tp_btf programs keep the events of this process while it drives each one:
 * ccmap_manage (a share, and an unmanage refused with -EBUSY while
 * mapped), ccmap_attach, ccmap_fault (read, write, a wait verdict, the
 * retry), ccmap_wait_begin, ccmap_wake, ccmap_wait_end (woken),
 * ccmap_mkclean and ccmap_zap from the policy's kfuncs, ccmap_zap for the
 * folios a truncate removes, ccmap_state from bpf_ccmap_trace_state() and
 * ccmap_exit when the policy is detached.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"
#include "tracepoints.skel.h"

#define NR_PAGES	4
#define TIMEOUT_MS	2000	/* as in tracepoints.bpf.c */
#define POLICY_FLAGS	CCMAP_OPS_SIGBUS_ON_DETACH
#define WAKE_DELAY_MS	150
#define NR_TP		10
/* FAULT_FLAG_* of include/linux/mm_types.h */
#define ST_FAULT_FLAG_WRITE		(1u << 0)
#define ST_FAULT_FLAG_ALLOW_RETRY	(1u << 2)
#define ST_FAULT_FLAG_USER		(1u << 6)

struct tracepoints_ctx {
	struct tracepoints *skel;
	struct bpf_link *tp_links[NR_TP];
	struct st_share share;
	struct bpf_link *link;
	pthread_t tid;
	bool started;
	/* the reader's results */
	int err;
	unsigned char val;
	double t_start, t_end;
};

static void *tracepoints_reader(void *arg)
{
	struct tracepoints_ctx *c = arg;

	c->t_start = st_now();
	c->err = st_read8(c->share.map + ST_PAGE, &c->val);
	c->t_end = st_now();
	return NULL;
}

static void tracepoints_cleanup(void *arg)
{
	struct tracepoints_ctx *c = arg;
	unsigned int i;

	/* The wait is bounded (timeout_ms): the join returns. */
	if (c->started)
		pthread_join(c->tid, NULL);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	for (i = 0; i < NR_TP; i++)
		st_link_destroy(&c->tp_links[i]);
	tracepoints__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status tracepoints_setup(void **arg)
{
	struct tracepoints_ctx *c = calloc(1, sizeof(*c));
	struct bpf_program *progs[NR_TP];
	unsigned int i;

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	c->skel = tracepoints__open_and_load();
	if (!c->skel) {
		CCMAP_ERR("open_and_load: %s", strerror(errno));
		goto fail;
	}
	c->skel->bss->st_tgid = getpid();
	/* Not tracepoints__attach(): that would attach the policy too. */
	progs[0] = c->skel->progs.tp_fault;
	progs[1] = c->skel->progs.tp_wait_begin;
	progs[2] = c->skel->progs.tp_wait_end;
	progs[3] = c->skel->progs.tp_wake;
	progs[4] = c->skel->progs.tp_zap;
	progs[5] = c->skel->progs.tp_mkclean;
	progs[6] = c->skel->progs.tp_state;
	progs[7] = c->skel->progs.tp_manage;
	progs[8] = c->skel->progs.tp_attach;
	progs[9] = c->skel->progs.tp_exit;
	for (i = 0; i < NR_TP; i++) {
		c->tp_links[i] = bpf_program__attach(progs[i]);
		if (!c->tp_links[i]) {
			CCMAP_ERR("attach %s: %s", bpf_program__name(progs[i]),
				  strerror(errno));
			goto fail;
		}
	}
	return CCMAP_TEST_PASS;
fail:
	tracepoints_cleanup(c);
	return CCMAP_TEST_FAIL;
}

/* The page fields every page event carries. */
#define ASSERT_PAGE(what, r, pg)					\
	CCMAP_ASSERT((r)->dev == c->share.dev && (r)->ino == c->share.ino && \
		     (r)->pgoff == (pg),				\
		     "%s: dev %llu ino %llu pgoff %llu, want %llu %llu %u", \
		     what, (unsigned long long)(r)->dev,		\
		     (unsigned long long)(r)->ino,			\
		     (unsigned long long)(r)->pgoff,			\
		     (unsigned long long)c->share.dev,			\
		     (unsigned long long)c->share.ino, (unsigned int)(pg))

static enum ccmap_test_status check_fault(struct tracepoints_ctx *c,
					  unsigned int i, const char *what,
					  unsigned int pg, unsigned int access,
					  bool wait)
{
	const struct tp_fault_rec *r = &c->skel->bss->fault_log[i];
	unsigned int want = ST_FAULT_FLAG_USER | ST_FAULT_FLAG_ALLOW_RETRY |
			    (access == CCMAP_ACC_WRITE ? ST_FAULT_FLAG_WRITE : 0);

	ASSERT_PAGE(what, r, pg);
	CCMAP_ASSERT(r->access == access, "%s: access %u, want %u", what,
		     r->access, access);
	CCMAP_ASSERT((r->flags & want) == want, "%s: flags %#x, want %#x set",
		     what, r->flags, want);
	CCMAP_ASSERT(wait ? r->verdict > 0 : r->verdict == 0,
		     "%s: verdict %lld, want %s", what, (long long)r->verdict,
		     wait ? "a key" : "0");
	return CCMAP_TEST_PASS;
}

#define CHECK_STEP(expr)						\
	do {								\
		enum ccmap_test_status __st = (expr);			\
		if (__st != CCMAP_TEST_PASS)				\
			return __st;					\
	} while (0)

static enum ccmap_test_status tracepoints_run(void *arg)
{
	struct tracepoints_ctx *c = arg;
	struct tracepoints__bss *bss = c->skel->bss;
	struct st_args a = { };
	const struct tp_range_rec *z;
	unsigned char v;
	__u64 key;
	long long n;
	unsigned int i;
	int err;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");

	/* ccmap_manage: made a share, then an unmanage refused. */
	CCMAP_ASSERT(!st_share_open(&c->share, "/tmp", NR_PAGES,
				    c->skel->progs.st_manage_prog, true),
		     "share");
	bss->st_target_dev = c->share.dev;
	bss->st_target_ino = c->share.ino;
	a.fd = c->share.fd;
	a.arg = CCMAP_MANAGE_UNMANAGE;
	CCMAP_ASSERT(!st_run(c->skel->progs.st_manage_prog, &a) &&
		     a.ret == -EBUSY, "unmanage while mapped: %lld",
		     (long long)a.ret);
	CCMAP_ASSERT(bss->nr_manage == 2, "%u ccmap_manage events, want 2",
		     bss->nr_manage);
	for (i = 0; i < 2; i++) {
		const struct tp_manage_rec *r = &bss->manage_log[i];

		CCMAP_ASSERT(r->dev == c->share.dev && r->ino == c->share.ino,
			     "ccmap_manage %u: dev %llu ino %llu", i,
			     (unsigned long long)r->dev,
			     (unsigned long long)r->ino);
		CCMAP_ASSERT(r->flags == (i ? CCMAP_MANAGE_UNMANAGE : 0) &&
			     r->ret == (i ? -EBUSY : 0),
			     "ccmap_manage %u: flags %#llx ret %d", i,
			     (unsigned long long)r->flags, r->ret);
	}

	/* ccmap_attach */
	c->link = st_attach(c->skel->maps.tracepoints_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(bss->nr_attach == 1, "%u ccmap_attach events",
		     bss->nr_attach);
	CCMAP_ASSERT(!strcmp(bss->attach_rec.name, "st_tracepoints") &&
		     bss->attach_rec.flags == POLICY_FLAGS &&
		     bss->attach_rec.timeout_ms == TIMEOUT_MS,
		     "ccmap_attach: name '%s' flags %#llx timeout_ms %u",
		     bss->attach_rec.name, (unsigned long long)bss->attach_rec.flags,
		     bss->attach_rec.timeout_ms);

	/* ccmap_fault: a read, then a store to the read-only page. */
	CCMAP_ASSERT(!st_read8(c->share.map, &v) && v == st_fill(0), "read p0");
	CCMAP_ASSERT(!st_write8(c->share.map, 'W'), "write p0");
	CCMAP_ASSERT(bss->nr_fault == 2, "%u ccmap_fault events, want 2",
		     bss->nr_fault);
	CHECK_STEP(check_fault(c, 0, "ccmap_fault read p0", 0, CCMAP_ACC_READ,
			       false));
	CHECK_STEP(check_fault(c, 1, "ccmap_fault write p0", 0, CCMAP_ACC_WRITE,
			       false));

	/* A wait: fault (key), wait_begin, wake, wait_end, fault (go). */
	err = pthread_create(&c->tid, NULL, tracepoints_reader, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000), "the reader does not wait");
	CCMAP_ASSERT(bss->nr_fault == 3 && bss->nr_wait_begin == 1 &&
		     bss->nr_wait_end == 0,
		     "%u faults, %u wait_begin, %u wait_end; want 3, 1, 0",
		     bss->nr_fault, bss->nr_wait_begin, bss->nr_wait_end);
	CHECK_STEP(check_fault(c, 2, "ccmap_fault read p1", 1, CCMAP_ACC_READ,
			       true));
	key = (__u64)bss->fault_log[2].verdict;
	ASSERT_PAGE("ccmap_wait_begin", &bss->wait_begin, 1);
	CCMAP_ASSERT(bss->wait_begin.access == CCMAP_ACC_READ &&
		     bss->wait_begin.key == key &&
		     bss->wait_begin.timeout_ms > TIMEOUT_MS - 100 &&
		     bss->wait_begin.timeout_ms <= TIMEOUT_MS,
		     "ccmap_wait_begin: access %u key %llu timeout_ms %u; want key %llu, the whole deadline left",
		     bss->wait_begin.access,
		     (unsigned long long)bss->wait_begin.key,
		     bss->wait_begin.timeout_ms, (unsigned long long)key);
	st_sleep_ms(WAKE_DELAY_MS);
	a = (struct st_args){ };
	CCMAP_ASSERT(!st_run(c->skel->progs.grant_and_wake, &a) && a.ret == 0,
		     "grant and wake: %lld", (long long)a.ret);
	pthread_join(c->tid, NULL);
	c->started = false;
	CCMAP_ASSERT(!c->err && c->val == st_fill(1), "read p1: %s '%c'",
		     c->err ? "SIGBUS" : "ok", c->val);
	CCMAP_ASSERT(bss->nr_wake == 1 && bss->wake_key == key,
		     "%u ccmap_wake events, key %llu; want 1, %llu",
		     bss->nr_wake, (unsigned long long)bss->wake_key,
		     (unsigned long long)key);
	CCMAP_ASSERT(bss->nr_wait_end == 1, "%u ccmap_wait_end events",
		     bss->nr_wait_end);
	ASSERT_PAGE("ccmap_wait_end", &bss->wait_end, 1);
	CCMAP_ASSERT(bss->wait_end.access == CCMAP_ACC_READ &&
		     bss->wait_end.key == key && bss->wait_end.outcome == 0,
		     "ccmap_wait_end: access %u key %llu outcome %u",
		     bss->wait_end.access, (unsigned long long)bss->wait_end.key,
		     bss->wait_end.outcome);
	CCMAP_ASSERT(bss->wait_end.waited_ns >= WAKE_DELAY_MS * 1000000ULL &&
		     bss->wait_end.waited_ns <=
		     (__u64)((c->t_end - c->t_start) * 1e9),
		     "ccmap_wait_end: waited %llu ns, the read took %.3fs",
		     (unsigned long long)bss->wait_end.waited_ns,
		     c->t_end - c->t_start);
	CCMAP_ASSERT(bss->nr_fault == 4, "%u ccmap_fault events, want 4",
		     bss->nr_fault);
	CHECK_STEP(check_fault(c, 3, "ccmap_fault read p1 after the wake", 1,
			       CCMAP_ACC_READ, false));

	/* ccmap_mkclean and ccmap_zap of the policy's kfuncs (who 0). */
	n = st_mkclean(c->skel->progs.st_mkclean_prog, c->share.fd, 0, 0);
	CCMAP_ASSERT(n == 1, "bpf_ccmap_mkclean: %lld, want 1", n);
	CCMAP_ASSERT(bss->nr_mkclean == 1, "%u ccmap_mkclean events",
		     bss->nr_mkclean);
	ASSERT_PAGE("ccmap_mkclean", &bss->mkclean_log[0], 0);
	CCMAP_ASSERT(bss->mkclean_log[0].nr == 0 &&
		     bss->mkclean_log[0].count == 1 &&
		     bss->mkclean_log[0].who == CCMAP_TRACE_WHO_POLICY,
		     "ccmap_mkclean: nr %llu count %lld who %u",
		     (unsigned long long)bss->mkclean_log[0].nr,
		     (long long)bss->mkclean_log[0].count,
		     bss->mkclean_log[0].who);
	n = st_zap(c->skel->progs.st_zap_prog, c->share.fd, ST_PAGE,
		   2 * ST_PAGE);
	CCMAP_ASSERT(n >= 0, "bpf_ccmap_zap: %lld", n);
	CCMAP_ASSERT(bss->nr_zap == 1, "%u ccmap_zap events", bss->nr_zap);
	z = &bss->zap_log[0];
	ASSERT_PAGE("ccmap_zap (policy)", z, 1);
	CCMAP_ASSERT(z->nr == 2 && z->count == n &&
		     z->who == CCMAP_TRACE_WHO_POLICY,
		     "ccmap_zap (policy): nr %llu count %lld who %u; returned %lld",
		     (unsigned long long)z->nr, (long long)z->count, z->who, n);

	/* ccmap_zap for the folios a truncate removes (who 1). */
	CCMAP_ASSERT(!ftruncate(c->share.fd, ST_PAGE), "truncate: %s",
		     strerror(errno));
	CCMAP_ASSERT(bss->nr_zap == 4, "%u ccmap_zap events, want 4",
		     bss->nr_zap);
	for (i = 1; i < 4; i++) {
		z = &bss->zap_log[i];
		ASSERT_PAGE("ccmap_zap (truncate)", z, i);
		CCMAP_ASSERT(z->nr == 1 && z->count == 1 &&
			     z->who == CCMAP_TRACE_WHO_REMOVE,
			     "ccmap_zap (truncate) p%u: nr %llu count %lld who %u",
			     i, (unsigned long long)z->nr, (long long)z->count,
			     z->who);
	}

	/* ccmap_state from bpf_ccmap_trace_state(). */
	a = (struct st_args){ .page = 2, .len = 3, .arg = CCMAP_TRANSITION(1, 2) };
	CCMAP_ASSERT(!st_run(c->skel->progs.trace_state, &a) && a.ret == 0,
		     "trace_state: %lld", (long long)a.ret);
	CCMAP_ASSERT(bss->nr_state == 1, "%u ccmap_state events",
		     bss->nr_state);
	ASSERT_PAGE("ccmap_state", &bss->state, 2);
	CCMAP_ASSERT(bss->state.nr == 3 && bss->state.from == 1 &&
		     bss->state.to == 2, "ccmap_state: nr %llu from %u to %u",
		     (unsigned long long)bss->state.nr, bss->state.from,
		     bss->state.to);

	/* ccmap_exit */
	CCMAP_ASSERT(bss->nr_exit == 0, "%u ccmap_exit events before the detach",
		     bss->nr_exit);
	st_link_destroy(&c->link);
	CCMAP_ASSERT(bss->nr_exit == 1, "%u ccmap_exit events", bss->nr_exit);
	CCMAP_ASSERT(!strcmp(bss->exit_rec.name, "st_tracepoints") &&
		     bss->exit_rec.kind == CCMAP_EXIT_UNREG &&
		     !strcmp(bss->exit_rec.reason, "detached from user space"),
		     "ccmap_exit: name '%s' kind %d reason '%s'", bss->exit_rec.name,
		     bss->exit_rec.kind, bss->exit_rec.reason);

	/* Nothing else of ours fired. */
	CCMAP_ASSERT(bss->nr_fault == 4 && bss->nr_wait_begin == 1 &&
		     bss->nr_wake == 1 && bss->nr_mkclean == 1 &&
		     bss->nr_attach == 1 && bss->nr_manage == 2,
		     "events: fault %u wait_begin %u wake %u mkclean %u attach %u manage %u",
		     bss->nr_fault, bss->nr_wait_begin, bss->nr_wake,
		     bss->nr_mkclean, bss->nr_attach, bss->nr_manage);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test tracepoints_test = {
	.name = "tracepoints",
	.description = "every ccmap:* tracepoint fires once per event with the right fields (tp_btf)",
	.setup = tracepoints_setup,
	.run = tracepoints_run,
	.cleanup = tracepoints_cleanup,
};
REGISTER_CCMAP_TEST(tracepoints_test)
