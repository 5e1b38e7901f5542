// SPDX-License-Identifier: GPL-2.0
/*
 * locked_wait.bpf.c - a policy that never grants the test's file, with the
 * default deadline (5 s).
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 nr_ask;

s64 BPF_CCMAP_OPS(lw_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx))
		return CCMAP_GO;
	if (!ctx->recheck)
		__sync_fetch_and_add(&nr_ask, 1);
	return ccmap_fault_key(ctx);
}

CCMAP_OPS_DEFINE(lw_ops,
	.fault = (void *)lw_fault,
	.name = "st_locked_wait");
