// SPDX-License-Identifier: GPL-2.0
/*
 * locked_wait.c - a fault that cannot drop the mmap lock is bounded by a
 * short limit (1 s), not by the policy's deadline (5 s here): pread() of
 * /proc/self/mem at a share page the policy never grants waits in GUP
 * holding the mmap lock for reading.  Another thread then calls mmap(),
 * which queues for the lock for writing (and, with a writer queued, every
 * other fault of the process would queue behind it too).  The pread must
 * fail with EIO after about a second and the mmap() must complete right
 * after it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"
#include "locked_wait.skel.h"

#define NR_PAGES	2
#define LOCKED_S	1.0	/* mm/ccmap.c: CCMAP_LOCKED_WAIT_MS */
#define DEADLINE_S	5.0	/* the default timeout_ms */
#define LATE_S		2.5

struct locked_wait_ctx {
	struct locked_wait *skel;
	struct st_share share;
	struct bpf_link *link;
	int mem_fd;
	pthread_t reader, mapper;
	bool reader_started, mapper_started;
	volatile int read_done, map_done;
	ssize_t n;
	int err;
	double t_start, t_read, t_map;
};

static void locked_wait_cleanup(void *arg)
{
	struct locked_wait_ctx *c = arg;

	if (c->reader_started)
		pthread_join(c->reader, NULL);
	if (c->mapper_started)
		pthread_join(c->mapper, NULL);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	if (c->mem_fd > 0)
		close(c->mem_fd);
	locked_wait__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(locked_wait, NR_PAGES, locked_wait_cleanup)

static void *lw_reader(void *arg)
{
	struct locked_wait_ctx *c = arg;
	unsigned char buf[64];

	c->n = pread(c->mem_fd, buf, sizeof(buf), (off_t)(uintptr_t)c->share.map);
	c->err = c->n < 0 ? errno : 0;
	c->t_read = st_now();
	__atomic_store_n(&c->read_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *lw_mapper(void *arg)
{
	struct locked_wait_ctx *c = arg;
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	c->t_map = st_now();
	if (p != MAP_FAILED)
		munmap(p, 4096);
	__atomic_store_n(&c->map_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static enum ccmap_test_status locked_wait_run(void *arg)
{
	struct locked_wait_ctx *c = arg;
	struct st_stats s0, s1;
	int err;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->mem_fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	CCMAP_ASSERT(c->mem_fd > 0, "open /proc/self/mem: %s", strerror(errno));
	c->link = st_attach(c->skel->maps.lw_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_stats_read(&s0), "stats");

	c->t_start = st_now();
	err = pthread_create(&c->reader, NULL, lw_reader, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->reader_started = true;
	/* The reader holds the mmap lock: map nothing here until it ends. */
	CCMAP_ASSERT(!st_wait_nr_waiting(1, 3000), "the GUP fault does not wait");
	err = pthread_create(&c->mapper, NULL, lw_mapper, c);
	CCMAP_ASSERT(!err, "pthread_create: %s", strerror(err));
	c->mapper_started = true;

	pthread_join(c->reader, NULL);
	c->reader_started = false;
	pthread_join(c->mapper, NULL);
	c->mapper_started = false;
	CCMAP_ASSERT(!st_stats_read(&s1), "stats");
	printf("# pread: %s after %.3fs; the queued mmap() completed after %.3fs (deadline %.0fs)\n",
	       c->err ? strerror(c->err) : "data", c->t_read - c->t_start,
	       c->t_map - c->t_start, DEADLINE_S);
	CCMAP_ASSERT(c->n < 0 && c->err == EIO, "pread: %zd, %s; want EIO", c->n,
		     strerror(c->err));
	CCMAP_ASSERT(c->t_read - c->t_start >= LOCKED_S * 0.9,
		     "EIO after %.3fs, before the limit", c->t_read - c->t_start);
	CCMAP_ASSERT(c->t_read - c->t_start < LATE_S,
		     "the fault held the mmap lock for %.3fs", c->t_read - c->t_start);
	CCMAP_ASSERT(c->t_map - c->t_start < LATE_S,
		     "the queued mmap() waited %.3fs", c->t_map - c->t_start);
	CCMAP_ASSERT(s1.timeouts - s0.timeouts == 1, "timeouts +%llu, want 1",
		     s1.timeouts - s0.timeouts);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test locked_wait_test = {
	.name = "locked_wait",
	.description = "a fault that cannot drop the mmap lock waits at most 1 s; a queued mmap() gets the lock right after",
	.setup = locked_wait_setup,
	.run = locked_wait_run,
	.cleanup = locked_wait_cleanup,
};
REGISTER_CCMAP_TEST(locked_wait_test)
