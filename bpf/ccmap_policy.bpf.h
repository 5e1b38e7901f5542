/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ccmap_policy.bpf.h - the per-page state library: the one header a ccmap
 * policy includes, and all it may use (with ccmap.bpf.h, which it pulls in).
 *
 * State.  Every page of every share has an entry in the pinned hash map
 * ccmap_pages, keyed by (share id, page index): its state (I, S or E on this
 * node), the request pending at the agent, the version of the copy held and
 * the wait key faults sleep on.  The agent creates the entries (state I)
 * before it marks the file as a share; a fault on a page without an entry is
 * outside the share and gets -EIO.  ccmap_shares maps the (dev, ino) of a
 * share's replica to its id; a managed file that is not in it gets -EIO.
 * All maps are pinned by name (LIBBPF_PIN_BY_NAME) under the directory the
 * agent passes as bpf_object_open_opts.pin_root_path, so a policy swapped in
 * later, or a restarted agent, works on the same state.
 *
 * Faults.  ccmap_page_acquire() is the whole fault path of a page-granular
 * policy: rights held -> go; otherwise post ONE request per page to the
 * agent through the ring buffer ccmap_reqs (the pending field coalesces
 * concurrent faults and makes the kernel's recheck call idempotent) and
 * return the page's wait key.  If the ring buffer is full the request is
 * parked in ccmap_lost, which the agent drains.
 *
 * The agent's programs (ccmap_grant, ccmap_revoke, ...) are not here: they
 * live in bpf/ccmap_agent.bpf.c, which the build puts in front of every
 * policy (clang -include), together with the maps, which are defined there
 * and only declared (extern) here.  A policy does not call them and does
 * not have to know them.
 */
#ifndef __CCMAP_POLICY_BPF_H
#define __CCMAP_POLICY_BPF_H

#include "ccmap.bpf.h"

/* errno values (vmlinux.h has none; some libbpf headers define a few) */
#ifndef ENOENT
#define ENOENT		2
#endif
#ifndef EIO
#define EIO		5
#endif
#ifndef EINVAL
#define EINVAL		22
#endif
#ifndef ENOSPC
#define ENOSPC		28
#endif
#ifndef ENOBUFS
#define ENOBUFS		105
#endif
#ifndef EBUSY
#define EBUSY		16
#endif

#define CCMAP_PAGE_SHIFT	12

/*
 * ---- maps (pinned by name) -----------------------------------------------
 * Defined once, in ccmap_agent.bpf.c (CCMAP_DEFINE_MAPS); declared here for
 * the library and the policy, and resolved when the objects are linked.
 */
#ifdef CCMAP_DEFINE_MAPS
#define CCMAP_MAP_DECL
#else
#define CCMAP_MAP_DECL extern
#endif

CCMAP_MAP_DECL struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CCMAP_STATE_MAX_SHARES);
	__type(key, struct ccmap_share_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ccmap_shares SEC(".maps");

CCMAP_MAP_DECL struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CCMAP_STATE_MAX_SHARES);
	__type(key, __u32);
	__type(value, struct ccmap_share_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ccmap_sinfo SEC(".maps");

CCMAP_MAP_DECL struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CCMAP_STATE_MAX_PAGES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ccmap_page_key);
	__type(value, struct ccmap_page_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ccmap_pages SEC(".maps");

CCMAP_MAP_DECL struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CCMAP_REQS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ccmap_reqs SEC(".maps");

CCMAP_MAP_DECL struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CCMAP_LOST_MAX);
	__type(key, struct ccmap_page_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ccmap_lost SEC(".maps");

CCMAP_MAP_DECL struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CCMAP_BST_NR);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ccmap_bstats SEC(".maps");

/* ---- helpers for policies ------------------------------------------------ */

static __always_inline void ccmap_bstat_inc(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&ccmap_bstats, &idx);

	if (c)
		__sync_fetch_and_add(c, 1);
}

/* Share id of the faulting file, or -EIO (counted) if it is not a share. */
static __always_inline int ccmap_share_of(__u64 dev, __u64 ino, __u32 *share,
					  bool count)
{
	struct ccmap_share_key sk = { .dev = dev, .ino = ino };
	__u32 *id = bpf_map_lookup_elem(&ccmap_shares, &sk);

	if (!id) {
		if (count)
			ccmap_bstat_inc(CCMAP_BST_UNKNOWN);
		return -EIO;
	}
	*share = *id;
	return 0;
}

/* Hand a request to the agent; 0 or -errno (nowhere to put it). */
static __always_inline int ccmap_post(struct ccmap_page_key *k,
				      struct ccmap_page_state *p, __u32 want,
				      __u64 first, __u32 npages,
				      const struct ccmap_fault_ctx *ctx)
{
	struct ccmap_req_rec *r;
	__u32 w = want;

	r = bpf_ringbuf_reserve(&ccmap_reqs, sizeof(*r), 0);
	if (r) {
		r->share = k->share;
		r->want = want;
		r->pgoff = k->pgoff;
		r->tgid = ctx->tgid;
		r->pid = ctx->pid;
		r->stamp_ns = bpf_ktime_get_ns();
		r->first = first;
		r->npages = npages;
		r->reserved = 0;
		bpf_ringbuf_submit(r, 0);
		ccmap_bstat_inc(CCMAP_BST_POSTED);
		return 0;
	}
	/* No room: park it where the agent looks when the ring overflowed. */
	if (bpf_map_update_elem(&ccmap_lost, k, &w, BPF_ANY) == 0) {
		bpf_spin_lock(&p->lock);
		p->flags |= CCMAP_PGF_LOST;
		bpf_spin_unlock(&p->lock);
		ccmap_bstat_inc(CCMAP_BST_RING_FULL);
		return 0;
	}
	ccmap_bstat_inc(CCMAP_BST_LOST_FULL);
	return -ENOBUFS;
}

/*
 * The fault path of a policy: may the fault of @ctx use page @pgoff of share
 * @share with rights @want (CCMAP_ST_S or CCMAP_ST_E)?  If not, the request
 * covers the coherence unit [@unit_first, @unit_first + @npages) (it must contain
 * @pgoff; the agent also asks for the unit's other pages this node does not
 * hold with @want, without anything waiting for them).  Returns 0 (go), the
 * wait key (a request is pending at the agent), or -errno.  Idempotent: the
 * kernel's recheck call finds the request pending and returns the same key
 * without posting another.
 */
static __always_inline __s64 ccmap_unit_acquire(__u32 share, __u64 pgoff,
						__u64 unit_first, __u32 npages,
						__u32 want,
						const struct ccmap_fault_ctx *ctx)
{
	struct ccmap_page_key k = { .share = share, .pgoff = pgoff };
	struct ccmap_page_state *p;
	bool first = !ctx->recheck;
	bool post = false;
	__u64 now, key;
	__s32 err = 0;

	if (first)
		ccmap_bstat_inc(CCMAP_BST_FAULTS);
	p = bpf_map_lookup_elem(&ccmap_pages, &k);
	if (!p) {
		if (first)
			ccmap_bstat_inc(CCMAP_BST_BEYOND);
		return CCMAP_SIGBUS(EIO);
	}
	key = ccmap_fault_key(ctx);
	now = bpf_ktime_get_ns();

	bpf_spin_lock(&p->lock);
	if (p->state >= want) {
		bpf_spin_unlock(&p->lock);
		if (first)
			ccmap_bstat_inc(CCMAP_BST_GO);
		return CCMAP_GO;
	}
	if (p->fail_until && now < p->fail_until) {
		err = p->fail_err;
	} else {
		p->fail_until = 0;
		p->key = key;
		if (!p->pending) {
			p->pending = want;
			post = true;
		}
	}
	bpf_spin_unlock(&p->lock);

	if (err) {
		if (first)
			ccmap_bstat_inc(CCMAP_BST_FAILED);
		return CCMAP_SIGBUS(err);
	}
	if (!post) {
		if (first)
			ccmap_bstat_inc(CCMAP_BST_COALESCED);
		return key;
	}
	if (unit_first > pgoff || (npages && pgoff - unit_first >= npages)) {
		unit_first = pgoff;	/* a unit that misses the page: the page alone */
		npages = 1;
	}
	if (ccmap_post(&k, p, want, unit_first, npages, ctx)) {
		bpf_spin_lock(&p->lock);
		p->pending = 0;
		bpf_spin_unlock(&p->lock);
		return CCMAP_SIGBUS(ENOBUFS);
	}
	return key;
}

/* The fault path of a page-granular policy: the unit is the page. */
static __always_inline __s64 ccmap_page_acquire(__u32 share, __u64 pgoff,
						__u32 want,
						const struct ccmap_fault_ctx *ctx)
{
	return ccmap_unit_acquire(share, pgoff, pgoff, 1, want, ctx);
}

/* Pages of share @share, or 0 if it is not active. */
static __always_inline __u64 ccmap_share_pages(__u32 share)
{
	struct ccmap_share_info *si;

	if (share >= CCMAP_STATE_MAX_SHARES)
		return 0;
	si = bpf_map_lookup_elem(&ccmap_sinfo, &share);
	return si && si->active ? si->npages : 0;
}

/*
 * How long this node has held page @pgoff with its current rights, in ns
 * (since the grant that raised them), or 0 if it holds nothing (or the
 * page is unknown).  For a policy's ccmap_yield.
 */
static __always_inline __u64 ccmap_page_held_ns(__u32 share, __u64 pgoff)
{
	struct ccmap_page_key k = { .share = share, .pgoff = pgoff };
	struct ccmap_page_state *p = bpf_map_lookup_elem(&ccmap_pages, &k);
	__u64 since = 0, now = bpf_ktime_get_ns();

	if (!p)
		return 0;
	bpf_spin_lock(&p->lock);
	if (p->state != CCMAP_ST_I)
		since = p->granted_ns;
	bpf_spin_unlock(&p->lock);
	return since && since <= now ? now - since : 0;
}

/*
 * Tunables: read-only globals the agent sets before loading the object,
 * from the configuration's "tune <share|*> <name> <value>" lines (by the
 * variable's name, found in the object's BTF).  A policy declares
 *
 *	CCMAP_TUNABLE(spin_limit, 4);			// one value per node
 *	CCMAP_TUNABLE_PER_SHARE(hold_ms, 20);		// one value per share
 *
 * and reads them with spin_limit and ccmap_tune(hold_ms, share).  Only
 * __u32 values; "tune * hold_ms 5" sets every share, "tune data hold_ms 5"
 * one (later in the file wins over *).
 */
#define CCMAP_TUNABLE(__name, __dfl)					\
	const volatile __u32 __name = (__dfl)
#define CCMAP_TUNABLE_PER_SHARE(__name, __dfl)				\
	const volatile __u32 __name[CCMAP_STATE_MAX_SHARES] =		\
		{ [0 ... CCMAP_STATE_MAX_SHARES - 1] = (__dfl) }
#define ccmap_tune(__name, __share)					\
	((__name)[(__share) & (CCMAP_STATE_MAX_SHARES - 1)])

/* Lower the state of pages [first, first + n) to at most @to. */
struct ccmap_lower_ctx {
	__u64 dev, ino;
	__u64 first;
	__u32 share;
	__u32 to;
	__u32 old0;		/* out: the first page's state before */
	__u32 missing;		/* out: the first page has no entry */
};

static long ccmap_lower_one(__u64 i, void *data)
{
	struct ccmap_lower_ctx *lc = data;
	struct ccmap_page_key k = { .share = lc->share, .pgoff = lc->first + i };
	struct ccmap_page_state *p = bpf_map_lookup_elem(&ccmap_pages, &k);
	__u32 old;

	if (!p) {
		if (!i)
			lc->missing = 1;
		return 1;	/* past the share's last page */
	}
	bpf_spin_lock(&p->lock);
	old = p->state;
	if (old > lc->to)
		p->state = lc->to;
	bpf_spin_unlock(&p->lock);
	if (!i)
		lc->old0 = old;
	if (old > lc->to)
		ccmap_trace_state(lc->dev, lc->ino, k.pgoff, 1, old, lc->to);
	return 0;
}

static __always_inline int ccmap_lower_pages(struct ccmap_share_info *si,
					       __u32 share, __u64 first,
					       __u64 n, __u32 to, __u32 *old0)
{
	struct ccmap_lower_ctx lc = {
		.dev = si->dev, .ino = si->ino, .first = first,
		.share = share, .to = to,
	};

	if (first >= si->npages)
		return -ENOENT;
	if (n > si->npages - first)
		n = si->npages - first;
	bpf_loop(n, ccmap_lower_one, &lc, 0);
	*old0 = lc.old0;
	return lc.missing ? -ENOENT : 0;
}

/*
 * ops.zap of a page-granular policy.  Pages of a share left the page cache
 * for good.  Invalidation drops clean folios whose data is still in the
 * replica: the rights held stay valid and nothing changes.  Pages cut off
 * by a truncation no longer exist on this node: they lose their rights
 * here, so a fault after the file grew back asks again.  Must not sleep:
 * maps and the trace kfunc only.
 */
static __always_inline void ccmap_page_dropped(const struct ccmap_page_ctx *pc)
{
	struct ccmap_share_key sk = { .dev = pc->dev, .ino = pc->ino };
	struct ccmap_share_info *si;
	__u32 *id, old;

	ccmap_bstat_inc(CCMAP_BST_ZAP_NOTIFY);
	if (!(pc->flags & CCMAP_PAGE_BEYOND_EOF))
		return;
	id = bpf_map_lookup_elem(&ccmap_shares, &sk);
	if (!id)
		return;
	si = bpf_map_lookup_elem(&ccmap_sinfo, id);
	if (!si || !si->active)
		return;
	ccmap_lower_pages(si, *id, pc->pgoff, pc->nr, CCMAP_ST_I, &old);
}

#endif /* __CCMAP_POLICY_BPF_H */
