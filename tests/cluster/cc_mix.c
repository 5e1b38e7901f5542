// SPDX-License-Identifier: GPL-2.0
/*
 * cc_mix - random reads and writes with a stale-read checker.
 *
 * The share's pages (all but the control page, at most 64) have one slot
 * per node: word n of a page belongs to node n, which writes only there.
 * Every value a node writes is tagged with the node id (top 8 bits) and a
 * per-node sequence number that increases with every write, on any page.
 * Each node does ITERS (-i, default 400) operations on random pages, a
 * quarter of them writes of its slot, the rest reads of the whole page that
 * check, for every slot:
 *   - the tag is the slot's node (or the slot is still 0);
 *   - the sequence never goes back: a value older than one seen before on
 *     that page is a stale read;
 *   - its own slot holds exactly what it wrote last (read your writes).
 * At the end (after a barrier) every node checks that each slot holds the
 * last value its node wrote (each node publishes its last values on its own
 * page region first): no write was lost.
 */
#include "cluster.h"

#define MAXP	64

int main(int argc, char **argv)
{
	static uint64_t seen[MAXP][65], mine[MAXP];
	unsigned long stale = 0, badtag = 0, lostown = 0, writes = 0, reads = 0;
	uint64_t seq = 0, rnd;
	size_t np;
	struct cc c;
	double t0;
	bool ok = true;

	cc_init(&c, argc, argv, 400, NULL);
	np = c.npages - 1;
	if (np > MAXP)
		np = MAXP;
	if (np < 2)
		cc_die(&c, "share too small");
	rnd = 0x9e3779b97f4a7c15ULL * c.node + 12345;
	if (!cc_barrier(&c, 120))
		cc_die(&c, "start barrier");
	t0 = cc_now();
	for (unsigned long i = 0; i < c.iters; i++) {
		size_t p = cc_rand(&rnd) % np;
		volatile uint64_t *pg = cc_page(&c, p);

		if (cc_rand(&rnd) % 4 == 0) {
			uint64_t v = ((uint64_t)c.node << 56) | ++seq;

			pg[c.node] = v;
			mine[p] = v;
			writes++;
			continue;
		}
		reads++;
		for (unsigned n = 1; n <= c.nodes; n++) {
			uint64_t v = pg[n];

			if (v == 0)
				continue;
			if (v >> 56 != n) {
				if (badtag++ < 5)
					cc_diag(&c, "page %zu slot %u holds %#llx: wrong tag", p, n,
						(unsigned long long)v);
				continue;
			}
			if (n == c.node && v != mine[p]) {
				if (lostown++ < 5)
					cc_diag(&c, "page %zu: own slot %#llx, wrote %#llx", p,
						(unsigned long long)v, (unsigned long long)mine[p]);
			}
			if (v < seen[p][n]) {
				if (stale++ < 5)
					cc_diag(&c, "page %zu slot %u went back from %#llx to %#llx",
						p, n, (unsigned long long)seen[p][n],
						(unsigned long long)v);
			} else {
				seen[p][n] = v;
			}
		}
	}
	cc_diag(&c, "%lu reads, %lu writes on %zu pages in %.2f s", reads, writes, np,
		cc_now() - t0);
	cc_ok(&c, badtag == 0, "every slot holds values of its own node (%lu bad)", badtag);
	cc_ok(&c, stale == 0, "no stale read: slot sequences never go back (%lu)", stale);
	cc_ok(&c, lostown == 0, "read your own writes (%lu mismatches)", lostown);

	/* Final state: every slot is its node's last write.  Each node checks
	 * its own slots (it knows its last values) after everyone stopped. */
	ok = cc_barrier(&c, 120);
	for (size_t p = 0; p < np && ok; p++) {
		if (cc_page(&c, p)[c.node] != mine[p]) {
			cc_diag(&c, "page %zu: final own slot %#llx, last written %#llx", p,
				(unsigned long long)cc_page(&c, p)[c.node],
				(unsigned long long)mine[p]);
			ok = false;
		}
	}
	cc_ok(&c, ok, "after the barrier all of this node's last writes are there");
	cc_barrier(&c, 120);
	return cc_finish(&c);
}
