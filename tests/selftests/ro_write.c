// SPDX-License-Identifier: GPL-2.0
/*
 * ro_write.c - on a share, a read fault maps the page read-only, so the
 * first store to it faults again and asks for CCMAP_ACC_WRITE (tmpfs: the
 * wp_page_shared() path ccmap adds; ext4: ->page_mkwrite), while a store
 * to an unmapped page asks for WRITE at once (do_shared_fault()).  Every
 * fault maps one page: no fault-around.  On tmpfs and on ext4 (a loop
 * device).  The policy logs every fault on the test's file.
 */
#include <stdlib.h>
#include <unistd.h>

#include "util.h"
#include "ro_write.skel.h"

#define NR_PAGES	4

struct ro_write_ctx {
	struct ro_write *skel;
	struct st_share share;
	struct bpf_link *link;
	bool ext4;
};

static void ro_write_cleanup(void *arg)
{
	struct ro_write_ctx *c = arg;

	st_link_destroy(&c->link);
	st_share_close(&c->share);
	if (c->ext4)
		st_ext4_umount();
	ro_write__destroy(c->skel);
	free(c);
}

static enum ccmap_test_status ro_write_setup(void **arg)
{
	struct ro_write_ctx *c = calloc(1, sizeof(*c));

	CCMAP_ASSERT(c, "calloc");
	*arg = c;
	c->skel = ro_write__open_and_load();
	if (!c->skel) {
		CCMAP_ERR("open_and_load: %s", strerror(errno));
		goto fail;
	}
	return CCMAP_TEST_PASS;
fail:
	ro_write_cleanup(c);
	return CCMAP_TEST_FAIL;
}

/*
 * Does the access, then checks the policy logged exactly @nr faults for it
 * (0 or 1), with @pgoff and @access.
 */
static enum ccmap_test_status expect(struct ro_write_ctx *c, const char *fs,
				     const char *what, unsigned int pgoff,
				     bool write, unsigned int nr,
				     unsigned int access)
{
	struct ro_write__bss *bss = c->skel->bss;
	char *addr = c->share.map + pgoff * ST_PAGE;
	__u32 n0 = bss->nr_log;
	unsigned char v;
	int err;

	if (write)
		err = st_write8(addr, 'W');
	else
		err = st_read8(addr, &v);
	CCMAP_ASSERT(!err, "%s: %s: SIGBUS", fs, what);
	CCMAP_ASSERT(write || v == st_fill(pgoff) || v == 'W',
		     "%s: %s: read '%c'", fs, what, v);
	CCMAP_ASSERT(bss->nr_log - n0 == nr, "%s: %s: %u faults, want %u", fs,
		     what, bss->nr_log - n0, nr);
	if (nr) {
		const struct st_fault_rec *r = &bss->fault_log[n0 %
			(sizeof(bss->fault_log) / sizeof(bss->fault_log[0]))];

		CCMAP_ASSERT(r->pgoff == pgoff && r->access == access,
			     "%s: %s: fault on page %llu for access %u, want page %u access %u",
			     fs, what, (unsigned long long)r->pgoff, r->access,
			     pgoff, access);
	}
	return CCMAP_TEST_PASS;
}

#define EXPECT(...)							\
	do {								\
		enum ccmap_test_status __st = expect(c, fs, __VA_ARGS__); \
		if (__st != CCMAP_TEST_PASS)				\
			return __st;					\
	} while (0)

static enum ccmap_test_status ro_write_fs(struct ro_write_ctx *c,
					  const char *fs, const char *dir)
{
	unsigned char v;

	CCMAP_ASSERT(!st_share_open(&c->share, dir, NR_PAGES,
				    c->skel->progs.st_manage_prog, true),
		     "%s: share in %s", fs, dir);
	c->skel->bss->st_target_dev = c->share.dev;
	c->skel->bss->st_target_ino = c->share.ino;

	/* Read, then write the same page: two faults. */
	EXPECT("read p0", 0, false, 1, CCMAP_ACC_READ);
	EXPECT("read p0 again", 0, false, 0, 0);
	EXPECT("write p0 (mapped read-only)", 0, true, 1, CCMAP_ACC_WRITE);
	EXPECT("write p0 again", 0, true, 0, 0);
	EXPECT("read p0 (mapped writable)", 0, false, 0, 0);
	/* Write an unmapped page: one fault, for WRITE. */
	EXPECT("write p2", 2, true, 1, CCMAP_ACC_WRITE);
	EXPECT("read p2", 2, false, 0, 0);
	/* Neighbours were not mapped around p0 and p2. */
	EXPECT("read p1", 1, false, 1, CCMAP_ACC_READ);
	EXPECT("read p3", 3, false, 1, CCMAP_ACC_READ);

	/* The stores reached the file. */
	CCMAP_ASSERT(pread(c->share.fd, &v, 1, 0) == 1 && v == 'W',
		     "%s: file byte 0 is '%c'", fs, v);
	CCMAP_ASSERT(pread(c->share.fd, &v, 1, 2 * ST_PAGE) == 1 && v == 'W',
		     "%s: file page 2 byte 0 is '%c'", fs, v);
	st_share_close(&c->share);
	return CCMAP_TEST_PASS;
}

static enum ccmap_test_status ro_write_run(void *arg)
{
	struct ro_write_ctx *c = arg;
	enum ccmap_test_status st;
	char dir[128];

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	c->link = st_attach(c->skel->maps.ro_write_ops);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));

	st = ro_write_fs(c, "tmpfs", "/tmp");
	if (st != CCMAP_TEST_PASS)
		return st;

	CCMAP_ASSERT(!st_ext4_mount(dir, sizeof(dir)), "ext4 scratch mount");
	c->ext4 = true;
	st = ro_write_fs(c, "ext4", dir);
	if (st != CCMAP_TEST_PASS)
		return st;
	return CCMAP_TEST_PASS;
}

static struct ccmap_test ro_write_test = {
	.name = "ro_write",
	.description = "read faults map read-only, the first store asks for WRITE (tmpfs, ext4)",
	.setup = ro_write_setup,
	.run = ro_write_run,
	.cleanup = ro_write_cleanup,
};
REGISTER_CCMAP_TEST(ro_write_test)
