// SPDX-License-Identifier: GPL-2.0
/*
 * race.bpf.c - a page-granular policy with the states I (no access),
 * S (read) and E (read and write) per page of the test's file, and the two
 * agent programs that move a page: race_revoke (state I, a new generation,
 * then bpf_ccmap_zap) and race_grant (state S or E, logged with the
 * generation, then bpf_ccmap_wake).
 */
#include "selftest.bpf.h"

char _license[] SEC("license") = "GPL";

struct race_page pages[RACE_PAGES];
/* Every grant, in order: the test checks what the threads saw against it. */
struct race_grant grant_log[RACE_LOG];
__u64 nr_grants;
/* Verdicts: go, and first calls told to wait. */
__u64 nr_go, nr_wait;

s64 BPF_CCMAP_OPS(race_fault, struct ccmap_fault_ctx *ctx)
{
	__u64 pg = ctx->pgoff;
	__u32 state;

	if (!st_on_target(ctx))
		return CCMAP_GO;
	if (pg >= RACE_PAGES)
		return CCMAP_SIGBUS(EINVAL);
	state = READ_ONCE(pages[pg].state);
	if (state == RACE_E || (state == RACE_S && !ccmap_is_write(ctx))) {
		__sync_fetch_and_add(&nr_go, 1);
		return CCMAP_GO;
	}
	if (!ctx->recheck)
		__sync_fetch_and_add(&nr_wait, 1);
	return pg + 1;
}

/* @a->page: the page.  Out: @a->arg the new generation, @a->ret the zap's. */
SEC("syscall")
int race_revoke(struct st_args *a)
{
	__u32 pg = a->page;

	if (pg >= RACE_PAGES)
		return 1;
	/* State first, then the zap. */
	WRITE_ONCE(pages[pg].state, RACE_I);
	pages[pg].gen++;
	a->arg = pages[pg].gen;
	a->ret = bpf_ccmap_zap(a->fd, (__u64)pg * ST_PAGE_SIZE, ST_PAGE_SIZE);
	return 0;
}

/* @a->page: the page, @a->arg: RACE_S or RACE_E.  Out: @a->ret the wake's. */
SEC("syscall")
int race_grant(struct st_args *a)
{
	__u32 pg = a->page;
	__u64 n;

	if (pg >= RACE_PAGES || (a->arg != RACE_S && a->arg != RACE_E))
		return 1;
	WRITE_ONCE(pages[pg].state, a->arg);
	n = nr_grants++;
	if (n < RACE_LOG) {
		grant_log[n].page = pg;
		grant_log[n].state = a->arg;
		grant_log[n].gen = pages[pg].gen;
	}
	a->ret = bpf_ccmap_wake(pg + 1);
	return 0;
}

CCMAP_OPS_DEFINE(race_ops,
	.fault = (void *)race_fault,
	.timeout_ms = 10000,
	.name = "st_race");
