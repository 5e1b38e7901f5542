// SPDX-License-Identifier: GPL-2.0
/*
 * Home-side page directory and requester-side page state of the ccmap
 * coherence protocol.  Pure code: events in, actions out.  See directory.h
 * for the roles, the transport assumption and the invariants, and
 * tests/model/ccmap.pml for the Promela model of exactly these transitions
 * (function names in comments "[model: ...]" point at the matching inline).
 *
 * Transitions at home for a page with owner O, copyset C, version v:
 *
 *   READ from R     O == NONE        GRANT S (data unless R in C with v) ; C |= R
 *                   O == R           ERROR (requester already owns it)
 *                   O != R           DOWNGRADE -> O ; wait DOWNGRADE_ACK(data)
 *                                    -> STORE ; O = NONE ; C = {old O, R} ; GRANT S
 *   WRITE from R    O == NONE, C\R == {}  GRANT E (data unless R in C with v) ;
 *                                    O = R ; C = {} ; v++
 *                   O == NONE        INVALIDATE -> each of C\R ; wait all INV_ACK
 *                                    -> O = R ; C = {} ; v++ ; GRANT E
 *                   O == R           ERROR
 *                   O != R           FETCH -> O ; wait FETCH_ACK(data) -> STORE ;
 *                                    O = R ; v++ ; GRANT E(data)
 *
 * While a transaction is in progress every new request for the page is
 * queued (FIFO); when it ends the queue is served in order.  This is what
 * resolves "a request arrives while an invalidation is in flight": it waits.
 *
 * Why per-pair FIFO is enough: a holder's copy is changed only by messages
 * from the home (GRANT, INVALIDATE, DOWNGRADE, FETCH), all on the single
 * home->holder channel, in the order the home decided them.  A GRANT to X
 * and a later forward to X for the next transaction therefore arrive in
 * that order, so the directory's view of X (owner / copyset) is always X's
 * state after it has processed everything the home sent it.  Requests and
 * acks from X travel on X->home, also in order, so an INV_ACK from X that
 * follows X's own queued WRITE_REQ (upgrade raced by an invalidation) is
 * seen after it; the home then serves the WRITE_REQ with X no longer in the
 * copyset, and sends the data.
 */
#include <ccmap/directory.h>

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(n) (UINT64_C(1) << (n))

uint16_t ccmap_home_node(uint64_t members, uint16_t share, uint64_t page)
{
	unsigned n = (unsigned)__builtin_popcountll(members);
	unsigned k;

	if (n == 0)
		return CCMAP_NODE_NONE;
	k = (unsigned)((page % n + share % n) % n);
	for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
		if (!(members & BIT(id)))
			continue;
		if (k-- == 0)
			return (uint16_t)id;
	}
	return CCMAP_NODE_NONE; /* unreachable */
}

/* splitmix64's finaliser: every input bit moves every output bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

uint16_t ccmap_home_of(uint64_t members, uint64_t lost, uint16_t share, uint64_t page)
{
	uint16_t home = ccmap_home_node(members, share, page);
	uint64_t best = 0, alive = members & ~lost;
	uint16_t pick = CCMAP_NODE_NONE;

	if (home == CCMAP_NODE_NONE || !(lost & BIT(home)))
		return home;
	for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
		uint64_t w;

		if (!(alive & BIT(id)))
			continue;
		w = mix64(mix64(page ^ (uint64_t)share << 48) ^ id);
		if (pick == CCMAP_NODE_NONE || w > best) {
			best = w;
			pick = (uint16_t)id;
		}
	}
	return pick;
}

/* ---- home side ------------------------------------------------------------ */

static bool is_home(const struct ccmap_dir *d, uint64_t page)
{
	return page < d->npages &&
	       ccmap_home_of(d->members, d->lost, d->share, page) == d->self;
}

static void out_error(struct ccmap_dir *d, uint16_t dst, uint64_t page,
		      uint64_t req_id, int code, const char *reason)
{
	struct ccmap_dir_out o = {
		.kind = CCMAP_DO_SEND, .type = CCMAP_T_ERROR, .dst = dst,
		.share = d->share, .page = page, .req_id = req_id,
		.requester = CCMAP_NODE_NONE, .code = (uint16_t)code, .reason = reason,
	};

	d->emit(d->emit_ctx, &o);
}

static void out_grant(struct ccmap_dir *d, uint16_t dst, uint64_t page,
		      uint64_t req_id, uint8_t mode, bool data, uint64_t version)
{
	struct ccmap_dir_out o = {
		.kind = CCMAP_DO_SEND, .type = CCMAP_T_GRANT, .dst = dst,
		.share = d->share, .page = page, .req_id = req_id, .version = version,
		.mode = mode, .with_data = data, .requester = CCMAP_NODE_NONE,
	};

	d->pages[page].reverted_from = CCMAP_NODE_NONE;
	if (mode == CCMAP_MODE_S)
		d->st.grants_s++;
	else
		d->st.grants_e++;
	if (!data)
		d->st.grants_nodata++;
	d->emit(d->emit_ctx, &o);
}

static void out_fwd(struct ccmap_dir *d, unsigned type, uint16_t dst, uint64_t page,
		    const struct ccmap_dir_txn *t, uint64_t version)
{
	struct ccmap_dir_out o = {
		.kind = CCMAP_DO_SEND, .type = (uint8_t)type, .dst = dst,
		.share = d->share, .page = page, .req_id = t->id, .version = version,
		.requester = t->cur.node,
	};

	if (type == CCMAP_T_INVALIDATE)
		d->st.invalidates++;
	else if (type == CCMAP_T_DOWNGRADE)
		d->st.downgrades++;
	else
		d->st.fetches++;
	d->emit(d->emit_ctx, &o);
}

static void out_simple(struct ccmap_dir *d, unsigned kind, uint64_t page, uint64_t version)
{
	struct ccmap_dir_out o = {
		.kind = (uint8_t)kind, .dst = d->self, .share = d->share, .page = page,
		.version = version, .requester = CCMAP_NODE_NONE,
	};

	d->emit(d->emit_ctx, &o);
}

int ccmap_dir_init(struct ccmap_dir *d, uint16_t self, uint16_t share,
		   uint64_t npages, uint64_t members, ccmap_dir_emit_fn emit, void *ctx)
{
	memset(d, 0, sizeof(*d));
	if (self > CCMAP_MAX_NODE_ID || !(members & BIT(self)) || !emit ||
	    share >= CCMAP_MAX_SHARES || npages == 0 ||
	    npages > SIZE_MAX / sizeof(struct ccmap_dir_page))
		return -CCMAP_E_INVAL;
	d->pages = calloc(npages, sizeof(*d->pages));
	if (!d->pages)
		return -CCMAP_E_NOMEM;
	for (uint64_t i = 0; i < npages; i++)
		d->pages[i].owner = d->pages[i].reverted_from = CCMAP_NODE_NONE;
	d->self = self;
	d->share = share;
	d->npages = npages;
	d->members = members;
	d->alive = members;
	d->emit = emit;
	d->emit_ctx = ctx;
	return 0;
}

void ccmap_dir_free(struct ccmap_dir *d)
{
	if (!d->pages)
		return;
	for (uint64_t i = 0; i < d->npages; i++)
		free(d->pages[i].txn);
	free(d->pages);
	d->pages = NULL;
}

/*
 * End of a transaction: all acks are in (or their senders died).
 * [model: dir_finish]
 */
static void finish(struct ccmap_dir *d, uint64_t page)
{
	struct ccmap_dir_page *pg = &d->pages[page];
	struct ccmap_dir_txn *t = pg->txn;
	uint16_t r = t->cur.node;

	assert(t->active && t->waiting == 0 && t->data_from == CCMAP_NODE_NONE);
	/* Every holder other than the requester has given the page up (E) or
	 * downgraded to S (READ); the old owner's data is in the home replica. */
	assert(pg->owner == CCMAP_NODE_NONE);
	if (t->cur.type == CCMAP_T_READ_REQ) {
		if (!t->requester_gone) {
			pg->copyset |= BIT(r);
			out_grant(d, r, page, t->cur.req_id, CCMAP_MODE_S, true, pg->version);
		}
	} else {
		/* I1: no other copy may survive an E grant */
		assert((pg->copyset & ~BIT(r)) == 0);
		pg->copyset = 0;
		if (!t->requester_gone) {
			pg->owner = r;
			pg->version++;
			out_grant(d, r, page, t->cur.req_id, CCMAP_MODE_E, !t->no_data,
				  pg->version);
		}
	}
	t->active = false;
}

/*
 * Start serving request q (page idle, pg->txn allocated with active false).
 * Either completes at once (t->active false on return) or leaves forwards in
 * flight (t->active true).  [model: dir_start]
 */
static void start(struct ccmap_dir *d, uint64_t page, const struct ccmap_dir_req *q)
{
	struct ccmap_dir_page *pg = &d->pages[page];
	struct ccmap_dir_txn *t = pg->txn;
	uint16_t r = q->node;
	bool holds_current = (pg->copyset & BIT(r)) && q->have_version == pg->version;

	assert(!t->active);
	t->id = ++d->next_txn;
	t->cur = *q;
	t->waiting = 0;
	t->data_from = CCMAP_NODE_NONE;
	t->data_fwd = 0;
	t->no_data = false;
	t->requester_gone = false;

	if (pg->owner == r) {
		/* Requester holds E already: its state machine never asks then. */
		d->st.proto_errors++;
		out_error(d, r, page, q->req_id, CCMAP_E_PROTOCOL,
			  "request for a page the requester already holds exclusive");
		return;
	}
	t->active = true;
	if (pg->owner != CCMAP_NODE_NONE) {
		/* Someone else holds E: get the data back through the home. */
		assert(pg->copyset == 0);
		t->data_from = pg->owner;
		t->data_fwd = q->type == CCMAP_T_READ_REQ ? CCMAP_T_DOWNGRADE : CCMAP_T_FETCH;
		t->waiting = BIT(pg->owner);
		/* A restarted owner sends its RECLAIM unasked. */
		if (!pg->reclaim_wait)
			out_fwd(d, t->data_fwd, pg->owner, page, t, pg->version);
		return;
	}
	/* No owner: the home replica is current (invariant H). */
	if (q->type == CCMAP_T_READ_REQ) {
		pg->copyset |= BIT(r);
		out_grant(d, r, page, q->req_id, CCMAP_MODE_S, !holds_current, pg->version);
		t->active = false;
		return;
	}
	t->no_data = holds_current;
	t->waiting = pg->copyset & ~BIT(r);
	for (unsigned n = 0; n < CCMAP_MAX_NODES; n++)
		if (t->waiting & BIT(n))
			out_fwd(d, CCMAP_T_INVALIDATE, (uint16_t)n, page, t, pg->version);
	if (t->waiting == 0)
		finish(d, page);
}

/* Serve queued requests until one leaves a transaction in progress. */
/* Drop @node's queued requests, keeping the others in FIFO order. */
static unsigned int drop_queued(struct ccmap_dir_txn *t, uint16_t node)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < t->qlen; i++) {
		struct ccmap_dir_req q = t->q[(t->qhead + i) % CCMAP_MAX_NODES];

		if (q.node != node)
			t->q[(t->qhead + n++) % CCMAP_MAX_NODES] = q;
	}
	t->qlen = n;
	return n;
}

static void run_queue(struct ccmap_dir *d, uint64_t page)
{
	struct ccmap_dir_page *pg = &d->pages[page];
	struct ccmap_dir_txn *t = pg->txn;

	while (t && !t->active) {
		struct ccmap_dir_req q;

		if (t->qlen == 0) {
			free(t);
			pg->txn = NULL;
			d->busy--;
			return;
		}
		q = t->q[t->qhead];
		t->qhead = (t->qhead + 1) % CCMAP_MAX_NODES;
		t->qlen--;
		assert(d->alive & BIT(q.node)); /* node_down() purges the queue */
		start(d, page, &q);
	}
}

/* Common checks for an event from src about page.  Returns 0 or -code;
 * *reply tells whether an ERROR may be sent back (src is a live member). */
static int check_event(struct ccmap_dir *d, uint16_t src, uint64_t page, bool *reply)
{
	*reply = false;
	if (src > CCMAP_MAX_NODE_ID || !(d->members & BIT(src))) {
		d->st.proto_errors++;
		return -CCMAP_E_RANGE;
	}
	if (!(d->alive & BIT(src))) {
		d->st.dropped_dead++;
		return -CCMAP_E_NODE_DOWN;
	}
	*reply = true;
	if (page >= d->npages) {
		d->st.proto_errors++;
		return -CCMAP_E_RANGE;
	}
	if (!is_home(d, page)) {
		d->st.proto_errors++;
		return -CCMAP_E_NOT_HOME;
	}
	return 0;
}

int ccmap_dir_request(struct ccmap_dir *d, uint16_t src, unsigned type,
		      uint64_t page, uint64_t req_id, uint64_t have_version)
{
	struct ccmap_dir_req q = {
		.node = src, .type = (uint8_t)type, .req_id = req_id,
		.have_version = have_version,
	};
	struct ccmap_dir_page *pg;
	struct ccmap_dir_txn *t;
	bool reply;
	int rc;

	if (type != CCMAP_T_READ_REQ && type != CCMAP_T_WRITE_REQ)
		return -CCMAP_E_INVAL;
	rc = check_event(d, src, page, &reply);
	if (rc) {
		if (reply)
			out_error(d, src, page, req_id, -rc,
				  rc == -CCMAP_E_NOT_HOME ? "page is not homed at this node"
							  : "page beyond the end of the share");
		return rc;
	}
	d->st.requests++;
	pg = &d->pages[page];
	t = pg->txn;
	if (t) {
		/* Busy: queue behind the transaction in progress (I2, I3). */
		bool dup = t->active && t->cur.node == src && !t->requester_gone;

		for (unsigned i = 0; i < t->qlen && !dup; i++)
			dup = t->q[(t->qhead + i) % CCMAP_MAX_NODES].node == src;
		if (dup || t->qlen == CCMAP_MAX_NODES) {
			d->st.proto_errors++;
			out_error(d, src, page, req_id, CCMAP_E_PROTOCOL,
				  "a request for this page is already pending");
			return -CCMAP_E_PROTOCOL;
		}
		t->q[(t->qhead + t->qlen) % CCMAP_MAX_NODES] = q;
		t->qlen++;
		d->st.queued++;
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		out_error(d, src, page, req_id, CCMAP_E_NOMEM, "home out of memory");
		return -CCMAP_E_NOMEM;
	}
	t->data_from = CCMAP_NODE_NONE;
	pg->txn = t;
	d->busy++;
	if (d->awaiting) {
		/* Recovering: served once every holder has reported. */
		t->q[0] = q;
		t->qlen = 1;
		d->st.queued++;
		return 0;
	}
	start(d, page, &q);
	run_queue(d, page);
	return 0;
}

int ccmap_dir_ack(struct ccmap_dir *d, uint16_t src, unsigned type, uint64_t page,
		  uint64_t txn_id, uint64_t version)
{
	struct ccmap_dir_page *pg;
	struct ccmap_dir_txn *t;
	unsigned want;
	bool reply;
	int rc;

	if (type != CCMAP_T_INV_ACK && type != CCMAP_T_DOWNGRADE_ACK &&
	    type != CCMAP_T_FETCH_ACK)
		return -CCMAP_E_INVAL;
	rc = check_event(d, src, page, &reply);
	if (rc)
		return rc;
	pg = &d->pages[page];
	t = pg->txn;
	if (!t || t->id != txn_id || !(t->waiting & BIT(src))) {
		d->st.proto_errors++;
		return -CCMAP_E_PROTOCOL;
	}
	want = src == t->data_from
		? (t->data_fwd == CCMAP_T_DOWNGRADE ? CCMAP_T_DOWNGRADE_ACK : CCMAP_T_FETCH_ACK)
		: CCMAP_T_INV_ACK;
	if (type != want) {
		d->st.proto_errors++;
		return -CCMAP_E_PROTOCOL;
	}
	if (version != pg->version)
		d->st.version_mismatch++;
	t->waiting &= ~BIT(src);
	if (type == CCMAP_T_INV_ACK) {
		assert(pg->copyset & BIT(src));
		pg->copyset &= ~BIT(src);
	} else {
		/* The owner gave up E and sent its data: it becomes the home's
		 * current copy (invariant H). */
		assert(pg->owner == src && pg->copyset == 0);
		if (src != d->self) {
			out_simple(d, CCMAP_DO_STORE, page, pg->version);
			d->st.stores++;
		}
		pg->owner = CCMAP_NODE_NONE;
		if (type == CCMAP_T_DOWNGRADE_ACK)
			pg->copyset |= BIT(src);
		t->data_from = CCMAP_NODE_NONE;
	}
	if (t->waiting == 0) {
		finish(d, page);
		run_queue(d, page);
	}
	return 0;
}

int ccmap_dir_writeback(struct ccmap_dir *d, uint16_t src, uint64_t page,
			uint64_t req_id, uint64_t version)
{
	struct ccmap_dir_page *pg;
	struct ccmap_dir_out o;
	bool reply;
	int rc = check_event(d, src, page, &reply);

	if (rc) {
		if (reply)
			out_error(d, src, page, req_id, -rc, "writeback for a page not homed here");
		return rc;
	}
	pg = &d->pages[page];
	memset(&o, 0, sizeof(o));
	o.kind = CCMAP_DO_SEND;
	o.type = CCMAP_T_WRITEBACK_ACK;
	o.dst = src;
	o.share = d->share;
	o.page = page;
	o.req_id = req_id;
	o.version = pg->version;
	o.requester = CCMAP_NODE_NONE;
	if (pg->owner == src && version == pg->version) {
		if (src != d->self) {
			out_simple(d, CCMAP_DO_STORE, page, pg->version);
			d->st.stores++;
		}
		d->st.writebacks++;
		o.code = CCMAP_WB_OK;
	} else {
		d->st.stale_writebacks++;
		o.code = CCMAP_WB_STALE;
	}
	d->emit(d->emit_ctx, &o);
	return o.code == CCMAP_WB_OK ? 0 : -CCMAP_E_PROTOCOL;
}

/* [model: dir_node_down] */
/*
 * A restarted owner's page is settled: its RECLAIM stored the data, or
 * (@revert) there is none and the home copy is all there is.  The page has
 * no owner any more; a transaction that waited for the data goes on.
 */
static void release_owner(struct ccmap_dir *d, uint64_t page, bool revert)
{
	struct ccmap_dir_page *pg = &d->pages[page];
	struct ccmap_dir_txn *t = pg->txn;
	uint16_t owner = pg->owner;

	pg->owner = CCMAP_NODE_NONE;
	pg->reclaim_wait = false;
	if (revert) {
		pg->reverted_from = owner;
		pg->version++;
		d->st.reverts++;
		out_simple(d, CCMAP_DO_REVERT, page, pg->version);
	}
	if (t && t->active && t->data_from == owner) {
		t->waiting &= ~BIT(owner);
		t->data_from = CCMAP_NODE_NONE;
		if (t->waiting == 0) {
			finish(d, page);
			run_queue(d, page);
		}
	}
}

int ccmap_dir_reclaim(struct ccmap_dir *d, uint16_t src, uint64_t page,
		      uint64_t req_id, uint64_t version)
{
	struct ccmap_dir_page *pg;
	struct ccmap_dir_out o;
	bool reply;
	int rc = check_event(d, src, page, &reply);

	if (rc) {
		if (reply)
			out_error(d, src, page, req_id, -rc, "reclaim for a page not homed here");
		return rc;
	}
	pg = &d->pages[page];
	memset(&o, 0, sizeof(o));
	o.kind = CCMAP_DO_SEND;
	o.type = CCMAP_T_WRITEBACK_ACK;
	o.dst = src;
	o.share = d->share;
	o.page = page;
	o.req_id = req_id;
	o.requester = CCMAP_NODE_NONE;
	if (pg->reclaim_wait && pg->owner == src) {
		bool ok = version == pg->version;

		if (ok) {
			out_simple(d, CCMAP_DO_STORE, page, pg->version);
			d->st.stores++;
			d->st.reclaims++;
		} else {
			d->st.stale_reclaims++;
		}
		o.code = ok ? CCMAP_WB_OK : CCMAP_WB_STALE;
		o.version = pg->version;
		d->emit(d->emit_ctx, &o);
		release_owner(d, page, !ok);
		return ok ? 0 : -CCMAP_E_PROTOCOL;
	}
	if ((d->awaiting & BIT(src)) && pg->owner == CCMAP_NODE_NONE && pg->copyset == 0 &&
	    !(pg->txn && pg->txn->active)) {
		/* The previous incarnation gave it to src: its copy is the newest. */
		out_simple(d, CCMAP_DO_STORE, page, pg->version);
		d->st.stores++;
		d->st.adopted++;
		o.code = CCMAP_WB_OK;
		o.version = pg->version;
		d->emit(d->emit_ctx, &o);
		return 0;
	}
	if (src != d->self && pg->reverted_from == src && version + 1 == pg->version &&
	    pg->owner == CCMAP_NODE_NONE && pg->copyset == 0 && !(pg->txn && pg->txn->active)) {
		out_simple(d, CCMAP_DO_STORE, page, pg->version);
		pg->reverted_from = CCMAP_NODE_NONE;
		d->st.stores++;
		d->st.reclaims++;
		o.code = CCMAP_WB_OK;
	} else {
		d->st.stale_reclaims++;
		o.code = CCMAP_WB_STALE;
	}
	o.version = pg->version;
	d->emit(d->emit_ctx, &o);
	return o.code == CCMAP_WB_OK ? 0 : -CCMAP_E_PROTOCOL;
}

int ccmap_dir_node_restart(struct ccmap_dir *d, uint16_t node)
{
	if (node > CCMAP_MAX_NODE_ID || !(d->members & BIT(node)) || node == d->self)
		return -CCMAP_E_INVAL;
	if (!(d->alive & BIT(node)))
		return 0;
	d->alive &= ~BIT(node);
	for (uint64_t page = 0; page < d->npages; page++) {
		struct ccmap_dir_page *pg = &d->pages[page];
		struct ccmap_dir_txn *t = pg->txn;

		/* Its S copies are gone with the old policy. */
		pg->copyset &= ~BIT(node);
		if (pg->owner == node && !pg->reclaim_wait) {
			pg->reclaim_wait = true;
			d->st.reclaim_waits++;
		}
		if (!t)
			continue;
		drop_queued(t, node);
		if (t->active && t->cur.node == node)
			t->requester_gone = true;
		/* An INV_ACK it will not send; its data comes as a RECLAIM. */
		if ((t->waiting & BIT(node)) && t->data_from != node)
			t->waiting &= ~BIT(node);
		if (t->active && t->waiting == 0) {
			finish(d, page);
			run_queue(d, page);
		} else if (!t->active && !d->awaiting) {
			run_queue(d, page);
		} else if (!t->active && !t->qlen) {
			free(t);
			pg->txn = NULL;
			d->busy--;
		}
	}
	return 0;
}

int ccmap_dir_reclaim_done(struct ccmap_dir *d, uint16_t src)
{
	unsigned long n = 0;

	if (src > CCMAP_MAX_NODE_ID || !(d->members & BIT(src)) || src == d->self)
		return -CCMAP_E_RANGE;
	if (!(d->alive & BIT(src)))
		return -CCMAP_E_NODE_DOWN;
	for (uint64_t page = 0; page < d->npages; page++) {
		struct ccmap_dir_page *pg = &d->pages[page];

		if (pg->reclaim_wait && pg->owner == src) {
			release_owner(d, page, true);
			n++;
		}
	}
	if (d->awaiting & BIT(src)) {
		d->awaiting &= ~BIT(src);
		if (!d->awaiting)
			ccmap_dir_release(d);
	}
	return (int)(n > 0 ? (n > INT32_MAX ? INT32_MAX : n) : 0);
}

void ccmap_dir_hold(struct ccmap_dir *d, uint64_t nodes)
{
	d->awaiting = nodes & d->members & d->alive & ~BIT(d->self);
}

uint64_t ccmap_dir_release(struct ccmap_dir *d)
{
	uint64_t missing = d->awaiting;

	d->awaiting = 0;
	for (uint64_t page = 0; page < d->npages; page++) {
		struct ccmap_dir_page *pg = &d->pages[page];
		struct ccmap_dir_txn *t = pg->txn;

		if (pg->rehome == CCMAP_RH_CURRENT) {
			d->st.rehome_kept++;
		} else if (pg->rehome) {
			/* Its last data may have died with its home. */
			pg->version++;
			d->st.rehome_reverted++;
			out_simple(d, CCMAP_DO_REVERT, page, pg->version);
		}
		pg->rehome = CCMAP_RH_NONE;
		if (t && !t->active)
			run_queue(d, page);
	}
	return missing;
}

static int node_down(struct ccmap_dir *d, uint16_t node, bool new_session);

int ccmap_dir_set_lost(struct ccmap_dir *d, uint64_t lost)
{
	uint64_t before = d->lost;
	int moved_in = 0;

	if ((lost & ~d->members) || (before & ~lost))
		return -CCMAP_E_INVAL;
	if (lost == before)
		return 0;
	for (uint16_t id = 0; id < CCMAP_MAX_NODES; id++)
		if ((lost & d->alive & BIT(id)) && id != d->self)
			node_down(d, id, false);
	for (uint64_t page = 0; page < d->npages; page++) {
		struct ccmap_dir_page *pg = &d->pages[page];
		uint16_t was = ccmap_home_of(d->members, before, d->share, page);
		uint16_t now = ccmap_home_of(d->members, lost, d->share, page);

		if (was == now || (was != d->self && now != d->self))
			continue;
		if (pg->txn) {
			free(pg->txn);
			pg->txn = NULL;
			d->busy--;
		}
		memset(pg, 0, sizeof(*pg));
		pg->owner = pg->reverted_from = CCMAP_NODE_NONE;
		if (now == d->self) {
			pg->rehome = CCMAP_RH_EMPTY;
			d->st.rehomed++;
			if (moved_in < INT32_MAX)
				moved_in++;
		}
	}
	d->lost = lost;
	d->alive &= ~lost;
	if (moved_in)
		d->awaiting |= d->members & d->alive & ~BIT(d->self);
	return moved_in;
}

int ccmap_dir_rehome_copy(struct ccmap_dir *d, uint16_t src, uint64_t page,
			  uint64_t req_id, uint64_t version, bool current)
{
	struct ccmap_dir_page *pg;
	bool reply, newer;
	int rc = check_event(d, src, page, &reply);

	if (rc) {
		if (reply)
			out_error(d, src, page, req_id, -rc, "re-homed copy of a page not homed here");
		return rc;
	}
	pg = &d->pages[page];
	if (!pg->rehome || (src != d->self && !(d->awaiting & BIT(src)))) {
		newer = false;		/* too late: the page is served already */
	} else if (current) {
		if (pg->rehome == CCMAP_RH_CURRENT && version != pg->version)
			d->st.version_mismatch++;	/* S copies differ: cannot be */
		newer = pg->rehome != CCMAP_RH_CURRENT || version > pg->version;
	} else {
		newer = pg->rehome == CCMAP_RH_EMPTY ||
			(pg->rehome == CCMAP_RH_STALE && version > pg->version);
	}
	if (newer) {
		pg->version = version;
		pg->rehome = current ? CCMAP_RH_CURRENT : CCMAP_RH_STALE;
		if (src != d->self) {
			out_simple(d, CCMAP_DO_STORE, page, pg->version);
			d->st.stores++;
		}
		d->st.rehome_copies++;
	}
	return newer ? 0 : -CCMAP_E_PROTOCOL;
}

int ccmap_dir_node_down(struct ccmap_dir *d, uint16_t node)
{
	return node_down(d, node, false);
}

/*
 * @new_session: called by node_up for a node whose new session starts: its
 * old state goes, but a recovery still awaits the RECLAIM_DONE that session
 * brings.
 */
static int node_down(struct ccmap_dir *d, uint16_t node, bool new_session)
{
	if (node > CCMAP_MAX_NODE_ID || !(d->members & BIT(node)) || node == d->self)
		return -CCMAP_E_INVAL;
	if (!(d->alive & BIT(node)))
		return 0;
	d->alive &= ~BIT(node);
	for (uint64_t page = 0; page < d->npages; page++) {
		struct ccmap_dir_page *pg = &d->pages[page];
		struct ccmap_dir_txn *t = pg->txn;

		pg->copyset &= ~BIT(node);
		if (t && !t->active) {
			/* recovering: only queued requests */
			if (!drop_queued(t, node)) {
				free(t);
				pg->txn = NULL;
				d->busy--;
			}
			continue;
		}
		if (t) {
			drop_queued(t, node);
			if (t->cur.node == node)
				t->requester_gone = true;
			if (t->waiting & BIT(node)) {
				t->waiting &= ~BIT(node);
				if (t->data_from == node)
					t->data_from = CCMAP_NODE_NONE;
			}
		}
		if (pg->owner == node) {
			/* Its only up-to-date copy is gone: revert to the home
			 * replica, under a new version. */
			pg->owner = CCMAP_NODE_NONE;
			pg->reclaim_wait = false;
			pg->reverted_from = node;
			pg->version++;
			d->st.reverts++;
			out_simple(d, CCMAP_DO_REVERT, page, pg->version);
		}
		if (t && t->waiting == 0) {
			finish(d, page);
			run_queue(d, page);
		}
	}
	if (!new_session && (d->awaiting & BIT(node))) {
		d->awaiting &= ~BIT(node);
		if (!d->awaiting)
			ccmap_dir_release(d);
	}
	return 0;
}

int ccmap_dir_node_up(struct ccmap_dir *d, uint16_t node)
{
	int rc;

	if (node > CCMAP_MAX_NODE_ID || !(d->members & BIT(node)) || node == d->self)
		return -CCMAP_E_INVAL;
	if (d->alive & BIT(node)) {
		/* new incarnation without a seen failure: forget the old one */
		rc = node_down(d, node, true);
		if (rc)
			return rc;
	}
	d->alive |= BIT(node);
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int bad(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf && len) {
		va_start(ap, fmt);
		vsnprintf(buf, len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

int ccmap_dir_check(const struct ccmap_dir *d, char *buf, size_t len)
{
	unsigned busy = 0;

	if (len)
		buf[0] = 0;	/* "" when consistent: callers print it either way */

	for (uint64_t page = 0; page < d->npages; page++) {
		const struct ccmap_dir_page *pg = &d->pages[page];
		const struct ccmap_dir_txn *t = pg->txn;
		unsigned long long p = (unsigned long long)page;

		if (!is_home(d, page)) {
			if (pg->owner != CCMAP_NODE_NONE || pg->copyset || t)
				return bad(buf, len, "page %llu not homed here has state", p);
			continue;
		}
		/* A restarted owner is down until its new incarnation is up. */
		if (pg->owner != CCMAP_NODE_NONE && !(d->alive & BIT(pg->owner)) &&
		    !pg->reclaim_wait)
			return bad(buf, len, "page %llu owned by dead/unknown node %u", p,
				   pg->owner);
		if (pg->reclaim_wait && pg->owner == CCMAP_NODE_NONE)
			return bad(buf, len, "page %llu awaits a reclaim from nobody", p);
		if (pg->copyset & ~d->alive)
			return bad(buf, len, "page %llu copyset has dead nodes", p);
		if (!t) {
			if (pg->owner != CCMAP_NODE_NONE && pg->copyset)
				return bad(buf, len, "page %llu: owner %u and copyset 0x%llx (I1)",
					   p, pg->owner, (unsigned long long)pg->copyset);
			continue;
		}
		busy++;
		if (!t->active && d->awaiting && t->qlen)
			continue;	/* recovering: requests wait */
		if (!t->active)
			return bad(buf, len, "page %llu has an inactive transaction", p);
		if (t->waiting == 0)
			return bad(buf, len, "page %llu transaction waits for nothing", p);
		if (t->waiting & ~d->alive & ~(pg->reclaim_wait ? BIT(pg->owner) : 0))
			return bad(buf, len, "page %llu waits for dead nodes", p);
		if (t->data_from != CCMAP_NODE_NONE) {
			if (t->data_from != pg->owner || t->waiting != BIT(t->data_from) ||
			    pg->copyset)
				return bad(buf, len, "page %llu: inconsistent fetch state", p);
		} else if (pg->owner != CCMAP_NODE_NONE ||
			   (t->waiting & ~pg->copyset) ||
			   t->cur.type != CCMAP_T_WRITE_REQ) {
			return bad(buf, len, "page %llu: inconsistent invalidation state", p);
		}
		if (t->qlen > CCMAP_MAX_NODES)
			return bad(buf, len, "page %llu queue overflow", p);
		for (unsigned i = 0; i < t->qlen; i++) {
			uint16_t a = t->q[(t->qhead + i) % CCMAP_MAX_NODES].node;

			if (!(d->alive & BIT(a)))
				return bad(buf, len, "page %llu queues dead node %u", p, a);
			if (a == t->cur.node && !t->requester_gone)
				return bad(buf, len, "page %llu: node %u queued twice (I3)", p, a);
			for (unsigned j = i + 1; j < t->qlen; j++)
				if (t->q[(t->qhead + j) % CCMAP_MAX_NODES].node == a)
					return bad(buf, len, "page %llu: node %u queued twice (I3)",
						   p, a);
		}
	}
	if (busy != d->busy)
		return bad(buf, len, "busy count %u, expected %u", d->busy, busy);
	return 0;
}

/* ---- requester side --------------------------------------------------------- */

/* [model: np_fault] */
int ccmap_np_fault(struct ccmap_npage *p, bool write, uint64_t new_req_id,
		   struct ccmap_np_action *a)
{
	memset(a, 0, sizeof(*a));
	if (write ? p->state == CCMAP_PS_E : p->state != CCMAP_PS_I) {
		a->flags = CCMAP_NA_GO;
		return 0;
	}
	if (p->pending) {
		/* One request per page at a time (I3); a write fault behind a
		 * pending read retries after the read grant. */
		a->flags = CCMAP_NA_WAIT;
		return 0;
	}
	p->pending = write ? CCMAP_T_WRITE_REQ : CCMAP_T_READ_REQ;
	p->req_id = new_req_id;
	a->flags = CCMAP_NA_SEND_REQ | CCMAP_NA_WAIT;
	a->req_type = p->pending;
	a->req_id = new_req_id;
	a->have_version = p->state == CCMAP_PS_S ? p->version : CCMAP_NO_VERSION;
	return 0;
}

/* [model: np_grant] */
int ccmap_np_grant(struct ccmap_npage *p, uint8_t mode, bool has_data,
		   uint64_t version, uint64_t req_id, struct ccmap_np_action *a)
{
	memset(a, 0, sizeof(*a));
	if (!p->pending || p->req_id != req_id)
		return -CCMAP_E_PROTOCOL;
	if (mode != (p->pending == CCMAP_T_READ_REQ ? CCMAP_MODE_S : CCMAP_MODE_E))
		return -CCMAP_E_PROTOCOL;
	if (!has_data) {
		/* Upgrade without data is only valid for the S copy the home
		 * knew we hold: the E version is exactly one more. */
		if (mode != CCMAP_MODE_E || p->state != CCMAP_PS_S ||
		    p->version + 1 != version)
			return -CCMAP_E_PROTOCOL;
	}
	if (has_data)
		a->flags |= CCMAP_NA_INSTALL;
	a->flags |= CCMAP_NA_WAKE;
	p->state = mode == CCMAP_MODE_E ? CCMAP_PS_E : CCMAP_PS_S;
	p->version = version;
	p->pending = 0;
	return 0;
}

/* [model: np_forward] */
int ccmap_np_forward(struct ccmap_npage *p, unsigned type, uint64_t version,
		     struct ccmap_np_action *a)
{
	memset(a, 0, sizeof(*a));
	(void)version; /* the home compares the version we send back */
	switch (type) {
	case CCMAP_T_INVALIDATE:
		/* A pending WRITE upgrade stays pending; the home will send
		 * the data with the grant since we left its copyset. */
		if (p->state != CCMAP_PS_S)
			return -CCMAP_E_PROTOCOL;
		p->state = CCMAP_PS_I;
		a->flags = CCMAP_NA_ZAP | CCMAP_NA_REPLY;
		a->reply_type = CCMAP_T_INV_ACK;
		break;
	case CCMAP_T_DOWNGRADE:
		if (p->state != CCMAP_PS_E)
			return -CCMAP_E_PROTOCOL;
		p->state = CCMAP_PS_S;
		a->flags = CCMAP_NA_MKCLEAN | CCMAP_NA_READ | CCMAP_NA_REPLY;
		a->reply_type = CCMAP_T_DOWNGRADE_ACK;
		break;
	case CCMAP_T_FETCH:
		if (p->state != CCMAP_PS_E)
			return -CCMAP_E_PROTOCOL;
		p->state = CCMAP_PS_I;
		a->flags = CCMAP_NA_ZAP | CCMAP_NA_READ | CCMAP_NA_REPLY;
		a->reply_type = CCMAP_T_FETCH_ACK;
		break;
	default:
		return -CCMAP_E_INVAL;
	}
	a->version = p->version;
	return 0;
}

int ccmap_np_error(struct ccmap_npage *p, uint64_t req_id, struct ccmap_np_action *a)
{
	memset(a, 0, sizeof(*a));
	if (!p->pending || p->req_id != req_id)
		return -CCMAP_E_PROTOCOL;
	p->pending = 0;
	a->flags = CCMAP_NA_FAIL | CCMAP_NA_WAKE;
	return 0;
}

void ccmap_np_home_down(struct ccmap_npage *p, struct ccmap_np_action *a)
{
	memset(a, 0, sizeof(*a));
	if (p->pending) {
		p->pending = 0;
		a->flags |= CCMAP_NA_FAIL | CCMAP_NA_WAKE;
	}
	if (p->state != CCMAP_PS_I) {
		p->state = CCMAP_PS_I;
		a->flags |= CCMAP_NA_ZAP;
	}
}

int ccmap_dir_out_msg(const struct ccmap_dir_out *o, uint16_t self,
		      const uint8_t *data, struct ccmap_msg *m)
{
	ccmap_msg_init(m, o->type, self, 0, o->req_id);
	switch (o->type) {
	case CCMAP_T_GRANT:
		m->u.grant.share = o->share;
		m->u.grant.mode = o->mode;
		m->u.grant.page = o->page;
		m->u.grant.version = o->version;
		m->u.grant.gflags = o->with_data ? CCMAP_GRANT_F_DATA : 0;
		m->u.grant.data = o->with_data ? data : NULL;
		return 0;
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH:
		m->u.fwd.share = o->share;
		m->u.fwd.requester = o->requester;
		m->u.fwd.page = o->page;
		m->u.fwd.version = o->version;
		return 0;
	case CCMAP_T_ERROR:
		m->u.error.code = o->code;
		m->u.error.share = o->share;
		m->u.error.page = o->page;
		snprintf(m->u.error.reason, sizeof(m->u.error.reason), "%s",
			 o->reason ? o->reason : "refused");
		return 0;
	case CCMAP_T_WRITEBACK_ACK:
		m->u.wback.share = o->share;
		m->u.wback.status = o->code;
		m->u.wback.page = o->page;
		m->u.wback.version = o->version;
		return 0;
	}
	return -CCMAP_E_INVAL;
}
