// SPDX-License-Identifier: GPL-2.0
/*
 * attach.c - a policy is loaded, attached, answers faults, refuses a second
 * policy with -EBUSY, is detached (exit kind UNREG everywhere), attached
 * again; a failing ops.init() refuses the attach (ERROR_INIT).
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "util.h"
#include "attach.skel.h"

struct attach_ctx {
	struct attach *skel;
	struct st_share share;
	struct bpf_link *link;
	struct bpf_link *link2;
};

static void attach_cleanup(void *arg)
{
	struct attach_ctx *c = arg;

	st_link_destroy(&c->link2);
	st_link_destroy(&c->link);
	st_share_close(&c->share);
	attach__destroy(c->skel);
	free(c);
}

ST_DEFINE_SETUP(attach, 1, attach_cleanup)

/* Drops the PTE and reads the page again: one fault. */
static int refault(struct attach_ctx *c)
{
	unsigned char v;

	if (madvise(c->share.map, ST_PAGE, MADV_DONTNEED))
		return -errno;
	if (st_read8(c->share.map, &v))
		return -EFAULT;
	return v == st_fill(0) ? 0 : -EIO;
}

static enum ccmap_test_status attach_run(void *arg)
{
	struct attach_ctx *c = arg;
	struct attach__bss *bss = c->skel->bss;
	unsigned long long seq0, seq;
	struct st_exit ex;
	char buf[80];
	int err;

	CCMAP_ASSERT(st_no_policy(), "a policy is attached before the test");
	CCMAP_ASSERT(!st_sysfs_ull("enable_seq", &seq0), "enable_seq");

	/* Attach: published, init ran once, faults are asked. */
	c->link = st_attach(c->skel->maps.attach_a);
	CCMAP_ASSERT(c->link, "attach: %s", strerror(errno));
	CCMAP_ASSERT(!st_sysfs_str("state", buf, sizeof(buf)) &&
		     !strcmp(buf, "enabled"), "state '%s'", buf);
	CCMAP_ASSERT(!st_sysfs_str("ops", buf, sizeof(buf)) &&
		     !strcmp(buf, "st_attach_a"), "ops '%s'", buf);
	CCMAP_ASSERT(!st_sysfs_ull("enable_seq", &seq) && seq == seq0 + 1,
		     "enable_seq %llu, was %llu", seq, seq0);
	CCMAP_ASSERT(bss->nr_init_a == 1, "init calls %llu",
		     (unsigned long long)bss->nr_init_a);
	CCMAP_ASSERT(c->skel->data->uei_a.kind == 0, "exit kind %d before exit",
		     c->skel->data->uei_a.kind);
	CCMAP_ASSERT(!refault(c), "read through the policy");
	CCMAP_ASSERT(bss->nr_fault_a == 1, "policy saw %llu faults, want 1",
		     (unsigned long long)bss->nr_fault_a);

	/* A second policy is refused and leaves the first alone. */
	c->link2 = st_attach(c->skel->maps.attach_b);
	err = errno;
	CCMAP_ASSERT(!c->link2 && err == EBUSY, "second attach: %s",
		     c->link2 ? "attached" : strerror(err));
	CCMAP_ASSERT(bss->nr_init_b == 0, "refused policy's init ran");
	CCMAP_ASSERT(!st_sysfs_str("ops", buf, sizeof(buf)) &&
		     !strcmp(buf, "st_attach_a"), "ops '%s'", buf);
	CCMAP_ASSERT(!refault(c) && bss->nr_fault_a == 2 && bss->nr_fault_b == 0,
		     "faults a %llu b %llu after the refused attach",
		     (unsigned long long)bss->nr_fault_a,
		     (unsigned long long)bss->nr_fault_b);

	/* Detach: EPOLLHUP, exit kind UNREG in sysfs and in ops.exit. */
	CCMAP_ASSERT(!bpf_link__detach(c->link), "detach: %s", strerror(errno));
	CCMAP_ASSERT(!st_wait_hup(c->link, 1000), "no EPOLLHUP after detach");
	CCMAP_ASSERT(st_no_policy(), "still attached after detach");
	CCMAP_ASSERT(!st_exit_read(&ex), "exit info");
	CCMAP_ASSERT(ex.kind == CCMAP_EXIT_UNREG &&
		     !strcmp(ex.kind_str, "unregistered") &&
		     !strcmp(ex.ops, "st_attach_a") &&
		     !strcmp(ex.reason, "detached from user space"),
		     "sysfs exit '%s %d' ops '%s' reason '%s'", ex.kind_str,
		     ex.kind, ex.ops, ex.reason);
	CCMAP_ASSERT(bss->nr_exit_a == 1, "exit calls %llu",
		     (unsigned long long)bss->nr_exit_a);
	CCMAP_ASSERT(c->skel->data->uei_a.kind == CCMAP_EXIT_UNREG &&
		     !strcmp(c->skel->data->uei_a.name, "st_attach_a") &&
		     !strcmp(c->skel->data->uei_a.reason, "detached from user space"),
		     "ops.exit saw kind %d name '%s' reason '%s'",
		     c->skel->data->uei_a.kind, c->skel->data->uei_a.name,
		     c->skel->data->uei_a.reason);
	st_link_destroy(&c->link);

	/* Re-attach the same policy: init again, a new enable sequence. */
	c->link = st_attach(c->skel->maps.attach_a);
	CCMAP_ASSERT(c->link, "re-attach: %s", strerror(errno));
	CCMAP_ASSERT(bss->nr_init_a == 2, "init calls %llu",
		     (unsigned long long)bss->nr_init_a);
	CCMAP_ASSERT(!st_sysfs_ull("enable_seq", &seq) && seq == seq0 + 2,
		     "enable_seq %llu, was %llu", seq, seq0);
	CCMAP_ASSERT(!refault(c) && bss->nr_fault_a == 3,
		     "re-attached policy saw %llu faults, want 3",
		     (unsigned long long)bss->nr_fault_a);
	st_link_destroy(&c->link);
	CCMAP_ASSERT(st_no_policy(), "attached after destroying the link");

	/* With the slot free, the other policy attaches and answers. */
	c->link2 = st_attach(c->skel->maps.attach_b);
	CCMAP_ASSERT(c->link2, "attach b: %s", strerror(errno));
	CCMAP_ASSERT(!st_sysfs_str("ops", buf, sizeof(buf)) &&
		     !strcmp(buf, "st_attach_b"), "ops '%s'", buf);
	CCMAP_ASSERT(!refault(c) && bss->nr_fault_b == 1 && bss->nr_fault_a == 3,
		     "faults a %llu b %llu",
		     (unsigned long long)bss->nr_fault_a,
		     (unsigned long long)bss->nr_fault_b);
	st_link_destroy(&c->link2);

	/* A failing ops.init() refuses the attach and is reported. */
	bss->init_ret_a = -EIO;
	c->link = st_attach(c->skel->maps.attach_a);
	err = errno;
	bss->init_ret_a = 0;
	CCMAP_ASSERT(!c->link && err == EIO, "attach with failing init: %s",
		     c->link ? "attached" : strerror(err));
	CCMAP_ASSERT(st_no_policy(), "attached although init failed");
	CCMAP_ASSERT(!st_exit_read(&ex), "exit info");
	CCMAP_ASSERT(ex.kind == CCMAP_EXIT_ERROR_INIT &&
		     !strcmp(ex.kind_str, "error_init") &&
		     !strcmp(ex.ops, "st_attach_a") &&
		     strstr(ex.reason, "-5"),
		     "sysfs exit '%s %d' ops '%s' reason '%s'", ex.kind_str,
		     ex.kind, ex.ops, ex.reason);
	CCMAP_ASSERT(c->skel->data->uei_a.kind == CCMAP_EXIT_ERROR_INIT,
		     "ops.exit saw kind %d", c->skel->data->uei_a.kind);
	return CCMAP_TEST_PASS;
}

static struct ccmap_test attach_test = {
	.name = "attach",
	.description = "attach, -EBUSY second attach, detach (UNREG), re-attach, failing init",
	.setup = attach_setup,
	.run = attach_run,
	.cleanup = attach_cleanup,
};
REGISTER_CCMAP_TEST(attach_test)
