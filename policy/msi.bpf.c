// SPDX-License-Identifier: GPL-2.0
/*
 * msi - the default ccmap policy: page granularity, Shared + Exclusive
 * (the seed's full design).
 *
 * A read or copy-on-write fault needs the page Shared (or Exclusive), a
 * MAP_SHARED write needs it Exclusive.  Rights held on this node are granted
 * at once; otherwise the fault posts one request per page to the agent and
 * waits for the page's key (see ccmap_page_acquire() in ccmap_policy.bpf.h).
 * A managed file that the agent did not register gets -EIO.
 *
 * The fault deadline is ccmap_ops.timeout_ms, which the agent writes into the
 * struct_ops map before loading (it finds the member by name in the object's
 * BTF), so every policy gets the configured deadline without code.
 */
#include "ccmap_policy.bpf.h"

char _license[] SEC("license") = "GPL";

CCMAP_UEI_DEFINE(uei);

/* BPF_PROG() names its raw argument array "ctx": call ours "fc". */
s64 BPF_CCMAP_OPS(msi_fault, struct ccmap_fault_ctx *fc)
{
	__u32 share;

	if (ccmap_share_of(fc->dev, fc->ino, &share, !fc->recheck))
		return CCMAP_SIGBUS(EIO);
	return ccmap_page_acquire(share, fc->pgoff,
				  ccmap_is_write(fc) ? CCMAP_ST_E : CCMAP_ST_S,
				  fc);
}

/* The page cache dropped a folio: truncated pages are no longer held. */
void BPF_CCMAP_OPS(msi_zap, struct ccmap_page_ctx *pc)
{
	ccmap_page_dropped(pc);
}

/* Writeback write-protected a folio: the next store asks again (E held). */
void BPF_CCMAP_OPS(msi_mkclean, struct ccmap_page_ctx *pc)
{
	(void)pc;
	ccmap_bstat_inc(CCMAP_BST_MKCLEAN_NOTIFY);
}

void BPF_CCMAP_OPS(msi_exit, struct ccmap_exit_info *ei)
{
	ccmap_uei_record(&uei, ei);
}

CCMAP_OPS_DEFINE(msi_ops,
	.fault = (void *)msi_fault,
	.zap = (void *)msi_zap,
	.mkclean = (void *)msi_mkclean,
	.exit = (void *)msi_exit,
	.name = "msi");
