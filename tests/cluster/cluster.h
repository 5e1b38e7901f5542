/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the cluster test programs (tests/cluster/cc_*.c).  Each
 * program runs on every node at the same time (tests/cluster/run.sh), maps
 * one share of the running ccmapd, and prints TAP: "1..N", then "ok N - ..."
 * or "not ok N - ...", and "# ..." diagnostics.  It exits 0 only when every
 * test passed.
 *
 * Common options:
 *   -n NODE      this node's id (1..NODES)          (default $CCMAP_NODE)
 *   -N NODES     number of nodes                    (default $CCMAP_NODES)
 *   -f FILE      the share's replica                (required)
 *   -s SIZE      its size in bytes                  (required)
 *   -i ITERS     work per node (program-specific)
 *   -c SOCKET    ccmapd's control socket            (for ccmapctl)
 *   -C PATH      the ccmapctl binary
 *
 * The last page of the share is the control page: barriers are counters in
 * it, updated with atomics through the share itself (so every barrier also
 * exercises the coherency protocol).  Barrier k uses word k.
 */
#ifndef CCMAP_CLUSTER_H
#define CCMAP_CLUSTER_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CC_PAGE		4096UL
#define CC_WORDS	(CC_PAGE / sizeof(uint64_t))

struct cc {
	unsigned node, nodes;
	const char *file;
	size_t size, npages;
	unsigned long iters;
	const char *ctl_sock, *ctl_bin;
	int fd;
	volatile uint64_t *map;		/* MAP_SHARED of the whole share */
	volatile uint64_t *ctl;		/* its last page */
	unsigned next_barrier;
	unsigned tap_n, tap_fail;
	const char *prog;
};

static inline double cc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 2, 3), noreturn))
static inline void cc_die(struct cc *c, const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! %s: ", c->prog);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(2);
}

__attribute__((format(printf, 3, 4)))
static inline bool cc_ok(struct cc *c, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %u - node %u: ", ok ? "" : "not ", ++c->tap_n, c->node);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		c->tap_fail++;
	return ok;
}

__attribute__((format(printf, 2, 3)))
static inline void cc_diag(struct cc *c, const char *fmt, ...)
{
	va_list ap;

	printf("# %s node %u: ", c->prog, c->node);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline unsigned long cc_env_ul(const char *name, unsigned long dfl)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 10) : dfl;
}

static inline void cc_usage(const char *prog, const char *extra)
{
	fprintf(stderr,
		"usage: %s -f FILE -s SIZE [-n NODE] [-N NODES] [-i ITERS] [-c SOCKET] "
		"[-C CCMAPCTL]\n%s", prog, extra ? extra : "");
}

/* Parse the common options and map the share.  Returns 0 or exits. */
static inline void cc_init(struct cc *c, int argc, char **argv, unsigned long dfl_iters,
			   const char *extra_usage)
{
	int opt;

	memset(c, 0, sizeof(*c));
	c->prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	c->node = (unsigned)cc_env_ul("CCMAP_NODE", 1);
	c->nodes = (unsigned)cc_env_ul("CCMAP_NODES", 1);
	c->iters = dfl_iters;
	c->ctl_bin = "ccmapctl";
	while ((opt = getopt(argc, argv, "n:N:f:s:i:c:C:h")) != -1) {
		switch (opt) {
		case 'n': c->node = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'N': c->nodes = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'f': c->file = optarg; break;
		case 's': c->size = strtoul(optarg, NULL, 0); break;
		case 'i': c->iters = strtoul(optarg, NULL, 10); break;
		case 'c': c->ctl_sock = optarg; break;
		case 'C': c->ctl_bin = optarg; break;
		case 'h': cc_usage(c->prog, extra_usage); exit(0);
		default: cc_usage(c->prog, extra_usage); exit(2);
		}
	}
	if (!c->file || c->size < 2 * CC_PAGE || c->size % CC_PAGE || c->node < 1 ||
	    c->node > c->nodes || c->nodes > 64 || c->iters == 0) {
		cc_usage(c->prog, extra_usage);
		exit(2);
	}
	c->npages = c->size / CC_PAGE;
	c->fd = open(c->file, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		cc_die(c, "open %s: %s", c->file, strerror(errno));
	c->map = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	if (c->map == MAP_FAILED)
		cc_die(c, "mmap %s: %s", c->file, strerror(errno));
	c->ctl = c->map + (c->npages - 1) * CC_WORDS;
}

/* Page @p of the share as words. */
static inline volatile uint64_t *cc_page(struct cc *c, size_t p)
{
	return c->map + p * CC_WORDS;
}

/* Wait until every node arrived at the next barrier (at most @limit s). */
static inline bool cc_barrier(struct cc *c, double limit)
{
	unsigned k = c->next_barrier++;
	volatile uint64_t *w = &c->ctl[k % CC_WORDS];
	double t0 = cc_now();

	__atomic_fetch_add(w, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(w, __ATOMIC_SEQ_CST) < c->nodes) {
		if (cc_now() - t0 > limit) {
			cc_diag(c, "barrier %u: only %llu of %u nodes after %.0f s", k,
				(unsigned long long)*w, c->nodes, limit);
			return false;
		}
		usleep(2000);
	}
	return true;
}

/* Value of counter @name of "ccmapctl stats" (needs -c), or -1. */
static inline long long cc_stat(struct cc *c, const char *name)
{
	char cmd[512], line[128];
	long long v = -1;
	FILE *p;

	if (!c->ctl_sock)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s -s %s stat %s", c->ctl_bin, c->ctl_sock, name);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (fgets(line, sizeof(line), p))
		v = strtoll(line, NULL, 10);
	if (pclose(p) != 0)
		v = -1;
	return v;
}

static inline int cc_finish(struct cc *c)
{
	printf("1..%u\n", c->tap_n);
	printf("# %s node %u: %u passed, %u failed\n", c->prog, c->node,
	       c->tap_n - c->tap_fail, c->tap_fail);
	fflush(stdout);
	munmap((void *)c->map, c->size);
	close(c->fd);
	return c->tap_fail ? 1 : 0;
}

/* xorshift64*: a cheap per-node random sequence. */
static inline uint64_t cc_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

#endif /* CCMAP_CLUSTER_H */
