// SPDX-License-Identifier: GPL-2.0
/*
 * verdict_go.bpf.c - lets every fault go and keeps a copy of the context of
 * the last fault on the test's file.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

__u64 nr_fault;
struct st_fault_rec last;

s64 BPF_CCMAP_OPS(verdict_go_fault, struct ccmap_fault_ctx *ctx)
{
	if (!st_on_target(ctx))
		return CCMAP_GO;
	last.dev = ctx->dev;
	last.ino = ctx->ino;
	last.pgoff = ctx->pgoff;
	last.access = ctx->access;
	last.fault_flags = ctx->fault_flags;
	last.tgid = ctx->tgid;
	last.pid = ctx->pid;
	last.recheck = ctx->recheck;
	__sync_fetch_and_add(&nr_fault, 1);
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(verdict_go_ops,
	.fault = (void *)verdict_go_fault,
	.name = "st_verdict_go");
