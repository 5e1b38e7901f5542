// SPDX-License-Identifier: GPL-2.0
/*
 * stall_exit.bpf.c - while @stall is set, page 0 of the test's file waits
 * for a key nobody wakes, and the policy never calls bpf_ccmap_wake().
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

int stall = 1;
CCMAP_UEI_DEFINE(uei);

s64 BPF_CCMAP_OPS(stall_exit_fault, struct ccmap_fault_ctx *ctx)
{
	if (stall && st_on_target(ctx) && ctx->pgoff == 0)
		return ccmap_fault_key(ctx);
	return CCMAP_GO;
}

void BPF_CCMAP_OPS_SLEEPABLE(stall_exit_exit, struct ccmap_exit_info *ei)
{
	ccmap_uei_record(&uei, ei);
}

CCMAP_OPS_DEFINE(stall_exit_ops,
	.fault = (void *)stall_exit_fault,
	.exit = (void *)stall_exit_exit,
	.timeout_ms = 300,
	.name = "st_stall_exit");
