// SPDX-License-Identifier: GPL-2.0
/*
 * detach_revoke.bpf.c - two policies that let every fault on the test's
 * file go and count the faults they were asked for, and a syscall program
 * that makes the attached one error out.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 nr_ask;

static __always_inline s64 dr_fault(struct ccmap_fault_ctx *ctx)
{
	if (st_on_target(ctx) && !ctx->recheck)
		__sync_fetch_and_add(&nr_ask, 1);
	return CCMAP_GO;
}

s64 BPF_CCMAP_OPS(dr_fault_a, struct ccmap_fault_ctx *ctx)
{
	return dr_fault(ctx);
}

s64 BPF_CCMAP_OPS(dr_fault_b, struct ccmap_fault_ctx *ctx)
{
	return dr_fault(ctx);
}

SEC("syscall")
int dr_raise_error(struct st_args *a)
{
	ccmap_error("st_detach_revoke: error exit on request");
	return 0;
}

CCMAP_OPS_DEFINE(dr_ops_a,
	.fault = (void *)dr_fault_a,
	.timeout_ms = 5000,
	.name = "st_dr_a");

CCMAP_OPS_DEFINE(dr_ops_b,
	.fault = (void *)dr_fault_b,
	.timeout_ms = 5000,
	.name = "st_dr_b");
