// SPDX-License-Identifier: GPL-2.0
/*
 * replace.bpf.c - two policies that let every fault go and count, each for
 * itself, the faults they answered and their init and exit calls.  The test
 * swaps them through the link while threads keep faulting.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 faults_a, faults_b, inits_a, inits_b, exits_a, exits_b;
CCMAP_UEI_DEFINE(uei_a);
CCMAP_UEI_DEFINE(uei_b);

s64 BPF_CCMAP_OPS(replace_fault_a, struct ccmap_fault_ctx *ctx)
{
	if (st_on_target(ctx))
		__sync_fetch_and_add(&faults_a, 1);
	return CCMAP_GO;
}

s64 BPF_CCMAP_OPS(replace_fault_b, struct ccmap_fault_ctx *ctx)
{
	if (st_on_target(ctx))
		__sync_fetch_and_add(&faults_b, 1);
	return CCMAP_GO;
}

s32 BPF_CCMAP_OPS_SLEEPABLE(replace_init_a)
{
	__sync_fetch_and_add(&inits_a, 1);
	return 0;
}

s32 BPF_CCMAP_OPS_SLEEPABLE(replace_init_b)
{
	__sync_fetch_and_add(&inits_b, 1);
	return 0;
}

void BPF_CCMAP_OPS_SLEEPABLE(replace_exit_a, struct ccmap_exit_info *ei)
{
	__sync_fetch_and_add(&exits_a, 1);
	ccmap_uei_record(&uei_a, ei);
}

void BPF_CCMAP_OPS_SLEEPABLE(replace_exit_b, struct ccmap_exit_info *ei)
{
	__sync_fetch_and_add(&exits_b, 1);
	ccmap_uei_record(&uei_b, ei);
}

/*
 * SIGBUS_ON_DETACH: were there a moment without a policy after a detach,
 * faults would get SIGBUS instead of waiting for the next policy.
 */
CCMAP_OPS_DEFINE(replace_a,
	.fault = (void *)replace_fault_a,
	.init = (void *)replace_init_a,
	.exit = (void *)replace_exit_a,
	.flags = CCMAP_OPS_SIGBUS_ON_DETACH,
	.name = "st_replace_a");

CCMAP_OPS_DEFINE(replace_b,
	.fault = (void *)replace_fault_b,
	.init = (void *)replace_init_b,
	.exit = (void *)replace_exit_b,
	.flags = CCMAP_OPS_SIGBUS_ON_DETACH,
	.name = "st_replace_b");
