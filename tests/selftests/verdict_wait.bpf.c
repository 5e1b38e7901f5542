// SPDX-License-Identifier: GPL-2.0
/*
 * verdict_wait.bpf.c - page 0 of the test's file waits until the
 * grant_and_wake syscall program grants it.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u32 granted;
__u64 last_key;
/* first calls, recheck calls, go verdicts */
__u64 nr_ask, nr_recheck, nr_go;

s64 BPF_CCMAP_OPS(verdict_wait_fault, struct ccmap_fault_ctx *ctx)
{
	__u64 key;

	if (!st_on_target(ctx))
		return CCMAP_GO;
	if (ctx->recheck)
		__sync_fetch_and_add(&nr_recheck, 1);
	else
		__sync_fetch_and_add(&nr_ask, 1);
	if (ctx->pgoff != 0 || READ_ONCE(granted)) {
		__sync_fetch_and_add(&nr_go, 1);
		return CCMAP_GO;
	}
	key = ccmap_fault_key(ctx);
	last_key = key;
	return key;
}

SEC("syscall")
int grant_and_wake(struct st_args *a)
{
	/* State first, then the wake: the woken fault asks again. */
	WRITE_ONCE(granted, 1);
	a->ret = bpf_ccmap_wake(ccmap_page_key(st_target_dev, st_target_ino, 0));
	return 0;
}

CCMAP_OPS_DEFINE(verdict_wait_ops,
	.fault = (void *)verdict_wait_fault,
	.name = "st_verdict_wait");
