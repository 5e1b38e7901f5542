// SPDX-License-Identifier: GPL-2.0
/*
 * ccmap_agent.bpf.c - the SEC("syscall") programs the agent (ccmapd) runs,
 * and the definitions of the pinned maps.  Not compiled alone: the build
 * puts it in front of every policy (clang -include, see the Makefile), so
 * a policy is one .bpf.c file that includes ccmap_policy.bpf.h and nothing
 * of this.
 *
 * The programs, with the ordering rules of the kernel patch (mm/ccmap.c:
 * change the state first, then zap or mkclean; write the data into the
 * replica before publishing a grant):
 *
 *   ccmap_share_add   shares map + bpf_ccmap_manage(fd)
 *   ccmap_share_del   forget the share, bpf_ccmap_manage(fd, UNMANAGE)
 *   ccmap_grant       state := S|E, version, clear pending, trace, wake
 *                     (the agent pwrite()s the data BEFORE running it)
 *   ccmap_revoke      state := I FIRST, then bpf_ccmap_zap() (COW copies
 *                     stay); the agent pread()s the page only AFTER it
 *   ccmap_downgrade   state := S FIRST, then bpf_ccmap_mkclean()
 *   ccmap_fail        clear pending, fail the waiting faults (SIGBUS), wake
 *   ccmap_raise_error bpf_ccmap_error(): a test hook for the error exit
 *
 * Each runs with BPF_PROG_RUN (bpf_prog_test_run_opts) and ctx_in pointing
 * to a struct ccmap_args_share or struct ccmap_args_page (ccmap_abi.h); the
 * kernel copies the ctx back, so out fields reach the caller.  The return
 * value is 0 or -errno.
 */
#define CCMAP_DEFINE_MAPS
#include "ccmap_policy.bpf.h"

/* ---- the agent's programs -------------------------------------------------- */

static __always_inline struct ccmap_share_info *ccmap_sinfo_of(__u32 share)
{
	struct ccmap_share_info *si;

	if (share >= CCMAP_STATE_MAX_SHARES)
		return NULL;
	si = bpf_map_lookup_elem(&ccmap_sinfo, &share);
	if (!si || !si->active)
		return NULL;
	return si;
}

SEC("syscall")
int ccmap_share_add(struct ccmap_args_share *a)
{
	struct ccmap_share_key sk = { .dev = a->dev, .ino = a->ino };
	struct ccmap_share_info *si;
	__u32 id = a->share;
	long ret;

	a->flags = 0;
	a->ret = 0;
	if (id >= CCMAP_STATE_MAX_SHARES || !a->npages)
		return -EINVAL;
	si = bpf_map_lookup_elem(&ccmap_sinfo, &id);
	if (!si)
		return -EINVAL;
	si->active = 0;
	si->dev = a->dev;
	si->ino = a->ino;
	si->npages = a->npages;
	/* Known before it is managed: no fault of it can see "unknown". */
	if (bpf_map_update_elem(&ccmap_shares, &sk, &id, BPF_ANY))
		return -ENOSPC;
	ret = bpf_ccmap_manage(a->fd, 0);
	if (ret == 1) {
		/*
		 * A share already: its agent restarted.  The kernel revoked
		 * every mapping when the old policy left; zap again in case
		 * the agent reset page states that a policy of its own (a
		 * swap) still granted.
		 */
		__s64 z = bpf_ccmap_zap(a->fd, 0, 0);

		a->flags |= CCMAP_SHARE_WAS_MANAGED;
		ret = z < 0 ? (int)z : 0;
	}
	a->ret = ret;
	if (ret) {
		bpf_map_delete_elem(&ccmap_shares, &sk);
		return ret;
	}
	si->active = 1;
	return 0;
}

SEC("syscall")
int ccmap_share_del(struct ccmap_args_share *a)
{
	struct ccmap_share_key sk = { .dev = a->dev, .ino = a->ino };
	struct ccmap_share_info *si;
	__u32 id = a->share;

	if (id >= CCMAP_STATE_MAX_SHARES)
		return -EINVAL;
	si = bpf_map_lookup_elem(&ccmap_sinfo, &id);
	if (si)
		si->active = 0;
	bpf_map_delete_elem(&ccmap_shares, &sk);
	a->ret = bpf_ccmap_manage(a->fd, CCMAP_MANAGE_UNMANAGE);
	return 0;
}

/* Publish rights the agent obtained; the data is in the replica already. */
SEC("syscall")
int ccmap_grant(struct ccmap_args_page *a)
{
	struct ccmap_page_key k = { .share = a->share, .pgoff = a->pgoff };
	struct ccmap_share_info *si = ccmap_sinfo_of(a->share);
	struct ccmap_page_state *p;
	__u64 now;
	__u32 old;

	if (!si)
		return -EINVAL;
	if (a->state != CCMAP_ST_S && a->state != CCMAP_ST_E)
		return -EINVAL;
	p = bpf_map_lookup_elem(&ccmap_pages, &k);
	if (!p)
		return -ENOENT;
	now = bpf_ktime_get_ns();	/* no helper calls under the lock */
	bpf_spin_lock(&p->lock);
	old = p->state;
	if (a->state > old)
		p->granted_ns = now;
	p->state = a->state;
	p->version = a->version;
	p->pending = 0;
	p->flags &= ~CCMAP_PGF_LOST;
	p->fail_until = 0;
	bpf_spin_unlock(&p->lock);
	a->old_state = old;
	if (old != a->state)
		ccmap_trace_state(si->dev, si->ino, a->pgoff, 1, old, a->state);
	bpf_ccmap_wake(ccmap_page_key(si->dev, si->ino, a->pgoff));
	return 0;
}

static __always_inline __u64 ccmap_span_len(__u64 span)
{
	if (span == CCMAP_SPAN_EOF)
		return 0;
	return (span ? span : 1) << CCMAP_PAGE_SHIFT;
}

/*
 * Give rights up: the state of every page of the span first (I or S), then
 * zap or mkclean the span.
 */
static __always_inline int ccmap_lower(struct ccmap_args_page *a, __u32 to)
{
	struct ccmap_share_info *si = ccmap_sinfo_of(a->share);
	__u64 off = a->pgoff << CCMAP_PAGE_SHIFT;
	__u64 n;
	__u32 old = 0;
	__s64 ret;

	if (!si)
		return -EINVAL;
	n = a->span == CCMAP_SPAN_EOF ? si->npages : (a->span ? a->span : 1);
	if (ccmap_lower_pages(si, a->share, a->pgoff, n, to, &old))
		return -ENOENT;
	a->old_state = old;

	if (to == CCMAP_ST_I)
		ret = bpf_ccmap_zap(a->fd, off, ccmap_span_len(a->span));
	else
		ret = bpf_ccmap_mkclean(a->fd, off, ccmap_span_len(a->span));
	a->ret = ret;
	return ret < 0 ? (int)ret : 0;
}

SEC("syscall")
int ccmap_revoke(struct ccmap_args_page *a)
{
	return ccmap_lower(a, CCMAP_ST_I);
}

SEC("syscall")
int ccmap_downgrade(struct ccmap_args_page *a)
{
	return ccmap_lower(a, CCMAP_ST_S);
}

/* The request cannot be served: the waiting faults get SIGBUS. */
SEC("syscall")
int ccmap_fail(struct ccmap_args_page *a)
{
	struct ccmap_page_key k = { .share = a->share, .pgoff = a->pgoff };
	struct ccmap_share_info *si = ccmap_sinfo_of(a->share);
	struct ccmap_page_state *p;
	__u64 until = bpf_ktime_get_ns() + CCMAP_FAIL_WINDOW_NS;
	__s32 err = a->err > 0 && a->err < 4096 ? a->err : EIO;

	if (!si)
		return -EINVAL;
	p = bpf_map_lookup_elem(&ccmap_pages, &k);
	if (!p)
		return -ENOENT;
	bpf_spin_lock(&p->lock);
	p->pending = 0;
	p->flags &= ~CCMAP_PGF_LOST;
	p->fail_err = err;
	p->fail_until = until;
	bpf_spin_unlock(&p->lock);
	bpf_ccmap_wake(ccmap_page_key(si->dev, si->ino, a->pgoff));
	return 0;
}

/*
 * Test hook: raise an error exit, as a policy that found itself broken
 * would (ccmapctl raw test-error-exit).  The kernel detaches the policy;
 * the agent attaches it again.
 */
SEC("syscall")
int ccmap_raise_error(void *ctx)
{
	(void)ctx;
	bpf_ccmap_error("error exit requested through the agent (test hook)");
	return 0;
}
