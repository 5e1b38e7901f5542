// SPDX-License-Identifier: GPL-2.0
/*
 * notify_mkclean.bpf.c - lets every fault go, counting those on the test's
 * file by access and keeping the last page; logs every ops.mkclean() call
 * for the test's file.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define NOTIFY_MKCLEAN_LOG	64

__u64 nr_read, nr_write, last_pgoff;
__u32 nr_mkclean;
struct st_page_rec mkclean_log[NOTIFY_MKCLEAN_LOG];

s64 BPF_CCMAP_OPS(notify_mkclean_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx))
		return CCMAP_GO;
	last_pgoff = ctx->pgoff;
	if (ccmap_is_write(ctx))
		__sync_fetch_and_add(&nr_write, 1);
	else
		__sync_fetch_and_add(&nr_read, 1);
	return CCMAP_GO;
}

void BPF_CCMAP_OPS(notify_mkclean_mkclean, struct ccmap_page_ctx *ctx)
{
	__u32 i;

	if (ctx->dev != st_target_dev || ctx->ino != st_target_ino)
		return;
	i = __sync_fetch_and_add(&nr_mkclean, 1) % NOTIFY_MKCLEAN_LOG;
	mkclean_log[i].pgoff = ctx->pgoff;
	mkclean_log[i].nr = ctx->nr;
	mkclean_log[i].flags = ctx->flags;
}

SEC("syscall")
int writeback_prog(struct st_args *a)
{
	a->ret = bpf_ccmap_writeback(a->fd, a->off, a->len);
	return 0;
}

CCMAP_OPS_DEFINE(notify_mkclean_ops,
	.fault = (void *)notify_mkclean_fault,
	.mkclean = (void *)notify_mkclean_mkclean,
	.name = "st_notify_mkclean");
