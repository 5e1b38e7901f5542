// SPDX-License-Identifier: GPL-2.0
/*
 * cc_msgpass - message passing: data, then a flag on another page.  In
 * round r (ITERS rounds, -i, default 30) node r % NODES + 1 writes the
 * round's pattern into every word of the data pages 0 and 1 and then the
 * round number into the flag word (page 2).  Every other node waits for the
 * flag and checks that it sees the whole message: whoever sees the flag
 * sees the data (sequential consistency across nodes).  Readers then add
 * themselves to the round's ack counter (page 3) and the writer waits for
 * all acks before the next round.
 */
#include "cluster.h"

#define DATA_PAGES	2

static uint64_t pattern(unsigned long r, size_t i)
{
	return (r << 32) | (i * 2654435761u & 0xffffffffu);
}

int main(int argc, char **argv)
{
	volatile uint64_t *flag, *acks;
	unsigned long bad_rounds = 0, rounds, waited = 0;
	struct cc c;
	double t0;

	cc_init(&c, argc, argv, 30, NULL);
	if (c.npages < 5)
		cc_die(&c, "share too small: %zu pages, need 5", c.npages);
	rounds = c.iters;
	flag = &cc_page(&c, DATA_PAGES)[0];
	acks = cc_page(&c, DATA_PAGES + 1);
	if (!cc_barrier(&c, 120))
		cc_die(&c, "start barrier");
	t0 = cc_now();
	for (unsigned long r = 1; r <= rounds; r++) {
		unsigned writer = (unsigned)((r - 1) % c.nodes) + 1;
		double tr = cc_now();

		if (writer == c.node) {
			for (size_t p = 0; p < DATA_PAGES; p++)
				for (size_t i = 0; i < CC_WORDS; i++)
					cc_page(&c, p)[i] = pattern(r, p * CC_WORDS + i);
			__atomic_store_n(flag, r, __ATOMIC_RELEASE);
			while (__atomic_load_n(&acks[r % CC_WORDS], __ATOMIC_ACQUIRE) <
			       (uint64_t)c.nodes - 1) {
				if (cc_now() - tr > 60)
					cc_die(&c, "round %lu: acks missing", r);
				usleep(1000);
			}
			/* ack slots are reused every CC_WORDS rounds: reset ours */
			__atomic_store_n(&acks[r % CC_WORDS], 0, __ATOMIC_RELEASE);
			continue;
		}
		while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) < r) {
			if (cc_now() - tr > 60)
				cc_die(&c, "round %lu: no flag from node %u", r, writer);
			waited++;
			usleep(500);
		}
		if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != r)
			cc_die(&c, "round %lu: flag moved on without our ack", r);
		for (size_t p = 0; p < DATA_PAGES; p++) {
			for (size_t i = 0; i < CC_WORDS; i++) {
				uint64_t v = cc_page(&c, p)[i];

				if (v != pattern(r, p * CC_WORDS + i)) {
					cc_diag(&c, "round %lu: page %zu word %zu is %#llx, want %#llx",
						r, p, i, (unsigned long long)v,
						(unsigned long long)pattern(r, p * CC_WORDS + i));
					bad_rounds++;
					p = DATA_PAGES;
					break;
				}
			}
		}
		__atomic_fetch_add(&acks[r % CC_WORDS], 1, __ATOMIC_ACQ_REL);
	}
	cc_diag(&c, "%lu rounds in %.2f s (%lu polls)", rounds, cc_now() - t0, waited);
	cc_ok(&c, bad_rounds == 0, "flag seen => data seen, %lu rounds, %lu stale", rounds,
	      bad_rounds);
	cc_barrier(&c, 120);
	return cc_finish(&c);
}
