// SPDX-License-Identifier: GPL-2.0
/*
 * no_bypass.c - the ways to map, pin or write file pages that do not go
 * through the fault hooks are refused on a share (tmpfs), while they work
 * on a plain tmpfs file of the same kind (the control: it shows the kernel
 * has the feature, so the refusal is ccmap's):
 *
 *  - userfaultfd: UFFDIO_REGISTER of a share mapping fails with EINVAL
 *    (UFFDIO_CONTINUE/COPY would install PTEs the policy never saw);
 *  - THP: MADV_COLLAPSE of a PMD-aligned 2 MiB share mapping fails with
 *    EINVAL (a PMD would map 512 pages without asking);
 *  - long-term writable pins: io_uring's IORING_REGISTER_BUFFERS (GUP-fast
 *    with FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE) of a share mapping fails
 *    with EFAULT (a pin would keep writing after a revoke).
 */
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"
#include "no_bypass.skel.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define HPAGE		(2u << 20)
#define HPAGE_PAGES	(HPAGE / ST_PAGE_SIZE)

struct no_bypass_ctx {
	struct no_bypass *skel;
	struct bpf_link *link;
	struct st_share share;		/* managed */
	struct st_share plain;		/* the control: not managed */
};

static void no_bypass_cleanup(void *arg)
{
	struct no_bypass_ctx *c = arg;

	st_link_destroy(&c->link);
	st_share_close(&c->plain);
	st_share_close(&c->share);
	no_bypass__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status no_bypass_setup(void **arg)
{
	struct no_bypass_ctx *c = calloc(1, sizeof(*c));

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	ST_OPEN_SKEL_SHARE(c, no_bypass, HPAGE_PAGES, false);
	if (st_share_open(&c->plain, "/tmp", HPAGE_PAGES, NULL, false))
		goto fail;
	c->link = st_attach(c->skel->maps.nb_ops);
	if (!c->link) {
		CCMAP_ERR("attach: %s", strerror(errno));
		goto fail;
	}
	return CCMAP_TEST_PASS;
fail:
	no_bypass_cleanup(c);
	return CCMAP_TEST_FAIL;
}

/*
 * Maps all of @s shared at a 2 MiB aligned address and touches every page.
 * Sets s->map; NULL on error.
 */
static char *nb_map_aligned(struct st_share *s)
{
	size_t len = (size_t)s->npages * ST_PAGE;
	uintptr_t aligned;
	char *res, *p;
	unsigned int i;

	res = mmap(NULL, len + HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (res == MAP_FAILED) {
		CCMAP_ERR("mmap: %s", strerror(errno));
		return NULL;
	}
	aligned = ((uintptr_t)res + HPAGE - 1) & ~(uintptr_t)(HPAGE - 1);
	/* Give back what the aligned mapping does not use. */
	if (aligned > (uintptr_t)res)
		munmap(res, aligned - (uintptr_t)res);
	munmap((char *)aligned + len, (uintptr_t)res + len + HPAGE - aligned - len);
	p = mmap((void *)aligned, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, s->fd, 0);
	if (p == MAP_FAILED) {
		CCMAP_ERR("mmap fixed: %s", strerror(errno));
		munmap((void *)aligned, len);
		return NULL;
	}
	for (i = 0; i < s->npages; i++)
		(void)*(volatile char *)(p + i * ST_PAGE);
	s->map = p;
	return p;
}

/* UFFDIO_REGISTER of @len bytes at @p: 0 or -errno. */
static int nb_uffd_register(void *p, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd, err = 0;

	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg))
		err = -errno;
	close(fd);
	return err;
}

/* IORING_REGISTER_BUFFERS of one page at @p: 0 or -errno. */
static int nb_uring_register(void *p)
{
	struct io_uring_params params = { };
	struct iovec iov = { .iov_base = p, .iov_len = ST_PAGE };
	int fd, err = 0;

	fd = (int)syscall(__NR_io_uring_setup, 4, &params);
	if (fd < 0)
		return -errno;
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_BUFFERS, &iov, 1))
		err = -errno;
	close(fd);
	return err;
}

static const char *nb_res(int err)
{
	return err ? strerror(-err) : "ok";
}

static enum ccmap_test_status no_bypass_run(void *arg)
{
	struct no_bypass_ctx *c = arg;
	size_t len = HPAGE;
	int err, ctl;

	CCMAP_ASSERT(nb_map_aligned(&c->share), "map the share");
	CCMAP_ASSERT(nb_map_aligned(&c->plain), "map the control file");
	CCMAP_ASSERT(c->skel->bss->nr_ask >= HPAGE_PAGES,
		     "the policy saw %llu of %u faults",
		     (unsigned long long)c->skel->bss->nr_ask, HPAGE_PAGES);

	ctl = nb_uffd_register(c->plain.map, len);
	err = nb_uffd_register(c->share.map, len);
	printf("# userfaultfd register: control %s, share %s\n", nb_res(ctl),
	       nb_res(err));
	CCMAP_ASSERT(!ctl, "userfaultfd does not work on tmpfs: %s", nb_res(ctl));
	CCMAP_ASSERT(err == -EINVAL, "userfaultfd on a share: %s, want EINVAL",
		     nb_res(err));

	ctl = nb_uring_register(c->plain.map);
	err = nb_uring_register(c->share.map);
	printf("# io_uring fixed buffer: control %s, share %s\n", nb_res(ctl),
	       nb_res(err));
	CCMAP_ASSERT(!ctl, "io_uring buffers do not work on tmpfs: %s", nb_res(ctl));
	CCMAP_ASSERT(err == -EFAULT, "long-term writable pin of a share: %s, want EFAULT",
		     nb_res(err));

	ctl = madvise(c->plain.map, len, MADV_COLLAPSE) ? -errno : 0;
	err = madvise(c->share.map, len, MADV_COLLAPSE) ? -errno : 0;
	printf("# MADV_COLLAPSE: control %s, share %s\n", nb_res(ctl), nb_res(err));
	if (ctl)
		printf("# the control did not collapse (%s): only the refusal is checked\n",
		       nb_res(ctl));
	CCMAP_ASSERT(err == -EINVAL, "MADV_COLLAPSE of a share: %s, want EINVAL",
		     nb_res(err));
	/* Still one page per fault: a store after a zap asks the policy. */
	return CCMAP_TEST_PASS;
}

static struct ccmap_test no_bypass_test = {
	.name = "no_bypass",
	.description = "userfaultfd, MADV_COLLAPSE and long-term writable pins are refused on a tmpfs share",
	.setup = no_bypass_setup,
	.run = no_bypass_run,
	.cleanup = no_bypass_cleanup,
};
REGISTER_CCMAP_TEST(no_bypass_test)
