// SPDX-License-Identifier: GPL-2.0
/*
 * bad_sleepable_fault.bpf.c - must be rejected: ops.fault runs under the
 * folio lock and may not be a sleepable program.
 */
#include "ccmap.bpf.h"

char _license[] SEC("license") = "GPL";

s64 BPF_CCMAP_OPS_SLEEPABLE(bad_sleepable_fault, struct ccmap_fault_ctx *ctx)
{
	return CCMAP_GO;
}

CCMAP_OPS_DEFINE(bad_sleepable_fault_ops,
	.fault = (void *)bad_sleepable_fault,
	.name = "st_bad_sleepable");
