// SPDX-License-Identifier: GPL-2.0
/*
 * error_exit.bpf.c - a policy that errors out on request: from a syscall
 * program, from ops.fault on page 1, or with an invalid verdict on page 1.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define ERR_PAGE		1
#define MODE_ERROR		1
#define MODE_BAD_VERDICT	2

int mode;
__u64 nr_exit;
CCMAP_UEI_DEFINE(uei);

s64 BPF_CCMAP_OPS(error_exit_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx) || ctx->pgoff != ERR_PAGE)
		return CCMAP_GO;
	if (mode == MODE_ERROR) {
		ccmap_error("st_error_exit: error from ops.fault");
		return CCMAP_SIGBUS(EIO);
	}
	if (mode == MODE_BAD_VERDICT)
		return -100000;
	return CCMAP_GO;
}

void BPF_CCMAP_OPS_SLEEPABLE(error_exit_exit, struct ccmap_exit_info *ei)
{
	__sync_fetch_and_add(&nr_exit, 1);
	ccmap_uei_record(&uei, ei);
}

SEC("syscall")
int raise_error(struct st_args *a)
{
	ccmap_error("st_error_exit: error from a syscall program");
	return 0;
}

CCMAP_OPS_DEFINE(error_exit_ops,
	.fault = (void *)error_exit_fault,
	.exit = (void *)error_exit_exit,
	.timeout_ms = 3000,
	.name = "st_error_exit");
