// SPDX-License-Identifier: GPL-2.0
/*
 * tp_count.c - a BPF program built with clang-19, skeleton from the tree's
 * bpftool, loaded with the tree's libbpf, counts exactly the forks we make.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "ccmap_test.h"
#include "tp_count.skel.h"

#define NR_FORKS 25

static enum ccmap_test_status tp_count_run(void *ctx)
{
	struct tp_count *skel;
	enum ccmap_test_status st = CCMAP_TEST_FAIL;
	int i;

	(void)ctx;
	skel = tp_count__open();
	CCMAP_ASSERT(skel, "open: %s", strerror(errno));
	skel->rodata->target_tgid = getpid();
	if (tp_count__load(skel) || tp_count__attach(skel)) {
		CCMAP_ERR("load/attach: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < NR_FORKS; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			CCMAP_ERR("fork: %s", strerror(errno));
			goto out;
		}
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
	if (skel->bss->forks != NR_FORKS) {
		CCMAP_ERR("counted %llu forks, made %d",
			  (unsigned long long)skel->bss->forks, NR_FORKS);
		goto out;
	}
	st = CCMAP_TEST_PASS;
out:
	tp_count__destroy(skel);
	return st;
}

static struct ccmap_test tp_count_test = {
	.name = "tp_count",
	.description = "toolchain: a tracepoint program counts exactly our forks",
	.run = tp_count_run,
};
REGISTER_CCMAP_TEST(tp_count_test)
