// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd: coherence.  Drives the pure protocol library (ccmap/directory.h):
 * ccmap_dir_* for the pages homed at this node and ccmap_np_* for every
 * page of every share, and carries out their actions in order:
 *
 *   giving a page up:  state change + zap/mkclean (syscall program) BEFORE
 *                      the page is pread() from the replica to be shipped;
 *   getting a page:    pwrite() of the data into the replica BEFORE the
 *                      grant program publishes the state and wakes faults;
 *   at home:           STORE (pwrite of an owner's data) before the GRANT
 *                      that reads it back, in the order the directory
 *                      emits them.
 *
 * The replica of this node is both its working copy and, for the pages it
 * is home of, the home copy: a message to itself is queued in the self FIFO
 * (delivered after the current handler returns, never recursively) and
 * carries no data, since the data is in that same file already.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

/* Page data of the frame being handled, for STORE. */
static const uint8_t *cur_data;

static uint16_t home_of(const struct share *sh, uint64_t page)
{
	return ccmap_home_of(A.members, A.lost, sh->id, page);
}

static const char *mode_name(unsigned mode)
{
	return mode == CCMAP_MODE_E ? "E" : mode == CCMAP_MODE_S ? "S" : "?";
}

static int read_page(struct share *sh, uint64_t page, uint8_t *buf)
{
	ssize_t n = pread(sh->fd, buf, CCMAP_PAGE_SIZE, (off_t)(page * CCMAP_PAGE_SIZE));

	if (n != CCMAP_PAGE_SIZE) {
		A.st.io_errors++;
		log_err("share %s page %llu: cannot read the replica: %s", sh->cfg->name,
			(unsigned long long)page, n < 0 ? strerror(errno) : "short read");
		return -1;
	}
	return 0;
}

static int write_page(struct share *sh, uint64_t page, const uint8_t *buf)
{
	ssize_t n = pwrite(sh->fd, buf, CCMAP_PAGE_SIZE, (off_t)(page * CCMAP_PAGE_SIZE));

	if (n != CCMAP_PAGE_SIZE) {
		A.st.io_errors++;
		log_err("share %s page %llu: cannot write the replica: %s", sh->cfg->name,
			(unsigned long long)page, n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

/* ---- home side: actions of the directory ------------------------------------ */

static void dir_send(struct share *sh, const struct ccmap_dir_out *o)
{
	static uint8_t buf[CCMAP_PAGE_SIZE];
	const uint8_t *data = NULL;
	struct ccmap_msg m;

	/* To ourselves a GRANT needs no data: it is in the replica already. */
	if (o->type == CCMAP_T_GRANT && o->with_data && o->dst != A.self) {
		if (read_page(sh, o->page, buf)) {
			/* Cannot serve it: the requester's fault fails. */
			ccmap_msg_init(&m, CCMAP_T_ERROR, A.self, 0, o->req_id);
			m.u.error.code = CCMAP_E_IO;
			m.u.error.share = sh->id;
			m.u.error.page = o->page;
			snprintf(m.u.error.reason, sizeof(m.u.error.reason),
				 "home cannot read its replica");
			A.st.errors_sent++;
			goto send;
		}
		data = buf;
		A.st.bytes_sent += CCMAP_PAGE_SIZE;
		A.st.grants_data_sent++;
	}
	if (ccmap_dir_out_msg(o, A.self, data, &m)) {
		log_err("directory asked to send unknown type %u", o->type);
		return;
	}
	switch (o->type) {
	case CCMAP_T_GRANT:
		A.st.grants_sent++;
		log_dbg("share %s page %llu: home grants %s v%llu to node %u%s (req %llu)",
			sh->cfg->name, (unsigned long long)o->page, mode_name(o->mode),
			(unsigned long long)o->version, o->dst,
			o->with_data ? " with data" : "", (unsigned long long)o->req_id);
		break;
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH:
		A.st.fwd_sent++;
		log_dbg("share %s page %llu: home sends %s to node %u for node %u (txn %llu)",
			sh->cfg->name, (unsigned long long)o->page, ccmap_type_name(o->type),
			o->dst, o->requester, (unsigned long long)o->req_id);
		break;
	case CCMAP_T_ERROR:
		A.st.errors_sent++;
		log_warn("share %s page %llu: home refuses request %llu of node %u: %s",
			 sh->cfg->name, (unsigned long long)o->page,
			 (unsigned long long)o->req_id, o->dst, m.u.error.reason);
		break;
	}
send:
	if (net_send(o->dst, &m))
		log_warn("share %s page %llu: cannot send %s to node %u: it is down",
			 sh->cfg->name, (unsigned long long)o->page,
			 ccmap_type_name(m.hdr.type), o->dst);
	else if (o->dst != A.self)
		A.st.msgs_sent++;
}

static void dir_emit(void *ctx, const struct ccmap_dir_out *o)
{
	struct share *sh = ctx;

	switch (o->kind) {
	case CCMAP_DO_SEND:
		dir_send(sh, o);
		break;
	case CCMAP_DO_STORE:
		if (!cur_data) {
			log_err("share %s page %llu: STORE without data (bug)", sh->cfg->name,
				(unsigned long long)o->page);
			break;
		}
		if (write_page(sh, o->page, cur_data) == 0) {
			A.st.stores++;
			log_dbg("share %s page %llu: home stored v%llu", sh->cfg->name,
				(unsigned long long)o->page, (unsigned long long)o->version);
		}
		break;
	case CCMAP_DO_REVERT:
		A.st.reverts++;
		if (sh->dir.pages[o->page].rehome) {
			/* Summed up by rehome_settled(). */
			log_dbg("share %s page %llu: re-homed without a copy held at the loss: "
				"keeps the newest one left (v%llu)", sh->cfg->name,
				(unsigned long long)o->page, (unsigned long long)o->version);
			break;
		}
		log_warn("share %s page %llu: its owner is down; reverts to the home copy (v%llu)",
			 sh->cfg->name, (unsigned long long)o->page,
			 (unsigned long long)o->version);
		break;
	default:
		log_err("directory emitted unknown action %u", o->kind);
	}
}

/* ---- requester side: actions of the page state machine ------------------------ */

/*
 * A page whose rights could not be lowered yet: the kernel refused the zap
 * or mkclean with EBUSY because a folio of it stays pinned for DMA (an
 * O_DIRECT transfer in flight) longer than it waits.  Until the lowering
 * succeeds the page is not read or handed over: the action is carried out
 * again from the timer (coh_tick), in order.
 */
struct deferred {
	struct share *sh;
	uint64_t page, txn, since_ms;
	struct ccmap_np_action a;
	struct deferred *next;
};

static struct deferred *def_head, **def_tail = &def_head;

static void np_act(struct share *sh, uint64_t page, const struct ccmap_np_action *a,
		   const uint8_t *data, uint64_t txn);

static void defer(struct share *sh, uint64_t page, const struct ccmap_np_action *a,
		  uint64_t txn, uint64_t since_ms)
{
	struct deferred *d = malloc(sizeof(*d));

	if (!d) {
		/* A page we cannot give up safely: stop rather than risk two writers. */
		log_err("out of memory deferring the revocation of share %s page %llu; exiting",
			sh->cfg->name, (unsigned long long)page);
		exit(1);
	}
	*d = (struct deferred){ .sh = sh, .page = page, .txn = txn, .a = *a,
				.since_ms = since_ms ? since_ms : now_ms() };
	if (!since_ms) {
		A.st.revoke_busy++;
		log_warn("share %s page %llu: its rights cannot be taken back yet: a folio is "
			 "pinned for DMA; handing it over waits", sh->cfg->name,
			 (unsigned long long)page);
	}
	*def_tail = d;
	def_tail = &d->next;
}

/* Zap or mkclean for @a: 0, or -EBUSY when it must be tried again. */
static int lower_rights(struct share *sh, uint64_t page, const struct ccmap_np_action *a)
{
	int rc = 0;

	if (a->flags & CCMAP_NA_ZAP)
		rc = prog_revoke(sh, page, 0);
	if (!rc && (a->flags & CCMAP_NA_MKCLEAN))
		rc = prog_downgrade(sh, page);
	return rc == -EBUSY ? -EBUSY : 0;
}

/* "1, 3" for the bitmap 0xa. */
static const char *node_list(uint64_t nodes, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = 0;
	for (unsigned id = 0; id < CCMAP_MAX_NODES && off + 8 < len; id++)
		if (nodes & UINT64_C(1) << id)
			off += (size_t)snprintf(buf + off, len - off, "%s%u", off ? ", " : "", id);
	return buf;
}

static void recovered(const char *how)
{
	A.recovering = false;
	log_info("pages homed here are served from now on: %s", how);
}

void coh_tick(void)
{
	struct deferred *list = def_head;

	if (A.recovering && now_ms() >= A.started_ms + net_lease_ms() + 1000) {
		uint64_t missing = 0;

		for (unsigned i = 0; i < A.n_shares; i++)
			missing |= ccmap_dir_release(&A.shares[i].dir);
		if (missing) {
			char list_buf[256];

			node_list(missing, list_buf, sizeof(list_buf));
			log_warn("node(s) %s did not report their copies of pages homed here "
				 "within the lease (%u ms): their stores on them are lost",
				 list_buf, net_lease_ms());
		}
		recovered("the previous agent's leases have run out");
	}

	def_head = NULL;
	def_tail = &def_head;
	while (list) {
		struct deferred *d = list;

		list = d->next;
		if (lower_rights(d->sh, d->page, &d->a)) {
			defer(d->sh, d->page, &d->a, d->txn, d->since_ms);
		} else {
			struct ccmap_np_action rest = d->a;

			log_info("share %s page %llu: rights taken back after %llu ms",
				 d->sh->cfg->name, (unsigned long long)d->page,
				 (unsigned long long)(now_ms() - d->since_ms));
			rest.flags &= ~(CCMAP_NA_ZAP | CCMAP_NA_MKCLEAN);
			np_act(d->sh, d->page, &rest, NULL, d->txn);
		}
		free(d);
	}
}

static void send_req(struct share *sh, uint64_t page, const struct ccmap_np_action *a)
{
	struct ccmap_npage *np = &sh->np[page];
	uint16_t home = home_of(sh, page);
	struct ccmap_msg m;
	bool rehoming;

	ccmap_msg_init(&m, a->req_type, A.self, 0, a->req_id);
	m.u.req.share = sh->id;
	m.u.req.page = page;
	m.u.req.have_version = a->have_version;
	rehoming = sh->rh_wait & UINT64_C(1) << home;
	if (rehoming || !net_peer_up(home) || net_send(home, &m)) {
		/*
		 * Nobody can serve it now: the fault waits, bounded by its
		 * deadline, and asks again when the home is back (coh_peer_up)
		 * or has re-homed the page (on_rehome).
		 */
		np->pending = 0;
		sh->held[page] = a->req_type == CCMAP_T_WRITE_REQ ? CCMAP_ST_E : CCMAP_ST_S;
		if (rehoming) {
			log_dbg("share %s page %llu: home node %u is re-homing a lost node's "
				"pages: the fault waits for it", sh->cfg->name,
				(unsigned long long)page, home);
			return;
		}
		A.st.home_unreachable++;
		log_warn("share %s page %llu: home node %u is down: the fault waits for it",
			 sh->cfg->name, (unsigned long long)page, home);
		return;
	}
	A.st.req_sent++;
	if (home != A.self)
		A.st.msgs_sent++;
	log_dbg("share %s page %llu: %s to home %u (req %llu, have %s)", sh->cfg->name,
		(unsigned long long)page, ccmap_type_name(a->req_type), home,
		(unsigned long long)a->req_id,
		a->have_version == CCMAP_NO_VERSION ? "nothing" : "S copy");
}

/*
 * Carry out @a for @page.  @data: page data that came with a GRANT from
 * another node (NULL from ourselves); @txn: transaction id for a REPLY.
 */
static void np_act(struct share *sh, uint64_t page, const struct ccmap_np_action *a,
		   const uint8_t *data, uint64_t txn)
{
	static uint8_t buf[CCMAP_PAGE_SIZE];
	struct ccmap_npage *np = &sh->np[page];
	uint16_t home = home_of(sh, page);
	const uint8_t *reply_data = NULL;

	if ((a->flags & CCMAP_NA_INSTALL) && data) {
		/* The data first: the grant below publishes it. */
		if (write_page(sh, page, data)) {
			/*
			 * Not published: the faults fail.  The directory still
			 * counts us as a holder, so forwards keep working.
			 */
			prog_fail(sh, page, EIO);
			return;
		}
		A.st.bytes_recv += CCMAP_PAGE_SIZE;
		A.st.grants_data_recv++;
	}
	/* Giving rights up: state first, then unmap/write-protect (programs). */
	if ((a->flags & (CCMAP_NA_ZAP | CCMAP_NA_MKCLEAN)) && lower_rights(sh, page, a)) {
		defer(sh, page, a, txn, 0);
		return;
	}
	/* ... and only then read what we ship: no writer is left. */
	if ((a->flags & CCMAP_NA_READ) && home != A.self) {
		if (read_page(sh, page, buf) == 0)
			reply_data = buf;
	}
	if (a->flags & CCMAP_NA_REPLY) {
		struct ccmap_msg m;

		ccmap_msg_init(&m, a->reply_type, A.self, 0, txn);
		m.u.ack.share = sh->id;
		m.u.ack.page = page;
		m.u.ack.version = a->version;
		m.u.ack.data = NULL;
		if (a->reply_type != CCMAP_T_INV_ACK && home != A.self) {
			if (!reply_data) {
				/* Unreadable replica: zeroes beat a stuck home. */
				memset(buf, 0, sizeof(buf));
				reply_data = buf;
			}
			m.u.ack.data = reply_data;
			A.st.bytes_sent += CCMAP_PAGE_SIZE;
		}
		if (net_send(home, &m))
			log_warn("share %s page %llu: cannot send %s to home %u: it is down",
				 sh->cfg->name, (unsigned long long)page,
				 ccmap_type_name(a->reply_type), home);
		else {
			A.st.acks_sent++;
			if (home != A.self)
				A.st.msgs_sent++;
		}
	}
	if (a->flags & (CCMAP_NA_FAIL | CCMAP_NA_WAKE | CCMAP_NA_GO))
		sh->held[page] = 0;
	if (a->flags & CCMAP_NA_FAIL) {
		prog_fail(sh, page, EIO);
	} else if ((a->flags & (CCMAP_NA_WAKE | CCMAP_NA_GO)) && !coh_rights_ok(home)) {
		/*
		 * The home has not answered within the lease, or this node is
		 * not quorate: the page may be about to go to someone else.
		 * The state is kept and published when the lease (or quorum)
		 * is back; the fault waits.
		 */
		A.st.lease_held++;
		sh->held[page] = np->state == CCMAP_PS_E ? CCMAP_ST_E : CCMAP_ST_S;
		log_dbg("share %s page %llu: grant held back: no lease on home %u",
			sh->cfg->name, (unsigned long long)page, home);
	} else if (a->flags & CCMAP_NA_WAKE) {
		prog_grant(sh, page, np->state, np->version);
	} else if (a->flags & CCMAP_NA_GO) {
		/* Rights held already (a stale or raced request): republish. */
		A.st.local_go++;
		prog_grant(sh, page, np->state, np->version);
	}
	if (a->flags & CCMAP_NA_SEND_REQ)
		send_req(sh, page, a);
}

void coh_fault(uint32_t share, uint64_t page, unsigned want)
{
	struct ccmap_np_action a;
	struct share *sh;

	if (share >= A.n_shares || page >= A.shares[share].npages ||
	    (want != CCMAP_ST_S && want != CCMAP_ST_E)) {
		log_warn("request for share %u page %llu (%u) out of range: ignored", share,
			 (unsigned long long)page, want);
		return;
	}
	sh = &A.shares[share];
	log_dbg("share %s page %llu: fault wants %s (have %s%s)", sh->cfg->name,
		(unsigned long long)page, want == CCMAP_ST_E ? "E" : "S",
		state_name(sh->np[page].state), sh->np[page].pending ? ", pending" : "");
	ccmap_np_fault(&sh->np[page], want == CCMAP_ST_E, ++A.next_req_id, &a);
	np_act(sh, page, &a, NULL, 0);
}

void coh_prefetch(uint32_t share, uint64_t page, unsigned want)
{
	struct ccmap_np_action a;
	struct ccmap_npage *np;
	struct share *sh;

	if (share >= A.n_shares || page >= A.shares[share].npages ||
	    (want != CCMAP_ST_S && want != CCMAP_ST_E))
		return;
	sh = &A.shares[share];
	np = &sh->np[page];
	/* Held well enough or asked for already: nothing to do. */
	if (np->pending || sh->held[page] ||
	    (want == CCMAP_ST_E ? np->state == CCMAP_PS_E : np->state != CCMAP_PS_I))
		return;
	A.st.unit_prefetch++;
	ccmap_np_fault(np, want == CCMAP_ST_E, ++A.next_req_id, &a);
	np_act(sh, page, &a, NULL, 0);
}

/* ---- pages the policy keeps a while (ccmap_yield) ------------------------------ */

struct held {
	struct share *sh;
	uint64_t page, txn, due_ms;
	struct ccmap_np_action a;
	struct held *next;
};

static struct held *held_head;

static void hold(struct share *sh, uint64_t page, const struct ccmap_np_action *a,
		 uint64_t txn, uint64_t ns)
{
	struct held *h = malloc(sizeof(*h));

	if (!h) {
		np_act(sh, page, a, NULL, txn);	/* no memory to wait: give it up now */
		return;
	}
	*h = (struct held){ .sh = sh, .page = page, .txn = txn, .a = *a,
			    .due_ms = now_ms() + (ns + 999999) / 1000000, .next = held_head };
	held_head = h;
	A.st.yield_holds++;
	log_dbg("share %s page %llu: the policy keeps it %llu us more", sh->cfg->name,
		(unsigned long long)page, (unsigned long long)(ns / 1000));
}

uint64_t coh_next_due_ms(void)
{
	uint64_t due = 0;

	for (struct held *h = held_head; h; h = h->next)
		if (!due || h->due_ms < due)
			due = h->due_ms;
	return due;
}

void coh_run_due(bool all)
{
	struct held **pp = &held_head;
	uint64_t now = now_ms();

	while (*pp) {
		struct held *h = *pp;

		if (!all && h->due_ms > now) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		np_act(h->sh, h->page, &h->a, NULL, h->txn);
		free(h);
	}
}

/* ---- messages ----------------------------------------------------------------- */

static void reject(uint16_t src, const struct ccmap_msg *m, const char *why)
{
	A.st.bad_frames[CCMAP_E_PROTOCOL]++;
	log_warn("node %u: %s (req %llu) rejected: %s", src,
		 ccmap_type_name(m->hdr.type) ? ccmap_type_name(m->hdr.type) : "?",
		 (unsigned long long)m->hdr.req_id, why);
}

/* The share of a message, or NULL (rejected). */
static struct share *msg_share(uint16_t src, const struct ccmap_msg *m, unsigned id,
			       uint64_t page, bool need_page)
{
	char why[96];

	if (id >= A.n_shares) {
		snprintf(why, sizeof(why), "unknown share %u", id);
		reject(src, m, why);
		return NULL;
	}
	if (need_page && page >= A.shares[id].npages) {
		snprintf(why, sizeof(why), "page %llu beyond share %s",
			 (unsigned long long)page, A.shares[id].cfg->name);
		reject(src, m, why);
		return NULL;
	}
	return &A.shares[id];
}

static void on_request(uint16_t src, const struct ccmap_msg *m)
{
	struct share *sh = msg_share(src, m, m->u.req.share, m->u.req.page, false);
	int rc;

	if (!sh)
		return;
	A.st.req_served++;
	log_dbg("share %s page %llu: node %u asks %s (req %llu)", sh->cfg->name,
		(unsigned long long)m->u.req.page, src, ccmap_type_name(m->hdr.type),
		(unsigned long long)m->hdr.req_id);
	rc = ccmap_dir_request(&sh->dir, src, m->hdr.type, m->u.req.page, m->hdr.req_id,
			       m->u.req.have_version);
	if (rc)
		log_dbg("share %s page %llu: request of node %u refused: %s", sh->cfg->name,
			(unsigned long long)m->u.req.page, src, ccmap_strerror(-rc));
}

static void on_grant(uint16_t src, const struct ccmap_msg *m)
{
	const struct ccmap_grant *g = &m->u.grant;
	struct share *sh = msg_share(src, m, g->share, g->page, true);
	bool has_data = g->gflags & CCMAP_GRANT_F_DATA;
	struct ccmap_np_action a;
	int rc;

	if (!sh)
		return;
	if (home_of(sh, g->page) != src) {
		reject(src, m, "GRANT from a node that is not the page's home");
		return;
	}
	if (src != A.self && has_data && !g->data) {
		reject(src, m, "GRANT flagged with data has none");
		return;
	}
	rc = ccmap_np_grant(&sh->np[g->page], g->mode, has_data, g->version, m->hdr.req_id, &a);
	if (rc) {
		reject(src, m, "GRANT does not match the pending request");
		return;
	}
	A.st.grants_recv++;
	log_dbg("share %s page %llu: granted %s v%llu by home %u%s", sh->cfg->name,
		(unsigned long long)g->page, mode_name(g->mode), (unsigned long long)g->version,
		src, has_data ? " with data" : "");
	np_act(sh, g->page, &a, src != A.self && has_data ? g->data : NULL, 0);
}

static void on_forward(uint16_t src, const struct ccmap_msg *m)
{
	const struct ccmap_fwd *f = &m->u.fwd;
	struct share *sh = msg_share(src, m, f->share, f->page, true);
	struct ccmap_np_action a;
	int rc;

	if (!sh)
		return;
	if (home_of(sh, f->page) != src) {
		reject(src, m, "forward from a node that is not the page's home");
		return;
	}
	rc = ccmap_np_forward(&sh->np[f->page], m->hdr.type, f->version, &a);
	if (rc) {
		reject(src, m, "forward for a page this node does not hold that way");
		return;
	}
	A.st.fwd_recv++;
	if (m->hdr.type == CCMAP_T_INVALIDATE)
		A.st.inval_recv++;
	else if (m->hdr.type == CCMAP_T_DOWNGRADE)
		A.st.downgrade_recv++;
	else
		A.st.fetch_recv++;
	log_dbg("share %s page %llu: %s from home %u for node %u (txn %llu)", sh->cfg->name,
		(unsigned long long)f->page, ccmap_type_name(m->hdr.type), src, f->requester,
		(unsigned long long)m->hdr.req_id);
	if (a.flags & CCMAP_NA_REPLY) {
		uint64_t ns = prog_yield(sh, f->page, m->hdr.type == CCMAP_T_DOWNGRADE ?
					 CCMAP_ST_S : CCMAP_ST_I);

		if (ns) {
			/* Nothing else of this page comes from its home before our ack. */
			hold(sh, f->page, &a, m->hdr.req_id, ns);
			return;
		}
	}
	np_act(sh, f->page, &a, NULL, m->hdr.req_id);
}

static void on_ack(uint16_t src, const struct ccmap_msg *m)
{
	const struct ccmap_pack *k = &m->u.ack;
	struct share *sh = msg_share(src, m, k->share, k->page, false);
	int rc;

	if (!sh)
		return;
	if (src != A.self && m->hdr.type != CCMAP_T_INV_ACK && !k->data) {
		reject(src, m, "data acknowledgement without data");
		return;
	}
	A.st.acks_recv++;
	if (src != A.self && k->data)
		A.st.bytes_recv += CCMAP_PAGE_SIZE;
	cur_data = src != A.self ? k->data : NULL;
	if (m->hdr.type == CCMAP_T_WRITEBACK && (k->flags & CCMAP_WB_F_REHOME))
		rc = ccmap_dir_rehome_copy(&sh->dir, src, k->page, m->hdr.req_id, k->version,
					   k->flags & CCMAP_WB_F_CURRENT);
	else if (m->hdr.type == CCMAP_T_WRITEBACK && (k->flags & CCMAP_WB_F_RECLAIM))
		rc = ccmap_dir_reclaim(&sh->dir, src, k->page, m->hdr.req_id, k->version);
	else if (m->hdr.type == CCMAP_T_WRITEBACK)
		rc = ccmap_dir_writeback(&sh->dir, src, k->page, m->hdr.req_id, k->version);
	else
		rc = ccmap_dir_ack(&sh->dir, src, m->hdr.type, k->page, m->hdr.req_id,
				   k->version);
	cur_data = NULL;
	if (rc && m->hdr.type != CCMAP_T_WRITEBACK)
		reject(src, m, ccmap_strerror(-rc));
	else
		log_dbg("share %s page %llu: %s from node %u (txn %llu)", sh->cfg->name,
			(unsigned long long)k->page, ccmap_type_name(m->hdr.type), src,
			(unsigned long long)m->hdr.req_id);
}

/* ---- re-homing: a node lost for good ------------------------------------------------ */

/*
 * Send @node this node's copy of @page, read from the replica, as a
 * WRITEBACK with @flags at @version.  0, or -1 when the replica cannot be
 * read or @node is not reachable.
 */
static int send_copy(uint16_t node, struct share *sh, uint64_t page, uint16_t flags,
		     uint64_t version)
{
	static uint8_t buf[CCMAP_PAGE_SIZE];
	struct ccmap_msg m;

	if (read_page(sh, page, buf))
		return -1;
	ccmap_msg_init(&m, CCMAP_T_WRITEBACK, A.self, 0, ++A.next_req_id);
	m.u.ack.share = sh->id;
	m.u.ack.flags = flags;
	m.u.ack.page = page;
	m.u.ack.version = version;
	m.u.ack.data = buf;
	if (net_send(node, &m))
		return -1;
	A.st.msgs_sent++;
	A.st.bytes_sent += CCMAP_PAGE_SIZE;
	return 0;
}

/*
 * The home of @page is gone (down, restarted, or no longer home): drop the
 * copy here (zap); a fault waiting for it waits on, asked again when the
 * page has a home that answers (coh_peer_up, on_rehome).  1 if there was
 * anything to do.
 */
static int fence(struct share *sh, uint64_t page)
{
	unsigned pend = sh->np[page].pending;
	struct ccmap_np_action a;

	ccmap_np_home_down(&sh->np[page], &a);
	if (pend) {
		a.flags &= ~(CCMAP_NA_FAIL | CCMAP_NA_WAKE);
		sh->held[page] = pend == CCMAP_T_WRITE_REQ ? CCMAP_ST_E : CCMAP_ST_S;
	}
	if (!a.flags)
		return 0;
	np_act(sh, page, &a, NULL, 0);
	return 1;
}

/*
 * Revoke this node's rights to the pages homed at @node (every page: -1),
 * keeping their state: published again by republish().
 */
static unsigned long revoke_rights(int node)
{
	unsigned long n = 0;

	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];

		for (uint64_t page = 0; sh->np && page < sh->npages; page++) {
			struct ccmap_np_action z = { .flags = CCMAP_NA_ZAP };

			if ((node >= 0 && home_of(sh, page) != node) ||
			    sh->np[page].state == CCMAP_PS_I)
				continue;
			if (lower_rights(sh, page, &z))
				defer(sh, page, &z, 0, 0);
			n++;
		}
	}
	return n;
}

/* Publish again the rights held to pages homed at @node (-1: every page). */
static unsigned long republish(int node)
{
	unsigned long n = 0;

	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];

		for (uint64_t page = 0; sh->np && page < sh->npages; page++) {
			struct ccmap_npage *np = &sh->np[page];
			uint16_t home = home_of(sh, page);

			if ((node >= 0 && home != node) || np->state == CCMAP_PS_I ||
			    np->pending || !coh_rights_ok(home))
				continue;
			sh->held[page] = 0;
			prog_grant(sh, page, np->state, np->version);
			n++;
		}
	}
	return n;
}

bool coh_rights_ok(uint16_t home)
{
	/* A node outside the quorate partition may have had its pages re-homed. */
	if (A.cfg.corosync && !A.quorate)
		return false;
	return net_lease_valid(home);
}

void coh_quorum_changed(bool quorate)
{
	unsigned long n;

	if (!A.cfg.corosync)
		return;
	n = quorate ? republish(-1) : revoke_rights(-1);
	if (!quorate) {
		A.st.quorum_revoked += n;
		log_warn("not quorate: rights to %lu page(s) revoked; faults wait for quorum "
			 "(a majority may re-home the pages homed here)", n);
	} else {
		log_info("quorate: rights to %lu page(s) published again", n);
	}
}

/* Log once how the pages re-homed here settled (ccmap_dir_release). */
static void rehome_settled(struct share *sh)
{
	const struct ccmap_dir_stats *st = &sh->dir.st;
	uint64_t done = st->rehome_kept + st->rehome_reverted;

	if (done == sh->rh_logged)
		return;
	log_warn("share %s: pages re-homed here are served: %llu in all kept their last data, "
		 "%llu reverted to the newest copy left (stores on them since it are lost)",
		 sh->cfg->name, (unsigned long long)st->rehome_kept,
		 (unsigned long long)st->rehome_reverted);
	sh->rh_logged = done;
}

/*
 * Remember the copy this node has of @page, homed at a node being declared
 * down, in case the quorate cluster re-homes it: a copy held S or E is its
 * last data; an Invalid one with a version is the newest this node saw.
 */
static void rehome_keep(struct share *sh, uint64_t page)
{
	const struct ccmap_npage *np = &sh->np[page];

	if (!A.cfg.corosync)
		return;
	if (!sh->rh_have) {
		sh->rh_have = calloc(sh->npages, sizeof(*sh->rh_have));
		sh->rh_ver = calloc(sh->npages, sizeof(*sh->rh_ver));
		if (!sh->rh_have || !sh->rh_ver) {
			log_err("share %s: out of memory keeping copies for re-homing; exiting",
				sh->cfg->name);
			exit(1);
		}
	}
	if (np->state != CCMAP_PS_I) {
		sh->rh_have[page] = RH_COPY_CURRENT;
		sh->rh_ver[page] = np->version;
	} else if (np->version) {
		sh->rh_have[page] = RH_COPY_OLD;
		sh->rh_ver[page] = np->version;
	} else {
		sh->rh_have[page] = RH_COPY_NONE;
	}
}

static void send_rehome(uint16_t node)
{
	for (unsigned i = 0; i < A.n_shares; i++) {
		struct ccmap_msg m;

		ccmap_msg_init(&m, CCMAP_T_REHOME, A.self, 0, ++A.next_req_id);
		m.u.ack.share = A.shares[i].id;
		m.u.ack.version = A.lost;
		if (net_send(node, &m) == 0)
			A.st.msgs_sent++;
	}
}

/* Faults held for pages homed at @node ask it (again). */
static unsigned long ask_again(struct share *sh, uint16_t node)
{
	unsigned long asked = 0;

	for (uint64_t page = 0; page < sh->npages; page++) {
		unsigned want = sh->held[page];

		if (!want || home_of(sh, page) != node)
			continue;
		/* Rights held back (lease, quorum) are published, not asked for. */
		if (sh->np[page].state == CCMAP_PS_E ||
		    (sh->np[page].state == CCMAP_PS_S && want == CCMAP_ST_S))
			continue;
		sh->held[page] = 0;
		asked++;
		coh_fault(sh->id, page, want);
	}
	return asked;
}

/*
 * The lost set outlives the agent: a file next to each replica,
 * "<replica>.lost", holds it.  Without it a cluster restarted as a whole
 * would send the lost nodes' pages back to their old homes, whose replicas
 * no longer hold their data.
 */
static void lost_path(const struct share *sh, char *buf, size_t len)
{
	snprintf(buf, len, "%s.lost", sh->cfg->path);
}

static void lost_save(void)
{
	for (unsigned i = 0; i < A.n_shares; i++) {
		char path[PATH_MAX + 8], tmp[PATH_MAX + 16], text[64];
		int fd, n;
		bool ok;

		lost_path(&A.shares[i], path, sizeof(path));
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		n = snprintf(text, sizeof(text), "%#llx\n", (unsigned long long)A.lost);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		ok = fd >= 0 && write(fd, text, (size_t)n) == n && fsync(fd) == 0;
		if (fd >= 0 && close(fd))
			ok = false;
		if (!ok || rename(tmp, path)) {
			log_err("cannot record the lost nodes in %s: %s; if the whole cluster "
				"restarts before this node learns them again, pages of the lost "
				"nodes go back to stale replicas", path, strerror(errno));
			unlink(tmp);
		}
	}
}

/* 0, or -1 (logged) if a ".lost" file exists but cannot be used. */
static int lost_load(void)
{
	char text_nodes[256];

	for (unsigned i = 0; i < A.n_shares; i++) {
		char path[PATH_MAX + 8], text[64], *end;
		unsigned long long v;
		ssize_t n;
		int fd;

		lost_path(&A.shares[i], path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0) {
			log_err("%s: %s", path, strerror(errno));
			return -1;
		}
		n = read(fd, text, sizeof(text) - 1);
		close(fd);
		if (n < 0) {
			log_err("%s: %s", path, strerror(errno));
			return -1;
		}
		text[n] = 0;
		errno = 0;
		v = strtoull(text, &end, 0);
		if (errno || end == text || (*end && *end != '\n') || (v & ~A.members) ||
		    (v & UINT64_C(1) << A.self)) {
			log_err("%s: not a set of lost nodes of this cluster (\"%.20s\"); "
				"refusing to guess which nodes are homes", path, text);
			return -1;
		}
		A.lost |= v;
	}
	if (A.lost)
		log_warn("nodes lost for good before this start (%#llx: %s): their pages stay "
			 "re-homed", (unsigned long long)A.lost,
			 node_list(A.lost, text_nodes, sizeof(text_nodes)));
	return 0;
}

void coh_rehome(uint64_t lost)
{
	uint64_t before = A.lost, gone = lost & ~A.lost;
	char list_buf[256];
	unsigned long in = 0;

	lost &= A.members;
	if (!gone)
		return;
	if (gone & UINT64_C(1) << A.self) {
		if (!A.recovering) {
			log_err("this node was declared lost by the quorate cluster while it was "
				"cut off (its pages are re-homed, lost set %#llx): this agent's "
				"state is obsolete; exiting -- a restarted agent rejoins as a "
				"member that is home of nothing", (unsigned long long)lost);
			exit(1);
		}
		log_warn("this node was declared lost before this agent started: it rejoins "
			 "as a member that is home of nothing");
	}
	for (uint16_t id = 0; id < CCMAP_MAX_NODES; id++) {
		if (!(gone & UINT64_C(1) << id))
			continue;
		if (id != A.self && (A.peers[id].alive || A.peers[id].down_pending))
			net_force_down(id, "the quorate cluster declared its node lost");
	}
	A.lost = lost;
	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];
		int n;

		/* This node's own faults on pages it is no longer home of ask again. */
		for (uint64_t page = 0; page < sh->npages; page++) {
			if (ccmap_home_of(A.members, before, sh->id, page) != A.self ||
			    ccmap_home_of(A.members, lost, sh->id, page) == A.self)
				continue;
			rehome_keep(sh, page);
			fence(sh, page);
		}
		n = ccmap_dir_set_lost(&sh->dir, lost);
		if (n < 0) {
			log_err("share %s: directory refuses lost set %#llx: %s", sh->cfg->name,
				(unsigned long long)lost, ccmap_strerror(-n));
			continue;
		}
		in += (unsigned long)n;
		for (uint64_t page = 0; n > 0 && page < sh->npages; page++) {
			if (home_of(sh, page) != A.self ||
			    ccmap_home_of(A.members, before, sh->id, page) == A.self)
				continue;
			if (A.recovering) {
				/*
				 * This agent learns the lost set as it starts, from
				 * a peer: this node was away when the pages moved
				 * here, so its replica is only a copy of unknown age,
				 * which any survivor's copy beats.
				 */
				ccmap_dir_rehome_copy(&sh->dir, A.self, page, 0, 0, false);
			} else if (sh->rh_have && sh->rh_have[page]) {
				ccmap_dir_rehome_copy(&sh->dir, A.self, page, 0, sh->rh_ver[page],
						      sh->rh_have[page] == RH_COPY_CURRENT);
			}
			if (sh->rh_have)
				sh->rh_have[page] = RH_COPY_NONE;
		}
		if (n > 0 && !sh->dir.awaiting)
			ccmap_dir_release(&sh->dir);
		sh->rh_wait = 0;
		for (uint16_t id = 0; id < CCMAP_MAX_NODES; id++)
			if (id != A.self && net_peer_up(id))
				sh->rh_wait |= UINT64_C(1) << id;
	}
	lost_save();
	log_warn("node(s) %s lost for good: their pages are re-homed on the survivors, "
		 "%lu of them here; waiting for the survivors' copies",
		 node_list(gone, list_buf, sizeof(list_buf)), in);
	for (uint16_t id = 0; id < CCMAP_MAX_NODES; id++)
		if (id != A.self && net_peer_up(id))
			send_rehome(id);
	for (unsigned i = 0; i < A.n_shares; i++) {
		ask_again(&A.shares[i], A.self);
		rehome_settled(&A.shares[i]);
	}
}

/*
 * REHOME from @src: it applied the lost set in the frame and serves the
 * pages re-homed to it once every live peer has reported its copies.  A
 * newer lost set is adopted; for the current one, this node sends @src its
 * copies of the pages now homed there, then RECLAIM_DONE, then the faults
 * that waited for src ask it.
 */
/* Send @node the copies this node kept of pages now homed there. */
static unsigned long send_rehome_copies(struct share *sh, uint16_t node)
{
	unsigned long sent = 0;

	for (uint64_t page = 0; sh->rh_have && page < sh->npages; page++) {
		uint16_t flags = CCMAP_WB_F_REHOME;

		if (!sh->rh_have[page] || home_of(sh, page) != node)
			continue;
		if (sh->rh_have[page] == RH_COPY_CURRENT)
			flags |= CCMAP_WB_F_CURRENT;
		if (send_copy(node, sh, page, flags, sh->rh_ver[page]) == 0)
			sent++;
		sh->rh_have[page] = RH_COPY_NONE;
	}
	A.st.rehome_sent += sent;
	if (sent)
		log_info("share %s: copies of re-homed pages sent to their new home, node %u: "
			 "%lu", sh->cfg->name, node, sent);
	return sent;
}

static void on_rehome(uint16_t src, const struct ccmap_msg *m)
{
	struct share *sh = msg_share(src, m, m->u.ack.share, 0, false);
	uint64_t lost = m->u.ack.version;
	struct ccmap_msg r;

	if (!sh)
		return;
	if (lost & ~A.members) {
		reject(src, m, "REHOME names nodes that are not members");
		return;
	}
	if (lost & ~A.lost)
		coh_rehome(A.lost | lost);
	if (lost != A.lost) {
		log_dbg("share %s: REHOME from node %u with an older lost set %#llx: it sends "
			"the current one when it has it", sh->cfg->name, src,
			(unsigned long long)lost);
		return;
	}
	send_rehome_copies(sh, src);
	ccmap_msg_init(&r, CCMAP_T_RECLAIM_DONE, A.self, 0, ++A.next_req_id);
	r.u.ack.share = sh->id;
	if (net_send(src, &r) == 0)
		A.st.msgs_sent++;
	sh->rh_wait &= ~(UINT64_C(1) << src);
	ask_again(sh, src);
}

static void on_error(uint16_t src, const struct ccmap_msg *m)
{
	const struct ccmap_error_msg *e = &m->u.error;
	struct ccmap_np_action a;
	struct share *sh;

	A.st.errors_recv++;
	if (e->share == CCMAP_NO_SHARE || e->page == CCMAP_NO_PAGE) {
		log_warn("node %u reports: %s (%s)", src, e->reason, ccmap_strerror(e->code));
		return;
	}
	sh = msg_share(src, m, e->share, e->page, true);
	if (!sh)
		return;
	log_warn("share %s page %llu: node %u refused request %llu: %s (%s)", sh->cfg->name,
		 (unsigned long long)e->page, src, (unsigned long long)m->hdr.req_id,
		 e->reason, ccmap_strerror(e->code));
	if (ccmap_np_error(&sh->np[e->page], m->hdr.req_id, &a) == 0)
		np_act(sh, e->page, &a, NULL, 0);
}

void coh_message(uint16_t src, const struct ccmap_msg *m)
{
	switch (m->hdr.type) {
	case CCMAP_T_READ_REQ:
	case CCMAP_T_WRITE_REQ:
		on_request(src, m);
		break;
	case CCMAP_T_GRANT:
		on_grant(src, m);
		break;
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH:
		on_forward(src, m);
		break;
	case CCMAP_T_INV_ACK:
	case CCMAP_T_DOWNGRADE_ACK:
	case CCMAP_T_FETCH_ACK:
	case CCMAP_T_WRITEBACK:
		on_ack(src, m);
		break;
	case CCMAP_T_WRITEBACK_ACK:
		log_dbg("node %u: WRITEBACK_ACK status %u", src, m->u.wback.status);
		if (A.reclaim_pending && !A.handoff_pending) {
			A.reclaim_pending--;
			if (m->u.wback.status == CCMAP_WB_OK)
				A.st.reclaim_ok++;
			else
				A.st.reclaim_stale++;
			if (!A.reclaim_pending)
				log_info("copies sent back to their homes after a restart: %llu "
					 "stored, %llu refused (changed there meanwhile: their "
					 "stores are lost)",
					 (unsigned long long)A.st.reclaim_ok,
					 (unsigned long long)A.st.reclaim_stale);
		} else if (A.handoff_pending) {
			A.handoff_pending--;
			if (m->u.wback.status == CCMAP_WB_OK)
				A.st.handoff_ok++;
			else
				A.st.handoff_stale++;
		}
		break;
	case CCMAP_T_ERROR:
		on_error(src, m);
		break;
	case CCMAP_T_REHOME:
		on_rehome(src, m);
		break;
	case CCMAP_T_RECLAIM_DONE: {
		struct share *sh = msg_share(src, m, m->u.ack.share, 0, false);
		int rc;

		if (!sh)
			break;
		rc = ccmap_dir_reclaim_done(&sh->dir, src);
		if (A.recovering) {
			bool waiting = false;

			for (unsigned i = 0; i < A.n_shares; i++)
				waiting |= A.shares[i].dir.awaiting != 0;
			if (!waiting)
				recovered("every peer reported its copies");
		}
		if (rc > 0)
			log_info("share %s: node %u restarted without some pages it owned: "
				 "they revert to the home copy", sh->cfg->name, src);
		else if (rc < 0)
			log_dbg("share %s: RECLAIM_DONE from node %u: %s", sh->cfg->name, src,
				ccmap_strerror(-rc));
		rehome_settled(sh);
		break;
	}
	default:
		reject(src, m, "not a coherency message");
		break;
	}
}

/* ---- self FIFO ---------------------------------------------------------------- */

void coh_self_push(const struct ccmap_msg *m)
{
	struct selfmsg *s = malloc(sizeof(*s));

	if (!s) {
		/* Losing a message to ourselves would hang a page: give up. */
		log_err("out of memory for a message to this node; exiting");
		exit(1);
	}
	s->m = *m;
	s->m.hdr.sender = A.self;
	s->next = NULL;
	if (A.self_tail)
		A.self_tail->next = s;
	else
		A.self_head = s;
	A.self_tail = s;
}

void coh_deliver_self(void)
{
	while (A.self_head) {
		struct selfmsg *s = A.self_head;

		A.self_head = s->next;
		if (!A.self_head)
			A.self_tail = NULL;
		A.st.self_msgs++;
		coh_message(A.self, &s->m);
		free(s);
	}
}

/* ---- peers coming and going ------------------------------------------------------ */

void coh_peer_up(uint16_t node)
{
	unsigned long asked = 0;

	/*
	 * First of all: which nodes are lost, so that it knows the homes, and
	 * the copies kept of pages re-homed there while it was away -- before
	 * the RECLAIM_DONE below ends its wait for them.
	 */
	if (A.lost) {
		send_rehome(node);
		for (unsigned i = 0; i < A.n_shares; i++)
			send_rehome_copies(&A.shares[i], node);
	}

	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];
		int rc = ccmap_dir_node_up(&sh->dir, node);

		if (rc)
			log_err("share %s: directory refuses node %u up: %s",
				sh->cfg->name, node, ccmap_strerror(-rc));
	}
	/*
	 * First the data the previous agent of this node left Exclusive:
	 * it travels before any request of ours for those pages.
	 */
	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];

		for (uint64_t page = 0; sh->reclaim && page < sh->npages; page++) {
			if (!sh->reclaim[page] || home_of(sh, page) != node)
				continue;
			if (send_copy(node, sh, page, CCMAP_WB_F_RECLAIM,
				      sh->reclaim[page] - 1) == 0) {
				A.reclaim_pending++;
				A.st.reclaim_sent++;
			}
			sh->reclaim[page] = 0;
		}
		/* Then: nothing more to come for this share; the rest reverts. */
		if (node != A.self) {
			struct ccmap_msg m;

			ccmap_msg_init(&m, CCMAP_T_RECLAIM_DONE, A.self, 0, ++A.next_req_id);
			m.u.ack.share = sh->id;
			if (net_send(node, &m) == 0)
				A.st.msgs_sent++;
		}
	}
	/* Faults that waited through the home's absence ask it again. */
	for (unsigned i = 0; i < A.n_shares; i++)
		asked += ask_again(&A.shares[i], node);
	if (asked)
		log_info("node %u is up: %lu waiting fault(s) ask it again", node, asked);
}

void coh_peer_down(uint16_t node, bool restarted)
{
	unsigned long fenced = 0;

	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];
		int rc = restarted ? ccmap_dir_node_restart(&sh->dir, node) :
				     ccmap_dir_node_down(&sh->dir, node);

		if (rc)
			log_err("share %s: directory refuses node %u down: %s", sh->cfg->name,
				node, ccmap_strerror(-rc));
		for (uint64_t page = 0; page < sh->npages; page++) {
			if (home_of(sh, page) != node)
				continue;
			if (!restarted)
				rehome_keep(sh, page);
			if (restarted && sh->np[page].state == CCMAP_PS_E &&
			    (sh->reclaim || (sh->reclaim = calloc(sh->npages,
								  sizeof(*sh->reclaim))))) {
				/* Its new agent adopts our copy (after the zap below). */
				sh->reclaim[page] = sh->np[page].version + 1;
				A.st.reclaim_kept++;
			}
			fenced += fence(sh, page);
		}
	}
	log_info("node %u is %s: its copies are forgotten, %lu page(s) it is home of "
		 "fenced here", node, restarted ? "a new incarnation (its Exclusive pages "
		 "wait for its reclaims)" : "down", fenced);
	for (unsigned i = 0; i < A.n_shares; i++)
		rehome_settled(&A.shares[i]);
}

/*
 * The lease on @node's pages lapsed: revoke this node's rights to every
 * page homed there (the kernel unmaps them), keeping their state: the data
 * of an Exclusive page stays in the replica for the home to fetch once it
 * answers again, or is lost with the home's recovery if it declared us
 * down meanwhile (docs/protocol.md §5.5).
 */
void coh_lease_lost(uint16_t node)
{
	unsigned long revoked = revoke_rights(node);

	A.st.lease_revoked += revoked;
	log_warn("lease on node %u lost: rights to %lu page(s) homed there revoked", node,
		 revoked);
}

/* The lease is back: publish again the rights the node still holds. */
void coh_lease_renewed(uint16_t node)
{
	unsigned long granted = republish(node);

	log_info("lease on node %u renewed: rights to %lu page(s) published again", node,
		 granted);
}

/*
 * A clean stop.  The policy has detached, so the kernel has revoked every
 * mapping and no store can change the replica any more: what it holds for
 * an Exclusive page is the page's last data.  Write it back to the home
 * (WRITEBACK: stored if we are still the owner at that version), so that
 * the home's recovery after our BYE loses nothing.
 */
unsigned coh_handoff(void)
{
	unsigned sent = 0, lost = 0;

	coh_run_due(true);	/* pages kept a while go to whoever asked first */

	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];

		for (uint64_t page = 0; page < sh->npages; page++) {
			struct ccmap_npage *np = &sh->np[page];
			uint16_t home = home_of(sh, page);

			if (np->state != CCMAP_PS_E || home == A.self)
				continue;
			if (!net_peer_up(home) || send_copy(home, sh, page, 0, np->version)) {
				lost++;
				continue;
			}
			sent++;
		}
	}
	A.st.handoff_sent += sent;
	A.st.handoff_lost += lost;
	A.handoff_pending = sent;
	if (sent || lost)
		log_info("stopping: writing %u Exclusive page(s) back to their homes", sent);
	if (lost)
		log_warn("stopping: %u Exclusive page(s) cannot be handed over (home down or "
			 "replica unreadable): their stores since they last moved are lost", lost);
	return sent;
}

/* ---- setup ------------------------------------------------------------------------ */

int coh_init(void)
{
	if (lost_load())
		return -1;
	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];
		int rc;

		rc = ccmap_dir_init(&sh->dir, A.self, sh->id, sh->npages, A.members, dir_emit, sh);
		if (rc) {
			log_err("share %s: cannot set up the directory: %s", sh->cfg->name,
				ccmap_strerror(-rc));
			return -1;
		}
		/*
		 * A previous agent of this node may have granted pages homed
		 * here that peers still hold: serve nothing until each peer
		 * sent its copies back (RECLAIM_DONE), or until no lease on
		 * the previous agent can still be valid (coh_tick).
		 */
		ccmap_dir_hold(&sh->dir, A.members);
		if (A.lost) {
			/* Pages re-homed here before: the replica holds their home copy. */
			rc = ccmap_dir_set_lost(&sh->dir, A.lost);
			for (uint64_t page = 0; rc > 0 && page < sh->npages; page++)
				if (ccmap_home_node(A.members, sh->id, page) != A.self &&
				    home_of(sh, page) == A.self)
					ccmap_dir_rehome_copy(&sh->dir, A.self, page, 0, 0, true);
			sh->rh_logged = sh->dir.st.rehomed;
		}
		A.recovering |= sh->dir.awaiting != 0;
		sh->np = calloc(sh->npages, sizeof(*sh->np));
		sh->held = calloc(sh->npages, 1);
		if (!sh->np || !sh->held) {
			log_err("share %s: out of memory for %llu page states", sh->cfg->name,
				(unsigned long long)sh->npages);
			return -1;
		}
	}
	return 0;
}

void coh_free(void)
{
	while (held_head) {
		struct held *h = held_head;

		held_head = h->next;
		free(h);
	}
	while (def_head) {
		struct deferred *d = def_head;

		def_head = d->next;
		free(d);
	}
	def_tail = &def_head;
	while (A.self_head) {
		struct selfmsg *s = A.self_head;

		A.self_head = s->next;
		free(s);
	}
	A.self_tail = NULL;
	for (unsigned i = 0; i < A.n_shares; i++) {
		ccmap_dir_free(&A.shares[i].dir);
		free(A.shares[i].np);
		A.shares[i].np = NULL;
		free(A.shares[i].held);
		A.shares[i].held = NULL;
		free(A.shares[i].reclaim);
		A.shares[i].reclaim = NULL;
	}
}
