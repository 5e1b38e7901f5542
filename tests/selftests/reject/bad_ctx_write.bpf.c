// SPDX-License-Identifier: GPL-2.0
/*
 * bad_ctx_write.bpf.c - must be rejected: ops.fault writes to its context
 * ("only read is supported": struct_ops ccmap_ops has no btf_struct_access).
 */
#include "ccmap.bpf.h"

char _license[] SEC("license") = "GPL";

s64 BPF_CCMAP_OPS(bad_ctx_write_fault, struct ccmap_fault_ctx *ctx)
{
	ctx->pgoff = 7;
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(bad_ctx_write_ops,
	.fault = (void *)bad_ctx_write_fault,
	.name = "st_bad_ctx_write");
