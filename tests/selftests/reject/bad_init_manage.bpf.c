// SPDX-License-Identifier: GPL-2.0
/*
 * bad_init_manage.bpf.c - must be rejected: the mapping kfuncs are for
 * SEC("syscall") programs only, even from the sleepable ops.init().
 */
#include "ccmap.bpf.h"

char _license[] SEC("license") = "GPL";

s64 BPF_CCMAP_OPS(bad_init_manage_fault, struct ccmap_fault_ctx *ctx)
{
	return CCMAP_GO;
}

s32 BPF_CCMAP_OPS_SLEEPABLE(bad_init_manage_init)
{
	return bpf_ccmap_manage(0, 0);
}

CCMAP_OPS_DEFINE(bad_init_manage_ops,
	.fault = (void *)bad_init_manage_fault,
	.init = (void *)bad_init_manage_init,
	.name = "st_bad_init_manage");
