// SPDX-License-Identifier: GPL-2.0
/*
 * ro_write.bpf.c - lets every fault go and logs those on the test's file.
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

#define RO_WRITE_LOG	64

__u32 nr_log;
struct st_fault_rec fault_log[RO_WRITE_LOG];

s64 BPF_CCMAP_OPS(ro_write_fault, struct ccmap_fault_ctx *ctx)
{
	__u32 i;

	if (!st_on_target(ctx))
		return CCMAP_GO;
	i = __sync_fetch_and_add(&nr_log, 1) % RO_WRITE_LOG;
	fault_log[i].dev = ctx->dev;
	fault_log[i].ino = ctx->ino;
	fault_log[i].pgoff = ctx->pgoff;
	fault_log[i].access = ctx->access;
	fault_log[i].pid = ctx->pid;
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(ro_write_ops,
	.fault = (void *)ro_write_fault,
	.name = "st_ro_write");
