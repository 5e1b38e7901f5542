// SPDX-License-Identifier: GPL-2.0
/*
 * mirage - msi plus a minimum hold window (Mirage DSM's delta).
 *
 * Faults behave as in msi: page granularity, a read needs Shared, a
 * MAP_SHARED write needs Exclusive.  The difference is on the other side:
 * when the home asks this node to give a page up (another node wants to
 * write it, or to read a page held Exclusive), the page stays here until it
 * has been held for hold_ms since the grant that gave it, and only then
 * goes.  Two writers of one page then alternate in turns of at least
 * hold_ms instead of moving the page on every store: fewer transfers and
 * more stores per transfer, paid for by the waiting side, which waits up to
 * hold_ms longer for each turn (a reader behind a writer, too).  GFS2 holds
 * a whole inode 10-200 ms for the same reason.
 *
 * Pick it for pages written by several nodes in bursts (counters, queues,
 * false sharing); stay with msi for read-mostly data, where a hold only
 * delays readers.  hold_ms 0 is msi.
 *
 * Tunable per share (ccmapd.conf): tune <share|*> hold_ms <ms>, default 20.
 * The agent caps a hold at CCMAP_YIELD_MAX_NS (1 s), and every hold is
 * bounded by the faults' deadline on the asking node: keep hold_ms well
 * below timeout_ms.
 */
#include "ccmap_policy.bpf.h"

char _license[] SEC("license") = "GPL";

CCMAP_UEI_DEFINE(uei);
CCMAP_TUNABLE_PER_SHARE(hold_ms, 20);

s64 BPF_CCMAP_OPS(mirage_fault, struct ccmap_fault_ctx *fc)
{
	__u32 share;

	if (ccmap_share_of(fc->dev, fc->ino, &share, !fc->recheck))
		return CCMAP_SIGBUS(EIO);
	return ccmap_page_acquire(share, fc->pgoff,
				  ccmap_is_write(fc) ? CCMAP_ST_E : CCMAP_ST_S,
				  fc);
}

void BPF_CCMAP_OPS(mirage_zap, struct ccmap_page_ctx *pc)
{
	ccmap_page_dropped(pc);
}

void BPF_CCMAP_OPS(mirage_mkclean, struct ccmap_page_ctx *pc)
{
	(void)pc;
	ccmap_bstat_inc(CCMAP_BST_MKCLEAN_NOTIFY);
}

void BPF_CCMAP_OPS(mirage_exit, struct ccmap_exit_info *ei)
{
	ccmap_uei_record(&uei, ei);
}

/* The agent asks before it gives a page up: how long do we keep it? */
SEC("syscall")
int ccmap_yield(struct ccmap_args_page *a)
{
	__u64 window = (__u64)ccmap_tune(hold_ms, a->share) * 1000000;
	__u64 held = ccmap_page_held_ns(a->share, a->pgoff);

	a->ret = held && held < window ? (__s64)(window - held) : 0;
	return 0;
}

CCMAP_OPS_DEFINE(mirage_ops,
	.fault = (void *)mirage_fault,
	.zap = (void *)mirage_zap,
	.mkclean = (void *)mirage_mkclean,
	.exit = (void *)mirage_exit,
	.name = "mirage");
