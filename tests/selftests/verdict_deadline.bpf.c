// SPDX-License-Identifier: GPL-2.0
/*
 * verdict_deadline.bpf.c - page 0 of the test's file always waits for key
 * 1, which nobody wakes; page 1 goes.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

s64 BPF_CCMAP_OPS(verdict_deadline_fault, struct ccmap_fault_ctx *ctx)
{
	if (st_on_target(ctx) && ctx->pgoff == 0)
		return 1;
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(verdict_deadline_ops,
	.fault = (void *)verdict_deadline_fault,
	.timeout_ms = 300,
	.name = "st_verdict_deadline");
