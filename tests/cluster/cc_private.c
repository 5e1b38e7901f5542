// SPDX-License-Identifier: GPL-2.0
/*
 * cc_private - MAP_PRIVATE across nodes.
 *
 * Every node maps the share twice, MAP_SHARED and MAP_PRIVATE.  Pages
 * 0..NODES-1 are "touched": node n writes its private mapping of page n-1
 * (an anonymous copy-on-write copy).  Page NODES is "untouched" privately.
 * Then node 1 writes through MAP_SHARED into every touched page and into the
 * untouched one, which revokes (zaps) every other node's mappings of those
 * pages.  Every node then checks:
 *   1. its private write survived the remote write and the zap;
 *   2. the rest of its private copy still holds the contents at copy time;
 *   3. its untouched private page shows the latest cluster contents;
 *   4. the shared mapping shows node 1's writes.
 */
#include "cluster.h"

#define PRIV_MAGIC	0x5052495600000000ULL	/* "PRIV" */
#define SHARED_MAGIC	0x5348524400000000ULL	/* "SHRD" */

int main(int argc, char **argv)
{
	volatile uint64_t *priv, *mypage, *untouched;
	unsigned long bad = 0;
	struct cc c;
	uint64_t before;

	cc_init(&c, argc, argv, 1, NULL);
	if (c.npages < c.nodes + 2)
		cc_die(&c, "share too small: %zu pages, need %u", c.npages, c.nodes + 2);
	priv = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_PRIVATE, c.fd, 0);
	if (priv == MAP_FAILED)
		cc_die(&c, "mmap MAP_PRIVATE: %s", strerror(errno));
	mypage = priv + (c.node - 1) * CC_WORDS;
	untouched = priv + c.nodes * CC_WORDS;

	if (!cc_barrier(&c, 120))
		cc_die(&c, "start barrier");
	/* Node 1 first gives every touched page known contents. */
	if (c.node == 1)
		for (unsigned n = 0; n < c.nodes; n++)
			for (size_t i = 0; i < CC_WORDS; i++)
				cc_page(&c, n)[i] = 0x1111000000000000ULL | (n * CC_WORDS + i);
	if (!cc_barrier(&c, 120))
		cc_die(&c, "barrier");
	/* Read the untouched private page once: maps the file page. */
	before = untouched[0];
	/* The private write (a COW fault: reads the page, then copies it). */
	mypage[0] = PRIV_MAGIC | c.node;
	if (!cc_barrier(&c, 120))
		cc_die(&c, "barrier");
	if (c.node == 1) {
		for (unsigned n = 0; n <= c.nodes; n++)
			cc_page(&c, n)[0] = SHARED_MAGIC | n;
		cc_page(&c, c.nodes)[1] = SHARED_MAGIC | 0xff;
	}
	if (!cc_barrier(&c, 120))
		cc_die(&c, "barrier");

	cc_ok(&c, mypage[0] == (PRIV_MAGIC | c.node),
	      "private write survives the remote write and the zap (%#llx)",
	      (unsigned long long)mypage[0]);
	for (size_t i = 1; i < CC_WORDS; i++)
		if (mypage[i] != (0x1111000000000000ULL | ((c.node - 1) * CC_WORDS + i)))
			bad++;
	cc_ok(&c, bad == 0, "rest of the private copy keeps the copy-time contents (%lu bad)",
	      bad);
	cc_ok(&c, untouched[0] == (SHARED_MAGIC | c.nodes) &&
		  untouched[1] == (SHARED_MAGIC | 0xff),
	      "untouched private page shows the remote write (%#llx, was %#llx)",
	      (unsigned long long)untouched[0], (unsigned long long)before);
	bad = 0;
	for (unsigned n = 0; n <= c.nodes; n++)
		if (cc_page(&c, n)[0] != (SHARED_MAGIC | n))
			bad++;
	cc_ok(&c, bad == 0, "shared mapping shows node 1's writes (%lu bad)", bad);
	cc_barrier(&c, 120);
	munmap((void *)priv, c.size);
	return cc_finish(&c);
}
