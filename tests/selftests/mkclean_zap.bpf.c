// SPDX-License-Identifier: GPL-2.0
/*
 * mkclean_zap.bpf.c - lets every fault go; counts those on the test's file
 * and keeps the page and access of the last one.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 nr_fault, last_pgoff;
__u32 last_access;

s64 BPF_CCMAP_OPS(mkclean_zap_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx))
		return CCMAP_GO;
	last_pgoff = ctx->pgoff;
	last_access = ctx->access;
	__sync_fetch_and_add(&nr_fault, 1);
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(mkclean_zap_ops,
	.fault = (void *)mkclean_zap_fault,
	.name = "st_mkclean_zap");
