// SPDX-License-Identifier: GPL-2.0
/*
 * no_bypass.bpf.c - a policy that lets every fault go and counts the ones
 * on the test's file.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 nr_ask;

s64 BPF_CCMAP_OPS(nb_fault, struct ccmap_fault_ctx *ctx)
{
	if (st_on_target(ctx) && !ctx->recheck)
		__sync_fetch_and_add(&nr_ask, 1);
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(nb_ops,
	.fault = (void *)nb_fault,
	.name = "st_no_bypass");
