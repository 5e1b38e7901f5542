// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd: peer connections.
 *
 * One TCP connection per pair of nodes: a node dials every peer with a lower
 * id and accepts connections from peers with a higher id (the responder
 * refuses any other node in the handshake).  Dialling retries with an
 * exponential backoff (100 ms .. 5 s).  The handshake of ccmap/auth.h
 * authenticates both ends with the cluster key and compares the share
 * lists; after it every frame carries an HMAC.
 *
 * Connections are not membership.  Coherency messages travel in a session
 * per peer (ccmap/session.h, docs/protocol.md §3.1) that survives its
 * connections: a connection that is lost (EOF, error, malformed frame, no
 * traffic for the idle timeout) is only closed and dialled again; the
 * first frame on the new one is RESUME, and the session continues exactly
 * where it was.  Nothing reverts.
 *
 * INTERIM FAILURE DETECTOR (until membership comes from corosync): a peer
 * is declared down -- the directory forgets its copies, pages it owned
 * revert to the home copy, this node fences the pages it is home of --
 * only when it has had no authenticated connection for net_peer_dead_ms
 * (default 15 s), when it says BYE, or when it comes back with another
 * incarnation (its agent restarted; the kernel zapped every mapping of the
 * old one when its policy detached).  The next session brings it "up".
 *
 * LEASES keep a node that is cut off from writing pages others may be
 * given (docs/protocol.md §5.5).  Rights to a page homed elsewhere hold
 * only while the home answered a frame we sent less than net_lease_ms()
 * ago (2/3 of peer_dead_ms; pings go every lease/4).  When the lease
 * lapses the pages' rights are revoked in the kernel, their state kept;
 * faults wait until the home answers again or is declared down.  The home
 * side runs a peer's recovery no sooner than peer_dead_ms after it last
 * heard from it, so the peer's lease has run out first whatever cut them
 * apart -- unless the peer provably holds nothing any more (BYE, a new
 * incarnation, or it declared us down: its kernel or agent revoked).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "agent.h"

#define HANDSHAKE_TIMEOUT_MS	10000
#define PING_INTERVAL_MS	2000	/* at most; lease/4 when that is shorter */
#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		5000
#define TX_MAX			(64u << 20)
#define SESS_MAX		(64u << 20)	/* retransmit queue bytes per peer */

unsigned net_peer_dead_ms = NET_PEER_DEAD_MS_DFL;
unsigned net_idle_timeout_ms = NET_IDLE_TIMEOUT_MS_DFL;

static struct conn *dead;		/* closed, freed after the event */

static void bad_frame(struct conn *c, int code, const char *what, const char *why);

static void sock_opts(int fd)
{
	int one = 1;

	/* Small frames (requests, acks) must not wait for Nagle. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		log_warn("TCP_NODELAY: %s", strerror(errno));
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(buf, len, "%s:%u", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(buf, len, "[%s]:%u", ip, port);
	} else {
		snprintf(buf, len, "?");
	}
}

int net_listen(void)
{
	const struct ccmap_addr *la = &A.cfg.listen;
	int one = 1;
	int fd;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		log_warn("SO_REUSEADDR: %s", strerror(errno));
	if (bind(fd, (const struct sockaddr *)&la->ss, la->len) || listen(fd, 64)) {
		log_err("cannot listen on %s: %s", la->text, strerror(errno));
		close(fd);
		return -1;
	}
	A.listen_src.kind = SRC_LISTEN;
	A.listen_src.fd = fd;
	if (ep_add(&A.listen_src, EPOLLIN)) {
		close(fd);
		return -1;
	}
	log_info("listening on %s for peers", la->text);
	return 0;
}

static struct conn *conn_new(int fd, bool outgoing, const char *addr)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		log_err("out of memory for a connection");
		return NULL;
	}
	c->src.kind = SRC_PEER;
	c->src.fd = fd;
	c->outgoing = outgoing;
	c->peer = CCMAP_NODE_NONE;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	ccmap_rx_init(&c->rx);
	c->born_ms = c->last_rx_ms = now_ms();
	c->next = A.conns;
	A.conns = c;
	return c;
}

static void conn_unlink(struct conn *c)
{
	for (struct conn **pp = &A.conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			return;
		}
	}
}

static void schedule_dial(struct peer *p, bool failed)
{
	uint64_t now = now_ms();

	if (p->id >= A.self)
		return;		/* it dials us */
	if (failed) {
		p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (p->backoff_ms > BACKOFF_MAX_MS)
			p->backoff_ms = BACKOFF_MAX_MS;
	} else {
		p->backoff_ms = BACKOFF_MIN_MS;
	}
	p->next_dial_ms = now + p->backoff_ms;
}

unsigned net_lease_ms(void)
{
	return net_peer_dead_ms / 3 * 2;
}

static unsigned ping_interval_ms(void)
{
	unsigned quarter = net_lease_ms() / 4;

	return quarter < 10 ? 10 : quarter < PING_INTERVAL_MS ? quarter : PING_INTERVAL_MS;
}

bool net_lease_valid(uint16_t node)
{
	if (node == A.self)
		return true;
	return node <= CCMAP_MAX_NODE_ID && !A.peers[node].lease_lost;
}

/* @p answered a frame we sent at @sent_us (our clock). */
static void lease_renew(struct peer *p, uint64_t sent_us)
{
	if (sent_us > p->lease_us)
		p->lease_us = sent_us;
	if (p->lease_lost && now_us() - p->lease_us < (uint64_t)net_lease_ms() * 1000) {
		p->lease_lost = false;
		A.st.leases_renewed++;
		log_info("peer %u answers again: lease renewed, rights to its pages return",
			 p->id);
		coh_lease_renewed(p->id);
	}
}

/*
 * The peer stops being a member (failure detector, BYE, new incarnation,
 * a session that cannot continue): its session and queue are dropped, its
 * connection closed, and coh_peer_down() runs from net_process_downs(),
 * outside any directory call.  @proven: the peer holds no rights any more
 * (it said BYE after its policy detached, it restarted, or it declared us
 * down); otherwise its recovery waits until its lease has run out.
 */
static void peer_declare_down(struct peer *p, const char *why, bool close_conn, bool proven)
{
	uint64_t now = now_ms();

	if (!p->alive)
		return;
	p->alive = false;
	p->downs++;
	A.st.peers_down++;
	snprintf(p->last_error, sizeof(p->last_error), "%.200s", why);
	p->down_at_ms = proven ? 0 : p->heard_ms + net_peer_dead_ms;
	if (p->down_at_ms > now) {
		A.st.downs_deferred++;
		log_warn("peer %u is declared down: %s (%zu unacknowledged message(s) dropped); "
			 "its pages are recovered in %llu ms, when its lease has surely run out",
			 p->id, why, p->sess.qlen, (unsigned long long)(p->down_at_ms - now));
	} else {
		log_warn("peer %u is declared down: %s (%zu unacknowledged message(s) dropped)",
			 p->id, why, p->sess.qlen);
	}
	ccmap_sess_init(&p->sess, 0, 0);
	p->down_pending = true;
	if (close_conn && p->conn)
		conn_close(p->conn, why);
}

void net_declare_down(uint16_t node, const char *why, bool lost)
{
	struct peer *p;

	if (node > CCMAP_MAX_NODE_ID || !A.peers[node].configured)
		return;
	p = &A.peers[node];
	if (p->alive && lost)
		p->down_lost = true;
	peer_declare_down(p, why, true, false);
}

/* Run @p's recovery (its down is pending); re-home its pages if @rehome
 * and its node is lost. */
static void peer_recover(struct peer *p, bool rehome)
{
	bool lost = rehome && p->down_lost && !p->down_restart;

	p->down_pending = false;
	p->down_lost = false;
	p->lease_lost = false;
	coh_peer_down(p->id, p->down_restart);
	p->down_restart = false;
	if (lost)
		coh_rehome(A.lost | UINT64_C(1) << p->id);
}

void net_force_down(uint16_t node, const char *why)
{
	struct peer *p;

	if (node > CCMAP_MAX_NODE_ID || !A.peers[node].configured)
		return;
	p = &A.peers[node];
	peer_declare_down(p, why, true, true);
	if (p->down_pending)
		peer_recover(p, false);	/* the caller is re-homing it */
}

void conn_close(struct conn *c, const char *why)
{
	struct peer *p = c->peer <= CCMAP_MAX_NODE_ID ? &A.peers[c->peer] : NULL;

	if (c->src.fd < 0)
		return;		/* closed already */
	ep_del(&c->src);
	close(c->src.fd);
	c->src.fd = -1;
	A.st.conns_closed++;
	conn_unlink(c);
	c->next = dead;
	dead = c;

	if (p && p->conn == c) {
		p->conn = NULL;
		p->lost_ms = now_ms();
		snprintf(p->last_error, sizeof(p->last_error), "%.200s", why);
		if (p->alive) {
			p->conns_lost++;
			A.st.conns_lost++;
			log_warn("peer %u (%s): connection lost: %s; the session resumes on "
				 "the next connection (%zu message(s) unacknowledged; the peer "
				 "is declared down after %u ms without one)", p->id, c->addr,
				 why, p->sess.qlen, net_peer_dead_ms);
		} else {
			log_info("peer %u (%s): connection closed: %s", p->id, c->addr, why);
		}
		schedule_dial(p, false);
	} else if (p && p->dialing == c) {
		p->dialing = NULL;
		snprintf(p->last_error, sizeof(p->last_error), "%.200s", why);
		/* Refused connections while a peer starts are routine. */
		if (p->backoff_ms >= BACKOFF_MAX_MS || !c->connecting)
			log_info("peer %u (%s): %s", p->id, c->addr, why);
		else
			log_dbg("peer %u (%s): %s", p->id, c->addr, why);
		schedule_dial(p, true);
	} else {
		log_info("connection from %s closed: %s", c->addr, why);
	}
}

/*
 * Closed connections are freed only here, after a whole batch of epoll
 * events: an event of the same batch may still point to one.
 */
void net_free_dead(void)
{
	while (dead) {
		struct conn *c = dead;

		dead = c->next;
		free(c->tx);
		free(c);
	}
}

static void set_out(struct conn *c, bool on)
{
	if (c->want_out == on || c->src.fd < 0)
		return;
	c->want_out = on;
	if (ep_mod(&c->src, EPOLLIN | (on ? EPOLLOUT : 0)))
		conn_close(c, "epoll_ctl failed");
}

static void conn_flush(struct conn *c)
{
	int rc = send_pending(c->src.fd, c->tx, c->tx_len, &c->tx_off);

	if (rc > 0) {
		set_out(c, true);
		return;
	}
	if (rc < 0) {
		conn_close(c, strerror(errno));
		return;
	}
	c->tx_off = c->tx_len = 0;
	set_out(c, false);
	if (c->closing)
		conn_close(c, "closed after the last frame");
}

static int conn_send(struct conn *c, struct ccmap_msg *m)
{
	struct ccmap_err err;
	long n;

	if (c->src.fd < 0 || c->closing)
		return -1;
	if (c->tx_cap - c->tx_len < CCMAP_MAX_FRAME) {
		size_t cap = c->tx_cap ? c->tx_cap * 2 : 65536;
		uint8_t *nb;

		/* compact first: what was sent is gone */
		if (c->tx_off) {
			memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
			c->tx_len -= c->tx_off;
			c->tx_off = 0;
		}
		while (cap - c->tx_len < CCMAP_MAX_FRAME)
			cap *= 2;
		if (cap > TX_MAX) {
			conn_close(c, "peer does not read: send buffer over 64 MiB");
			return -1;
		}
		if (cap > c->tx_cap) {
			nb = realloc(c->tx, cap);
			if (!nb) {
				conn_close(c, "out of memory for the send buffer");
				return -1;
			}
			c->tx = nb;
			c->tx_cap = cap;
		}
	}
	m->hdr.sender = A.self;
	m->hdr.seq = c->tx_seq;
	if (c->inject == INJECT_SEQ && c->tx_seq > 0)
		m->hdr.seq = c->tx_seq - 1;	/* test hook: a stale sequence number */
	n = ccmap_encode(m, c->authed ? &c->hs.tx_key : NULL, c->tx + c->tx_len,
			 c->tx_cap - c->tx_len, &err);
	if (n < 0) {
		log_err("cannot encode %s for %s: %s", ccmap_type_name(m->hdr.type) ?
			ccmap_type_name(m->hdr.type) : "?", c->addr, err.msg);
		return -1;
	}
	if (c->inject) {
		if (c->inject == INJECT_MAC)
			c->tx[c->tx_len + (size_t)n - 1] ^= 0x01;	/* test hook: bad MAC */
		log_warn("test hook: %s seq %llu to %s sent with %s", ccmap_type_name(m->hdr.type),
			 (unsigned long long)m->hdr.seq, c->addr,
			 c->inject == INJECT_MAC ? "a corrupted MAC" : "a stale sequence number");
		c->inject = INJECT_NONE;
		A.st.injected++;
	}
	c->tx_seq++;
	c->tx_len += (size_t)n;
	A.st.frames_sent++;
	log_trace("-> %s %s seq %llu req %llu (%ld bytes)", c->addr,
		  ccmap_type_name(m->hdr.type), (unsigned long long)m->hdr.seq,
		  (unsigned long long)m->hdr.req_id, n);
	if (!c->want_out)
		conn_flush(c);
	return 0;
}

/* Write what the session has not written to the peer's connection yet. */
static void sess_flush(struct peer *p)
{
	struct ccmap_msg *m;

	while (p->conn && p->conn->resumed && (m = ccmap_sess_peek(&p->sess))) {
		if (conn_send(p->conn, m))
			return;		/* closed; the session resumes later */
		ccmap_sess_xmitted(&p->sess);
	}
}

int net_send(uint16_t dst, struct ccmap_msg *m)
{
	static uint8_t scratch[CCMAP_MAX_PAYLOAD];
	struct ccmap_err err;
	struct peer *p;
	long rc;

	if (dst == A.self) {
		coh_self_push(m);
		return 0;
	}
	if (dst > CCMAP_MAX_NODE_ID)
		return -1;
	p = &A.peers[dst];
	if (!p->configured || !p->alive)
		return -1;
	/* What enters the session must encode: it cannot be skipped later. */
	m->hdr.sender = A.self;
	if (ccmap_encode_payload(m, scratch, sizeof(scratch), &err) < 0) {
		log_err("cannot encode %s for node %u: %s", ccmap_type_name(m->hdr.type) ?
			ccmap_type_name(m->hdr.type) : "?", dst, err.msg);
		return -1;
	}
	rc = ccmap_sess_push(&p->sess, m);
	if (rc < 0) {
		log_err("peer %u: cannot queue %s: %s", dst, ccmap_type_name(m->hdr.type) ?
			ccmap_type_name(m->hdr.type) : "?", ccmap_strerror((int)rc));
		return -1;
	}
	if (p->sess.qbytes > SESS_MAX) {
		peer_declare_down(p, "retransmit queue over 64 MiB: the peer does not acknowledge",
				  true, false);
		return 0;
	}
	sess_flush(p);
	return 0;
}

bool net_peer_up(uint16_t node)
{
	if (node == A.self)
		return true;
	return node <= CCMAP_MAX_NODE_ID && A.peers[node].alive;
}

int net_inject(uint16_t node, int how)
{
	if (node > CCMAP_MAX_NODE_ID || !A.peers[node].conn || !A.peers[node].conn->resumed)
		return -1;
	A.peers[node].conn->inject = (uint8_t)how;
	return 0;
}

int net_drop(uint16_t node, const char *why)
{
	if (node > CCMAP_MAX_NODE_ID || !A.peers[node].conn)
		return -1;
	conn_close(A.peers[node].conn, why);
	return 0;
}

static void hs_params(struct ccmap_hs_params *hp, uint16_t peer)
{
	memset(hp, 0, sizeof(*hp));
	hp->key = &A.key;
	hp->self = A.self;
	hp->peer = peer;
	hp->incarnation = A.incarnation;
	hp->n_shares = (uint16_t)A.n_shares;
	hp->shares = A.descs;
	/* We accept only the peers that dial us: those with a higher id. */
	for (unsigned id = A.self + 1u; id < CCMAP_MAX_NODES; id++)
		if (A.peers[id].configured)
			hp->allowed_peers |= UINT64_C(1) << id;
}

static void dial(struct peer *p)
{
	struct ccmap_hs_params hp;
	struct conn *c;
	int fd;

	fd = socket(p->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("socket: %s", strerror(errno));
		schedule_dial(p, true);
		return;
	}
	sock_opts(fd);
	c = conn_new(fd, true, p->addr.text);
	if (!c) {
		close(fd);
		schedule_dial(p, true);
		return;
	}
	c->peer = p->id;
	p->dialing = c;
	A.st.conns_dialled++;
	hs_params(&hp, p->id);
	if (ccmap_hs_init(&c->hs, CCMAP_HS_INITIATOR, &hp, NULL)) {
		log_err("peer %u: handshake setup failed: %s", p->id, c->hs.err.msg);
		close(fd);
		c->src.fd = -1;
		conn_unlink(c);
		free(c);
		p->dialing = NULL;
		schedule_dial(p, true);
		return;
	}
	c->connecting = true;
	if (ep_add(&c->src, EPOLLIN | EPOLLOUT)) {
		conn_close(c, "epoll_ctl failed");
		return;
	}
	c->want_out = true;
	if (connect(fd, (const struct sockaddr *)&p->addr.ss, p->addr.len) &&
	    errno != EINPROGRESS) {
		char why[128];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		conn_close(c, why);
		return;
	}
	log_dbg("peer %u: dialling %s", p->id, p->addr.text);
}

static void start_handshake(struct conn *c)
{
	struct ccmap_msg m;

	c->connecting = false;
	if (ccmap_hs_hello(&c->hs, &m)) {
		conn_close(c, c->hs.err.msg);
		return;
	}
	conn_send(c, &m);
}

void net_accept(void)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct ccmap_hs_params hp;
		char addr[64];
		struct conn *c;
		int fd;

		fd = accept4(A.listen_src.fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		addr_text(&ss, addr, sizeof(addr));
		sock_opts(fd);
		c = conn_new(fd, false, addr);
		if (!c) {
			close(fd);
			continue;
		}
		A.st.conns_accepted++;
		hs_params(&hp, CCMAP_NODE_NONE);
		if (ccmap_hs_init(&c->hs, CCMAP_HS_RESPONDER, &hp, NULL) ||
		    ep_add(&c->src, EPOLLIN)) {
			conn_close(c, "handshake setup failed");
			continue;
		}
		log_dbg("connection from %s", addr);
	}
}

/* The handshake completed on c: it becomes the peer's connection. */
static void authenticated(struct conn *c)
{
	uint16_t id = c->hs.peer;
	struct peer *p;

	if (id > CCMAP_MAX_NODE_ID || !A.peers[id].configured) {
		conn_close(c, "handshake named a node that is not configured");
		return;
	}
	p = &A.peers[id];
	c->authed = true;
	c->peer = id;
	if (p->down_pending && p->down_at_ms > now_ms() &&
	    p->incarnation == c->hs.peer_incarnation) {
		/* Its old session's recovery must run before a new session. */
		conn_close(c, "the peer's recovery waits for its lease to run out");
		return;
	}
	if (cluster_active() && p->cs_gone) {
		conn_close(c, "the peer left corosync's process group: no session until it "
			   "joins again");
		return;
	}
	c->rx.mac = &c->hs.rx_key;
	c->rx.require_mac = true;
	A.st.conns_authed++;
	if (p->dialing == c)
		p->dialing = NULL;
	if (p->conn && p->conn != c)
		conn_close(p->conn, "replaced by a new connection of the same peer");
	if (p->alive && p->sess.peer_inc != c->hs.peer_incarnation) {
		char why[128];

		/* Safe: the old agent's policy detached, so the kernel zapped
		 * every mapping it had granted (docs/protocol.md §5.4). */
		snprintf(why, sizeof(why), "it restarted (incarnation %016llx -> %016llx)",
			 (unsigned long long)p->sess.peer_inc,
			 (unsigned long long)c->hs.peer_incarnation);
		peer_declare_down(p, why, true, true);
		p->down_restart = true;
	}
	if (p->down_pending && p->incarnation != c->hs.peer_incarnation)
		p->down_at_ms = 0;	/* a new incarnation: the old one's policy detached */
	net_process_downs();	/* the old incarnation's down before the up */
	p->conn = c;
	p->heard_ms = now_ms();
	p->backoff_ms = 0;
	p->last_error[0] = 0;
	p->last_ping_ms = now_ms();
	p->incarnation = c->hs.peer_incarnation;
	c->fresh_sent = !p->alive;
	if (!p->alive)
		ccmap_sess_init(&p->sess, A.incarnation, p->incarnation);
	log_info("peer %u (%s): authenticated, %s, incarnation %016llx; %s", id, c->addr,
		 c->outgoing ? "dialled" : "accepted", (unsigned long long)p->incarnation,
		 c->fresh_sent ? "new session" : "resuming the session");
	{
		struct ccmap_msg m;

		ccmap_sess_resume_msg(&p->sess, A.self, c->fresh_sent, &m);
		conn_send(c, &m);
	}
}

/* The peer's RESUME: continue the session, or start a new one. */
static void on_resume(struct conn *c, const struct ccmap_msg *m)
{
	struct peer *p = &A.peers[c->peer];
	const struct ccmap_sessmsg *r = &m->u.sess;
	bool peer_fresh = r->flags & CCMAP_RESUME_F_FRESH;
	struct ccmap_err err = { 0 };

	if (c->resumed || r->from_inc != c->hs.peer_incarnation || r->to_inc != A.incarnation) {
		bad_frame(c, CCMAP_E_PROTOCOL, "RESUME rejected", c->resumed ? "second RESUME" :
			  "RESUME names other incarnations than the handshake");
		conn_close(c, "bad RESUME");
		return;
	}
	if (!c->fresh_sent && !peer_fresh) {
		uint64_t again = p->sess.xmit_next - 1 - r->delivered;

		if (ccmap_sess_resume(&p->sess, r->delivered, &err) == 0) {
			c->resumed = true;
			/* It answered this connection's handshake. */
			lease_renew(p, c->born_ms * 1000);
			p->resumes++;
			A.st.sess_resumed++;
			A.st.sess_retransmitted += again;
			log_info("peer %u: session resumed: it delivered %llu of our messages, "
				 "%zu to send (%llu of them again); we delivered %llu of its",
				 p->id, (unsigned long long)r->delivered, p->sess.qlen,
				 (unsigned long long)again, (unsigned long long)p->sess.delivered);
			sess_flush(p);
			return;
		}
		/* Both ends must start anew: close, the next RESUME says fresh. */
		log_err("peer %u: cannot resume the session: %s", p->id, err.msg);
		A.st.sess_reset++;
		peer_declare_down(p, "the session cannot be resumed", true, false);
		return;
	}
	if (p->alive) {
		/* We had a session the peer no longer has: it declared us down. */
		A.st.sess_reset++;
		peer_declare_down(p, "it no longer has our session (it declared this node down)",
				  false, true);
		net_process_downs();
		if (c->src.fd < 0)
			return;
	}
	ccmap_sess_init(&p->sess, A.incarnation, c->hs.peer_incarnation);
	p->alive = true;
	p->ups++;
	c->resumed = true;
	p->lease_lost = false;
	p->lease_us = c->born_ms * 1000;
	log_info("peer %u (%s): new session, incarnation %016llx; peer is up", p->id, c->addr,
		 (unsigned long long)p->incarnation);
	coh_peer_up(p->id);
	sess_flush(p);
}

static void bad_frame(struct conn *c, int code, const char *what, const char *why)
{
	if (code <= 0 || code >= CCMAP_E_MAX)
		code = CCMAP_E_PROTOCOL;
	A.st.bad_frames[code]++;
	if (c->peer <= CCMAP_MAX_NODE_ID && c->authed)
		log_warn("peer %u (%s): %s: %s (%s)", c->peer, c->addr, what, why,
			 ccmap_strerror(code));
	else
		log_warn("%s: %s: %s (%s)", c->addr, what, why, ccmap_strerror(code));
}

static void frame_unauthed(struct conn *c, const struct ccmap_msg *m)
{
	struct ccmap_msg out;
	bool have = false;
	int rc;

	rc = ccmap_hs_step(&c->hs, m, &out, &have);
	if (have)
		conn_send(c, &out);
	if (rc < 0) {
		char why[256];

		A.st.auth_failures++;
		bad_frame(c, c->hs.err.code ? c->hs.err.code : CCMAP_E_AUTH,
			  "handshake refused", c->hs.err.msg);
		snprintf(why, sizeof(why), "handshake failed: %s", c->hs.err.msg);
		if (c->outgoing && c->peer <= CCMAP_MAX_NODE_ID)
			snprintf(A.peers[c->peer].last_error,
				 sizeof(A.peers[c->peer].last_error), "%.200s", why);
		if (c->tx_len > c->tx_off && c->src.fd >= 0) {
			c->closing = true;	/* let the ERROR go out first */
			if (c->outgoing && A.peers[c->peer].dialing == c) {
				/* keep the backoff going while the ERROR drains */
				A.peers[c->peer].dialing = NULL;
				schedule_dial(&A.peers[c->peer], true);
			}
			conn_flush(c);
		} else {
			conn_close(c, why);
		}
		return;
	}
	if (rc == 1)
		authenticated(c);
}

static void send_ack(struct peer *p)
{
	struct ccmap_msg m;

	ccmap_sess_ack_msg(&p->sess, A.self, &m);
	if (conn_send(p->conn, &m) == 0)
		A.st.sess_acks_sent++;
}

static void frame_authed(struct conn *c, const struct ccmap_msg *m)
{
	struct ccmap_msg out;
	bool ack_due;

	struct peer *p = &A.peers[c->peer];

	if (m->hdr.sender != c->peer) {
		bad_frame(c, CCMAP_E_PROTOCOL, "frame rejected", "sender id is not the peer's");
		conn_close(c, "frame with another sender id");
		return;
	}
	p->heard_ms = c->last_rx_ms;
	switch (m->hdr.type) {
	case CCMAP_T_PING:
		ccmap_msg_init(&out, CCMAP_T_PONG, A.self, 0, m->hdr.req_id);
		out.u.ping.stamp = m->u.ping.stamp;
		conn_send(c, &out);
		return;
	case CCMAP_T_PONG: {
		uint64_t sent = m->u.ping.stamp, now = now_us();

		if (sent <= now) {
			A.peers[c->peer].rtt_us = now - sent;
			if (c->resumed && p->alive)
				lease_renew(p, sent);
		}
		return;
	}
	case CCMAP_T_BYE:
		log_info("peer %u says goodbye (code %u)", c->peer, m->u.bye.code);
		if (p->alive)
			peer_declare_down(p, "it left (BYE)", true, true);
		else
			conn_close(c, "peer left (BYE)");
		return;
	case CCMAP_T_HELLO:
	case CCMAP_T_HELLO_ACK:
	case CCMAP_T_AUTH:
		bad_frame(c, CCMAP_E_PROTOCOL, "frame rejected",
			  "handshake frame on an authenticated connection");
		conn_close(c, "handshake frame on an authenticated connection");
		return;
	case CCMAP_T_RESUME:
		on_resume(c, m);
		return;
	case CCMAP_T_ACK: {
		struct ccmap_err err = { 0 };

		if (!c->resumed || m->u.sess.from_inc != p->sess.peer_inc ||
		    m->u.sess.to_inc != A.incarnation ||
		    ccmap_sess_ack(&p->sess, m->u.sess.delivered, &err)) {
			bad_frame(c, CCMAP_E_PROTOCOL, "ACK rejected",
				  err.msg[0] ? err.msg : !c->resumed ? "ACK before RESUME" :
				  "ACK names other incarnations");
			conn_close(c, "bad ACK");
			return;
		}
		A.st.sess_acks_recv++;
		return;
	}
	default:
		if (!c->resumed) {
			bad_frame(c, CCMAP_E_PROTOCOL, "frame rejected",
				  "coherency message before RESUME");
			conn_close(c, "coherency message before RESUME");
			return;
		}
		A.st.msgs_recv++;
		ack_due = ccmap_sess_delivered(&p->sess);
		coh_message(c->peer, m);
		if (ack_due && p->conn == c && c->src.fd >= 0)
			send_ack(p);
		return;
	}
}

static void conn_read(struct conn *c)
{
	for (;;) {
		struct ccmap_msg m;
		size_t room;
		uint8_t *w = ccmap_rx_wptr(&c->rx, &room);
		ssize_t n;
		int rc = 0;

		if (!w || room == 0) {
			conn_close(c, "receive buffer stuck");
			return;
		}
		n = recv(c->src.fd, w, room, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c, strerror(errno));
			return;
		}
		if (n == 0) {
			conn_close(c, c->closing ? "closed" : "peer closed the connection");
			return;
		}
		ccmap_rx_commit(&c->rx, (size_t)n);
		c->last_rx_ms = now_ms();
		while (c->src.fd >= 0 && (rc = ccmap_rx_next(&c->rx, &m)) == 1) {
			A.st.frames_recv++;
			log_trace("<- %s %s seq %llu req %llu", c->addr,
				  ccmap_type_name(m.hdr.type), (unsigned long long)m.hdr.seq,
				  (unsigned long long)m.hdr.req_id);
			if (c->closing)
				continue;
			if (c->authed)
				frame_authed(c, &m);
			else
				frame_unauthed(c, &m);
		}
		if (c->src.fd < 0)
			return;
		if (rc < 0) {
			char why[256];

			bad_frame(c, c->rx.err.code, "malformed frame, dropping the connection",
				  c->rx.err.msg);
			snprintf(why, sizeof(why), "malformed frame: %s", c->rx.err.msg);
			conn_close(c, why);
			return;
		}
	}
}

void net_event(struct conn *c, uint32_t events)
{
	if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->src.fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			char why[128];

			snprintf(why, sizeof(why), "connect: %s", strerror(err ? err : errno));
			conn_close(c, why);
			return;
		}
		start_handshake(c);
		if (c->src.fd < 0)
			return;
		events &= ~(uint32_t)EPOLLOUT;
	}
	if (c->src.fd >= 0 && (events & EPOLLOUT))
		conn_flush(c);
	if (c->src.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		conn_read(c);
}

/* Peers whose connection was lost: the directory and the pages they are
 * home of learn it here, outside any directory call. */
void net_process_downs(void)
{
	for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
		struct peer *p = &A.peers[id];

		if (p->down_pending && now_ms() >= p->down_at_ms)
			peer_recover(p, true);
	}
}

/* Milliseconds from @then to @now; 0 if @then is later (set meanwhile). */
static uint64_t since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

void net_tick(uint64_t now)
{
	struct conn *c, *next;

	for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
		struct peer *p = &A.peers[id];

		if (!p->configured)
			continue;
		/* The interim failure detector, unless corosync decides. */
		if (p->alive && !p->conn && !cluster_active() &&
		    since(now, p->lost_ms) >= net_peer_dead_ms) {
			char why[128];

			snprintf(why, sizeof(why), "no authenticated connection for %llu ms "
				 "(interim failure detector, peer_dead_ms %u)",
				 (unsigned long long)since(now, p->lost_ms), net_peer_dead_ms);
			peer_declare_down(p, why, true, false);
		}
		if ((p->alive || p->down_pending) && !p->lease_lost &&
		    now * 1000 > p->lease_us + (uint64_t)net_lease_ms() * 1000) {
			p->lease_lost = true;
			p->leases_lost++;
			A.st.leases_lost++;
			log_warn("peer %u: no answer to our frames for %llu ms: lease lost, rights to "
				 "its pages revoked (faults on them wait)", p->id,
				 (unsigned long long)(now - p->lease_us / 1000));
			coh_lease_lost(p->id);
		}
		if (p->conn && p->conn->resumed && ccmap_sess_ack_pending(&p->sess))
			send_ack(p);
		if (id < A.self && !p->conn && !p->dialing && now >= p->next_dial_ms)
			dial(p);
	}
	for (c = A.conns; c; c = next) {
		next = c->next;
		if (!c->authed) {
			if (since(now, c->born_ms) > HANDSHAKE_TIMEOUT_MS)
				conn_close(c, "no authenticated connection within 10 s");
			continue;
		}
		if (since(now, c->last_rx_ms) > net_idle_timeout_ms) {
			char why[64];

			/* Closes the connection, nothing more: the session resumes. */
			snprintf(why, sizeof(why), "no traffic for %u ms (idle timeout)",
				 net_idle_timeout_ms);
			A.st.idle_timeouts++;
			conn_close(c, why);
			continue;
		}
		if (since(now, A.peers[c->peer].last_ping_ms) >= ping_interval_ms()) {
			struct ccmap_msg m;

			ccmap_msg_init(&m, CCMAP_T_PING, A.self, 0, 0);
			m.u.ping.stamp = now_us();
			A.peers[c->peer].last_ping_ms = now;
			conn_send(c, &m);
		}
	}
}

void net_shutdown(void)
{
	uint64_t deadline = now_ms() + 500;
	struct conn *c;

	for (c = A.conns; c; c = c->next) {
		if (c->authed && c->src.fd >= 0) {
			struct ccmap_msg m;

			ccmap_msg_init(&m, CCMAP_T_BYE, A.self, 0, 0);
			m.u.bye.code = 0;
			conn_send(c, &m);
		}
	}
	/* Give the BYEs half a second to leave. */
	for (c = A.conns; c; c = c->next) {
		while (c->src.fd >= 0 && c->tx_off < c->tx_len && now_ms() < deadline) {
			struct pollfd pfd = { .fd = c->src.fd, .events = POLLOUT };

			if (poll(&pfd, 1, 50) > 0)
				conn_flush(c);
		}
	}
	while (A.conns) {
		c = A.conns;
		if (c->authed && c->peer <= CCMAP_MAX_NODE_ID && A.peers[c->peer].conn == c)
			A.peers[c->peer].conn = NULL;	/* no peer-down processing at exit */
		conn_close(c, "agent stopping");
	}
	for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
		A.peers[id].down_pending = false;
		A.peers[id].alive = false;
		ccmap_sess_free(&A.peers[id].sess);
	}
	net_free_dead();
	if (A.listen_src.fd > 0) {
		ep_del(&A.listen_src);
		close(A.listen_src.fd);
		A.listen_src.fd = -1;
	}
}
