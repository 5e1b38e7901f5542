// SPDX-License-Identifier: GPL-2.0
/*
 * private_zap.bpf.c - lets every fault go, counting faults (and COW faults)
 * per page of the test's file.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define PRIVATE_ZAP_PAGES	4

__u64 faults[PRIVATE_ZAP_PAGES];
__u64 cow[PRIVATE_ZAP_PAGES];
__u32 last_access;

s64 BPF_CCMAP_OPS(private_zap_fault, struct ccmap_fault_ctx *ctx)
{
	__u64 pg = ctx->pgoff;

	if (!st_on_target(ctx) || pg >= PRIVATE_ZAP_PAGES)
		return CCMAP_GO;
	__sync_fetch_and_add(&faults[pg], 1);
	if (ctx->access == CCMAP_ACC_COW)
		__sync_fetch_and_add(&cow[pg], 1);
	last_access = ctx->access;
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(private_zap_ops,
	.fault = (void *)private_zap_fault,
	.name = "st_private_zap");
