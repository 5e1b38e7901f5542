// SPDX-License-Identifier: GPL-2.0
/*
 * cc_barrier - wait until every node got here; used by run.sh before the
 * agents stop.  Two phases: the barrier proper, then a "seen" counter so
 * that no node stops its agent (the home of the counter page, maybe) while
 * another still needs the page to see the barrier complete.  A SIGBUS in
 * the second phase (a home stopped already) is harmless: the barrier
 * itself was complete.  Exit 0 on success.
 */
#include "cluster.h"

static sigjmp_buf jb;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	volatile uint64_t *seen;
	struct cc c;
	double t0;

	cc_init(&c, argc, argv, 1, NULL);
	if (!cc_barrier(&c, 300)) {
		printf("# cc_barrier node %u: not every node arrived\n", c.node);
		return 1;
	}
	seen = &c.ctl[CC_WORDS - 1];
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(jb, 1) == 0) {
		__atomic_fetch_add(seen, 1, __ATOMIC_SEQ_CST);
		t0 = cc_now();
		while (__atomic_load_n(seen, __ATOMIC_SEQ_CST) < c.nodes && cc_now() - t0 < 20)
			usleep(2000);
	}
	/* Whoever still reads the counter gets a second to do so. */
	sleep(1);
	return 0;
}
