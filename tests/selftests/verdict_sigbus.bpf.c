// SPDX-License-Identifier: GPL-2.0
/*
 * verdict_sigbus.bpf.c - refuses page 1 of the test's file with -EIO and
 * lets everything else go.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 nr_refused;

s64 BPF_CCMAP_OPS(verdict_sigbus_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx) || ctx->pgoff != 1)
		return CCMAP_GO;
	__sync_fetch_and_add(&nr_refused, 1);
	return CCMAP_SIGBUS(EIO);
}

CCMAP_OPS_DEFINE(verdict_sigbus_ops,
	.fault = (void *)verdict_sigbus_fault,
	.name = "st_verdict_sigbus");
