// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd: who is in the cluster, from corosync ("membership corosync").
 *
 * Every agent joins corosync's closed process group "ccmap" (member.c).  A
 * corosync node id is a ccmap node id: corosync.conf's nodelist must give
 * node N the id N.  A peer whose agent leaves the group -- its node left
 * the totem ring (powered off, cut off), its agent died, or it left on
 * purpose -- is declared down, but only once this node is quorate in the
 * ring that removed it (for an agent that died on a node that stays, in
 * the current ring): a node in a minority declares nobody down (its
 * leases on the others' pages lapse by themselves, docs/protocol.md §5.5).
 * Its recovery still waits until its own lease has surely ended,
 * peer_dead_ms after we last heard from it: corosync saying a node is gone
 * is not a proof that it stopped writing.  A peer that left gets no session
 * until it has joined again.
 *
 * Connections are not membership: with corosync, a lost connection never
 * declares anyone down (the interim detector of net.c is off).  When this
 * agent loses corosync itself, it says so loudly, falls back to the interim
 * detector and reconnects every 5 s.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "agent.h"
#include "member.h"

#define CCM_GROUP	"ccmap"
#define CCM_RETRY_MS	5000

bool cluster_active(void)
{
	return A.ccm != NULL;
}

/*
 * Declare down the peers that left, once this node knows it is quorate in
 * the ring that removed them: corosync delivers the CPG change first, then
 * the totem ring, then the quorum of that ring; a node that is about to
 * find itself in a minority must not act on the CPG change alone.
 */
static void apply(void)
{
	if (!A.quorate || A.quorum_ring != A.totem_ring)
		return;
	for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
		struct peer *p = &A.peers[id];
		char why[128];

		if (!p->configured || !p->cs_gone || !p->alive)
			continue;
		snprintf(why, sizeof(why), "corosync: its agent left the process group (%s)",
			 ccm_reason_name(p->cs_reason));
		/* A node gone (not just its agent: that one restarts) is lost for good. */
		net_declare_down(p->id, why, p->cs_reason == CPG_REASON_NODEDOWN &&
				 __builtin_popcountll(A.members) >= 3);
	}
}

static void member_set(uint32_t nodeid, bool in, uint32_t reason)
{
	struct peer *p;

	if (nodeid > CCMAP_MAX_NODE_ID || nodeid == A.self)
		return;
	p = &A.peers[nodeid];
	if (!p->configured) {
		log_warn("corosync: node id %u is in the process group but not in the "
			 "configuration: ignored", nodeid);
		return;
	}
	if (in && !p->cs_member) {
		log_info("corosync: node %u's agent is in the process group", nodeid);
		p->cs_member = true;
		p->cs_gone = false;
	} else if (!in && p->cs_member) {
		log_warn("corosync: node %u's agent left the process group (%s)", nodeid,
			 ccm_reason_name(reason));
		p->cs_member = false;
		p->cs_gone = true;
		p->cs_reason = reason;
	}
}

static void on_event(const struct ccm_event *ev, void *arg)
{
	(void)arg;
	switch (ev->kind) {
	case CCM_JOINED:
		member_set(ev->nodeid, true, ev->reason);
		break;
	case CCM_LEFT:
		member_set(ev->nodeid, false, ev->reason);
		/* An agent gone from a node that stays: no new ring follows. */
		if (ev->reason != CPG_REASON_NODEDOWN && ev->reason != CPG_REASON_NODEUP)
			apply();
		return;
	case CCM_MEMBERS:
		for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
			bool in = false;

			if (!A.peers[id].configured)
				continue;
			for (size_t i = 0; i < ev->n; i++)
				in |= ev->members[i].nodeid == id;
			member_set(id, in, CPG_REASON_NODEDOWN);
		}
		return;		/* the ring and its quorum follow */
	case CCM_TOTEM:
		log_dbg("corosync: ring %u.%llu, %zu node(s)", ev->ring_nodeid,
			(unsigned long long)ev->ring_seq, ev->n);
		A.totem_ring = (uint64_t)ev->ring_nodeid << 48 ^ ev->ring_seq;
		break;
	case CCM_QUORUM:
		if (!!ev->quorate != A.quorate)
			log_warn("corosync: this node is %s (ring %u.%llu, %zu node(s))",
				 ev->quorate ? "quorate" : "NOT quorate: it declares nobody down",
				 ev->ring_nodeid, (unsigned long long)ev->ring_seq, ev->n);
		A.quorum_ring = (uint64_t)ev->ring_nodeid << 48 ^ ev->ring_seq;
		if (!!ev->quorate != A.quorate) {
			A.quorate = ev->quorate;
			coh_quorum_changed(A.quorate);
		}
		break;
	case CCM_LOST:
		return;		/* cluster_event() closes */
	}
	apply();
}

static void drop(const char *reason)
{
	char why[192];

	snprintf(why, sizeof(why), "%s", reason);	/* it may live in A.ccm */
	for (int i = 0; i < 2; i++) {
		if (A.ccm_src[i].fd >= 0)
			ep_del(&A.ccm_src[i]);
		A.ccm_src[i].fd = -1;
	}
	ccm_close(A.ccm);
	A.ccm = NULL;
	if (A.quorate) {
		A.quorate = false;
		coh_quorum_changed(false);	/* it may be in a minority now */
	}
	A.ccm_retry_ms = now_ms() + CCM_RETRY_MS;
	log_err("corosync: %s; peers are declared down by the interim detector "
		"(peer_dead_ms %u) until it is back", why, net_peer_dead_ms);
}

static int connect_ccm(int wait_ms)
{
	char err[192];
	int fds[2];
	cs_error_t rc;

	rc = ccm_open(&A.ccm, CCM_GROUP, wait_ms, on_event, NULL, err, sizeof(err));
	if (rc != CS_OK) {
		A.ccm = NULL;
		log_err("corosync: cannot join process group \"%s\": %s (is corosync "
			"running, with this node's id %u in its nodelist?)", CCM_GROUP, err,
			A.self);
		return -1;
	}
	if (ccm_nodeid(A.ccm) != A.self) {
		log_err("corosync: its node id is %u but this is node %u: corosync.conf must "
			"give every node its ccmap id", ccm_nodeid(A.ccm), A.self);
		ccm_close(A.ccm);
		A.ccm = NULL;
		return -1;
	}
	ccm_fds(A.ccm, fds);
	for (int i = 0; i < 2; i++) {
		A.ccm_src[i].kind = SRC_MEMBER;
		A.ccm_src[i].fd = fds[i];
		if (ep_add(&A.ccm_src[i], EPOLLIN)) {
			A.ccm_src[i].fd = -1;
			drop("cannot poll its descriptors");
			return -1;
		}
	}
	log_info("corosync: joined process group \"%s\" as node %u", CCM_GROUP, A.self);
	return 0;
}

int cluster_open(void)
{
	A.ccm_src[0].fd = A.ccm_src[1].fd = -1;
	if (!A.cfg.corosync)
		return 0;
	return connect_ccm(10000);
}

void cluster_event(struct src *s)
{
	cs_error_t rc;

	if (!A.ccm)
		return;
	rc = ccm_dispatch(A.ccm, s->fd);
	if (rc != CS_OK)
		drop(ccm_errmsg(A.ccm)[0] ? ccm_errmsg(A.ccm) : ccm_strerror(rc));
}

void cluster_tick(uint64_t now)
{
	if (!A.cfg.corosync || A.ccm || now < A.ccm_retry_ms)
		return;
	if (connect_ccm(0))
		A.ccm_retry_ms = now + CCM_RETRY_MS;
}

void cluster_close(void)
{
	if (!A.ccm)
		return;
	for (int i = 0; i < 2; i++)
		if (A.ccm_src[i].fd >= 0)
			ep_del(&A.ccm_src[i]);
	ccm_close(A.ccm);	/* leaves the group: peers see "leave" */
	A.ccm = NULL;
}
