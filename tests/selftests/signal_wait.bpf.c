// SPDX-License-Identifier: GPL-2.0
/*
 * signal_wait.bpf.c - every page of the test's file waits until its bit in
 * @granted is set by grant_and_wake.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define SIGNAL_TIMEOUT_MS	4000

__u32 granted;
/* first calls, go verdicts, by page (pages 0 and 1) */
__u64 nr_ask[2], nr_go[2];

s64 BPF_CCMAP_OPS(signal_wait_fault, struct ccmap_fault_ctx *ctx)
{
	__u32 pg = ctx->pgoff & 1;

	if (!st_on_target(ctx) || ctx->pgoff > 1)
		return CCMAP_GO;
	if (!ctx->recheck)
		__sync_fetch_and_add(&nr_ask[pg], 1);
	if (READ_ONCE(granted) & (1u << pg)) {
		__sync_fetch_and_add(&nr_go[pg], 1);
		return CCMAP_GO;
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

CCMAP_OPS_DEFINE(signal_wait_ops,
	.fault = (void *)signal_wait_fault,
	.timeout_ms = SIGNAL_TIMEOUT_MS,
	.name = "st_signal_wait");
