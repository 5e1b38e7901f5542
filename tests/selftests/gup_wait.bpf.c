// SPDX-License-Identifier: GPL-2.0
/*
 * gup_wait.bpf.c - every page of the test's file waits until its bit in
 * @granted is set (by grant_and_wake for page 0, never for the others).
 * Keeps the fault flags of the first call that was told to wait.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define GUP_TIMEOUT_MS	1000

__u32 granted;
/* first calls, recheck calls, go verdicts */
__u64 nr_ask, nr_recheck, nr_go;
__u32 wait_flags;
__u64 wait_pgoff;

s64 BPF_CCMAP_OPS(gup_wait_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx))
		return CCMAP_GO;
	if (ctx->recheck)
		__sync_fetch_and_add(&nr_recheck, 1);
	else
		__sync_fetch_and_add(&nr_ask, 1);
	if (ctx->pgoff < 32 && (READ_ONCE(granted) & (1u << ctx->pgoff))) {
		__sync_fetch_and_add(&nr_go, 1);
		return CCMAP_GO;
	}
	if (!ctx->recheck) {
		wait_flags = ctx->fault_flags;
		wait_pgoff = ctx->pgoff;
	}
	return ccmap_fault_key(ctx);
}

SEC("syscall")
int grant_and_wake(struct st_args *a)
{
	/* State first, then the wake: the woken fault asks again. */
	__sync_fetch_and_or(&granted, 1u << (a->page & 31));
	a->ret = bpf_ccmap_wake(ccmap_page_key(st_target_dev, st_target_ino,
					       a->page));
	return 0;
}

CCMAP_OPS_DEFINE(gup_wait_ops,
	.fault = (void *)gup_wait_fault,
	.timeout_ms = GUP_TIMEOUT_MS,
	.name = "st_gup_wait");
