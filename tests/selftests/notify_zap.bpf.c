// SPDX-License-Identifier: GPL-2.0
/*
 * notify_zap.bpf.c - lets every fault go (and counts those on the test's
 * file by access) and logs every ops.zap() call for the test's file.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define NOTIFY_ZAP_LOG	64

__u64 nr_read, nr_write;
__u32 nr_zap;
struct st_page_rec zap_log[NOTIFY_ZAP_LOG];

s64 BPF_CCMAP_OPS(notify_zap_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx))
		return CCMAP_GO;
	if (ccmap_is_write(ctx))
		__sync_fetch_and_add(&nr_write, 1);
	else
		__sync_fetch_and_add(&nr_read, 1);
	return CCMAP_GO;
}

void BPF_CCMAP_OPS(notify_zap_zap, struct ccmap_page_ctx *ctx)
{
	__u32 i;

	if (ctx->dev != st_target_dev || ctx->ino != st_target_ino)
		return;
	i = __sync_fetch_and_add(&nr_zap, 1) % NOTIFY_ZAP_LOG;
	zap_log[i].pgoff = ctx->pgoff;
	zap_log[i].nr = ctx->nr;
	zap_log[i].flags = ctx->flags;
}

SEC("syscall")
int invalidate_prog(struct st_args *a)
{
	a->ret = bpf_ccmap_invalidate(a->fd, a->off, a->len);
	return 0;
}

CCMAP_OPS_DEFINE(notify_zap_ops,
	.fault = (void *)notify_zap_fault,
	.zap = (void *)notify_zap_zap,
	.name = "st_notify_zap");
