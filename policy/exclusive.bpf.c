// SPDX-License-Identifier: GPL-2.0
/*
 * exclusive - one Exclusive owner per file: the whole file is the unit.
 *
 * Seed 001 (OpenGFS): a node that touches a share, to read or to write,
 * asks for the whole file Exclusive, like a file-granular glock in
 * exclusive mode.  The fault waits only for its own page; the agent asks
 * for every other page of the file it does not hold in the same burst
 * (requests are pipelined: moving N pages costs about one round trip plus
 * N page transfers, not N round trips), so the following faults of a
 * sequential pass find their pages here.  Units are capped at
 * CCMAP_UNIT_MAX pages (1 MiB) around the faulting page: a larger file
 * moves in 1 MiB pieces.
 *
 * Trade-offs: no read sharing at all (two readers take the file from each
 * other), and a node that touches one word takes everything; in exchange
 * a node that works on a file alone pays one burst per file instead of one
 * request per page.  Pick it for files that are used by one node at a time
 * and change hands rarely (a log, a job's scratch file); never for data
 * read by many nodes at once.
 *
 * The directory still works page by page, so single-writer holds per page
 * whatever the mix of policies on the nodes.
 */
#include "ccmap_policy.bpf.h"

char _license[] SEC("license") = "GPL";

CCMAP_UEI_DEFINE(uei);

s64 BPF_CCMAP_OPS(exclusive_fault, struct ccmap_fault_ctx *fc)
{
	__u64 npages, first = 0;
	__u32 share, n;

	if (ccmap_share_of(fc->dev, fc->ino, &share, !fc->recheck))
		return CCMAP_SIGBUS(EIO);
	npages = ccmap_share_pages(share);
	if (npages > CCMAP_UNIT_MAX) {
		/* the CCMAP_UNIT_MAX-aligned piece around the fault */
		first = fc->pgoff & ~((__u64)CCMAP_UNIT_MAX - 1);
		n = CCMAP_UNIT_MAX;
	} else {
		n = (__u32)npages;
	}
	return ccmap_unit_acquire(share, fc->pgoff, first, n, CCMAP_ST_E, fc);
}

void BPF_CCMAP_OPS(exclusive_zap, struct ccmap_page_ctx *pc)
{
	ccmap_page_dropped(pc);
}

void BPF_CCMAP_OPS(exclusive_mkclean, struct ccmap_page_ctx *pc)
{
	(void)pc;
	ccmap_bstat_inc(CCMAP_BST_MKCLEAN_NOTIFY);
}

void BPF_CCMAP_OPS(exclusive_exit, struct ccmap_exit_info *ei)
{
	ccmap_uei_record(&uei, ei);
}

CCMAP_OPS_DEFINE(exclusive_ops,
	.fault = (void *)exclusive_fault,
	.zap = (void *)exclusive_zap,
	.mkclean = (void *)exclusive_mkclean,
	.exit = (void *)exclusive_exit,
	.name = "exclusive");
