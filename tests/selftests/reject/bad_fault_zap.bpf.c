// SPDX-License-Identifier: GPL-2.0
/*
 * bad_fault_zap.bpf.c - must be rejected: ops.fault (non-sleeping, runs
 * under the folio lock) calls the sleeping kfunc bpf_ccmap_zap().
 */
#include "ccmap.bpf.h"

char _license[] SEC("license") = "GPL";

s64 BPF_CCMAP_OPS(bad_fault_zap_fault, struct ccmap_fault_ctx *ctx)
{
	bpf_ccmap_zap(0, ctx->pgoff * 4096, 4096);
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(bad_fault_zap_ops,
	.fault = (void *)bad_fault_zap_fault,
	.name = "st_bad_fault_zap");
