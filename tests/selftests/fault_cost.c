// SPDX-License-Identifier: GPL-2.0
/*
 * fault_cost.c - a measurement, not a timed test: what a fault costs on a
 * share whose pages are already granted (the policy looks the page up in a
 * hash map and lets it go) compared with the same fault on an unmanaged
 * tmpfs file, in the same run.  Both files are mapped MAP_SHARED; each round
 * drops the PTEs (MADV_DONTNEED, not timed) and touches every page once,
 * of both files, which one first alternating; the minor faults of each
 * round are counted with getrusage(RUSAGE_THREAD).  Reported: the median
 * cost per fault of each file and the median of the per-round ratios (the
 * two halves of a round run back to back, under the same host load).
 * Fault-around (which maps up to 16 pages per read fault of the plain file,
 * never for a share) is switched off for the duration when debugfs allows.
 * Prints "# measure:" lines; fails only if the measurement goes wrong.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <bpf/bpf.h>

#include "util.h"
#include "fault_cost.skel.h"

#define NR_PAGES	512
#define NR_ROUNDS	11
#define FAULT_AROUND	"/sys/kernel/debug/fault_around_bytes"

struct fault_cost_ctx {
	struct fault_cost *skel;
	struct st_share share;	/* managed */
	struct st_share plain;	/* unmanaged tmpfs */
	struct bpf_link *link;
	long fault_around;	/* to restore; -1 if untouched */
};

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f)
		return -errno;
	err = fprintf(f, "%ld\n", v) < 0 ? -EIO : 0;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static void fault_cost_cleanup(void *arg)
{
	struct fault_cost_ctx *c = arg;

	if (c->fault_around >= 0 &&
	    write_long(FAULT_AROUND, c->fault_around))
		CCMAP_ERR("cannot restore %s to %ld", FAULT_AROUND,
			  c->fault_around);
	st_link_destroy(&c->link);
	st_share_close(&c->plain);
	st_share_close(&c->share);
	fault_cost__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status fault_cost_setup(void **arg)
{
	struct fault_cost_ctx *c = calloc(1, sizeof(*c));

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	c->fault_around = -1;
	c->skel = fault_cost__open_and_load();
	if (!c->skel) {
		CCMAP_ERR("open_and_load: %s", strerror(errno));
		goto fail;
	}
	if (st_share_open(&c->share, "/tmp", NR_PAGES,
			  c->skel->progs.st_manage_prog, true) ||
	    st_share_open(&c->plain, "/tmp", NR_PAGES, NULL, true))
		goto fail;
	c->skel->bss->st_target_dev = c->share.dev;
	c->skel->bss->st_target_ino = c->share.ino;
	return CCMAP_TEST_PASS;
fail:
	fault_cost_cleanup(c);
	return CCMAP_TEST_FAIL;
}

static long minflt(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) ? -1 : ru.ru_minflt;
}

/*
 * One round on one file: drop the PTEs, touch every page.  Returns the
 * seconds per fault, or a negative value on error; *@faults gets the count.
 */
static double fault_cost_round(char *map, bool write, long *faults)
{
	volatile unsigned char sink = 0;
	long f0, f1;
	double t0, t1;
	unsigned int i;

	if (madvise(map, NR_PAGES * ST_PAGE, MADV_DONTNEED))
		return -1;
	f0 = minflt();
	t0 = st_now();
	for (i = 0; i < NR_PAGES; i++) {
		volatile unsigned char *p = (unsigned char *)map + i * ST_PAGE;

		if (write)
			*p = 'W';
		else
			sink += *p;
	}
	t1 = st_now();
	f1 = minflt();
	(void)sink;
	*faults = f1 - f0;
	return f0 < 0 || f1 <= f0 ? -1 : (t1 - t0) / (f1 - f0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static enum ccmap_test_status measure(struct fault_cost_ctx *c, bool write,
				      const char *around)
{
	double share[NR_ROUNDS], plain[NR_ROUNDS], ratio[NR_ROUNDS];
	long fs, fp, fp_total = 0;
	__u64 asked;
	unsigned int r;

	for (r = 0; r < NR_ROUNDS; r++) {
		asked = c->skel->bss->nr_fault;
		/* Alternate which file goes first. */
		if (r & 1)
			plain[r] = fault_cost_round(c->plain.map, write, &fp);
		share[r] = fault_cost_round(c->share.map, write, &fs);
		if (!(r & 1))
			plain[r] = fault_cost_round(c->plain.map, write, &fp);
		CCMAP_ASSERT(share[r] > 0 && plain[r] > 0, "round %u failed", r);
		/* Each page of the share faulted once and was granted. */
		CCMAP_ASSERT(fs == NR_PAGES &&
			     c->skel->bss->nr_fault - asked == NR_PAGES,
			     "share round: %ld faults, %llu asked, want %d", fs,
			     (unsigned long long)(c->skel->bss->nr_fault - asked),
			     NR_PAGES);
		fp_total += fp;
		/* Adjacent rounds share the host's load: compare within one. */
		ratio[r] = share[r] / plain[r];
	}
	CCMAP_ASSERT(!c->skel->bss->nr_wait, "the policy made %llu faults wait",
		     (unsigned long long)c->skel->bss->nr_wait);
	qsort(share, NR_ROUNDS, sizeof(share[0]), cmp_double);
	qsort(plain, NR_ROUNDS, sizeof(plain[0]), cmp_double);
	qsort(ratio, NR_ROUNDS, sizeof(ratio[0]), cmp_double);
	printf("# measure: fault_cost %s: granted share %.2f us/fault, unmanaged tmpfs %.2f us/fault (%.1f faults per %d pages, fault-around %s); ratio %.2f (median of %d rounds, range %.2f-%.2f)\n",
	       write ? "write" : "read", share[NR_ROUNDS / 2] * 1e6,
	       plain[NR_ROUNDS / 2] * 1e6, (double)fp_total / NR_ROUNDS,
	       NR_PAGES, around, ratio[NR_ROUNDS / 2], NR_ROUNDS, ratio[0],
	       ratio[NR_ROUNDS - 1]);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status fault_cost_run(void *arg)
{
	struct fault_cost_ctx *c = arg;
	enum ccmap_test_status st;
	const char *around = "on";
	struct {
		__u32 share, reserved;
		__u64 pgoff;
	} key = { };
	/* struct fault_cost_page of fault_cost.bpf.c: granted E */
	struct {
		struct bpf_spin_lock lock;
		__u32 state;
	} val = { .state = 2 };
	int fd = bpf_map__fd(c->skel->maps.pages);

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	/* Every page granted E before the policy runs. */
	for (key.pgoff = 0; key.pgoff < NR_PAGES; key.pgoff++)
		CCMAP_ASSERT(!bpf_map_update_elem(fd, &key, &val, BPF_ANY),
			     "grant page %llu: %s",
			     (unsigned long long)key.pgoff, strerror(errno));
	c->link = st_attach(c->skel->maps.fault_cost_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	/* One PTE per fault on the plain file too, like on the share. */
	c->fault_around = read_long(FAULT_AROUND);
	if (c->fault_around >= 0) {
		if (write_long(FAULT_AROUND, ST_PAGE_SIZE))
			c->fault_around = -1;
		else
			around = "off";
	}

	st = measure(c, false, around);
	if (st != CCMAP_TEST_PASS)
		return st;
	return measure(c, true, around);
}

static struct ccmap_test fault_cost_test = {
	.name = "fault_cost",
	.description = "measure: fault on a granted share vs. an unmanaged tmpfs file",
	.setup = fault_cost_setup,
	.run = fault_cost_run,
	.cleanup = fault_cost_cleanup,
};
REGISTER_CCMAP_TEST(fault_cost_test)
