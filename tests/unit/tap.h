/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tap.h - the TAP output of the host unit tests (one test program = one
 * translation unit including this once).
 */
#ifndef CCMAP_TAP_H
#define CCMAP_TAP_H

#include <stdbool.h>
#include <stdio.h>

static int tests, failures;

/* OK(cond, fmt, ...): one "ok N - ..." or "not ok N - ..." line. */
#define OK(cond, ...) do { \
	bool ok_ = (cond); \
	tests++; \
	if (ok_) { printf("ok %d - ", tests); } \
	else { failures++; printf("not ok %d - ", tests); } \
	printf(__VA_ARGS__); printf("\n"); \
	if (!ok_) printf("#   at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
} while (0)

#endif /* CCMAP_TAP_H */
