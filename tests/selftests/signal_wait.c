// SPDX-License-Identifier: GPL-2.0
/*
 * signal_wait.c - signals and a fault that waits (an interruptible wait):
 *
 * - a thread waits in a fault on page 0; SIGUSR1 (handler with SA_RESTART)
 *   and then SIGUSR2 (handler without) are sent to it: each time the
 *   handler runs in that thread while it is in the fault, the fault asks
 *   the policy again and waits again; after the grant and the wake the
 *   read completes with the right data, having neither timed out nor got
 *   SIGBUS;
 * - a child process waits in a fault on page 1 and gets SIGKILL: it dies of
 *   it at once (waitpid() shows SIGKILL long before the 4 s deadline), and
 *   no timeout or SIGBUS is counted.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "signal_wait.skel.h"

#define TIMEOUT_MS	4000	/* as in signal_wait.bpf.c */
#define KILL_LIMIT_S	1.0	/* "at once", with TCG's slowness */

struct signal_wait_ctx {
	struct signal_wait *skel;
	struct st_share share;
	struct bpf_link *link;
	pthread_t tid;
	bool started;
	pid_t child;		/* 0: none */
	bool handlers;		/* SIGUSR1/2 handlers installed */
	struct sigaction old_usr1, old_usr2;
	/* the reader's results */
	volatile int done;
	int err;
	unsigned char val;
	pid_t reader_tid;
};

/* What the handlers saw: a count and the thread of the last one. */
static volatile sig_atomic_t nr_usr1, nr_usr2;
static volatile pid_t usr_tid;

static void signal_wait_handler(int sig)
{
	usr_tid = (pid_t)syscall(SYS_gettid);
	if (sig == SIGUSR1)
		nr_usr1++;
	else
		nr_usr2++;
}

static void *signal_wait_reader(void *arg)
{
	struct signal_wait_ctx *c = arg;

	c->reader_tid = (pid_t)syscall(SYS_gettid);
	c->err = st_read8(c->share.map, &c->val);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void signal_wait_cleanup(void *arg)
{
	struct signal_wait_ctx *c = arg;

	if (c->child > 0) {
		kill(c->child, SIGKILL);
		waitpid(c->child, NULL, 0);
	}
	/* The wait is bounded (timeout_ms): the join returns. */
	if (c->started)
		pthread_join(c->tid, NULL);
	if (c->handlers) {
		sigaction(SIGUSR1, &c->old_usr1, NULL);
		sigaction(SIGUSR2, &c->old_usr2, NULL);
	}
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	signal_wait__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status signal_wait_setup(void **arg)
{
	struct signal_wait_ctx *c = calloc(1, sizeof(*c));
	struct sigaction sa = { .sa_handler = signal_wait_handler };

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	ST_OPEN_SKEL_SHARE(c, signal_wait, 2, true);

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGUSR1, &sa, &c->old_usr1)) {
		CCMAP_ERR("sigaction(SIGUSR1): %s", strerror(errno));
		goto fail;
	}
	sa.sa_flags = 0;
	if (sigaction(SIGUSR2, &sa, &c->old_usr2)) {
		CCMAP_ERR("sigaction(SIGUSR2): %s", strerror(errno));
		sigaction(SIGUSR1, &c->old_usr1, NULL);
		goto fail;
	}
	c->handlers = true;
	nr_usr1 = nr_usr2 = 0;
	usr_tid = 0;
	return CCMAP_TEST_PASS;
fail:
	signal_wait_cleanup(c);
	return CCMAP_TEST_FAIL;
}

/* Polls until *@v reaches @want: 0 or -ETIMEDOUT. */
static int wait_count(const volatile sig_atomic_t *v, int want, int timeout_ms)
{
	double end = st_now() + timeout_ms / 1000.0;

	while (*v < want) {
		if (st_now() > end)
			return -ETIMEDOUT;
		st_sleep_ms(5);
	}
	return 0;
}

static int wait_ask(const volatile __u64 *v, __u64 want, int timeout_ms)
{
	double end = st_now() + timeout_ms / 1000.0;

	while (*v < want) {
		if (st_now() > end)
			return -ETIMEDOUT;
		st_sleep_ms(5);
	}
	return 0;
}

/* Interrupt the waiting reader with @sig: it runs the handler, waits again. */
static enum ccmap_test_status interrupt(struct signal_wait_ctx *c, int sig,
				       const volatile sig_atomic_t *count,
				       __u64 asks)
{
	struct signal_wait__bss *bss = c->skel->bss;
	int err;

	err = pthread_kill(c->tid, sig);
	CCMAP_ASSERT(!err, "pthread_kill(%s): %s", strsignal(sig), strerror(err));
	CCMAP_ASSERT(!wait_count(count, 1, 3000), "the %s handler did not run",
		     strsignal(sig));
	CCMAP_ASSERT(usr_tid == c->reader_tid,
		     "the %s handler ran in thread %d, the reader is %d",
		     strsignal(sig), (int)usr_tid, (int)c->reader_tid);
	/* The fault was retried: asked again, and waits again. */
	CCMAP_ASSERT(!wait_ask(&bss->nr_ask[0], asks, 3000),
		     "after %s: policy asked %llu times, want %llu",
		     strsignal(sig), (unsigned long long)bss->nr_ask[0],
		     (unsigned long long)asks);
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000),
		     "after %s the fault does not wait again", strsignal(sig));
	CCMAP_ASSERT(!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE),
		     "after %s the read completed without a grant",
		     strsignal(sig));
	CCMAP_ASSERT(bss->nr_go[0] == 0, "the policy let page 0 go");
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status signal_wait_handled(struct signal_wait_ctx *c)
{
	struct signal_wait__bss *bss = c->skel->bss;
	struct st_args grant = { .page = 0 };
	enum ccmap_test_status st;
	struct st_stats s0, s1;
	int err;

	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	err = pthread_create(&c->tid, NULL, signal_wait_reader, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->started = true;
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000), "the reader does not wait");
	CCMAP_ASSERT(bss->nr_ask[0] == 1, "policy asked %llu times, want 1",
		     (unsigned long long)bss->nr_ask[0]);

	st = interrupt(c, SIGUSR1, &nr_usr1, 2);	/* SA_RESTART */
	if (st != CCMAP_TEST_PASS)
		return st;
	st = interrupt(c, SIGUSR2, &nr_usr2, 3);	/* no SA_RESTART */
	if (st != CCMAP_TEST_PASS)
		return st;

	err = st_run(c->skel->progs.grant_and_wake, &grant);
	CCMAP_ASSERT(!err && grant.ret == 0, "grant: %d, wake returned %lld",
		     err, (long long)grant.ret);
	pthread_join(c->tid, NULL);
	c->started = false;
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(!c->err, "the read got SIGBUS");
	CCMAP_ASSERT(c->val == st_fill(0), "read '%c'", c->val);
	CCMAP_ASSERT(nr_usr1 == 1 && nr_usr2 == 1, "handlers ran %d and %d times",
		     (int)nr_usr1, (int)nr_usr2);
	/* Go twice: the recheck of the woken fault, then its retry. */
	CCMAP_ASSERT(bss->nr_ask[0] == 4 && bss->nr_go[0] == 2,
		     "policy asked %llu times (%llu go), want 4 (2)",
		     (unsigned long long)bss->nr_ask[0],
		     (unsigned long long)bss->nr_go[0]);
	/* Three waits: cut by SIGUSR1, by SIGUSR2, ended by the wake. */
	CCMAP_ASSERT(s1.waits - s0.waits == 3 && s1.timeouts == s0.timeouts &&
		     s1.sigbus == s0.sigbus,
		     "waits +%llu timeouts +%llu sigbus +%llu, want 3, 0, 0",
		     s1.waits - s0.waits, s1.timeouts - s0.timeouts,
		     s1.sigbus - s0.sigbus);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status signal_wait_killed(struct signal_wait_ctx *c)
{
	struct signal_wait__bss *bss = c->skel->bss;
	struct st_stats s0, s1;
	double t_kill, dt;
	int status = 0;
	pid_t pid;

	CCMAP_ASSERT(!st_stats_read(&s0), "stats");
	fflush(stdout);
	c->child = fork();
	CCMAP_ASSERT(c->child >= 0, "fork: %s", strerror(errno));
	if (c->child == 0) {
		unsigned char v;

		/* Page 1 is never granted: only SIGKILL ends this. */
		_exit(st_read8(c->share.map + ST_PAGE, &v) ? 2 : 3);
	}
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000), "the child does not wait");
	CCMAP_ASSERT(bss->nr_ask[1] == 1, "policy asked %llu times, want 1",
		     (unsigned long long)bss->nr_ask[1]);

	t_kill = st_now();
	CCMAP_ASSERT(!kill(c->child, SIGKILL), "kill: %s", strerror(errno));
	for (;;) {
		pid = waitpid(c->child, &status, WNOHANG);
		CCMAP_ASSERT(pid >= 0, "waitpid: %s", strerror(errno));
		dt = st_now() - t_kill;
		if (pid == c->child || dt > TIMEOUT_MS / 1000.0 + 2)
			break;
		st_sleep_ms(5);
	}
	CCMAP_ASSERT(pid == c->child, "the child still lives %.3fs after SIGKILL",
		     dt);
	c->child = 0;
	printf("# the child died %.3fs after SIGKILL\n", dt);
	CCMAP_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		     "child status %#x, want killed by SIGKILL", status);
	CCMAP_ASSERT(dt < KILL_LIMIT_S, "died %.3fs after SIGKILL, deadline %d ms",
		     dt, TIMEOUT_MS);
	CCMAP_ASSERT(!st_wait_nr_waiting(0, 1000), "nr_waiting not back to 0");
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	CCMAP_ASSERT(s1.waits - s0.waits == 1 && s1.timeouts == s0.timeouts &&
		     s1.sigbus == s0.sigbus,
		     "waits +%llu timeouts +%llu sigbus +%llu, want 1, 0, 0",
		     s1.waits - s0.waits, s1.timeouts - s0.timeouts,
		     s1.sigbus - s0.sigbus);
	CCMAP_ASSERT(bss->nr_go[1] == 0, "the policy let page 1 go");
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status signal_wait_run(void *arg)
{
	struct signal_wait_ctx *c = arg;
	enum ccmap_test_status st;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.signal_wait_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	st = signal_wait_handled(c);
	if (st != CCMAP_TEST_PASS)
		return st;
	return signal_wait_killed(c);
}

static struct ccmap_test signal_wait_test = {
	.name = "signal_wait",
	.description = "a signal handler runs during a fault's wait, which resumes; SIGKILL ends it at once",
	.setup = signal_wait_setup,
	.run = signal_wait_run,
	.cleanup = signal_wait_cleanup,
};
REGISTER_CCMAP_TEST(signal_wait_test)
