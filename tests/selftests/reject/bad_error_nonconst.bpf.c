// SPDX-License-Identifier: GPL-2.0
/*
 * bad_error_nonconst.bpf.c - must be rejected: the reason of
 * bpf_ccmap_error() must be a constant string (a read-only map), not
 * writable memory the reason could change in.
 */
#include "ccmap.bpf.h"

char _license[] SEC("license") = "GPL";

char reason[16];

s64 BPF_CCMAP_OPS(bad_error_nonconst_fault, struct ccmap_fault_ctx *ctx)
{
	bpf_ccmap_error(reason);
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(bad_error_nonconst_ops,
	.fault = (void *)bad_error_nonconst_fault,
	.name = "st_bad_error_nonconst");
