// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: config parser from memory, overrides, canonical format.
 *
 * Input: a config file.  Its first line (if short) is also applied as a
 * command-line override.  Oracles besides the sanitizers:
 *   - every error message starts with "<file>:" or "override '";
 *   - an accepted config formats to text that parses back and formats to
 *     the same text (no value is lost or changed by parse/format).
 *
 * Build: clang-19 -fsanitize=fuzzer,address,undefined -Iloader/include \
 *          loader/lib/\*.c tests/fuzz/fuzz_config.c -lcrypto -lz
 */
#include <ccmap/config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_err(const struct ccmap_cfg_err *e)
{
	if (strncmp(e->msg, "fz.conf", 7) && strncmp(e->msg, "override '", 10)) {
		fprintf(stderr, "error message without location: '%s'\n", e->msg);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ccmap_config c, c2;
	static char f1[16384], f2[16384];
	struct ccmap_cfg_err e;
	char ov[256];
	size_t ol = 0;
	int n1, n2;

	ccmap_config_defaults(&c);
	if (ccmap_config_parse_mem(&c, "fz.conf", (const char *)data, size, &e)) {
		check_err(&e);
		return 0;
	}
	while (ol < size && ol < sizeof(ov) - 1 && data[ol] != '\n' && data[ol])
		ol++;
	memcpy(ov, data, ol);
	ov[ol] = 0;
	if (ccmap_config_override(&c, ov, &e))
		check_err(&e);
	if (ccmap_config_finish(&c, &e)) {
		check_err(&e);
		return 0;
	}
	n1 = ccmap_config_format(&c, f1, sizeof(f1));
	if (n1 < 0)
		abort();
	ccmap_config_defaults(&c2);
	if (ccmap_config_parse_mem(&c2, "fz.conf", f1, (size_t)n1, &e) ||
	    ccmap_config_finish(&c2, &e)) {
		fprintf(stderr, "formatted config does not parse: %s\n---\n%s", e.msg, f1);
		abort();
	}
	n2 = ccmap_config_format(&c2, f2, sizeof(f2));
	if (n1 != n2 || memcmp(f1, f2, (size_t)n1)) {
		fprintf(stderr, "format not stable:\n%s---\n%s", f1, f2);
		abort();
	}
	if (ccmap_config_members(&c) != ccmap_config_members(&c2))
		abort();
	return 0;
}
