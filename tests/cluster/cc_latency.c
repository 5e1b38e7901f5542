// SPDX-License-Identifier: GPL-2.0
/*
 * cc_latency - remote fault latency benchmark (tools/bench/latency.sh runs
 * it through tools/bench/latency-node.sh).  Every node runs it at once;
 * node 1 is the holder, node 2 the measurer, any other node only joins the
 * barriers.  ITERS (-i, default 128) is the number of pages per phase; the
 * share needs 3 x ITERS + 1 pages (the last one is the control page).
 *
 *   0. untouched read: node 2 loads from pages 2 x ITERS .. 3 x ITERS - 1,
 *                      which no node holds: a page homed on node 2 then
 *                      costs its agent's work alone (no network), a page
 *                      homed on node 1 one request and grant (no forward)
 *   1. node 1 stores into pages 0 .. 2 x ITERS - 1: it holds them E
 *   2. remote read:    node 2 loads word 0 of pages 0 .. ITERS - 1, one
 *                      clock_gettime() pair around each single load (I->S,
 *                      the home downgrades node 1)
 *   3. remote write:   node 2 stores into pages ITERS .. 2 x ITERS - 1 (I->E,
 *                      the home fetches the page from node 1)
 *   4. remote upgrade: node 2 stores into pages 0 .. ITERS - 1, which both
 *                      nodes now hold S (S->E, the home invalidates node 1)
 *   5. node 1 reads every page back and checks node 2's values
 *
 * Each remote fault is filed under the home of its page, (page + SHARE) mod
 * NODES in node-id order, so that pages homed on the measurer and pages
 * homed elsewhere are reported apart.  SHARE is the share's index in the
 * ccmapd configuration (environment CC_LAT_SHARE, default 0).
 *
 * Node 2 also measures, in the same process, a local baseline on an
 * unmanaged file in CC_LAT_DIR (default /tmp, a tmpfs in the guests): a
 * read fault on a page-cache page through a fresh one-page MAP_SHARED
 * mapping (no fault-around), a write fault on a page-cache page through a
 * fresh mapping, a load from a page already mapped (the cost of the timing
 * itself), and a 4 KiB memcpy.
 *
 * Before each timed phase the measurer sleeps SETTLE_US so that the other
 * nodes are parked at the next barrier (they poll a control page they hold,
 * which sends nothing).  Results are "# ... result NAME [home=H] n=N
 * median_us=M p90_us=P" lines; the counter requests_sent (with -c) shows
 * how many coherency requests each phase took.
 */
#include "cluster.h"

#define SETTLE_US	200000
#define MAGIC_N1	0x6c61742d6e310000ULL	/* written by node 1 */
#define MAGIC_N2	0x6c61742d6e320000ULL	/* written by node 2, phase 3 */
#define MAGIC_UP	0x6c61742d75700000ULL	/* written by node 2, phase 4 */
#define HOLDER		1
#define MEASURER	2

static double ts_us(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

/* One load of *p, timed; the value goes to *val. */
static double time_load(volatile uint64_t *p, uint64_t *val)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	*val = *p;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ts_us(&a, &b);
}

/* One store to *p, timed. */
static double time_store(volatile uint64_t *p, uint64_t val)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	*p = val;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ts_us(&a, &b);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Print median and p90 of v[0..n) (sorts v). */
static void report(struct cc *c, const char *name, unsigned home, double *v, size_t n)
{
	char h[32] = "";

	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	if (home)
		snprintf(h, sizeof(h), " home=%u", home);
	cc_diag(c, "result %s%s n=%zu median_us=%.1f p90_us=%.1f", name, h, n, v[n / 2],
		v[(n * 9 + 9) / 10 - 1]);
}

static unsigned home_of(struct cc *c, unsigned share, size_t page)
{
	return (unsigned)((page + share) % c->nodes) + 1;
}

/*
 * Timed accesses to pages [first, first + m): loads when @store is false,
 * else stores of @magic ^ page.  Reports one line per home node; returns
 * how many loads did not see @expect ^ page (0 when @expect is 0).
 */
static unsigned long remote_phase(struct cc *c, const char *name, unsigned share, size_t first,
				  size_t m, bool store, uint64_t magic, uint64_t expect)
{
	double *t = calloc(m, sizeof(*t)), *g = calloc(m, sizeof(*g));
	long long req0, req1;
	unsigned long bad = 0;
	uint64_t v;

	if (!t || !g)
		cc_die(c, "out of memory");
	req0 = cc_stat(c, "requests_sent");
	usleep(SETTLE_US);
	for (size_t i = 0; i < m; i++) {
		volatile uint64_t *w = &cc_page(c, first + i)[0];

		if (store) {
			t[i] = time_store(w, magic ^ (first + i));
		} else {
			t[i] = time_load(w, &v);
			if (v != (expect ? expect ^ (first + i) : 0))
				bad++;
		}
	}
	req1 = cc_stat(c, "requests_sent");
	for (unsigned h = 1; h <= c->nodes; h++) {
		size_t k = 0;

		for (size_t i = 0; i < m; i++)
			if (home_of(c, share, first + i) == h)
				g[k++] = t[i];
		report(c, name, h, g, k);
	}
	if (req0 >= 0 && req1 >= 0)
		cc_diag(c, "%s: %zu accesses, %lld coherency requests sent", name, m, req1 - req0);
	free(t);
	free(g);
	return bad;
}

/* Local baseline on an unmanaged file; returns false on a setup error. */
static bool local_baseline(struct cc *c, size_t m)
{
	const char *dir = getenv("CC_LAT_DIR") && *getenv("CC_LAT_DIR") ? getenv("CC_LAT_DIR")
									 : "/tmp";
	size_t len = m * CC_PAGE;
	double *t = calloc(m, sizeof(*t));
	char path[512], *src = malloc(len), *dst = malloc(CC_PAGE);
	volatile uint64_t *map;
	uint64_t v;
	int fd;

	if (!t || !src || !dst)
		cc_die(c, "out of memory");
	memset(src, 0x5a, len);
	memset(dst, 0, CC_PAGE);
	snprintf(path, sizeof(path), "%s/cc_latency.%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		cc_diag(c, "open %s: %s", path, strerror(errno));
		return false;
	}
	unlink(path);
	if (pwrite(fd, src, len, 0) != (ssize_t)len) {
		cc_diag(c, "pwrite %s: %s", path, strerror(errno));
		close(fd);
		return false;
	}
	/*
	 * read faults: the pages are in the page cache, each has a fresh
	 * one-page mapping of its own (a larger one would let the kernel's
	 * fault-around map up to 16 pages per read fault)
	 */
	for (size_t i = 0; i < m; i++) {
		map = mmap(NULL, CC_PAGE, PROT_READ, MAP_SHARED, fd, (off_t)(i * CC_PAGE));
		if (map == MAP_FAILED)
			cc_die(c, "mmap %s: %s", path, strerror(errno));
		t[i] = time_load(map, &v);
		munmap((void *)map, CC_PAGE);
	}
	report(c, "local_read", 0, t, m);
	/* loads from a page already mapped: what the timing itself costs */
	map = mmap(NULL, CC_PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		cc_die(c, "mmap %s: %s", path, strerror(errno));
	v = *map;
	for (size_t i = 0; i < m; i++)
		t[i] = time_load(map, &v);
	report(c, "hot_load", 0, t, m);
	munmap((void *)map, CC_PAGE);
	/* write faults: same pages, fresh mapping */
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		cc_die(c, "mmap %s: %s", path, strerror(errno));
	for (size_t i = 0; i < m; i++)
		t[i] = time_store(&map[i * CC_WORDS], i);
	report(c, "local_write", 0, t, m);
	munmap((void *)map, len);
	close(fd);
	/* 4 KiB copies from distinct source pages, one timing pair each */
	for (size_t i = 0; i < m; i++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		memcpy(dst, src + i * CC_PAGE, CC_PAGE);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = ts_us(&a, &b);
	}
	report(c, "copy_4k", 0, t, m);
	free(t);
	free(src);
	free(dst);
	return true;
}

int main(int argc, char **argv)
{
	static const char extra[] =
		"  -i ITERS   pages per phase (default 128); the share needs 3 x ITERS + 1 pages\n"
		"  environment: CC_LAT_SHARE (index of the share in the ccmapd configuration,\n"
		"  default 0), CC_LAT_DIR (directory for the local baseline file, default /tmp)\n";
	unsigned share = (unsigned)cc_env_ul("CC_LAT_SHARE", 0);
	unsigned long bad;
	struct cc c;
	size_t m;
	bool ok;

	cc_init(&c, argc, argv, 128, extra);
	m = c.iters;
	if (c.nodes < 2)
		cc_die(&c, "needs at least 2 nodes (node 1 holds, node 2 measures)");
	if (c.npages < 3 * m + 1)
		cc_die(&c, "share too small: %zu pages, need %zu", c.npages, 3 * m + 1);

	if (!cc_barrier(&c, 120))
		cc_die(&c, "start barrier");

	/* 0. read faults on pages nobody holds (the replicas are all zero) */
	bad = 0;
	if (c.node == MEASURER)
		bad = remote_phase(&c, "untouched_read", share, 2 * m, m, false, 0, 0);
	ok = cc_barrier(&c, 120);
	cc_ok(&c, ok && !bad, "read faults on %zu untouched pages (%lu wrong values)", m, bad);

	/* 1. node 1 takes every page E */
	if (c.node == HOLDER)
		for (size_t p = 0; p < 2 * m; p++)
			cc_page(&c, p)[0] = MAGIC_N1 ^ p;
	ok = cc_barrier(&c, 120);
	cc_ok(&c, ok, "node %u wrote %zu pages", HOLDER, 2 * m);

	/* 2. remote read faults */
	bad = 0;
	if (c.node == MEASURER)
		bad = remote_phase(&c, "remote_read", share, 0, m, false, 0, MAGIC_N1);
	ok = cc_barrier(&c, 120);
	cc_ok(&c, ok && !bad, "remote read faults on %zu pages (%lu wrong values)", m, bad);

	/* 3. remote write faults, I->E */
	if (c.node == MEASURER)
		remote_phase(&c, "remote_write", share, m, m, true, MAGIC_N2, 0);
	ok = cc_barrier(&c, 120);
	cc_ok(&c, ok, "remote write faults (I->E) on %zu pages", m);

	/* 4. upgrades, S->E */
	if (c.node == MEASURER)
		remote_phase(&c, "remote_upgrade", share, 0, m, true, MAGIC_UP, 0);
	ok = cc_barrier(&c, 120);
	cc_ok(&c, ok, "remote write faults (S->E) on %zu pages", m);

	/* 5. node 1 checks what node 2 stored; node 2 measures its local baseline */
	bad = 0;
	if (c.node == HOLDER) {
		for (size_t p = 0; p < 2 * m; p++)
			if (cc_page(&c, p)[0] != ((p < m ? MAGIC_UP : MAGIC_N2) ^ p))
				bad++;
		cc_ok(&c, !bad, "node %u sees every store of node %u (%lu wrong)", HOLDER,
		      MEASURER, bad);
	} else if (c.node == MEASURER) {
		cc_ok(&c, local_baseline(&c, m), "local baseline on an unmanaged file");
	}
	/* Nobody may leave before every node has finished. */
	cc_barrier(&c, 120);
	return cc_finish(&c);
}
