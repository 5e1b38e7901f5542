// SPDX-License-Identifier: GPL-2.0
/*
 * sigbus_on_detach.bpf.c - two policies that make every page of the test's
 * file wait until @granted is set: one with CCMAP_OPS_SIGBUS_ON_DETACH, one
 * without.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define SOD_TIMEOUT_MS	3000

__u32 granted;
__u64 nr_ask;

static __always_inline s64 sod_fault(struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx))
		return CCMAP_GO;
	if (!ctx->recheck)
		__sync_fetch_and_add(&nr_ask, 1);
	if (READ_ONCE(granted))
		return CCMAP_GO;
	return ccmap_fault_key(ctx);
}

s64 BPF_CCMAP_OPS(sod_sigbus_fault, struct ccmap_fault_ctx *ctx)
{
	return sod_fault(ctx);
}

s64 BPF_CCMAP_OPS(sod_wait_fault, struct ccmap_fault_ctx *ctx)
{
	return sod_fault(ctx);
}

CCMAP_OPS_DEFINE(sod_sigbus_ops,
	.fault = (void *)sod_sigbus_fault,
	.flags = CCMAP_OPS_SIGBUS_ON_DETACH,
	.timeout_ms = SOD_TIMEOUT_MS,
	.name = "st_sod_sigbus");

CCMAP_OPS_DEFINE(sod_wait_ops,
	.fault = (void *)sod_wait_fault,
	.timeout_ms = SOD_TIMEOUT_MS,
	.name = "st_sod_wait");
