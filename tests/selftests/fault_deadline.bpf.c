// SPDX-License-Identifier: GPL-2.0
/*
 * fault_deadline.bpf.c - a policy that never grants the test's file (every
 * fault waits for its page's key, which it records), and one that answers
 * every call with a new key.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define FD_TIMEOUT_MS	1000

__u64 last_key;
__u64 nr_ask;
__u64 nr_recheck;
__u64 next_key = 1000;

s64 BPF_CCMAP_OPS(fd_never_fault, struct ccmap_fault_ctx *ctx)
{
	__u64 key;

	if (!st_on_target(ctx))
		return CCMAP_GO;
	if (ctx->recheck)
		__sync_fetch_and_add(&nr_recheck, 1);
	else
		__sync_fetch_and_add(&nr_ask, 1);
	key = ccmap_fault_key(ctx);
	WRITE_ONCE(last_key, key);
	return key;
}

s64 BPF_CCMAP_OPS(fd_fresh_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx))
		return CCMAP_GO;
	__sync_fetch_and_add(&nr_ask, 1);
	return __sync_fetch_and_add(&next_key, 1);
}

CCMAP_OPS_DEFINE(fd_never_ops,
	.fault = (void *)fd_never_fault,
	.timeout_ms = FD_TIMEOUT_MS,
	.name = "st_fd_never");

CCMAP_OPS_DEFINE(fd_fresh_ops,
	.fault = (void *)fd_fresh_fault,
	.timeout_ms = FD_TIMEOUT_MS,
	.name = "st_fd_fresh");
