// SPDX-License-Identifier: GPL-2.0
/*
 * runner.c - runs the registered ccmap selftests and prints TAP lines.
 *
 * Usage: ccmap-selftests [-t NAME] [-l] [-h]
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "ccmap_test.h"

#define MAX_TESTS 128

static struct ccmap_test *tests[MAX_TESTS];
static unsigned int nr_tests;

void ccmap_test_register(struct ccmap_test *test)
{
	if (nr_tests >= MAX_TESTS) {
		fprintf(stderr, "runner: too many tests (max %d)\n", MAX_TESTS);
		exit(2);
	}
	tests[nr_tests++] = test;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ccmap-selftests [-t NAME] [-l] [-h]\n"
		"Runs the ccmap kernel selftests in this (test) kernel and prints\n"
		"one TAP line per test.\n"
		"  -t NAME  run only tests whose name contains NAME; =NAME: only\n"
		"           the test called NAME\n"
		"  -l       list the tests and what they check\n"
		"  -h       this text\n"
		"Exit status: 0 when no test failed, 1 otherwise, 2 on usage errors.\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static enum ccmap_test_status run_one(struct ccmap_test *t)
{
	enum ccmap_test_status st;
	void *ctx = NULL;

	if (t->setup) {
		st = t->setup(&ctx);
		if (st != CCMAP_TEST_PASS)
			return st;
	}
	st = t->run(ctx);
	if (t->cleanup)
		t->cleanup(ctx);
	return st;
}

int main(int argc, char **argv)
{
	unsigned int i, n = 0, failed = 0, passed = 0, skipped = 0;
	const char *filter = NULL;
	bool list = false;
	int opt;

	while ((opt = getopt(argc, argv, "t:lh")) != -1) {
		switch (opt) {
		case 't':
			filter = optarg;
			break;
		case 'l':
			list = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ccmap-selftests: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	for (i = 0; i < nr_tests; i++) {
		struct ccmap_test *t = tests[i];
		enum ccmap_test_status st;
		double t0;

		if (filter && (filter[0] == '=' ? strcmp(t->name, filter + 1) :
			       !strstr(t->name, filter)))
			continue;
		n++;
		if (list) {
			printf("%-28s %s\n", t->name, t->description);
			continue;
		}
		printf("# %s: %s\n", t->name, t->description);
		fflush(stdout);
		t0 = now_s();
		st = run_one(t);
		switch (st) {
		case CCMAP_TEST_PASS:
			printf("ok %u - %s (%.2fs)\n", n, t->name, now_s() - t0);
			passed++;
			break;
		case CCMAP_TEST_SKIP:
			printf("ok %u - %s # SKIP\n", n, t->name);
			skipped++;
			break;
		default:
			printf("not ok %u - %s\n", n, t->name);
			failed++;
			break;
		}
		fflush(stdout);
	}
	if (!list)
		printf("# selftests: %u passed, %u skipped, %u failed\n",
		       passed, skipped, failed);
	if (n == 0 && filter) {
		fprintf(stderr, "ccmap-selftests: no test matches '%s'\n", filter);
		return 2;
	}
	return failed ? 1 : 0;
}
