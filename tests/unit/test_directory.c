// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the home directory and requester page state (directory.c).
 *
 * A small simulated cluster drives the pure state machines the way ccmapd
 * will: every message is encoded with the real wire encoder, carried as
 * bytes on a FIFO per ordered node pair (including a node's queue to
 * itself), reassembled with ccmap_rx in random chunk sizes and decoded.
 * Each node has a replica of every page (4 KiB of real bytes); a page's
 * contents encode a counter, so every read checks it sees the latest write.
 *
 * After every step the simulation checks:
 *   - single writer / multiple readers, counting grants still in flight:
 *     never (E or GRANT E in flight) on one node while another node has
 *     (S, E, or a grant in flight) for the page;
 *   - every node holding S or E has the latest contents;
 *   - ccmap_dir_check() (directory invariants I1..I4) on every home;
 * and at the end (no new accesses, all messages delivered) that every
 * request was granted (or failed because its home died) and every home
 * is idle.
 */
#include <ccmap/directory.h>
#include <ccmap/proto.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define N   3          /* nodes 0..N-1 */
#define NP  4          /* pages of the one share */
#define PG  CCMAP_PAGE_SIZE
#define SHARE 0

/* ---- simulated cluster ------------------------------------------------ */

struct chan {
	uint8_t *buf;
	size_t head, len, cap;
	unsigned frames;
};

struct node {
	bool up;
	struct ccmap_dir dir;
	struct ccmap_npage np[NP];
	uint8_t replica[NP][PG];
	struct ccmap_rx rx[N];        /* from each source */
	uint64_t tx_seq[N];           /* to each destination */
	uint64_t next_req;
	int want[NP];                 /* blocked access: 0, 1 read, 2 write */
	const uint8_t *cur_data;      /* page data of the frame being handled */
};

struct sim {
	struct node nd[N];
	struct chan ch[N][N];
	uint64_t truth[NP];           /* latest value of each page */
	int gS[N][NP], gE[N][NP];     /* grants in flight */
	unsigned max_chunk;           /* feed at most this many bytes at a time */
	bool expect_wb_ok;
	/* counters */
	unsigned long reads, writes, requests, grants, fails, reverts, wbs, steps;
	unsigned long agent_restarts, reclaims;
	bool adopt[N][NP];            /* a survivor's copy on its way to a restarted home */
	uint64_t lost;                /* nodes lost for good: their pages re-homed */
	unsigned long losses, rehome_copies;
	unsigned long violations;
	char why[256];
};

static struct sim S;
static uint64_t members = (1u << N) - 1;

static uint16_t home_of(uint64_t page)
{
	return ccmap_home_of(members, S.lost, SHARE, page);
}

static void fill(uint8_t *p, uint64_t page, uint64_t v)
{
	ccmap_put_le64(p, v);
	for (int i = 8; i < PG; i++)
		p[i] = (uint8_t)(v * 131 + (uint64_t)i * 7 + page * 13);
}

static bool holds_value(const uint8_t *p, uint64_t page, uint64_t v)
{
	static uint8_t want[NP][PG];
	static uint64_t want_v[NP];
	static bool valid[NP];

	if (ccmap_get_le64(p) != v)
		return false;
	if (!valid[page] || want_v[page] != v) {
		fill(want[page], page, v);
		want_v[page] = v;
		valid[page] = true;
	}
	return !memcmp(p, want[page], PG);
}

__attribute__((format(printf, 1, 2)))
static void violation(const char *fmt, ...)
{
	va_list ap;

	if (!S.violations++) {
		va_start(ap, fmt);
		vsnprintf(S.why, sizeof(S.why), fmt, ap);
		va_end(ap);
		printf("# VIOLATION at step %lu: %s\n", S.steps, S.why);
	}
}

static void chan_push(struct chan *c, const uint8_t *b, size_t n)
{
	if (c->head + c->len + n > c->cap) {
		if (c->buf)
			memmove(c->buf, c->buf + c->head, c->len);
		c->head = 0;
		if (c->len + n > c->cap) {
			c->cap = (c->len + n) * 2;
			c->buf = realloc(c->buf, c->cap);
			if (!c->buf)
				abort();
		}
	}
	memcpy(c->buf + c->head + c->len, b, n);
	c->len += n;
	c->frames++;
}

static void send(uint16_t src, uint16_t dst, struct ccmap_msg *m)
{
	static uint8_t buf[CCMAP_MAX_FRAME];
	struct ccmap_err err;
	long n;

	if (!S.nd[src].up || !S.nd[dst].up)
		return; /* connection is down: frame lost */
	m->hdr.sender = src;
	m->hdr.seq = S.nd[src].tx_seq[dst]++;
	n = ccmap_encode(m, NULL, buf, sizeof(buf), &err);
	if (n < 0) {
		violation("encode %s failed: %s", ccmap_type_name(m->hdr.type), err.msg);
		return;
	}
	if (m->hdr.type == CCMAP_T_GRANT) {
		if (m->u.grant.mode == CCMAP_MODE_E)
			S.gE[dst][m->u.grant.page]++;
		else
			S.gS[dst][m->u.grant.page]++;
	}
	chan_push(&S.ch[src][dst], buf, (size_t)n);
}

/* Directory output of node `self`. */
static void emit(void *ctx, const struct ccmap_dir_out *o)
{
	struct node *h = ctx;
	uint16_t self = (uint16_t)(h - S.nd);
	struct ccmap_msg m;

	switch (o->kind) {
	case CCMAP_DO_STORE:
		if (!h->cur_data) {
			violation("STORE without data at node %u", self);
			return;
		}
		memcpy(h->replica[o->page], h->cur_data, PG);
		return;
	case CCMAP_DO_REVERT:
		S.reverts++;
		S.truth[o->page] = ccmap_get_le64(h->replica[o->page]);
		return;
	}
	if (o->type == CCMAP_T_GRANT && o->with_data &&
	    !holds_value(h->replica[o->page], o->page, S.truth[o->page]))
		violation("home %u grants stale data for page %llu", self,
			  (unsigned long long)o->page);
	if (ccmap_dir_out_msg(o, self, h->replica[o->page], &m)) {
		violation("directory emitted type %u", o->type);
		return;
	}
	send(self, o->dst, &m);
}

static void node_init(uint16_t i, bool keep_replica)
{
	struct node *n = &S.nd[i];

	ccmap_dir_free(&n->dir);
	if (ccmap_dir_init(&n->dir, i, SHARE, NP, members, emit, n))
		abort();
	memset(n->np, 0, sizeof(n->np));
	memset(n->want, 0, sizeof(n->want));
	for (int s = 0; s < N; s++) {
		ccmap_rx_init(&n->rx[s]);
		n->tx_seq[s] = 0;
	}
	if (S.lost && ccmap_dir_set_lost(&n->dir, S.lost) > 0) {
		/* A restarted agent of a node that took re-homed pages: its
		 * replica holds their home copy (coh_init does the same). */
		for (uint64_t p = 0; p < NP; p++)
			if (home_of(p) == i && ccmap_home_node(members, SHARE, p) != i)
				ccmap_dir_rehome_copy(&n->dir, i, p, 0, 0, true);
	}
	if (!keep_replica)
		for (uint64_t p = 0; p < NP; p++) {
			if (home_of(p) == i)
				fill(n->replica[p], p, 0);
			else
				memset(n->replica[p], 0xa5 ^ (int)i, PG); /* garbage */
		}
	n->up = true;
}

static void sim_init(unsigned max_chunk)
{
	for (int i = 0; i < N; i++)
		ccmap_dir_free(&S.nd[i].dir);
	for (int a = 0; a < N; a++)
		for (int b = 0; b < N; b++)
			free(S.ch[a][b].buf);
	memset(&S, 0, sizeof(S));
	S.max_chunk = max_chunk;
	S.expect_wb_ok = true;
	for (uint16_t i = 0; i < N; i++)
		node_init(i, false);
}

static void sim_free(void)
{
	for (int i = 0; i < N; i++)
		ccmap_dir_free(&S.nd[i].dir);
	for (int a = 0; a < N; a++)
		for (int b = 0; b < N; b++) {
			free(S.ch[a][b].buf);
			S.ch[a][b].buf = NULL;
		}
}

static void access_page(uint16_t ni, uint64_t page, bool write);

static void do_actions(uint16_t ni, uint64_t page, const struct ccmap_np_action *a)
{
	struct node *n = &S.nd[ni];

	if (a->flags & CCMAP_NA_FAIL) {
		if (n->want[page])
			S.fails++;
		n->want[page] = 0;
	}
	if ((a->flags & CCMAP_NA_WAKE) && n->want[page]) {
		int w = n->want[page];

		n->want[page] = 0;
		access_page(ni, page, w == 2); /* the fault retries */
	}
}

/* An application load or store on node ni. */
static void access_page(uint16_t ni, uint64_t page, bool write)
{
	struct node *n = &S.nd[ni];
	struct ccmap_np_action a;

	if (!n->up || n->want[page])
		return;
	if (ccmap_np_fault(&n->np[page], write, ++n->next_req, &a))
		violation("np_fault failed");
	if (a.flags & CCMAP_NA_GO) {
		if (write) {
			S.truth[page]++;
			fill(n->replica[page], page, S.truth[page]);
			S.writes++;
		} else {
			if (!holds_value(n->replica[page], page, S.truth[page]))
				violation("node %u reads stale page %llu: has %llu, latest %llu", ni,
					  (unsigned long long)page,
					  (unsigned long long)ccmap_get_le64(n->replica[page]),
					  (unsigned long long)S.truth[page]);
			S.reads++;
		}
		return;
	}
	if (a.flags & CCMAP_NA_WAIT)
		n->want[page] = write ? 2 : 1;
	if ((a.flags & CCMAP_NA_SEND_REQ) && !S.nd[home_of(page)].up) {
		/* the agent knows the home is down: the fault fails at once */
		if (ccmap_np_error(&n->np[page], a.req_id, &a))
			violation("np_error refused");
		do_actions(ni, page, &a);
		return;
	}
	if (a.flags & CCMAP_NA_SEND_REQ) {
		struct ccmap_msg m;

		ccmap_msg_init(&m, a.req_type, ni, 0, a.req_id);
		m.u.req.share = SHARE;
		m.u.req.page = page;
		m.u.req.have_version = a.have_version;
		S.requests++;
		send(ni, home_of(page), &m);
	}
}

/* msync on node ni: WRITEBACK of an exclusive page to its home. */
static void writeback(uint16_t ni, uint64_t page)
{
	struct node *n = &S.nd[ni];
	struct ccmap_msg m;

	if (!n->up || n->np[page].state != CCMAP_PS_E || home_of(page) == ni)
		return;
	ccmap_msg_init(&m, CCMAP_T_WRITEBACK, ni, 0, ++n->next_req);
	m.u.ack.share = SHARE;
	m.u.ack.page = page;
	m.u.ack.version = n->np[page].version;
	m.u.ack.data = n->replica[page];
	send(ni, home_of(page), &m);
	S.wbs++;
}

static void handle(uint16_t dst, uint16_t src, const struct ccmap_msg *m)
{
	struct node *n = &S.nd[dst];
	struct ccmap_np_action a;
	int rc;

	switch (m->hdr.type) {
	case CCMAP_T_READ_REQ:
	case CCMAP_T_WRITE_REQ:
		rc = ccmap_dir_request(&n->dir, src, m->hdr.type, m->u.req.page, m->hdr.req_id,
				       m->u.req.have_version);
		if (rc)
			violation("dir_request from %u at %u: %s", src, dst, ccmap_strerror(rc));
		break;
	case CCMAP_T_INV_ACK:
	case CCMAP_T_DOWNGRADE_ACK:
	case CCMAP_T_FETCH_ACK:
		n->cur_data = m->u.ack.data;
		rc = ccmap_dir_ack(&n->dir, src, m->hdr.type, m->u.ack.page, m->hdr.req_id,
				   m->u.ack.version);
		n->cur_data = NULL;
		if (rc)
			violation("dir_ack %s from %u at %u: %s", ccmap_type_name(m->hdr.type),
				  src, dst, ccmap_strerror(rc));
		break;
	case CCMAP_T_WRITEBACK:
		n->cur_data = m->u.ack.data;
		if (m->u.ack.flags & CCMAP_WB_F_REHOME) {
			/* Older than a copy held already: not stored, not an error. */
			ccmap_dir_rehome_copy(&n->dir, src, m->u.ack.page, m->hdr.req_id,
					      m->u.ack.version, m->u.ack.flags & CCMAP_WB_F_CURRENT);
			S.rehome_copies++;
		} else if (m->u.ack.flags & CCMAP_WB_F_RECLAIM) {
			S.adopt[src][m->u.ack.page] = false;
			/* The home waits for it (agent_restart): it must be stored. */
			rc = ccmap_dir_reclaim(&n->dir, src, m->u.ack.page, m->hdr.req_id,
					       m->u.ack.version);
			if (rc)
				violation("reclaim of page %llu from %u refused at %u",
					  (unsigned long long)m->u.ack.page, src, dst);
			S.reclaims++;
		} else {
			rc = ccmap_dir_writeback(&n->dir, src, m->u.ack.page, m->hdr.req_id,
						 m->u.ack.version);
			if (rc && S.expect_wb_ok)
				violation("writeback from %u refused", src);
		}
		n->cur_data = NULL;
		break;
	case CCMAP_T_RECLAIM_DONE:
		if (ccmap_dir_reclaim_done(&n->dir, src) < 0)
			violation("RECLAIM_DONE from %u refused at %u", src, dst);
		break;
	case CCMAP_T_WRITEBACK_ACK:
		if (m->u.wback.status != CCMAP_WB_OK && S.expect_wb_ok)
			violation("WRITEBACK_ACK status %u", m->u.wback.status);
		break;
	case CCMAP_T_GRANT: {
		uint64_t p = m->u.grant.page;
		int *g = m->u.grant.mode == CCMAP_MODE_E ? &S.gE[dst][p] : &S.gS[dst][p];

		(*g)--;
		rc = ccmap_np_grant(&n->np[p], m->u.grant.mode, m->u.grant.data != NULL,
				    m->u.grant.version, m->hdr.req_id, &a);
		if (rc) {
			violation("np_grant at %u page %llu refused", dst, (unsigned long long)p);
			break;
		}
		if (a.flags & CCMAP_NA_INSTALL) {
			/* to itself the home sends its own replica: must be unchanged */
			if (src == dst && memcmp(n->replica[p], m->u.grant.data, PG))
				violation("self-grant data differs from the replica");
			memcpy(n->replica[p], m->u.grant.data, PG);
		}
		S.grants++;
		do_actions(dst, p, &a);
		break;
	}
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH: {
		uint64_t p = m->u.fwd.page;
		struct ccmap_msg r;

		rc = ccmap_np_forward(&n->np[p], m->hdr.type, m->u.fwd.version, &a);
		if (rc) {
			violation("np_forward %s at %u page %llu state %u refused",
				  ccmap_type_name(m->hdr.type), dst, (unsigned long long)p,
				  n->np[p].state);
			break;
		}
		ccmap_msg_init(&r, a.reply_type, dst, 0, m->hdr.req_id);
		r.u.ack.share = SHARE;
		r.u.ack.page = p;
		r.u.ack.version = a.version;
		r.u.ack.data = (a.flags & CCMAP_NA_READ) ? n->replica[p] : NULL;
		send(dst, src, &r);
		break;
	}
	case CCMAP_T_ERROR:
		rc = ccmap_np_error(&n->np[m->u.error.page], m->hdr.req_id, &a);
		if (rc)
			violation("unexpected ERROR at %u: %s", dst, m->u.error.reason);
		do_actions(dst, m->u.error.page, &a);
		break;
	default:
		violation("unexpected %s", ccmap_type_name(m->hdr.type));
	}
}

static void check_invariants(void)
{
	char buf[200];

	for (uint64_t p = 0; p < NP; p++) {
		for (int a = 0; a < N; a++) {
			const struct ccmap_npage *x = &S.nd[a].np[p];
			bool aE = S.nd[a].up && (x->state == CCMAP_PS_E || S.gE[a][p] > 0);

			if (S.nd[a].up && x->state != CCMAP_PS_I &&
			    !holds_value(S.nd[a].replica[p], p, S.truth[p]))
				violation("node %d holds page %llu (%c) with stale data", a,
					  (unsigned long long)p, x->state == CCMAP_PS_E ? 'E' : 'S');
			if (S.gE[a][p] + S.gS[a][p] > 1)
				violation("two grants in flight to node %d page %llu", a,
					  (unsigned long long)p);
			if (!aE)
				continue;
			for (int b = 0; b < N; b++) {
				const struct ccmap_npage *y = &S.nd[b].np[p];

				if (b == a || !S.nd[b].up)
					continue;
				if (y->state != CCMAP_PS_I || S.gE[b][p] || S.gS[b][p])
					violation("SWMR: page %llu E on node %d while node %d has %s",
						  (unsigned long long)p, a, b,
						  y->state == CCMAP_PS_E ? "E" :
						  y->state == CCMAP_PS_S ? "S" : "a grant in flight");
			}
		}
	}
	for (int i = 0; i < N; i++)
		if (S.nd[i].up && ccmap_dir_check(&S.nd[i].dir, buf, sizeof(buf)))
			violation("dir_check on node %d: %s", i, buf);
}

/* Deliver the next frame from src to dst, feeding random chunk sizes. */
static bool deliver(uint16_t src, uint16_t dst)
{
	struct chan *c = &S.ch[src][dst];
	struct node *n = &S.nd[dst];
	struct ccmap_msg m;
	int rc;

	if (!c->frames)
		return false;
	for (;;) {
		rc = ccmap_rx_next(&n->rx[src], &m);
		if (rc == 1)
			break;
		if (rc < 0 || c->len == 0) {
			violation("stream %u->%u broken: %s", src, dst, n->rx[src].err.msg);
			return false;
		}
		size_t k = 1 + (size_t)rand() % S.max_chunk;

		if (k > c->len)
			k = c->len;
		k = ccmap_rx_feed(&n->rx[src], c->buf + c->head, k);
		c->head += k;
		c->len -= k;
	}
	c->frames--;
	S.steps++;
	if (m.hdr.sender != src)
		violation("frame from %u claims sender %u", src, m.hdr.sender);
	handle(dst, src, &m);
	check_invariants();
	return true;
}

static bool deliver_any(void)
{
	int cand[N * N], k = 0;

	for (int a = 0; a < N; a++)
		for (int b = 0; b < N; b++)
			if (S.ch[a][b].frames)
				cand[k++] = a * N + b;
	if (!k)
		return false;
	k = cand[rand() % k];
	return deliver((uint16_t)(k / N), (uint16_t)(k % N));
}

static void drain(void)
{
	for (unsigned long guard = 0; deliver_any(); guard++)
		if (guard > 1000000) {
			violation("no quiescence");
			return;
		}
}

/* Connection src->dst reset: frames in flight are lost; forget their grants. */
static void chan_drop(uint16_t src, uint16_t dst)
{
	struct chan *c = &S.ch[src][dst];
	struct ccmap_rx *rx = &S.nd[dst].rx[src];
	size_t have = rx->len - rx->consumed, n = have + c->len, off = 0;
	uint8_t *b = malloc(n + 1);

	if (!b)
		abort();
	memcpy(b, rx->buf + rx->consumed, have);
	if (c->len)
		memcpy(b + have, c->buf + c->head, c->len);
	while (off < n) {
		struct ccmap_msg m;
		size_t used;

		if (ccmap_decode(b + off, n - off, NULL, false, &m, &used, NULL)) {
			violation("undecodable frame in dropped stream");
			break;
		}
		if (m.hdr.type == CCMAP_T_GRANT) {
			if (m.u.grant.mode == CCMAP_MODE_E)
				S.gE[dst][m.u.grant.page]--;
			else
				S.gS[dst][m.u.grant.page]--;
		}
		off += used;
	}
	free(b);
	c->head = c->len = 0;
	c->frames = 0;
	ccmap_rx_init(rx);
}

static void adoptions_lost(uint16_t x);

/* x stops: its frames in flight, its grants and its faults are gone. */
static void node_stop(uint16_t x)
{
	adoptions_lost(x);
	S.nd[x].up = false;
	for (uint16_t i = 0; i < N; i++) {
		chan_drop(x, i);
		chan_drop(i, x);
	}
	for (uint64_t p = 0; p < NP; p++) {
		S.gE[x][p] = S.gS[x][p] = 0;
		S.nd[x].want[p] = 0;
	}
}

static void crash(uint16_t x)
{
	node_stop(x);
	/* pages homed at x revert to x's replica (its durable copy) */
	for (uint64_t p = 0; p < NP; p++)
		if (home_of(p) == x)
			S.truth[p] = ccmap_get_le64(S.nd[x].replica[p]);
	for (uint16_t i = 0; i < N; i++) {
		if (i == x || !S.nd[i].up)
			continue;
		if (ccmap_dir_node_down(&S.nd[i].dir, x))
			violation("node_down failed");
		for (uint64_t p = 0; p < NP; p++) {
			struct ccmap_np_action a;

			if (home_of(p) != x)
				continue;
			ccmap_np_home_down(&S.nd[i].np[p], &a);
			do_actions(i, p, &a);
		}
	}
	check_invariants();
}

/* RECLAIM of @page from @src to its home, with @src's replica data. */
static void send_reclaim(uint16_t src, uint64_t page, uint64_t version)
{
	struct ccmap_msg m;

	ccmap_msg_init(&m, CCMAP_T_WRITEBACK, src, 0, ++S.nd[src].next_req);
	m.u.ack.share = SHARE;
	m.u.ack.flags = CCMAP_WB_F_RECLAIM;
	m.u.ack.page = page;
	m.u.ack.version = version;
	m.u.ack.data = S.nd[src].replica[page];
	send(src, home_of(page), &m);
}

static void send_done(uint16_t src, uint16_t dst)
{
	struct ccmap_msg m;

	ccmap_msg_init(&m, CCMAP_T_RECLAIM_DONE, src, 0, ++S.nd[src].next_req);
	m.u.ack.share = SHARE;
	send(src, dst, &m);
}

/*
 * x's agent dies and restarts at once (kill -9): its rights are gone, its
 * replica stays.  The other homes await its RECLAIMs (node_restart); it
 * sends one per page it held Exclusive, then RECLAIM_DONE to every home.
 * x's own directory starts empty and serves nothing until every other node
 * reported (ccmap_dir_hold): they send back the Exclusive copies they held
 * of pages homed at x, then RECLAIM_DONE.
 */
/* x's frames are lost: copies it was sending to a restarted home are gone. */
static void adoptions_lost(uint16_t x)
{
	for (uint64_t p = 0; p < NP; p++) {
		if (!S.adopt[x][p])
			continue;
		S.adopt[x][p] = false;
		S.truth[p] = ccmap_get_le64(S.nd[home_of(p)].replica[p]);
	}
}

static void agent_restart(uint16_t x)
{
	struct node *n = &S.nd[x];
	uint64_t ver[NP], sver[N][NP];
	bool had[NP], shad[N][NP];

	adoptions_lost(x);

	for (uint64_t p = 0; p < NP; p++) {
		bool held_elsewhere = false;

		had[p] = home_of(p) != x && n->np[p].state == CCMAP_PS_E;
		ver[p] = n->np[p].version;
		for (uint16_t i = 0; i < N; i++) {
			shad[i][p] = i != x && S.nd[i].up && home_of(p) == x &&
				     S.nd[i].np[p].state == CCMAP_PS_E;
			sver[i][p] = S.nd[i].np[p].version;
			held_elsewhere |= shad[i][p];
		}
		/* Without a holder elsewhere, x's replica is what survives. */
		if (home_of(p) == x && !held_elsewhere)
			S.truth[p] = ccmap_get_le64(n->replica[p]);
	}
	for (uint16_t i = 0; i < N; i++) {
		chan_drop(x, i);
		chan_drop(i, x);
	}
	for (uint64_t p = 0; p < NP; p++)
		S.gE[x][p] = S.gS[x][p] = 0;
	for (uint16_t i = 0; i < N; i++) {
		if (i == x || !S.nd[i].up)
			continue;
		if (ccmap_dir_node_restart(&S.nd[i].dir, x) || ccmap_dir_node_up(&S.nd[i].dir, x))
			violation("node_restart/node_up failed");
		S.nd[i].tx_seq[x] = 0;
		for (uint64_t p = 0; p < NP; p++) {
			struct ccmap_np_action a;

			if (home_of(p) != x)
				continue;
			ccmap_np_home_down(&S.nd[i].np[p], &a);
			do_actions(i, p, &a);
		}
	}
	node_init(x, true);
	{
		uint64_t others = 0;

		for (uint16_t i = 0; i < N; i++)
			if (i != x && S.nd[i].up)
				others |= 1ull << i;
		for (uint16_t i = 0; i < N; i++)
			if (i != x && !S.nd[i].up && ccmap_dir_node_down(&n->dir, i))
				violation("node_down at the restarted node failed");
		ccmap_dir_hold(&n->dir, others);
	}
	for (uint64_t p = 0; p < NP; p++)
		if (had[p] && S.nd[home_of(p)].up)
			send_reclaim(x, p, ver[p]);
	for (uint16_t h = 0; h < N; h++)
		if (h != x && S.nd[h].up)
			send_done(x, h);
	for (uint16_t i = 0; i < N; i++) {
		if (i == x || !S.nd[i].up)
			continue;
		for (uint64_t p = 0; p < NP; p++) {
			if (shad[i][p]) {
				send_reclaim(i, p, sver[i][p]);
				S.adopt[i][p] = true;
			}
		}
		send_done(i, x);
	}
	S.agent_restarts++;
	check_invariants();
}

static void restart(uint16_t x)
{
	node_init(x, true);
	for (uint16_t i = 0; i < N; i++) {
		if (i == x || !S.nd[i].up)
			continue;
		if (ccmap_dir_node_up(&S.nd[i].dir, x))
			violation("node_up failed");
		S.nd[i].tx_seq[x] = 0;
	}
	/* Its peers have nothing of its pages (they fenced them): they say so,
	 * which ends the wait of the pages re-homed there (coh_peer_up). */
	for (uint16_t i = 0; i < N; i++)
		if (i != x && S.nd[i].up)
			send_done(i, x);
	for (uint16_t i = 0; i < N; i++)
		if (i != x && !S.nd[i].up && ccmap_dir_node_down(&S.nd[x].dir, i))
			violation("node_down at the restarted node failed");
	check_invariants();
}

/*
 * x's node is lost for good (corosync nodedown, its lease over): the
 * survivors fence its pages remembering their copies, re-home them
 * (ccmap_dir_set_lost), store their own copies, send the others theirs
 * (WRITEBACK REHOME), then RECLAIM_DONE -- what coh_rehome() and
 * on_rehome() do.  x never comes back.
 */
static void lose(uint16_t x)
{
	uint8_t have[N][NP] = { { 0 } };	/* RH_*: 1 old, 2 current */
	uint64_t ver[N][NP] = { { 0 } };

	node_stop(x);
	for (uint16_t i = 0; i < N; i++) {
		if (i == x || !S.nd[i].up)
			continue;
		if (ccmap_dir_node_down(&S.nd[i].dir, x))
			violation("node_down failed");
		for (uint64_t p = 0; p < NP; p++) {
			struct ccmap_npage *np = &S.nd[i].np[p];
			struct ccmap_np_action a;

			if (home_of(p) != x)
				continue;
			have[i][p] = np->state != CCMAP_PS_I ? 2 : np->version ? 1 : 0;
			ver[i][p] = np->version;
			ccmap_np_home_down(np, &a);
			do_actions(i, p, &a);
		}
	}
	S.lost |= 1ull << x;
	for (uint16_t i = 0; i < N; i++) {
		struct ccmap_dir *d = &S.nd[i].dir;

		if (i == x || !S.nd[i].up)
			continue;
		if (ccmap_dir_set_lost(d, S.lost) < 0)
			violation("set_lost refused at node %u", i);
		for (uint64_t p = 0; p < NP; p++) {
			uint8_t *r = S.nd[i].replica[p];

			/* A page this node never held: its replica has the
			 * file's first contents (the garbage stands for them). */
			if (home_of(p) == i && !have[i][p] && !holds_value(r, p, ccmap_get_le64(r)))
				fill(r, p, 0);
		}
		for (uint64_t p = 0; p < NP; p++)
			if (have[i][p] && home_of(p) == i)
				ccmap_dir_rehome_copy(d, i, p, 0, ver[i][p], have[i][p] == 2);
		if (!d->awaiting)
			ccmap_dir_release(d);
	}
	for (uint16_t i = 0; i < N; i++) {
		if (i == x || !S.nd[i].up)
			continue;
		for (uint16_t h = 0; h < N; h++) {
			if (h == i || h == x || !S.nd[h].up)
				continue;
			for (uint64_t p = 0; p < NP; p++) {
				struct ccmap_msg m;

				if (!have[i][p] || home_of(p) != h)
					continue;
				ccmap_msg_init(&m, CCMAP_T_WRITEBACK, i, 0, ++S.nd[i].next_req);
				m.u.ack.share = SHARE;
				m.u.ack.flags = CCMAP_WB_F_REHOME |
						(have[i][p] == 2 ? CCMAP_WB_F_CURRENT : 0);
				m.u.ack.page = p;
				m.u.ack.version = ver[i][p];
				m.u.ack.data = S.nd[i].replica[p];
				send(i, h, &m);
			}
			send_done(i, h);
		}
	}
	S.losses++;
	check_invariants();
}

static bool quiet(void)
{
	for (int i = 0; i < N; i++) {
		if (!S.nd[i].up)
			continue;
		if (S.nd[i].dir.busy)
			return false;
		for (int p = 0; p < NP; p++)
			if (S.nd[i].np[p].pending || S.nd[i].want[p])
				return false;
	}
	for (int a = 0; a < N; a++)
		for (int b = 0; b < N; b++)
			if (S.ch[a][b].frames)
				return false;
	return true;
}

/* ---- deterministic scenarios --------------------------------------------- */

static int st(int node, int page)
{
	return S.nd[node].np[page].state;
}

/* page 0 is homed at node 0, page 1 at node 1, page 2 at node 2 */
static void test_home(void)
{
	OK(home_of(0) == 0 && home_of(1) == 1 && home_of(2) == 2 && home_of(3) == 0,
	   "home of pages 0..3 with nodes {0,1,2}: 0,1,2,0");
	OK(ccmap_home_node(0xe, 0, 0) == 1 && ccmap_home_node(0xe, 0, 4) == 2 &&
	   ccmap_home_node(0xe, 1, 0) == 2 && ccmap_home_node(0x8000000000000001ull, 0, 1) == 63,
	   "home with members {1,2,3}, share offset, node 63");
	OK(ccmap_home_node(0, 0, 0) == CCMAP_NODE_NONE, "no members: no home");
}

static void test_read_sharing(void)
{
	sim_init(PG * 2);
	access_page(1, 0, false);
	access_page(2, 0, false);
	drain();
	OK(st(1, 0) == CCMAP_PS_S && st(2, 0) == CCMAP_PS_S && st(0, 0) == CCMAP_PS_I &&
	   S.nd[0].dir.pages[0].copyset == 0x6 && S.nd[0].dir.st.grants_s == 2 &&
	   S.nd[0].dir.st.invalidates == 0 && S.reads == 2 && quiet() && !S.violations,
	   "read sharing: nodes 1 and 2 get S from home 0, copyset {1,2}");
	access_page(1, 0, false);
	access_page(2, 0, false);
	OK(S.reads == 4 && S.requests == 2 && !S.violations,
	   "both read again locally, without requests");
	sim_free();
}

static void test_write_upgrade(void)
{
	sim_init(PG * 2);
	for (uint16_t i = 0; i < N; i++)
		access_page(i, 0, false);
	drain();
	OK(S.nd[0].dir.pages[0].copyset == 0x7, "all three nodes share page 0");
	access_page(1, 0, true);
	drain();
	OK(st(1, 0) == CCMAP_PS_E && st(0, 0) == CCMAP_PS_I && st(2, 0) == CCMAP_PS_I &&
	   S.nd[0].dir.st.invalidates == 2 && S.nd[0].dir.st.grants_nodata == 1 &&
	   S.nd[0].dir.pages[0].owner == 1 && S.nd[0].dir.pages[0].copyset == 0 &&
	   S.writes == 1 && !S.violations,
	   "write upgrade: INVALIDATE to the home itself and node 2, GRANT E without data");
	access_page(2, 0, false);
	drain();
	OK(st(1, 0) == CCMAP_PS_S && st(2, 0) == CCMAP_PS_S && S.reads == 4 &&
	   S.nd[0].dir.st.downgrades == 1 && !S.violations,
	   "read after write: owner downgraded, reader sees the write");
	sim_free();
}

static void test_ping_pong(void)
{
	sim_init(PG * 2);
	for (int i = 0; i < 20; i++) {
		access_page(1 + i % 2, 0, true);
		drain();
	}
	OK(S.writes == 20 && S.truth[0] == 20 && S.nd[0].dir.st.fetches == 19 &&
	   S.nd[0].dir.pages[0].version == 20 && S.nd[0].dir.st.stores == 19 &&
	   st(2, 0) == CCMAP_PS_E && st(1, 0) == CCMAP_PS_I && !S.violations,
	   "ping-pong of writes between nodes 1 and 2: 19 fetches, version 20");
	access_page(0, 0, false);
	drain();
	OK(S.reads == 1 && !S.violations, "home reads the last value after ping-pong");
	sim_free();
}

static void test_queued(void)
{
	/* home 0 holds E; nodes 1 and 2 ask for E; 2's request queues */
	sim_init(PG * 2);
	access_page(0, 0, true);
	drain();
	access_page(1, 0, true);
	access_page(2, 0, true);
	deliver(1, 0);            /* WRITE_REQ 1: FETCH to the home itself */
	deliver(2, 0);            /* WRITE_REQ 2: queued */
	OK(S.nd[0].dir.st.queued == 1 && S.nd[0].dir.st.fetches == 1,
	   "second writer queued while the fetch is in flight");
	drain();
	OK(S.writes == 3 && S.truth[0] == 3 && st(2, 0) == CCMAP_PS_E &&
	   S.nd[0].dir.st.fetches == 2 && quiet() && !S.violations,
	   "queued requests served in FIFO order: 1 then 2, all 3 writes kept");
	sim_free();
}

static void test_upgrade_race(void)
{
	/* all share page 0; 2 and 1 both upgrade; 2's arrives first at home */
	sim_init(PG * 2);
	for (uint16_t i = 0; i < N; i++)
		access_page(i, 0, false);
	drain();
	access_page(2, 0, true);
	access_page(1, 0, true);
	deliver(2, 0);            /* upgrade of 2: INVALIDATE 0 (self) and 1 */
	deliver(1, 0);            /* upgrade of 1: queued */
	OK(S.nd[0].dir.st.queued == 1, "second upgrade queued behind the invalidation");
	deliver(0, 1);            /* INVALIDATE reaches 1 while its upgrade is pending */
	OK(st(1, 0) == CCMAP_PS_I && S.nd[1].np[0].pending == CCMAP_T_WRITE_REQ,
	   "pending upgrader invalidated: I, request still pending");
	drain();
	OK(S.writes == 2 && st(1, 0) == CCMAP_PS_E && S.nd[0].dir.st.grants_nodata == 1 &&
	   S.nd[0].dir.st.grants_e == 2 && quiet() && !S.violations,
	   "upgrade that lost the race is granted E with data, not without");
	sim_free();
}

static void test_home_is_owner(void)
{
	sim_init(PG * 2);
	access_page(0, 0, true);  /* home writes its own page */
	drain();
	OK(st(0, 0) == CCMAP_PS_E && S.nd[0].dir.pages[0].owner == 0 &&
	   S.nd[0].dir.st.stores == 0, "home acquires E on its own page through itself");
	access_page(1, 0, false);
	drain();
	OK(st(0, 0) == CCMAP_PS_S && st(1, 0) == CCMAP_PS_S && S.reads == 1 &&
	   S.nd[0].dir.st.downgrades == 1 && S.nd[0].dir.st.stores == 0 && !S.violations,
	   "home downgrades itself (no STORE of its own data), node 1 reads its write");
	access_page(1, 0, true);
	drain();
	access_page(0, 0, true);
	drain();
	OK(S.writes == 3 && st(0, 0) == CCMAP_PS_E && st(1, 0) == CCMAP_PS_I &&
	   S.nd[0].dir.st.stores == 1 && !S.violations,
	   "home takes the page back from node 1 (one STORE)");
	sim_free();
}

static void test_downgrade_vs_write(void)
{
	sim_init(PG * 2);
	access_page(1, 0, true);
	drain();
	access_page(2, 0, false);
	deliver(2, 0);            /* READ_REQ: DOWNGRADE -> 1 in flight */
	access_page(1, 0, true);  /* local write on 1 races the downgrade: still E */
	OK(S.writes == 2, "owner writes while the downgrade is in flight");
	deliver(0, 1);            /* DOWNGRADE: mkclean + data */
	access_page(1, 0, true);  /* now S: upgrade request */
	drain();
	OK(S.reads == 1 && S.writes == 3 && st(1, 0) == CCMAP_PS_E && st(2, 0) == CCMAP_PS_I &&
	   !S.violations, "reader sees the racing write; writer upgrades again after");
	sim_free();
}

static void test_failures(void)
{
	/* owner dies: page reverts to the home copy */
	sim_init(PG * 2);
	access_page(1, 0, true);
	access_page(1, 0, true);
	drain();
	access_page(1, 0, true);  /* value 2 only on node 1 */
	OK(S.truth[0] == 2, "node 1 wrote twice");
	crash(1);
	OK(S.reverts == 1 && S.truth[0] == 0 && S.nd[0].dir.pages[0].owner == CCMAP_NODE_NONE &&
	   S.nd[0].dir.pages[0].version == 2, "owner died: page reverts to home copy (value 0)");
	access_page(2, 0, false);
	drain();
	OK(S.reads == 1 && st(2, 0) == CCMAP_PS_S && !S.violations,
	   "survivor reads the reverted page");
	restart(1);
	access_page(1, 0, true);
	drain();
	OK(st(1, 0) == CCMAP_PS_E && st(2, 0) == CCMAP_PS_I && S.truth[0] == 1 && !S.violations,
	   "restarted node gets the page again");
	sim_free();

	/* owner dies while a downgrade for a reader is in flight */
	sim_init(PG * 2);
	access_page(1, 0, true);
	drain();
	access_page(2, 0, false);
	deliver(2, 0);            /* DOWNGRADE -> 1 */
	crash(1);
	drain();
	OK(S.reads == 1 && S.truth[0] == 0 && S.reverts == 1 && st(2, 0) == CCMAP_PS_S &&
	   quiet() && !S.violations, "owner dies during downgrade: reader gets home copy");
	sim_free();

	/* requester dies while its invalidations are in flight; next in queue served */
	sim_init(PG * 2);
	access_page(0, 0, false);
	access_page(2, 0, false);
	drain();
	access_page(1, 0, true);
	deliver(1, 0);            /* INVALIDATE 0 and 2 */
	access_page(2, 0, true);
	deliver(2, 0);            /* queued */
	crash(1);
	drain();
	OK(st(2, 0) == CCMAP_PS_E && st(0, 0) == CCMAP_PS_I && S.writes == 1 && quiet() &&
	   S.reverts == 0 && !S.violations,
	   "requester dies mid-transaction: finished without grant, queue continues");
	sim_free();

	/* sharer dies while its INVALIDATE is in flight */
	sim_init(PG * 2);
	access_page(1, 0, false);
	access_page(2, 0, false);
	drain();
	access_page(0, 0, true);
	deliver(0, 0);            /* WRITE_REQ: INVALIDATE 1, 2 */
	crash(2);
	drain();
	OK(st(0, 0) == CCMAP_PS_E && S.writes == 1 && quiet() && !S.violations,
	   "sharer dies with an invalidation pending: writer still granted");
	sim_free();

	/* home dies: pending requests to it fail, copies are fenced */
	sim_init(PG * 2);
	access_page(2, 1, false); /* page 1 homed at node 1 */
	drain();
	access_page(0, 1, true);  /* pending at home 1 */
	crash(1);
	OK(S.fails == 1 && st(2, 1) == CCMAP_PS_I && S.nd[0].np[1].pending == 0,
	   "home dies: pending request fails, S copy elsewhere fenced");
	restart(1);
	access_page(0, 1, true);
	drain();
	OK(st(0, 1) == CCMAP_PS_E && S.writes == 1 && quiet() && !S.violations,
	   "home restarts with its replica and serves again");
	sim_free();
}

static void test_writeback(void)
{
	sim_init(PG * 2);
	access_page(1, 0, true);
	access_page(1, 0, true);
	drain();
	access_page(1, 0, true);
	writeback(1, 0);
	drain();
	OK(holds_value(S.nd[0].replica[0], 0, 2) && S.nd[0].dir.st.writebacks == 1,
	   "writeback stores the owner's page at home");
	crash(1);
	OK(S.truth[0] == 2, "after the owner dies the written-back version survives");
	sim_free();
}

/* A restarted agent gives back what its previous incarnation owned. */
static struct ccmap_dir_out rlast[16];
static int rn;

static void rrec(void *ctx, const struct ccmap_dir_out *o)
{
	(void)ctx;
	if (rn < 16)
		rlast[rn++] = *o;
}

static void test_reclaim(void)
{
	struct ccmap_dir d;
	uint64_t v;

	ccmap_dir_init(&d, 0, SHARE, NP, members, rrec, NULL);
	rn = 0;
	OK(ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, 0, 1, CCMAP_NO_VERSION) == 0 &&
	   rn == 1 && rlast[0].type == CCMAP_T_GRANT && rlast[0].mode == CCMAP_MODE_E,
	   "node 1 owns page 0");
	v = rlast[0].version;
	rn = 0;
	OK(ccmap_dir_node_down(&d, 1) == 0 && rn == 1 && rlast[0].kind == CCMAP_DO_REVERT &&
	   d.pages[0].reverted_from == 1 && d.pages[0].version == v + 1,
	   "its agent dies: the page reverts, remembering from whom");
	ccmap_dir_node_up(&d, 1);
	rn = 0;
	OK(ccmap_dir_reclaim(&d, 2, 0, 2, v) == -CCMAP_E_PROTOCOL && rn == 1 &&
	   rlast[0].code == CCMAP_WB_STALE, "a reclaim from another node is STALE");
	rn = 0;
	OK(ccmap_dir_reclaim(&d, 1, 0, 3, v + 1) == -CCMAP_E_PROTOCOL && rn == 1 &&
	   rlast[0].code == CCMAP_WB_STALE, "a reclaim of another version is STALE");
	rn = 0;
	OK(ccmap_dir_reclaim(&d, 1, 0, 4, v) == 0 && rn == 2 && rlast[0].kind == CCMAP_DO_STORE &&
	   rlast[1].type == CCMAP_T_WRITEBACK_ACK && rlast[1].code == CCMAP_WB_OK &&
	   rlast[1].dst == 1 && rlast[1].req_id == 4 && d.pages[0].reverted_from == CCMAP_NODE_NONE,
	   "the restarted node's reclaim is stored: STORE, then WRITEBACK_ACK ok");
	rn = 0;
	OK(ccmap_dir_reclaim(&d, 1, 0, 5, v) == -CCMAP_E_PROTOCOL && rlast[0].code == CCMAP_WB_STALE,
	   "only once");
	/* Someone read the reverted copy first: the old data must not come back. */
	ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, 0, 6, CCMAP_NO_VERSION);
	v = d.pages[0].version;
	ccmap_dir_node_down(&d, 1);
	ccmap_dir_node_up(&d, 1);
	rn = 0;
	OK(ccmap_dir_request(&d, 2, CCMAP_T_READ_REQ, 0, 7, CCMAP_NO_VERSION) == 0 &&
	   rlast[0].type == CCMAP_T_GRANT && d.pages[0].reverted_from == CCMAP_NODE_NONE,
	   "a grant after the revert forgets it");
	rn = 0;
	OK(ccmap_dir_reclaim(&d, 1, 0, 8, v) == -CCMAP_E_PROTOCOL && rn == 1 &&
	   rlast[0].code == CCMAP_WB_STALE, "... and a reclaim after it is STALE, nothing stored");
	ccmap_dir_free(&d);
}

/* The home knows the owner restarted: it waits for the RECLAIM, nothing reverts. */
static void test_restart(void)
{
	char buf[200];
	struct ccmap_dir d;
	uint64_t v, p2 = 1;

	while (ccmap_home_node(members, SHARE, p2) != 0)
		p2++;
	ccmap_dir_init(&d, 0, SHARE, NP, members, rrec, NULL);
	ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, 0, 1, CCMAP_NO_VERSION);
	v = d.pages[0].version;
	rn = 0;
	OK(ccmap_dir_request(&d, 2, CCMAP_T_WRITE_REQ, 0, 2, CCMAP_NO_VERSION) == 0 && rn == 1 &&
	   rlast[0].type == CCMAP_T_FETCH && rlast[0].dst == 1,
	   "node 2 wants node 1's page: FETCH to node 1");
	ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, p2, 3, CCMAP_NO_VERSION);
	rn = 0;
	OK(ccmap_dir_node_restart(&d, 1) == 0 && rn == 0 && d.pages[0].owner == 1 &&
	   d.pages[0].reclaim_wait && d.pages[p2].reclaim_wait && d.st.reverts == 0,
	   "node 1's agent restarts: nothing reverts, its pages await its RECLAIMs");
	OK(ccmap_dir_node_up(&d, 1) == 0 && ccmap_dir_check(&d, buf, sizeof(buf)) == 0,
	   "its new incarnation is up; directory consistent (%s)", buf);
	rn = 0;
	OK(ccmap_dir_reclaim(&d, 1, 0, 4, v) == 0 && rn == 3 && rlast[0].kind == CCMAP_DO_STORE &&
	   rlast[1].type == CCMAP_T_WRITEBACK_ACK && rlast[1].code == CCMAP_WB_OK &&
	   rlast[2].type == CCMAP_T_GRANT && rlast[2].dst == 2 && rlast[2].mode == CCMAP_MODE_E &&
	   rlast[2].with_data, "its RECLAIM is the data node 2 waited for: STORE, ack, GRANT E");
	rn = 0;
	OK(ccmap_dir_request(&d, 2, CCMAP_T_READ_REQ, p2, 5, CCMAP_NO_VERSION) == 0 && rn == 0,
	   "a request for another page of node 1 waits, no forward to the new agent");
	OK(ccmap_dir_check(&d, buf, sizeof(buf)) == 0, "directory consistent (%s)", buf);
	rn = 0;
	OK(ccmap_dir_reclaim_done(&d, 1) == 1 && rn == 2 && rlast[0].kind == CCMAP_DO_REVERT &&
	   rlast[1].type == CCMAP_T_GRANT && rlast[1].dst == 2 && rlast[1].mode == CCMAP_MODE_S &&
	   !d.pages[p2].reclaim_wait,
	   "RECLAIM_DONE: the page it did not send reverts, the reader gets it");
	OK(ccmap_dir_reclaim_done(&d, 1) == 0, "a second RECLAIM_DONE changes nothing");
	OK(ccmap_dir_check(&d, buf, sizeof(buf)) == 0, "directory consistent (%s)", buf);
	/* Restarted, then declared down before it came back: plain revert. */
	ccmap_dir_free(&d);
	ccmap_dir_init(&d, 0, SHARE, NP, members, rrec, NULL);
	ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, p2, 6, CCMAP_NO_VERSION);
	ccmap_dir_node_restart(&d, 1);
	ccmap_dir_node_up(&d, 1);
	rn = 0;
	OK(d.pages[p2].reclaim_wait && ccmap_dir_node_down(&d, 1) == 0 && rn == 1 &&
	   rlast[0].kind == CCMAP_DO_REVERT &&
	   !d.pages[p2].reclaim_wait && ccmap_dir_check(&d, buf, sizeof(buf)) == 0,
	   "a restarted node declared down: its awaited pages revert (%s)", buf);
	ccmap_dir_free(&d);
}

/* A node lost for good: its pages move to the survivors, which report their copies. */
static void test_rehome(void)
{
	const uint64_t m = 0x7, big = 300;
	unsigned to[N] = { 0 }, moved = 0, stay = 1;
	uint64_t p0 = big, p1 = big, p2 = big;
	struct ccmap_dir d;
	char buf[200];
	int n;

	for (uint64_t p = 0; p < big; p++) {
		uint16_t h = ccmap_home_of(m, 0x4, SHARE, p);

		if (ccmap_home_node(m, SHARE, p) != 2) {
			stay &= h == ccmap_home_node(m, SHARE, p);
			continue;
		}
		if (h < N)
			to[h]++;
		if (h == 0)
			p0 == big ? (p0 = p) : p1 == big ? (p1 = p) : p2 == big ? (p2 = p) : 0;
	}
	OK(stay, "losing node 2 moves no page homed on nodes 0 and 1");
	OK(to[0] > 30 && to[1] > 30 && to[2] == 0 && to[0] + to[1] == big / 3,
	   "node 2's %llu pages spread over the survivors (%u to node 0, %u to node 1)",
	   (unsigned long long)big / 3, to[0], to[1]);
	OK(ccmap_home_of(m, 0x7, SHARE, 1) == CCMAP_NODE_NONE, "all lost: no home");
	OK(ccmap_home_of(m, 0x6, SHARE, p0) == 0 && ccmap_home_of(m, 0x4, SHARE, p0) == 0,
	   "losing node 1 too keeps node 2's page that went to node 0 there");

	ccmap_dir_init(&d, 0, SHARE, big, m, rrec, NULL);
	n = ccmap_dir_set_lost(&d, 0x4);
	moved = to[0];
	OK(n == (int)moved && d.awaiting == 0x2 && !(d.alive & 0x4) && d.st.rehomed == moved,
	   "node 0 takes %d pages and waits for node 1's report", n);
	OK(ccmap_dir_set_lost(&d, 0x0) == -CCMAP_E_INVAL && ccmap_dir_set_lost(&d, 0x8) ==
	   -CCMAP_E_INVAL, "the lost set only grows, within the members");
	rn = 0;
	OK(ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, p0, 1, CCMAP_NO_VERSION) == 0 && rn == 0,
	   "node 1's request for a re-homed page waits for the reports");
	OK(ccmap_dir_rehome_copy(&d, 0, p0, 0, 5, false) == 0 && rn == 0 &&
	   d.pages[p0].rehome == CCMAP_RH_STALE, "its own older copy: adopted, nothing sent");
	OK(ccmap_dir_rehome_copy(&d, 1, p0, 2, 7, true) == 0 && rn == 1 &&
	   rlast[0].kind == CCMAP_DO_STORE && d.pages[p0].version == 7,
	   "node 1 held it at the loss: STORE, version 7");
	rn = 0;
	OK(ccmap_dir_rehome_copy(&d, 1, p1, 3, 9, false) == 0 && rn == 1 &&
	   rlast[0].kind == CCMAP_DO_STORE, "an old copy of another page is better than none");
	rn = 0;
	OK(ccmap_dir_rehome_copy(&d, 1, p1, 4, 3, false) == -CCMAP_E_PROTOCOL && rn == 0,
	   "an older one is not stored");
	rn = 0;
	n = (int)d.st.grants_e;
	OK(ccmap_dir_reclaim_done(&d, 1) == 0 && d.awaiting == 0 &&
	   d.st.grants_e == (uint64_t)n + 1 && d.pages[p0].owner == 1 && d.pages[p0].version == 8,
	   "node 1's report ends the wait: %u pages revert, node 1 is granted E v8", moved - 1);
	OK(d.st.rehome_kept == 1 && d.st.rehome_reverted == moved - 1 &&
	   d.pages[p1].version == 10 && d.pages[p2].version == 1 && !d.pages[p2].rehome,
	   "kept 1, reverted %llu (their versions move on)",
	   (unsigned long long)d.st.rehome_reverted);
	rn = 0;
	OK(ccmap_dir_rehome_copy(&d, 1, p2, 5, 1, true) == -CCMAP_E_PROTOCOL && rn == 0,
	   "a copy after the wait is not stored");
	rn = 0;
	OK(ccmap_dir_request(&d, 1, CCMAP_T_READ_REQ, ccmap_home_node(m, SHARE, 1) == 1 ? 1 : 4,
			     6, CCMAP_NO_VERSION) == -CCMAP_E_NOT_HOME && rn == 1,
	   "a page homed on node 1 is still not homed here");
	OK(ccmap_dir_check(&d, buf, sizeof(buf)) == 0, "directory consistent (%s)", buf);
	ccmap_dir_free(&d);

	/* The lost node itself forgets the pages it was home of. */
	ccmap_dir_init(&d, 2, SHARE, big, m, rrec, NULL);
	for (uint64_t p = 0; p < big; p++)
		if (ccmap_home_node(m, SHARE, p) == 2) {
			ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, p, 10 + p, CCMAP_NO_VERSION);
			ccmap_dir_request(&d, 0, CCMAP_T_WRITE_REQ, p, 20 + p, CCMAP_NO_VERSION);
		}
	OK(d.busy > 0 && ccmap_dir_set_lost(&d, 0x4) == 0 && d.busy == 0 &&
	   ccmap_dir_check(&d, buf, sizeof(buf)) == 0,
	   "node 2 learns it was lost: its directory is empty (%s)", buf);
	ccmap_dir_free(&d);
}

/* A restarted home serves nothing until the others reported their copies. */
static void test_recovery(void)
{
	char buf[200];
	struct ccmap_dir d;
	uint64_t p2 = 1;

	while (ccmap_home_node(members, SHARE, p2) != 0)
		p2++;
	ccmap_dir_init(&d, 0, SHARE, NP, members, rrec, NULL);
	ccmap_dir_hold(&d, members);
	OK(d.awaiting == 0x6, "holding for nodes 1 and 2, not itself");
	OK(ccmap_dir_node_up(&d, 1) == 0 && ccmap_dir_node_up(&d, 2) == 0 && d.awaiting == 0x6,
	   "their sessions starting (node_up) do not end the wait: their reports do");
	rn = 0;
	OK(ccmap_dir_request(&d, 0, CCMAP_T_WRITE_REQ, 0, 1, CCMAP_NO_VERSION) == 0 &&
	   ccmap_dir_request(&d, 1, CCMAP_T_READ_REQ, 0, 2, CCMAP_NO_VERSION) == 0 && rn == 0 &&
	   ccmap_dir_check(&d, buf, sizeof(buf)) == 0,
	   "requests (its own too) wait while recovering; consistent (%s)", buf);
	rn = 0;
	OK(ccmap_dir_reclaim(&d, 2, 0, 3, 7) == 0 && rn == 2 && rlast[0].kind == CCMAP_DO_STORE &&
	   rlast[1].code == CCMAP_WB_OK && d.st.adopted == 1,
	   "node 2's copy from the previous incarnation is adopted");
	rn = 0;
	OK(ccmap_dir_reclaim_done(&d, 2) == 0 && rn == 0 && d.awaiting == 0x2,
	   "node 2 reported; node 1 still awaited, nothing served");
	rn = 0;
	OK(ccmap_dir_reclaim(&d, 2, p2, 4, 7) == -CCMAP_E_PROTOCOL && rlast[0].code == CCMAP_WB_STALE,
	   "after its RECLAIM_DONE a node's copies are not adopted");
	rn = 0;
	OK(ccmap_dir_reclaim_done(&d, 1) == 0 && d.awaiting == 0 && rn >= 1 &&
	   rlast[0].type == CCMAP_T_GRANT && rlast[0].dst == 0 && rlast[0].mode == CCMAP_MODE_E,
	   "node 1 reported: the queued requests are served, in order (E to node 0 first)");
	OK(ccmap_dir_check(&d, buf, sizeof(buf)) == 0, "consistent (%s)", buf);
	ccmap_dir_free(&d);

	ccmap_dir_init(&d, 0, SHARE, NP, members, rrec, NULL);
	ccmap_dir_hold(&d, members);
	ccmap_dir_request(&d, 2, CCMAP_T_READ_REQ, p2, 5, CCMAP_NO_VERSION);
	ccmap_dir_reclaim_done(&d, 1);
	rn = 0;
	OK(ccmap_dir_node_down(&d, 2) == 0 && d.awaiting == 0 && rn == 0 && !d.pages[p2].txn,
	   "a node marked down no longer holds the recovery; its queued request is dropped");
	ccmap_dir_hold(&d, members);
	ccmap_dir_request(&d, 0, CCMAP_T_READ_REQ, 0, 6, CCMAP_NO_VERSION);
	rn = 0;
	OK(ccmap_dir_release(&d) == 0x2 && rn == 1 && rlast[0].type == CCMAP_T_GRANT,
	   "release (the leases ran out) names who did not report and serves the queue");
	ccmap_dir_free(&d);
}

/* Direct calls for the error paths. */
static struct ccmap_dir_out last[16];
static int nlast;

static void rec(void *ctx, const struct ccmap_dir_out *o)
{
	(void)ctx;
	if (nlast < 16)
		last[nlast++] = *o;
}

static void test_errors(void)
{
	struct ccmap_dir d;
	struct ccmap_npage p = { 0 };
	struct ccmap_np_action a;
	char buf[200];

	ccmap_dir_init(&d, 0, SHARE, NP, members, rec, NULL);
	nlast = 0;
	OK(ccmap_dir_request(&d, 1, CCMAP_T_READ_REQ, 1, 5, CCMAP_NO_VERSION) ==
	   -CCMAP_E_NOT_HOME && nlast == 1 && last[0].type == CCMAP_T_ERROR &&
	   last[0].code == CCMAP_E_NOT_HOME && last[0].req_id == 5,
	   "request for a page homed elsewhere: ERROR not home");
	nlast = 0;
	OK(ccmap_dir_request(&d, 1, CCMAP_T_READ_REQ, NP, 6, CCMAP_NO_VERSION) ==
	   -CCMAP_E_RANGE && nlast == 1 && last[0].code == CCMAP_E_RANGE,
	   "request beyond the share: ERROR range");
	nlast = 0;
	OK(ccmap_dir_request(&d, 9, CCMAP_T_READ_REQ, 0, 6, CCMAP_NO_VERSION) ==
	   -CCMAP_E_RANGE && nlast == 0 && d.st.proto_errors == 3,
	   "request from a node outside the cluster ignored and counted");
	nlast = 0;
	ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, 0, 7, CCMAP_NO_VERSION);
	OK(nlast == 1 && last[0].type == CCMAP_T_GRANT && last[0].mode == CCMAP_MODE_E &&
	   last[0].with_data && d.pages[0].owner == 1, "idle page: immediate GRANT E with data");
	nlast = 0;
	OK(ccmap_dir_request(&d, 1, CCMAP_T_WRITE_REQ, 0, 8, CCMAP_NO_VERSION) == 0 &&
	   nlast == 1 && last[0].type == CCMAP_T_ERROR && last[0].code == CCMAP_E_PROTOCOL,
	   "request from the current owner: ERROR protocol");
	nlast = 0;
	ccmap_dir_request(&d, 2, CCMAP_T_READ_REQ, 0, 9, CCMAP_NO_VERSION);
	OK(nlast == 1 && last[0].type == CCMAP_T_DOWNGRADE && last[0].dst == 1 &&
	   last[0].requester == 2, "read of an owned page: DOWNGRADE to the owner");
	uint64_t txn = last[0].req_id;
	nlast = 0;
	OK(ccmap_dir_request(&d, 2, CCMAP_T_READ_REQ, 0, 10, CCMAP_NO_VERSION) ==
	   -CCMAP_E_PROTOCOL && nlast == 1 && last[0].type == CCMAP_T_ERROR,
	   "duplicate request while one is active: ERROR");
	OK(ccmap_dir_ack(&d, 1, CCMAP_T_DOWNGRADE_ACK, 0, txn + 1, 1) == -CCMAP_E_PROTOCOL,
	   "ack with a wrong transaction id rejected");
	OK(ccmap_dir_ack(&d, 2, CCMAP_T_DOWNGRADE_ACK, 0, txn, 1) == -CCMAP_E_PROTOCOL,
	   "ack from a node nobody waits for rejected");
	OK(ccmap_dir_ack(&d, 1, CCMAP_T_FETCH_ACK, 0, txn, 1) == -CCMAP_E_PROTOCOL,
	   "ack of the wrong kind rejected");
	OK(ccmap_dir_check(&d, buf, sizeof(buf)) == 0, "directory still consistent: %s", "ok");
	nlast = 0;
	OK(ccmap_dir_ack(&d, 1, CCMAP_T_DOWNGRADE_ACK, 0, txn, 1) == 0 && nlast == 2 &&
	   last[0].kind == CCMAP_DO_STORE && last[1].type == CCMAP_T_GRANT &&
	   last[1].mode == CCMAP_MODE_S && last[1].dst == 2 && d.pages[0].copyset == 0x6,
	   "right ack: STORE then GRANT S; copyset {1,2}");
	nlast = 0;
	OK(ccmap_dir_writeback(&d, 1, 0, 11, 1) == -CCMAP_E_PROTOCOL && nlast == 1 &&
	   last[0].type == CCMAP_T_WRITEBACK_ACK && last[0].code == CCMAP_WB_STALE,
	   "writeback from a non-owner: STALE, nothing stored");
	OK(ccmap_dir_node_down(&d, 2) == 0 && d.pages[0].copyset == 0x2 &&
	   ccmap_dir_request(&d, 2, CCMAP_T_READ_REQ, 0, 12, 0) == -CCMAP_E_NODE_DOWN,
	   "requests from a node marked down are dropped");
	OK(ccmap_dir_node_down(&d, 0) == -CCMAP_E_INVAL, "a node cannot mark itself down");
	/* the checker itself can fail */
	d.pages[0].owner = 1;
	OK(ccmap_dir_check(&d, buf, sizeof(buf)) == -1 && strstr(buf, "I1"),
	   "dir_check detects owner plus copyset: %s", buf);
	d.pages[0].owner = CCMAP_NODE_NONE;
	d.pages[1].copyset = 1;
	OK(ccmap_dir_check(&d, buf, sizeof(buf)) == -1 && strstr(buf, "not homed"),
	   "dir_check detects state on a page homed elsewhere: %s", buf);
	ccmap_dir_free(&d);

	/* requester side */
	OK(ccmap_np_forward(&p, CCMAP_T_INVALIDATE, 0, &a) == -CCMAP_E_PROTOCOL,
	   "INVALIDATE of a page not held is a protocol error");
	OK(ccmap_np_forward(&p, CCMAP_T_FETCH, 0, &a) == -CCMAP_E_PROTOCOL,
	   "FETCH of a page not held exclusive is a protocol error");
	OK(ccmap_np_grant(&p, CCMAP_MODE_S, true, 1, 1, &a) == -CCMAP_E_PROTOCOL,
	   "GRANT without a pending request rejected");
	ccmap_np_fault(&p, false, 1, &a);
	OK(a.flags == (CCMAP_NA_SEND_REQ | CCMAP_NA_WAIT) && a.req_type == CCMAP_T_READ_REQ &&
	   a.have_version == CCMAP_NO_VERSION, "read fault on I: READ_REQ and wait");
	ccmap_np_fault(&p, true, 2, &a);
	OK(a.flags == CCMAP_NA_WAIT, "write fault behind a pending read waits");
	OK(ccmap_np_grant(&p, CCMAP_MODE_S, true, 1, 2, &a) == -CCMAP_E_PROTOCOL,
	   "GRANT for another request id rejected");
	OK(ccmap_np_grant(&p, CCMAP_MODE_E, true, 1, 1, &a) == -CCMAP_E_PROTOCOL,
	   "GRANT E for a READ_REQ rejected");
	OK(ccmap_np_grant(&p, CCMAP_MODE_S, false, 1, 1, &a) == -CCMAP_E_PROTOCOL,
	   "GRANT S without data rejected");
	OK(ccmap_np_grant(&p, CCMAP_MODE_S, true, 4, 1, &a) == 0 && p.state == CCMAP_PS_S &&
	   a.flags == (CCMAP_NA_INSTALL | CCMAP_NA_WAKE), "GRANT S with data installs");
	ccmap_np_fault(&p, true, 3, &a);
	OK(a.req_type == CCMAP_T_WRITE_REQ && a.have_version == 4,
	   "write fault on S: upgrade request carries version 4");
	OK(ccmap_np_grant(&p, CCMAP_MODE_E, false, 6, 3, &a) == -CCMAP_E_PROTOCOL,
	   "GRANT E without data for a version gap rejected");
	OK(ccmap_np_grant(&p, CCMAP_MODE_E, false, 5, 3, &a) == 0 && p.state == CCMAP_PS_E &&
	   a.flags == CCMAP_NA_WAKE, "GRANT E without data upgrades in place");
	ccmap_np_fault(&p, true, 4, &a);
	OK(a.flags == CCMAP_NA_GO, "write fault on E proceeds");
	OK(ccmap_np_forward(&p, CCMAP_T_DOWNGRADE, 5, &a) == 0 && p.state == CCMAP_PS_S &&
	   a.flags == (CCMAP_NA_MKCLEAN | CCMAP_NA_READ | CCMAP_NA_REPLY) &&
	   a.reply_type == CCMAP_T_DOWNGRADE_ACK, "DOWNGRADE: mkclean, read, ack with data");
	ccmap_np_fault(&p, true, 5, &a);
	OK(ccmap_np_error(&p, 99, &a) == -CCMAP_E_PROTOCOL &&
	   ccmap_np_error(&p, 5, &a) == 0 && a.flags == (CCMAP_NA_FAIL | CCMAP_NA_WAKE) &&
	   !p.pending, "ERROR for the pending request fails the waiting faults");
	ccmap_np_home_down(&p, &a);
	OK(p.state == CCMAP_PS_I && a.flags == CCMAP_NA_ZAP, "home down fences the S copy");
}

/* ---- randomized simulation -------------------------------------------- */

struct rstats {
	unsigned long steps, reads, writes, requests, grants, fails, reverts, wbs;
	unsigned long agent_restarts, reclaims, losses, rehome_copies;
};

static bool random_run(unsigned seed, unsigned ops, bool failures_on, struct rstats *r)
{
	bool crashed = false;
	uint16_t victim = 0;

	srand(seed);
	sim_init(1 + (unsigned)rand() % (2 * PG));
	S.expect_wb_ok = !failures_on;
	for (unsigned i = 0; i < ops && !S.violations; i++) {
		int c = rand() % 100;

		if (c < 35) {
			access_page((uint16_t)(rand() % N), (uint64_t)(rand() % NP), rand() % 2);
		} else if (c < 37) {
			writeback((uint16_t)(rand() % N), (uint64_t)(rand() % NP));
		} else if (failures_on && c == 39 && !crashed && !S.lost && rand() % 16 == 0) {
			lose((uint16_t)(rand() % N));
		} else if (failures_on && c == 38 && !crashed && rand() % 8 == 0) {
			uint16_t x = (uint16_t)(rand() % N);

			if (S.nd[x].up)
				agent_restart(x);
		} else if (failures_on && c == 37 && rand() % 8 == 0) {
			if (!crashed) {
				victim = (uint16_t)(rand() % N);
				if (!S.nd[victim].up || (S.lost && rand() % 2))
					continue;	/* keep a survivor or two */
				crash(victim);
				crashed = true;
			} else {
				restart(victim);
				crashed = false;
			}
		} else if (!deliver_any()) {
			access_page((uint16_t)(rand() % N), (uint64_t)(rand() % NP), rand() % 2);
		}
	}
	drain();
	if (!quiet()) {
		violation("not quiescent after drain: a request was never granted");
		for (int i = 0; i < N; i++) {
			printf("#  node %d up %d busy %u:", i, S.nd[i].up, S.nd[i].dir.busy);
			for (int p = 0; p < NP; p++)
				printf(" p%d st%u pend%u want%d", p, S.nd[i].np[p].state,
				       S.nd[i].np[p].pending, S.nd[i].want[p]);
			printf("\n");
		}
	}
	/* every request got a grant or (home died) a failure; nothing waits */
	r->steps += S.steps;
	r->reads += S.reads;
	r->writes += S.writes;
	r->requests += S.requests;
	r->grants += S.grants;
	r->fails += S.fails;
	r->reverts += S.reverts;
	r->agent_restarts += S.agent_restarts;
	r->reclaims += S.reclaims;
	r->losses += S.losses;
	r->rehome_copies += S.rehome_copies;
	r->wbs += S.wbs;
	for (int i = 0; i < N; i++)
		if (S.nd[i].up && (S.nd[i].dir.st.proto_errors || S.nd[i].dir.st.version_mismatch))
			violation("node %d counted %llu protocol errors, %llu version mismatches", i,
				  (unsigned long long)S.nd[i].dir.st.proto_errors,
				  (unsigned long long)S.nd[i].dir.st.version_mismatch);
	sim_free();
	if (S.violations)
		printf("# seed %u failed: %s\n", seed, S.why);
	return S.violations == 0;
}

static void test_random(unsigned runs, unsigned ops)
{
	struct rstats r = { 0 };
	unsigned bad = 0, first_bad = 0;

	for (unsigned s = 1; s <= runs; s++)
		if (!random_run(s, ops, false, &r) && !bad++)
			first_bad = s;
	OK(bad == 0 && r.grants == r.requests,
	   "random N=%d pages=%d, %u runs x %u ops: %lu deliveries, %lu requests, %lu grants, "
	   "%lu reads, %lu writes, %lu writebacks, SWMR+data+liveness held%s",
	   N, NP, runs, ops, r.steps, r.requests, r.grants, r.reads, r.writes, r.wbs,
	   bad ? " (FAILED)" : "");
	if (bad)
		printf("# %u runs failed, first seed %u\n", bad, first_bad);

	memset(&r, 0, sizeof(r));
	bad = 0;
	for (unsigned s = 1; s <= runs; s++)
		if (!random_run(100000 + s, ops, true, &r) && !bad++)
			first_bad = 100000 + s;
	OK(bad == 0 && r.reverts > 0 && r.fails > 0 && r.reclaims > 0 && r.losses > 0 &&
	   r.rehome_copies > 0,
	   "random with node crashes/restarts, agent restarts and node losses, %u runs: %lu "
	   "deliveries, %lu requests, %lu grants, %lu failed (home died), %lu reverts, %lu agent "
	   "restarts with %lu reclaims (every one stored), %lu nodes lost with %lu copies "
	   "re-homed, invariants held%s",
	   runs, r.steps, r.requests, r.grants, r.fails, r.reverts, r.agent_restarts, r.reclaims,
	   r.losses, r.rehome_copies, bad ? " (FAILED)" : "");
	if (bad)
		printf("# %u runs failed, first seed %u\n", bad, first_bad);
}

int main(int argc, char **argv)
{
	unsigned runs = argc > 1 ? (unsigned)atoi(argv[1]) : 400;
	unsigned ops = argc > 2 ? (unsigned)atoi(argv[2]) : 2000;

	test_home();
	test_read_sharing();
	test_write_upgrade();
	test_ping_pong();
	test_queued();
	test_upgrade_race();
	test_home_is_owner();
	test_downgrade_vs_write();
	test_failures();
	test_writeback();
	test_reclaim();
	test_restart();
	test_recovery();
	test_rehome();
	test_errors();
	test_random(runs, ops);
	printf("1..%d\n", tests);
	if (failures)
		printf("# %d of %d tests failed\n", failures, tests);
	return failures ? 1 : 0;
}
