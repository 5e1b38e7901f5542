// SPDX-License-Identifier: GPL-2.0
/*
 * cc_readshare - read sharing costs nothing once warm.
 *
 * Node 1 fills the data pages (all but the control page, at most 16); after
 * a barrier every node reads them all once (warm-up: each gets a Shared
 * copy).  After another barrier every node reads every page ITERS times
 * (-i, default 50) and checks with "ccmapctl stat requests_sent" (needs -c
 * and -C) that it sent no coherency request meanwhile: reads of pages held
 * Shared never leave the node.  Then node 1 writes page 0 once; after a
 * barrier the readers see the new value, which costs them a request again.
 */
#include "cluster.h"

#define MAXP	16

int main(int argc, char **argv)
{
	long long before, after, again;
	unsigned long bad = 0;
	uint64_t sum = 0;
	size_t np;
	struct cc c;

	cc_init(&c, argc, argv, 50, NULL);
	if (!c.ctl_sock)
		cc_die(&c, "needs -c SOCKET (and -C CCMAPCTL) to read the agent's counters");
	np = c.npages - 1 < MAXP ? c.npages - 1 : MAXP;
	if (!cc_barrier(&c, 120))
		cc_die(&c, "start barrier");
	if (c.node == 1)
		for (size_t p = 0; p < np; p++)
			for (size_t i = 0; i < CC_WORDS; i++)
				cc_page(&c, p)[i] = (p << 32) | i;
	if (!cc_barrier(&c, 120))
		cc_die(&c, "barrier");
	for (size_t p = 0; p < np; p++)		/* warm-up */
		sum += cc_page(&c, p)[0];
	if (!cc_barrier(&c, 120))
		cc_die(&c, "barrier");

	before = cc_stat(&c, "requests_sent");
	for (unsigned long r = 0; r < c.iters; r++)
		for (size_t p = 0; p < np; p++)
			for (size_t i = 0; i < CC_WORDS; i += 64)
				if (cc_page(&c, p)[i] != ((p << 32) | i))
					bad++;
	after = cc_stat(&c, "requests_sent");
	cc_ok(&c, bad == 0, "%lu reads of %zu warm pages see the data (%lu bad)",
	      c.iters * np * (CC_WORDS / 64), np, bad);
	cc_ok(&c, before >= 0 && after == before,
	      "warm reads sent no coherency request (requests_sent %lld -> %lld)", before,
	      after);

	if (!cc_barrier(&c, 120))
		cc_die(&c, "barrier");
	if (c.node == 1)
		cc_page(&c, 0)[0] = 0xfeedULL;
	if (!cc_barrier(&c, 120))
		cc_die(&c, "barrier");
	before = cc_stat(&c, "requests_sent");
	sum = cc_page(&c, 0)[0];
	again = cc_stat(&c, "requests_sent");
	cc_ok(&c, sum == 0xfeedULL, "after a write every node sees the new value (%#llx)",
	      (unsigned long long)sum);
	if (c.node != 1)
		cc_ok(&c, again > before,
		      "the read after a remote write asked again (requests_sent %lld -> %lld)",
		      before, again);
	cc_barrier(&c, 120);
	return cc_finish(&c);
}
