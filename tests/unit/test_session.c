// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the session above the connections (ccmap/session.h): the
 * error paths, and a randomized run of two endpoints that exchange session
 * messages (page data included) over connections that are dropped at
 * random points, with RESUME on every new connection and cumulative ACKs,
 * exactly as loader/agent/net.c drives it.  Checked: every message is
 * delivered exactly once and in order, with its page data intact; the
 * retransmit queues stay bounded and are empty once everything is
 * acknowledged.
 */
#include <ccmap/proto.h>
#include <ccmap/session.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static void mk(struct ccmap_msg *m, unsigned type, uint64_t id, const uint8_t *page)
{
	ccmap_msg_init(m, type, 1, 0, id);
	switch (type) {
	case CCMAP_T_GRANT:
		m->u.grant.mode = CCMAP_MODE_E;
		m->u.grant.gflags = page ? CCMAP_GRANT_F_DATA : 0;
		m->u.grant.data = page;
		m->u.grant.page = id % 7;
		break;
	case CCMAP_T_FETCH_ACK:
		m->u.ack.data = page;
		m->u.ack.page = id % 7;
		break;
	default:
		m->u.req.page = id % 7;
		break;
	}
}

static void test_errors(void)
{
	static uint8_t page[CCMAP_PAGE_SIZE];
	struct ccmap_sess s = { 0 };
	struct ccmap_msg m, r;
	struct ccmap_err err = { 0 };

	ccmap_sess_init(&s, 0, 0);
	mk(&m, CCMAP_T_READ_REQ, 1, NULL);
	OK(ccmap_sess_push(&s, &m) == -CCMAP_E_INVAL, "no session: push refused");
	ccmap_sess_init(&s, 5, 6);
	mk(&m, CCMAP_T_PING, 1, NULL);
	OK(ccmap_sess_push(&s, &m) == -CCMAP_E_INVAL, "PING is not a session message");
	OK(!ccmap_sess_type(CCMAP_T_RESUME) && !ccmap_sess_type(CCMAP_T_ACK) &&
	   !ccmap_sess_type(CCMAP_T_BYE) && ccmap_sess_type(CCMAP_T_ERROR) &&
	   ccmap_sess_type(CCMAP_T_WRITEBACK_ACK), "session types: ERROR, READ_REQ..WRITEBACK_ACK");
	memset(page, 0xab, sizeof(page));
	mk(&m, CCMAP_T_GRANT, 1, page);
	OK(ccmap_sess_push(&s, &m) == 1 && s.qlen == 1, "first message is number 1");
	memset(page, 0, sizeof(page));
	OK(ccmap_sess_peek(&s) && ccmap_sess_peek(&s)->u.grant.data &&
	   ccmap_sess_peek(&s)->u.grant.data[100] == 0xab, "the queue keeps its own copy of the page");
	mk(&m, CCMAP_T_WRITE_REQ, 2, NULL);
	OK(ccmap_sess_push(&s, &m) == 2, "second message is number 2");
	OK(ccmap_sess_ack(&s, 1, &err) == -CCMAP_E_PROTOCOL,
	   "ACK of a message never sent refused: %s", err.msg);
	ccmap_sess_xmitted(&s);
	OK(ccmap_sess_ack(&s, 1, &err) == 0 && s.qlen == 1 && s.acked == 1, "ACK 1 trims one");
	OK(ccmap_sess_ack(&s, 0, &err) == -CCMAP_E_PROTOCOL,
	   "ACK going backwards refused: %s", err.msg);
	OK(ccmap_sess_resume(&s, 0, &err) == -CCMAP_E_PROTOCOL,
	   "RESUME below the acknowledged count refused: %s", err.msg);
	OK(ccmap_sess_resume(&s, 2, &err) == -CCMAP_E_PROTOCOL,
	   "RESUME above what was sent refused: %s", err.msg);
	ccmap_sess_xmitted(&s);
	OK(ccmap_sess_resume(&s, 1, &err) == 0 && s.xmit_next == 2 && ccmap_sess_peek(&s) &&
	   ccmap_sess_peek(&s)->hdr.req_id == 2 && s.retransmitted == 1,
	   "RESUME 1 after 2 sent: number 2 goes again");
	OK(!ccmap_sess_delivered(&s) && ccmap_sess_ack_pending(&s), "one delivered: ACK pending");
	ccmap_sess_ack_msg(&s, 3, &r);
	OK(r.hdr.type == CCMAP_T_ACK && r.u.sess.delivered == 1 && r.u.sess.from_inc == 5 &&
	   r.u.sess.to_inc == 6 && !ccmap_sess_ack_pending(&s), "ACK frame says 1, from 5 to 6");
	ccmap_sess_resume_msg(&s, 3, true, &r);
	OK(r.hdr.type == CCMAP_T_RESUME && r.u.sess.flags == CCMAP_RESUME_F_FRESH,
	   "RESUME frame with FRESH");
	for (int i = 1; i < CCMAP_SESS_ACK_EVERY; i++)
		ccmap_sess_delivered(&s);
	OK(ccmap_sess_delivered(&s), "an ACK is due after %d unacknowledged", CCMAP_SESS_ACK_EVERY);
	ccmap_sess_init(&s, 5, 7);
	OK(s.qlen == 0 && s.qbytes == 0 && s.sent == 0 && s.peer_inc == 7,
	   "a new session starts empty");
	ccmap_sess_free(&s);
}

/* ---- two endpoints over droppable connections ------------------------- */

#define PIPE_MAX (256 * CCMAP_MAX_FRAME)

struct end {
	struct ccmap_sess s;
	uint64_t next_id;	/* id of the next message this end sends */
	uint64_t expect_id;	/* id of the next message it must deliver */
	bool resumed;		/* the peer's RESUME arrived on this connection */
	uint64_t tx_seq, rx_seq;
	uint8_t *pipe;		/* frames to the other end on this connection */
	size_t plen;
	bool bad;
	size_t max_q;
};

static struct end E[2];
static struct ccmap_mac_key key[2];	/* per connection and direction */
static unsigned conn_no;

static void page_of(uint64_t id, int from, uint8_t *p)
{
	for (int i = 0; i < CCMAP_PAGE_SIZE; i++)
		p[i] = (uint8_t)(id * 31 + (uint64_t)i * 7 + (unsigned)from);
}

static void put(int from, struct ccmap_msg *m)
{
	struct end *e = &E[from];
	struct ccmap_err err;
	long n;

	m->hdr.sender = (uint16_t)from;
	m->hdr.seq = e->tx_seq++;
	n = ccmap_encode(m, &key[from], e->pipe + e->plen, PIPE_MAX - e->plen, &err);
	if (n < 0) {
		printf("# encode: %s\n", err.msg);
		e->bad = true;
		return;
	}
	e->plen += (size_t)n;
}

static void flush(int from)
{
	struct ccmap_msg *m;

	while (E[from].resumed && E[from].plen < PIPE_MAX - 2 * CCMAP_MAX_FRAME &&
	       (m = ccmap_sess_peek(&E[from].s))) {
		put(from, m);
		ccmap_sess_xmitted(&E[from].s);
	}
}

static void new_conn(void)
{
	struct ccmap_msg m;

	conn_no++;
	for (int i = 0; i < 2; i++) {
		memset(key[i].key, (int)(conn_no * 2 + (unsigned)i), sizeof(key[i].key));
		E[i].plen = 0;
		E[i].tx_seq = E[i].rx_seq = 0;
		E[i].resumed = false;
	}
	for (int i = 0; i < 2; i++) {
		ccmap_sess_resume_msg(&E[i].s, (uint16_t)i, false, &m);
		put(i, &m);
	}
}

/* Deliver the first frame of the pipe from -> to; false if none. */
static bool deliver_one(int from)
{
	struct end *src = &E[from], *dst = &E[!from];
	struct ccmap_msg m;
	struct ccmap_err err;
	size_t used = 0;

	if (!src->plen)
		return false;
	if (ccmap_decode(src->pipe, src->plen, &key[from], true, &m, &used, &err) ||
	    m.hdr.seq != dst->rx_seq++) {
		printf("# decode: %s\n", err.msg);
		dst->bad = true;
		return false;
	}
	if (m.hdr.type == CCMAP_T_RESUME) {
		if (ccmap_sess_resume(&dst->s, m.u.sess.delivered, &err)) {
			printf("# resume: %s\n", err.msg);
			dst->bad = true;
		}
		dst->resumed = true;
		flush(!from);
	} else if (m.hdr.type == CCMAP_T_ACK) {
		if (ccmap_sess_ack(&dst->s, m.u.sess.delivered, &err)) {
			printf("# ack: %s\n", err.msg);
			dst->bad = true;
		}
	} else {
		uint8_t want[CCMAP_PAGE_SIZE];
		const uint8_t *got = m.hdr.type == CCMAP_T_GRANT ? m.u.grant.data : m.u.ack.data;

		if (!dst->resumed || m.hdr.req_id != dst->expect_id) {
			printf("# node %d delivered message %llu, expected %llu\n", !from,
			       (unsigned long long)m.hdr.req_id,
			       (unsigned long long)dst->expect_id);
			dst->bad = true;
		}
		dst->expect_id++;
		page_of(m.hdr.req_id, from, want);
		if (m.hdr.req_id % 3 != 2 && (!got || memcmp(got, want, sizeof(want)))) {
			printf("# message %llu: page data damaged\n", (unsigned long long)m.hdr.req_id);
			dst->bad = true;
		}
		if (ccmap_sess_delivered(&dst->s)) {
			ccmap_sess_ack_msg(&dst->s, (uint16_t)!from, &m);
			put(!from, &m);
		}
	}
	memmove(src->pipe, src->pipe + used, src->plen - used);
	src->plen -= used;
	return true;
}

static void send_new(int from)
{
	static uint8_t page[CCMAP_PAGE_SIZE];
	struct end *e = &E[from];
	uint64_t id = e->next_id++;
	struct ccmap_msg m;

	page_of(id, from, page);
	/* id % 3: 0 GRANT with data, 1 FETCH_ACK (data), 2 WRITE_REQ (none) */
	mk(&m, id % 3 == 0 ? CCMAP_T_GRANT : id % 3 == 1 ? CCMAP_T_FETCH_ACK : CCMAP_T_WRITE_REQ,
	   id, page);
	if (ccmap_sess_push(&e->s, &m) < 0) {
		e->bad = true;
		return;
	}
	memset(page, 0, sizeof(page));	/* the queue must not point to it */
	if (e->s.qlen > e->max_q)
		e->max_q = e->s.qlen;
	flush(from);
}

static void test_random(unsigned seed, unsigned steps)
{
	unsigned drops = 0;
	bool ok;

	srand(seed);
	for (int i = 0; i < 2; i++) {
		memset(&E[i], 0, sizeof(E[i]));
		E[i].pipe = malloc(PIPE_MAX);
		if (!E[i].pipe)
			exit(2);
		E[i].next_id = E[i].expect_id = 1;
	}
	ccmap_sess_init(&E[0].s, 100, 200);
	ccmap_sess_init(&E[1].s, 200, 100);
	conn_no = 0;
	new_conn();
	for (unsigned k = 0; k < steps && !E[0].bad && !E[1].bad; k++) {
		int r = rand() % 100, who = rand() % 2;

		if (r < 35) {
			send_new(who);
		} else if (r < 90) {
			deliver_one(who);
		} else if (r < 97) {
			/* the receiver's timer: ACK what was delivered */
			if (E[who].resumed && ccmap_sess_ack_pending(&E[who].s)) {
				struct ccmap_msg m;

				ccmap_sess_ack_msg(&E[who].s, (uint16_t)who, &m);
				put(who, &m);
			}
		} else {
			/* the connection breaks: a random part of each pipe
			 * arrives (whole frames only: a cut frame is refused and
			 * closes the connection just the same) */
			for (int i = 0; i < 2; i++) {
				unsigned n = (unsigned)(rand() % 4);

				while (n-- && deliver_one(i))
					;
			}
			drops++;
			new_conn();
		}
	}
	/* drain: no more drops, deliver and acknowledge everything */
	for (int round = 0; round < 4; round++) {
		do {
			flush(0);
			flush(1);
		} while (deliver_one(0) | deliver_one(1));
		for (int i = 0; i < 2; i++) {
			if (E[i].resumed && ccmap_sess_ack_pending(&E[i].s)) {
				struct ccmap_msg m;

				ccmap_sess_ack_msg(&E[i].s, (uint16_t)i, &m);
				put(i, &m);
			}
		}
	}
	ok = !E[0].bad && !E[1].bad && E[0].expect_id == E[1].next_id &&
	     E[1].expect_id == E[0].next_id && E[0].s.qlen == 0 && E[1].s.qlen == 0 &&
	     E[0].s.qbytes == 0 && E[1].s.qbytes == 0;
	OK(ok, "seed %u: %llu + %llu messages over %u dropped connections: each delivered once, "
	   "in order, data intact; queues empty at the end (largest %zu/%zu)", seed,
	   (unsigned long long)(E[0].next_id - 1), (unsigned long long)(E[1].next_id - 1), drops,
	   E[0].max_q, E[1].max_q);
	for (int i = 0; i < 2; i++) {
		ccmap_sess_free(&E[i].s);
		free(E[i].pipe);
	}
}

int main(void)
{
	test_errors();
	for (unsigned seed = 1; seed <= 10; seed++)
		test_random(seed, 10000);
	printf("1..%d\n", tests);
	return failures ? 1 : 0;
}
