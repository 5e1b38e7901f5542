// SPDX-License-Identifier: GPL-2.0
/*
 * The session above the connections: numbering, retransmit queue,
 * cumulative acknowledgements, RESUME.  See ccmap/session.h and
 * docs/protocol.md §3.1.
 */
#include <ccmap/session.h>

#include <stdlib.h>
#include <string.h>

bool ccmap_sess_type(unsigned type)
{
	return type == CCMAP_T_ERROR ||
	       (type >= CCMAP_T_READ_REQ && type <= CCMAP_T_REHOME);
}

static void free_ent(struct ccmap_sess *s, struct ccmap_sess_ent *e)
{
	s->qlen--;
	s->qbytes -= sizeof(*e) + (e->data ? CCMAP_PAGE_SIZE : 0);
	free(e->data);
	free(e);
}

void ccmap_sess_free(struct ccmap_sess *s)
{
	while (s->head) {
		struct ccmap_sess_ent *e = s->head;

		s->head = e->next;
		free_ent(s, e);
	}
	s->tail = s->xmit = NULL;
}

void ccmap_sess_init(struct ccmap_sess *s, uint64_t self_inc, uint64_t peer_inc)
{
	ccmap_sess_free(s);
	memset(s, 0, sizeof(*s));
	s->self_inc = self_inc;
	s->peer_inc = peer_inc;
	s->xmit_next = 1;
}

/* The page data pointer of m, if its type carries one. */
static const uint8_t **data_ptr(struct ccmap_msg *m)
{
	switch (m->hdr.type) {
	case CCMAP_T_GRANT:
		return &m->u.grant.data;
	case CCMAP_T_DOWNGRADE_ACK:
	case CCMAP_T_FETCH_ACK:
	case CCMAP_T_WRITEBACK:
	case CCMAP_T_INV_ACK:
		return &m->u.ack.data;
	}
	return NULL;
}

long ccmap_sess_push(struct ccmap_sess *s, const struct ccmap_msg *m)
{
	struct ccmap_sess_ent *e;
	const uint8_t **dp;

	if (!s->peer_inc || !ccmap_sess_type(m->hdr.type))
		return -CCMAP_E_INVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -CCMAP_E_NOMEM;
	e->m = *m;
	dp = data_ptr(&e->m);
	if (dp && *dp) {
		e->data = malloc(CCMAP_PAGE_SIZE);
		if (!e->data) {
			free(e);
			return -CCMAP_E_NOMEM;
		}
		memcpy(e->data, *dp, CCMAP_PAGE_SIZE);
		*dp = e->data;
	}
	if (s->tail)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->qlen++;
	s->qbytes += sizeof(*e) + (e->data ? CCMAP_PAGE_SIZE : 0);
	s->sent++;
	if (!s->xmit && s->xmit_next == s->sent)
		s->xmit = e;
	return (long)s->sent;
}

struct ccmap_msg *ccmap_sess_peek(struct ccmap_sess *s)
{
	return s->xmit ? &s->xmit->m : NULL;
}

void ccmap_sess_xmitted(struct ccmap_sess *s)
{
	if (!s->xmit)
		return;
	s->xmit = s->xmit->next;
	s->xmit_next++;
}

/* Free entries 1..upto (acked < upto <= sent checked by the caller). */
static void trim(struct ccmap_sess *s, uint64_t upto)
{
	while (s->acked < upto && s->head) {
		struct ccmap_sess_ent *e = s->head;

		if (s->xmit == e)
			s->xmit = e->next;
		s->head = e->next;
		if (!s->head)
			s->tail = NULL;
		free_ent(s, e);
		s->acked++;
	}
}

int ccmap_sess_resume(struct ccmap_sess *s, uint64_t delivered, struct ccmap_err *err)
{
	if (delivered < s->acked || delivered >= s->xmit_next)
		return ccmap_fail(err, CCMAP_E_PROTOCOL,
			    "peer says it delivered %llu session messages, but it had "
			    "acknowledged %llu and %llu were sent",
			    (unsigned long long)delivered, (unsigned long long)s->acked,
			    (unsigned long long)(s->xmit_next - 1));
	trim(s, delivered);
	s->retransmitted += s->xmit_next - 1 - delivered;
	s->xmit_next = delivered + 1;
	s->xmit = s->head;
	return 0;
}

int ccmap_sess_ack(struct ccmap_sess *s, uint64_t delivered, struct ccmap_err *err)
{
	if (delivered < s->acked || delivered >= s->xmit_next)
		return ccmap_fail(err, CCMAP_E_PROTOCOL,
			    "ACK of %llu session messages, but %llu were acknowledged and "
			    "%llu sent on this connection", (unsigned long long)delivered,
			    (unsigned long long)s->acked,
			    (unsigned long long)(s->xmit_next - 1));
	trim(s, delivered);
	return 0;
}

bool ccmap_sess_delivered(struct ccmap_sess *s)
{
	s->delivered++;
	return s->delivered - s->ack_sent >= CCMAP_SESS_ACK_EVERY;
}

bool ccmap_sess_ack_pending(const struct ccmap_sess *s)
{
	return s->delivered != s->ack_sent;
}

static void sess_msg(const struct ccmap_sess *s, unsigned type, uint16_t self,
		     struct ccmap_msg *out)
{
	ccmap_msg_init(out, type, self, 0, 0);
	out->u.sess.from_inc = s->self_inc;
	out->u.sess.to_inc = s->peer_inc;
	out->u.sess.delivered = s->delivered;
}

void ccmap_sess_resume_msg(const struct ccmap_sess *s, uint16_t self, bool fresh,
			   struct ccmap_msg *out)
{
	sess_msg(s, CCMAP_T_RESUME, self, out);
	out->u.sess.flags = fresh ? CCMAP_RESUME_F_FRESH : 0;
}

void ccmap_sess_ack_msg(struct ccmap_sess *s, uint16_t self, struct ccmap_msg *out)
{
	sess_msg(s, CCMAP_T_ACK, self, out);
	s->ack_sent = s->delivered;
}
