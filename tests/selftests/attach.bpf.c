// SPDX-License-Identifier: GPL-2.0
/*
 * attach.bpf.c - two trivial policies that count their init, exit and
 * fault calls, one of which can be told to fail its init.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 nr_fault_a, nr_fault_b, nr_init_a, nr_init_b, nr_exit_a;
__s32 init_ret_a;
CCMAP_UEI_DEFINE(uei_a);

s64 BPF_CCMAP_OPS(attach_fault_a, struct ccmap_fault_ctx *ctx)
{
	if (st_on_target(ctx))
		__sync_fetch_and_add(&nr_fault_a, 1);
	return CCMAP_GO;
}

s64 BPF_CCMAP_OPS(attach_fault_b, struct ccmap_fault_ctx *ctx)
{
	if (st_on_target(ctx))
		__sync_fetch_and_add(&nr_fault_b, 1);
	return CCMAP_GO;
}

s32 BPF_CCMAP_OPS_SLEEPABLE(attach_init_a)
{
	__sync_fetch_and_add(&nr_init_a, 1);
	return init_ret_a;
}

s32 BPF_CCMAP_OPS_SLEEPABLE(attach_init_b)
{
	__sync_fetch_and_add(&nr_init_b, 1);
	return 0;
}

void BPF_CCMAP_OPS_SLEEPABLE(attach_exit_a, struct ccmap_exit_info *ei)
{
	__sync_fetch_and_add(&nr_exit_a, 1);
	ccmap_uei_record(&uei_a, ei);
}

CCMAP_OPS_DEFINE(attach_a,
	.fault = (void *)attach_fault_a,
	.init = (void *)attach_init_a,
	.exit = (void *)attach_exit_a,
	.name = "st_attach_a");

CCMAP_OPS_DEFINE(attach_b,
	.fault = (void *)attach_fault_b,
	.init = (void *)attach_init_b,
	.name = "st_attach_b");
