// SPDX-License-Identifier: GPL-2.0
/*
 * reject.c - the verifier refuses what a ccmap policy must not do.  Each
 * object in <build>/bpf/reject/ (from tests/selftests/reject/) must fail to
 * load in the named program with the expected reason in the verifier log,
 * while the control twins in reject.bpf.c load.
 */
#include <stdarg.h>
#include <stdlib.h>

#include "util.h"
#include "reject.skel.h"

#define LOG_SIZE	(256 * 1024)

static const struct reject_case {
	const char *obj;	/* <build>/bpf/reject/<obj>.bpf.o */
	const char *prog;	/* the program the verifier refuses */
	const char *reason;	/* in the verifier log */
} reject_cases[] = {
	{ "bad_ctx_write", "bad_ctx_write_fault",
	  "only read is supported" },
	{ "bad_fault_zap", "bad_fault_zap_fault",
	  "calling kernel function bpf_ccmap_zap is not allowed" },
	{ "bad_init_manage", "bad_init_manage_init",
	  "calling kernel function bpf_ccmap_manage is not allowed" },
	{ "bad_sleepable_fault", "bad_sleepable_fault",
	  "attach to unsupported member fault of struct ccmap_ops" },
	{ "bad_error_nonconst", "bad_error_nonconst_fault",
	  "does not point to a readonly map" },
	{ "bad_tcp_cc_kfunc", "bad_cc_init",
	  "calling kernel function bpf_ccmap_wake is not allowed" },
	{ "bad_tracing_kfunc", "bad_tracing_fork",
	  "calling kernel function bpf_ccmap_wake is not allowed" },
};

/* libbpf's messages, which carry the verifier log of a failed load. */
static char *reject_log;
static size_t reject_log_len;

static int reject_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG || reject_log_len >= LOG_SIZE - 1)
		return 0;
	n = vsnprintf(reject_log + reject_log_len, LOG_SIZE - reject_log_len,
		      fmt, ap);
	if (n > 0)
		reject_log_len += (size_t)n < LOG_SIZE - reject_log_len ?
				  (size_t)n : LOG_SIZE - 1 - reject_log_len;
	return 0;
}

/* Loads one object: 0 if it failed the expected way. */
static int reject_one(const struct reject_case *rc)
{
	char path[512], failed[160];
	struct bpf_object *obj;
	libbpf_print_fn_t old;
	int err;

	err = st_build_path("bpf/reject/", path, sizeof(path));
	if (err)
		return err;
	strncat(path, rc->obj, sizeof(path) - strlen(path) - 1);
	strncat(path, ".bpf.o", sizeof(path) - strlen(path) - 1);
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		CCMAP_ERR("open %s: %s", path, strerror(errno));
		return -ENOENT;
	}
	reject_log_len = 0;
	reject_log[0] = '\0';
	old = libbpf_set_print(reject_print);
	err = bpf_object__load(obj);
	libbpf_set_print(old);
	bpf_object__close(obj);

	snprintf(failed, sizeof(failed), "prog '%s': BPF program load failed",
		 rc->prog);
	if (!err || !strstr(reject_log, failed) ||
	    !strstr(reject_log, rc->reason)) {
		CCMAP_ERR("%s: load returned %d; want program %s refused with \"%s\"; libbpf said:\n%s",
			  rc->obj, err, rc->prog, rc->reason, reject_log);
		return -EINVAL;
	}
	printf("# %s: %s refused: %s\n", rc->obj, rc->prog, rc->reason);
	return 0;
}

static enum ccmap_test_status reject_run(void *arg)
{
	struct reject *skel;
	unsigned int i, failed = 0;

	(void)arg;
	/* The allowed twins load (nothing is attached). */
	skel = reject__open_and_load();
	CCMAP_ASSERT(skel, "control programs do not load: %s", strerror(errno));
	reject__destroy(skel);

	reject_log = malloc(LOG_SIZE);
	CCMAP_ASSERT(reject_log, "malloc");
	for (i = 0; i < sizeof(reject_cases) / sizeof(reject_cases[0]); i++)
		if (reject_one(&reject_cases[i]))
			failed++;
	free(reject_log);
	reject_log = NULL;
	CCMAP_ASSERT(!failed, "%u of %zu objects were not refused as expected",
		     failed, sizeof(reject_cases) / sizeof(reject_cases[0]));
	CCMAP_ASSERT(st_no_policy(), "a policy is attached after the test");
	return CCMAP_TEST_PASS;
}

static struct ccmap_test reject_test = {
	.name = "reject",
	.description = "verifier refuses ctx writes, sleeping kfuncs in ops, ccmap kfuncs elsewhere",
	.run = reject_run,
};
REGISTER_CCMAP_TEST(reject_test)
