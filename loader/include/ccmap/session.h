/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The session between two agents, above their TCP connections
 * (docs/protocol.md §3.1).  Pure code: no sockets, no clocks.
 *
 * A session is scoped by (this node's incarnation, the peer's incarnation).
 * Every coherency message to the peer ("session message": ERROR and the
 * types from READ_REQ on) is numbered 1, 2, 3, ... in the order it is
 * sent, and stays in the retransmit queue, page data included, until the
 * peer acknowledges it.  The number is not on the wire: within one
 * authenticated connection frames arrive exactly once and in order (per
 * connection sequence number under the MAC), so the n-th session message
 * the peer delivers is number n, and both sides know where they are once
 * they agree on the cut point of each connection.  That is what RESUME
 * does: the first frame after AUTH on every new connection tells the peer
 * how many of its session messages this node delivered; the peer drops
 * those from its queue and sends the rest again, in order, before anything
 * new.  Nothing is lost, nothing is delivered twice, and the per-pair FIFO
 * order the directory relies on holds across reconnects.
 *
 * The receiver acknowledges cumulatively with ACK frames (every
 * CCMAP_SESS_ACK_EVERY messages and on the agent's timer), so the queue
 * holds only what is in flight.
 */
#ifndef CCMAP_SESSION_H
#define CCMAP_SESSION_H

#include <ccmap/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CCMAP_SESS_ACK_EVERY  32

struct ccmap_sess_ent {
	struct ccmap_msg m;            /* page data points to data[] below */
	uint8_t *data;                 /* own copy of the page, or NULL */
	struct ccmap_sess_ent *next;
};

struct ccmap_sess {
	uint64_t self_inc, peer_inc;   /* scope; peer_inc == 0: no session */
	uint64_t sent;                 /* session messages queued: 1..sent */
	uint64_t acked;                /* the peer delivered 1..acked (freed) */
	uint64_t xmit_next;            /* next number to write to the connection */
	uint64_t delivered;            /* the peer's messages delivered here */
	uint64_t ack_sent;             /* largest delivered told to the peer */
	uint64_t retransmitted;        /* messages written again after a RESUME */
	struct ccmap_sess_ent *head, *tail;  /* acked+1 .. sent */
	struct ccmap_sess_ent *xmit;   /* entry number xmit_next, or NULL */
	size_t qlen, qbytes;
};

/* true for the types that travel in the session (and are counted). */
bool ccmap_sess_type(unsigned type);

/* Start a new session (frees an old queue).  peer_inc 0: none. */
void ccmap_sess_init(struct ccmap_sess *s, uint64_t self_inc, uint64_t peer_inc);
void ccmap_sess_free(struct ccmap_sess *s);

/* Queue m (copying its page data).  Returns its number, or -CCMAP_E_INVAL
 * (not a session type, or no session) / -CCMAP_E_NOMEM. */
long ccmap_sess_push(struct ccmap_sess *s, const struct ccmap_msg *m);

/* The next queued message to write to the connection, or NULL; after
 * writing it call ccmap_sess_xmitted().  The caller may change its header
 * (sender, seq) but nothing else. */
struct ccmap_msg *ccmap_sess_peek(struct ccmap_sess *s);
void ccmap_sess_xmitted(struct ccmap_sess *s);

/* The peer's RESUME said it delivered @delivered of our messages: drop
 * them, send the rest again from the first.  0, or -CCMAP_E_PROTOCOL if the
 * count is impossible (below what it acknowledged, above what was sent):
 * the session cannot continue. */
int ccmap_sess_resume(struct ccmap_sess *s, uint64_t delivered, struct ccmap_err *err);

/* The peer's ACK: drop what it delivered.  0 or -CCMAP_E_PROTOCOL. */
int ccmap_sess_ack(struct ccmap_sess *s, uint64_t delivered, struct ccmap_err *err);

/* A session message of the peer was delivered; true if an ACK is due now. */
bool ccmap_sess_delivered(struct ccmap_sess *s);

/* true if the peer has not been told everything delivered yet. */
bool ccmap_sess_ack_pending(const struct ccmap_sess *s);

/* The RESUME / ACK frame to send (header seq left 0); an ACK also records
 * what it tells. */
void ccmap_sess_resume_msg(const struct ccmap_sess *s, uint16_t self, bool fresh,
			   struct ccmap_msg *out);
void ccmap_sess_ack_msg(struct ccmap_sess *s, uint16_t self, struct ccmap_msg *out);

#ifdef __cplusplus
}
#endif
#endif /* CCMAP_SESSION_H */
