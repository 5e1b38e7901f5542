// SPDX-License-Identifier: GPL-2.0
/*
 * cc_counter - cluster-wide atomics.  Every node runs it at once; ITERS (-i,
 * default 100) atomic increments per node and per test:
 *
 *   1. one word:             every node __atomic_fetch_add()s word 0 of
 *                            page 0; the total must be exactly NODES x ITERS
 *   2. words of one page:    node n increments word n of page 1 (the page
 *                            moves between writers, no update may be lost)
 *   3. words of many pages:  increment i goes to page 2 + i % 4; every page
 *                            must end with NODES x its share of ITERS
 *
 * A node pauses PAUSE_US between increments, so that the nodes' runs
 * overlap and the page really moves between them; tests 1 and 2 also count
 * how often a node's increment found another node's increments since its
 * previous one ("interleavings"), and with more than one node at least one
 * node must have seen some: otherwise the test proved nothing.
 *
 * Needs a share of at least 8 pages (the last one is the control page).
 */
#include "cluster.h"

#define SPREAD		4
#define PAUSE_US	500

/* ITERS atomic adds to *w; returns how often others added in between. */
static unsigned long add_loop(volatile uint64_t *w, unsigned long m, bool watch_others)
{
	unsigned long inter = 0;
	uint64_t last = 0;

	for (unsigned long i = 0; i < m; i++) {
		uint64_t old = __atomic_fetch_add(w, 1, __ATOMIC_SEQ_CST);

		if (watch_others && i && old != last + 1)
			inter++;
		last = old;
		usleep(PAUSE_US);
	}
	return inter;
}

/* Sum of every node's interleavings, through slot @slot of page @pg. */
static unsigned long total_inter(struct cc *c, volatile uint64_t *pg, unsigned long mine)
{
	unsigned long sum = 0;

	pg[c->node] = mine;
	cc_barrier(c, 120);
	for (unsigned n = 1; n <= c->nodes; n++)
		sum += pg[n];
	return sum;
}

int main(int argc, char **argv)
{
	struct cc c;
	unsigned long m, want, inter;
	double t0;
	bool ok;

	cc_init(&c, argc, argv, 100, NULL);
	if (c.npages < 4 + SPREAD)
		cc_die(&c, "share too small: %zu pages, need %d", c.npages, 4 + SPREAD);
	m = c.iters;

	/* 1. one word */
	if (!cc_barrier(&c, 120))
		cc_die(&c, "start barrier");
	t0 = cc_now();
	inter = add_loop(&cc_page(&c, 0)[0], m, true);
	cc_diag(&c, "%lu increments of one word in %.2f s, %lu interleavings", m,
		cc_now() - t0, inter);
	ok = cc_barrier(&c, 120);
	want = (unsigned long)c.nodes * m;
	cc_ok(&c, ok && cc_page(&c, 0)[0] == want,
	      "one word: %u nodes x %lu atomic adds = %llu (want %lu)", c.nodes, m,
	      (unsigned long long)cc_page(&c, 0)[0], want);
	inter = total_inter(&c, cc_page(&c, 2 + SPREAD), inter);
	cc_ok(&c, c.nodes == 1 || inter > 0,
	      "one word: the nodes' increments interleaved (%lu times)", inter);

	/* 2. different words of one page */
	t0 = cc_now();
	add_loop(&cc_page(&c, 1)[c.node], m, false);
	cc_diag(&c, "%lu increments of word %u of a shared page in %.2f s", m, c.node,
		cc_now() - t0);
	ok = cc_barrier(&c, 120);
	for (unsigned n = 1; n <= c.nodes; n++) {
		if (cc_page(&c, 1)[n] != m) {
			cc_diag(&c, "word %u of page 1 is %llu, want %lu", n,
				(unsigned long long)cc_page(&c, 1)[n], m);
			ok = false;
		}
	}
	cc_ok(&c, ok, "words of one page: each node's %lu adds all there", m);

	/* 3. words of different pages */
	t0 = cc_now();
	for (unsigned long i = 0; i < m; i++) {
		__atomic_fetch_add(&cc_page(&c, 2 + i % SPREAD)[0], 1, __ATOMIC_SEQ_CST);
		usleep(PAUSE_US / 4);
	}
	cc_diag(&c, "%lu increments over %d pages in %.2f s", m, SPREAD, cc_now() - t0);
	ok = cc_barrier(&c, 120);
	for (unsigned p = 0; p < SPREAD; p++) {
		unsigned long per = m / SPREAD + (p < m % SPREAD ? 1 : 0);

		want = (unsigned long)c.nodes * per;
		if (cc_page(&c, 2 + p)[0] != want) {
			cc_diag(&c, "page %u: %llu, want %lu", 2 + p,
				(unsigned long long)cc_page(&c, 2 + p)[0], want);
			ok = false;
		}
	}
	cc_ok(&c, ok, "words of %d pages: every page has its exact total", SPREAD);
	/* Nobody may leave before every node has checked. */
	cc_barrier(&c, 120);
	return cc_finish(&c);
}
