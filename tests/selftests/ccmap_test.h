/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ccmap_test.h - the in-guest selftest framework (one test = one .bpf.c/.c
 * pair, registered with REGISTER_CCMAP_TEST and run by runner.c).
 */
#ifndef CCMAP_TEST_H
#define CCMAP_TEST_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum ccmap_test_status {
	CCMAP_TEST_PASS,
	CCMAP_TEST_SKIP,
	CCMAP_TEST_FAIL,
};

struct ccmap_test {
	const char *name;
	const char *description;
	/* Optional: prepares @ctx; a non-PASS result skips run and cleanup. */
	enum ccmap_test_status (*setup)(void **ctx);
	enum ccmap_test_status (*run)(void *ctx);
	/* Optional: always called after a successful setup. */
	void (*cleanup)(void *ctx);
};

void ccmap_test_register(struct ccmap_test *test);

#define REGISTER_CCMAP_TEST(__test)					\
	__attribute__((constructor)) static void __ccmap_reg_##__test(void) \
	{								\
		ccmap_test_register(&(__test));				\
	}

/* Prints the failed condition with its location and fails the test. */
#define CCMAP_ASSERT(cond, fmt, ...)					\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "  FAIL %s:%d: %s: " fmt "\n",	\
				__FILE__, __LINE__, #cond, ##__VA_ARGS__); \
			return CCMAP_TEST_FAIL;				\
		}							\
	} while (0)

#define CCMAP_ERR(fmt, ...)						\
	fprintf(stderr, "  ERR %s:%d: " fmt "\n", __FILE__, __LINE__,	\
		##__VA_ARGS__)

#endif /* CCMAP_TEST_H */
