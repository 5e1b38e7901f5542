// SPDX-License-Identifier: GPL-2.0
/*
 * ccmap wire protocol: frame encoding, decoding and stream reassembly.
 * See loader/include/ccmap/proto.h and docs/protocol.md.
 */
#include <ccmap/auth.h>
#include <ccmap/proto.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Offsets in the fixed header. */
#define H_MAGIC   0
#define H_VERSION 4
#define H_TYPE    5
#define H_FLAGS   6
#define H_HDRLEN  8
#define H_SENDER  10
#define H_PLEN    12
#define H_SEQ     16
#define H_REQID   24
#define H_PCRC    32
#define H_HCRC    36

/* Fixed payload sizes. */
#define P_REQ      24
#define P_FIXED24  24
#define P_PAGEMSG  (24 + CCMAP_PAGE_SIZE)
#define P_HELLO_MIN 48
#define P_ERROR_MIN 16
#define P_SESS     32

/* Largest page index: byte offsets must fit in 64 bits with room. */
#define CCMAP_MAX_PAGE ((UINT64_C(1) << 52) - 1)

static const char *const errnames[CCMAP_E_MAX] = {
	[CCMAP_OK] = "ok",
	[CCMAP_E_BAD_MAGIC] = "bad magic",
	[CCMAP_E_BAD_VERSION] = "bad version",
	[CCMAP_E_TRUNCATED] = "truncated",
	[CCMAP_E_OVERSIZED] = "oversized",
	[CCMAP_E_UNKNOWN_TYPE] = "unknown type",
	[CCMAP_E_BAD_CHECKSUM] = "bad checksum",
	[CCMAP_E_BAD_MAC] = "bad MAC",
	[CCMAP_E_RANGE] = "field out of range",
	[CCMAP_E_BAD_LENGTH] = "bad length",
	[CCMAP_E_SEQUENCE] = "bad sequence number",
	[CCMAP_E_NOSPACE] = "no space",
	[CCMAP_E_AUTH] = "authentication failed",
	[CCMAP_E_SHARE_MISMATCH] = "share mismatch",
	[CCMAP_E_PROTOCOL] = "protocol violation",
	[CCMAP_E_NOT_HOME] = "not home",
	[CCMAP_E_NODE_DOWN] = "node down",
	[CCMAP_E_INVAL] = "invalid argument",
	[CCMAP_E_NOMEM] = "out of memory",
	[CCMAP_E_IO] = "I/O error",
};

const char *ccmap_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code >= CCMAP_E_MAX || !errnames[code])
		return "unknown error";
	return errnames[code];
}

const char *ccmap_type_name(unsigned type)
{
	switch (type) {
	case CCMAP_T_HELLO: return "HELLO";
	case CCMAP_T_HELLO_ACK: return "HELLO_ACK";
	case CCMAP_T_AUTH: return "AUTH";
	case CCMAP_T_ERROR: return "ERROR";
	case CCMAP_T_PING: return "PING";
	case CCMAP_T_PONG: return "PONG";
	case CCMAP_T_BYE: return "BYE";
	case CCMAP_T_RESUME: return "RESUME";
	case CCMAP_T_ACK: return "ACK";
	case CCMAP_T_READ_REQ: return "READ_REQ";
	case CCMAP_T_WRITE_REQ: return "WRITE_REQ";
	case CCMAP_T_GRANT: return "GRANT";
	case CCMAP_T_INVALIDATE: return "INVALIDATE";
	case CCMAP_T_INV_ACK: return "INV_ACK";
	case CCMAP_T_DOWNGRADE: return "DOWNGRADE";
	case CCMAP_T_DOWNGRADE_ACK: return "DOWNGRADE_ACK";
	case CCMAP_T_FETCH: return "FETCH";
	case CCMAP_T_FETCH_ACK: return "FETCH_ACK";
	case CCMAP_T_WRITEBACK: return "WRITEBACK";
	case CCMAP_T_WRITEBACK_ACK: return "WRITEBACK_ACK";
	case CCMAP_T_RECLAIM_DONE: return "RECLAIM_DONE";
	case CCMAP_T_REHOME: return "REHOME";
	}
	return NULL;
}

int ccmap_fail(struct ccmap_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}

bool ccmap_share_name_ok(const char *name, size_t len)
{
	if (len < 1 || len > CCMAP_SHARE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Minimum and maximum payload length per type; false if type unknown. */
static bool type_limits(unsigned type, uint32_t *min, uint32_t *max)
{
	switch (type) {
	case CCMAP_T_HELLO:
		*min = P_HELLO_MIN;
		*max = P_HELLO_MIN + CCMAP_MAX_SHARES * (1 + CCMAP_SHARE_NAME_MAX + 8);
		return true;
	case CCMAP_T_HELLO_ACK:
		*min = P_HELLO_MIN + CCMAP_PROOF_LEN;
		*max = P_HELLO_MIN + CCMAP_MAX_SHARES * (1 + CCMAP_SHARE_NAME_MAX + 8) +
		       CCMAP_PROOF_LEN;
		return true;
	case CCMAP_T_AUTH:
		*min = *max = CCMAP_PROOF_LEN;
		return true;
	case CCMAP_T_ERROR:
		*min = P_ERROR_MIN;
		*max = P_ERROR_MIN + CCMAP_ERR_REASON_MAX;
		return true;
	case CCMAP_T_PING:
	case CCMAP_T_PONG:
		*min = *max = 8;
		return true;
	case CCMAP_T_BYE:
		*min = *max = 4;
		return true;
	case CCMAP_T_RESUME:
	case CCMAP_T_ACK:
		*min = *max = P_SESS;
		return true;
	case CCMAP_T_READ_REQ:
	case CCMAP_T_WRITE_REQ:
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH:
	case CCMAP_T_INV_ACK:
	case CCMAP_T_WRITEBACK_ACK:
	case CCMAP_T_RECLAIM_DONE:
	case CCMAP_T_REHOME:
		*min = *max = P_FIXED24;
		return true;
	case CCMAP_T_GRANT:
		*min = P_FIXED24;
		*max = P_PAGEMSG;
		return true;
	case CCMAP_T_DOWNGRADE_ACK:
	case CCMAP_T_FETCH_ACK:
	case CCMAP_T_WRITEBACK:
		*min = *max = P_PAGEMSG;
		return true;
	}
	return false;
}

_Static_assert(P_HELLO_MIN + CCMAP_MAX_SHARES * (1 + CCMAP_SHARE_NAME_MAX + 8) +
	       CCMAP_PROOF_LEN <= CCMAP_MAX_PAYLOAD, "HELLO_ACK fits");
_Static_assert(P_PAGEMSG <= CCMAP_MAX_PAYLOAD, "page message fits");

void ccmap_msg_init(struct ccmap_msg *m, unsigned type, uint16_t sender,
		    uint64_t seq, uint64_t req_id)
{
	memset(m, 0, sizeof(*m));
	m->hdr.version = CCMAP_PROTO_VERSION;
	m->hdr.type = (uint8_t)type;
	m->hdr.hdr_len = CCMAP_HDR_LEN;
	m->hdr.sender = sender;
	m->hdr.seq = seq;
	m->hdr.req_id = req_id;
}

/* ---- payload encoding ------------------------------------------------- */

static int check_share_page(uint16_t share, uint64_t page, struct ccmap_err *err)
{
	if (share >= CCMAP_MAX_SHARES)
		return ccmap_fail(err, CCMAP_E_RANGE, "share id %u out of range (max %u)",
			    share, CCMAP_MAX_SHARES - 1);
	if (page > CCMAP_MAX_PAGE)
		return ccmap_fail(err, CCMAP_E_RANGE, "page index %llu out of range",
			    (unsigned long long)page);
	return 0;
}

static int check_node(uint16_t node, bool none_ok, const char *what,
		      struct ccmap_err *err)
{
	if (node <= CCMAP_MAX_NODE_ID || (none_ok && node == CCMAP_NODE_NONE))
		return 0;
	return ccmap_fail(err, CCMAP_E_RANGE, "%s node id %u out of range (max %u)",
		    what, node, CCMAP_MAX_NODE_ID);
}

static int check_hello(const struct ccmap_hello *h, struct ccmap_err *err)
{
	int rc = check_node(h->to_node, false, "destination", err);

	if (rc)
		return rc;
	if (h->n_shares > CCMAP_MAX_SHARES)
		return ccmap_fail(err, CCMAP_E_RANGE, "%u shares, at most %u allowed",
			    h->n_shares, CCMAP_MAX_SHARES);
	if (h->incarnation == 0)
		return ccmap_fail(err, CCMAP_E_RANGE, "incarnation must not be 0");
	for (unsigned i = 0; i < h->n_shares; i++) {
		const struct ccmap_share_desc *s = &h->shares[i];
		size_t nl = strnlen(s->name, sizeof(s->name));

		if (nl > CCMAP_SHARE_NAME_MAX || !ccmap_share_name_ok(s->name, nl))
			return ccmap_fail(err, CCMAP_E_RANGE, "share #%u has an invalid name", i);
		if (s->size == 0 || s->size % CCMAP_PAGE_SIZE ||
		    s->size / CCMAP_PAGE_SIZE > CCMAP_MAX_PAGE + 1)
			return ccmap_fail(err, CCMAP_E_RANGE,
				    "share '%s' size %llu is not a positive multiple of %u",
				    s->name, (unsigned long long)s->size, CCMAP_PAGE_SIZE);
	}
	return 0;
}

/* RESUME / ACK: both incarnations nonzero, only defined flags. */
static int check_sess(unsigned type, const struct ccmap_sessmsg *x, struct ccmap_err *err)
{
	uint16_t allowed = type == CCMAP_T_RESUME ? CCMAP_RESUME_F_FRESH : 0;

	if (x->from_inc == 0 || x->to_inc == 0)
		return ccmap_fail(err, CCMAP_E_RANGE, "%s incarnation must not be 0",
			    ccmap_type_name(type));
	if (x->flags & ~allowed)
		return ccmap_fail(err, CCMAP_E_RANGE, "%s flags 0x%04x invalid",
			    ccmap_type_name(type), x->flags);
	return 0;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* Writes the payload of m into p (room cap); returns its length or -code. */
static long put_payload(const struct ccmap_msg *m, uint8_t *p, size_t cap,
			struct ccmap_err *err)
{
	size_t n = 0;
	int rc;

#define NEED(k) do { if (cap - n < (size_t)(k)) \
	return ccmap_fail(err, CCMAP_E_NOSPACE, "buffer of %zu bytes too small", cap); } while (0)

	switch (m->hdr.type) {
	case CCMAP_T_HELLO:
	case CCMAP_T_HELLO_ACK: {
		const struct ccmap_hello *h = &m->u.hello;

		rc = check_hello(h, err);
		if (rc)
			return rc;
		NEED(P_HELLO_MIN);
		ccmap_put_le16(p, h->to_node);
		ccmap_put_le16(p + 2, h->n_shares);
		ccmap_put_le32(p + 4, 0);
		ccmap_put_le64(p + 8, h->incarnation);
		memcpy(p + 16, h->nonce, CCMAP_NONCE_LEN);
		n = P_HELLO_MIN;
		for (unsigned i = 0; i < h->n_shares; i++) {
			size_t nl = strlen(h->shares[i].name);

			NEED(1 + nl + 8);
			p[n] = (uint8_t)nl;
			memcpy(p + n + 1, h->shares[i].name, nl);
			ccmap_put_le64(p + n + 1 + nl, h->shares[i].size);
			n += 1 + nl + 8;
		}
		if (m->hdr.type == CCMAP_T_HELLO_ACK) {
			NEED(CCMAP_PROOF_LEN);
			memcpy(p + n, h->proof, CCMAP_PROOF_LEN);
			n += CCMAP_PROOF_LEN;
		}
		return (long)n;
	}
	case CCMAP_T_AUTH:
		NEED(CCMAP_PROOF_LEN);
		memcpy(p, m->u.auth.proof, CCMAP_PROOF_LEN);
		return CCMAP_PROOF_LEN;
	case CCMAP_T_ERROR: {
		const struct ccmap_error_msg *e = &m->u.error;
		size_t rl = strnlen(e->reason, sizeof(e->reason));

		if (e->code == 0 || e->code >= CCMAP_E_MAX)
			return ccmap_fail(err, CCMAP_E_RANGE, "error code %u out of range", e->code);
		if (rl > CCMAP_ERR_REASON_MAX || !printable(e->reason, rl))
			return ccmap_fail(err, CCMAP_E_RANGE, "error reason not printable ASCII");
		if (e->share != CCMAP_NO_SHARE && e->share >= CCMAP_MAX_SHARES)
			return ccmap_fail(err, CCMAP_E_RANGE, "share id %u out of range", e->share);
		NEED(P_ERROR_MIN + rl);
		ccmap_put_le16(p, e->code);
		ccmap_put_le16(p + 2, e->share);
		ccmap_put_le16(p + 4, (uint16_t)rl);
		ccmap_put_le16(p + 6, 0);
		ccmap_put_le64(p + 8, e->page);
		memcpy(p + 16, e->reason, rl);
		return (long)(P_ERROR_MIN + rl);
	}
	case CCMAP_T_PING:
	case CCMAP_T_PONG:
		NEED(8);
		ccmap_put_le64(p, m->u.ping.stamp);
		return 8;
	case CCMAP_T_BYE:
		if (m->u.bye.code >= CCMAP_E_MAX)
			return ccmap_fail(err, CCMAP_E_RANGE, "BYE code %u out of range", m->u.bye.code);
		NEED(4);
		ccmap_put_le16(p, m->u.bye.code);
		ccmap_put_le16(p + 2, 0);
		return 4;
	case CCMAP_T_RESUME:
	case CCMAP_T_ACK:
		rc = check_sess(m->hdr.type, &m->u.sess, err);
		if (rc)
			return rc;
		NEED(P_SESS);
		ccmap_put_le64(p, m->u.sess.from_inc);
		ccmap_put_le64(p + 8, m->u.sess.to_inc);
		ccmap_put_le64(p + 16, m->u.sess.delivered);
		ccmap_put_le16(p + 24, m->u.sess.flags);
		ccmap_put_le16(p + 26, 0);
		ccmap_put_le32(p + 28, 0);
		return P_SESS;
	case CCMAP_T_READ_REQ:
	case CCMAP_T_WRITE_REQ:
		rc = check_share_page(m->u.req.share, m->u.req.page, err);
		if (rc)
			return rc;
		NEED(P_REQ);
		ccmap_put_le16(p, m->u.req.share);
		ccmap_put_le16(p + 2, 0);
		ccmap_put_le32(p + 4, 0);
		ccmap_put_le64(p + 8, m->u.req.page);
		ccmap_put_le64(p + 16, m->u.req.have_version);
		return P_REQ;
	case CCMAP_T_GRANT: {
		const struct ccmap_grant *g = &m->u.grant;
		bool data = g->gflags & CCMAP_GRANT_F_DATA;

		rc = check_share_page(g->share, g->page, err);
		if (rc)
			return rc;
		if (g->mode != CCMAP_MODE_S && g->mode != CCMAP_MODE_E)
			return ccmap_fail(err, CCMAP_E_RANGE, "grant mode %u invalid", g->mode);
		if (g->gflags & ~CCMAP_GRANT_F_DATA)
			return ccmap_fail(err, CCMAP_E_RANGE, "grant flags 0x%x invalid", g->gflags);
		if (data != (g->data != NULL))
			return ccmap_fail(err, CCMAP_E_INVAL, "grant data flag and data pointer disagree");
		NEED(data ? P_PAGEMSG : P_FIXED24);
		ccmap_put_le16(p, g->share);
		p[2] = g->mode;
		p[3] = g->gflags;
		ccmap_put_le32(p + 4, data ? ccmap_crc32c(0, g->data, CCMAP_PAGE_SIZE) : 0);
		ccmap_put_le64(p + 8, g->page);
		ccmap_put_le64(p + 16, g->version);
		if (data)
			memcpy(p + 24, g->data, CCMAP_PAGE_SIZE);
		return data ? P_PAGEMSG : P_FIXED24;
	}
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH:
		rc = check_share_page(m->u.fwd.share, m->u.fwd.page, err);
		if (!rc)
			rc = check_node(m->u.fwd.requester, true, "requester", err);
		if (rc)
			return rc;
		NEED(P_FIXED24);
		ccmap_put_le16(p, m->u.fwd.share);
		ccmap_put_le16(p + 2, m->u.fwd.requester);
		ccmap_put_le32(p + 4, 0);
		ccmap_put_le64(p + 8, m->u.fwd.page);
		ccmap_put_le64(p + 16, m->u.fwd.version);
		return P_FIXED24;
	case CCMAP_T_INV_ACK:
	case CCMAP_T_RECLAIM_DONE:	/* page and version 0 */
	case CCMAP_T_REHOME:		/* page 0, version the lost nodes */
		rc = check_share_page(m->u.ack.share, m->u.ack.page, err);
		if (rc)
			return rc;
		NEED(P_FIXED24);
		ccmap_put_le16(p, m->u.ack.share);
		ccmap_put_le16(p + 2, 0);
		ccmap_put_le32(p + 4, 0);
		ccmap_put_le64(p + 8, m->u.ack.page);
		ccmap_put_le64(p + 16, m->u.ack.version);
		return P_FIXED24;
	case CCMAP_T_DOWNGRADE_ACK:
	case CCMAP_T_FETCH_ACK:
	case CCMAP_T_WRITEBACK:
		rc = check_share_page(m->u.ack.share, m->u.ack.page, err);
		if (rc)
			return rc;
		if (!m->u.ack.data)
			return ccmap_fail(err, CCMAP_E_INVAL, "%s needs page data",
				    ccmap_type_name(m->hdr.type));
		if (m->u.ack.flags & ~(m->hdr.type == CCMAP_T_WRITEBACK ? CCMAP_WB_F_ALL : 0))
			return ccmap_fail(err, CCMAP_E_INVAL, "%s with unknown flags %#x",
				    ccmap_type_name(m->hdr.type), m->u.ack.flags);
		NEED(P_PAGEMSG);
		ccmap_put_le16(p, m->u.ack.share);
		ccmap_put_le16(p + 2, m->u.ack.flags);
		ccmap_put_le32(p + 4, ccmap_crc32c(0, m->u.ack.data, CCMAP_PAGE_SIZE));
		ccmap_put_le64(p + 8, m->u.ack.page);
		ccmap_put_le64(p + 16, m->u.ack.version);
		memcpy(p + 24, m->u.ack.data, CCMAP_PAGE_SIZE);
		return P_PAGEMSG;
	case CCMAP_T_WRITEBACK_ACK:
		rc = check_share_page(m->u.wback.share, m->u.wback.page, err);
		if (rc)
			return rc;
		if (m->u.wback.status > CCMAP_WB_STALE)
			return ccmap_fail(err, CCMAP_E_RANGE, "writeback status %u invalid",
				    m->u.wback.status);
		NEED(P_FIXED24);
		ccmap_put_le16(p, m->u.wback.share);
		ccmap_put_le16(p + 2, m->u.wback.status);
		ccmap_put_le32(p + 4, 0);
		ccmap_put_le64(p + 8, m->u.wback.page);
		ccmap_put_le64(p + 16, m->u.wback.version);
		return P_FIXED24;
	}
#undef NEED
	return ccmap_fail(err, CCMAP_E_UNKNOWN_TYPE, "unknown message type %u", m->hdr.type);
}

long ccmap_encode_payload(const struct ccmap_msg *m, uint8_t *buf, size_t cap,
			  struct ccmap_err *err)
{
	return put_payload(m, buf, cap, err);
}

static int frame_mac(const struct ccmap_mac_key *k, const uint8_t *frame,
		     size_t len, uint8_t out[CCMAP_MAC_LEN])
{
	struct ccmap_iov v = { frame, len };

	return ccmap_hmac_sha256(k->key, sizeof(k->key), &v, 1, out);
}

long ccmap_encode(const struct ccmap_msg *m, const struct ccmap_mac_key *mac,
		  uint8_t *buf, size_t cap, struct ccmap_err *err)
{
	long plen;
	size_t total;
	uint16_t flags = mac ? CCMAP_F_MAC : 0;
	int rc;

	if (!m || !buf)
		return ccmap_fail(err, CCMAP_E_INVAL, "NULL argument");
	rc = check_node(m->hdr.sender, false, "sender", err);
	if (rc)
		return rc;
	if (cap < CCMAP_HDR_LEN)
		return ccmap_fail(err, CCMAP_E_NOSPACE, "buffer of %zu bytes too small", cap);
	plen = put_payload(m, buf + CCMAP_HDR_LEN, cap - CCMAP_HDR_LEN, err);
	if (plen < 0)
		return plen;
	total = CCMAP_HDR_LEN + (size_t)plen + (mac ? CCMAP_MAC_LEN : 0);
	if (total > cap)
		return ccmap_fail(err, CCMAP_E_NOSPACE, "buffer of %zu bytes too small", cap);

	ccmap_put_le32(buf + H_MAGIC, CCMAP_MAGIC);
	buf[H_VERSION] = CCMAP_PROTO_VERSION;
	buf[H_TYPE] = m->hdr.type;
	ccmap_put_le16(buf + H_FLAGS, flags);
	ccmap_put_le16(buf + H_HDRLEN, CCMAP_HDR_LEN);
	ccmap_put_le16(buf + H_SENDER, m->hdr.sender);
	ccmap_put_le32(buf + H_PLEN, (uint32_t)plen);
	ccmap_put_le64(buf + H_SEQ, m->hdr.seq);
	ccmap_put_le64(buf + H_REQID, m->hdr.req_id);
	ccmap_put_le32(buf + H_PCRC, ccmap_crc32c(0, buf + CCMAP_HDR_LEN, (size_t)plen));
	ccmap_put_le32(buf + H_HCRC, ccmap_crc32c(0, buf, H_HCRC));
	if (mac &&
	    frame_mac(mac, buf, CCMAP_HDR_LEN + (size_t)plen, buf + CCMAP_HDR_LEN + plen))
		return ccmap_fail(err, CCMAP_E_AUTH, "HMAC computation failed");
	return (long)total;
}

/* ---- decoding ----------------------------------------------------------- */

long ccmap_decode_header(const uint8_t *buf, size_t len, struct ccmap_hdr *h,
			 struct ccmap_err *err)
{
	uint8_t magic[4];
	uint32_t min, max, hcrc;

	ccmap_put_le32(magic, CCMAP_MAGIC);
	for (size_t i = 0; i < 4 && i < len; i++)
		if (buf[i] != magic[i])
			return ccmap_fail(err, CCMAP_E_BAD_MAGIC,
				    "bad magic: byte %zu is 0x%02x, expected 0x%02x ('%c')",
				    i, buf[i], magic[i], magic[i]);
	if (len > H_VERSION && buf[H_VERSION] != CCMAP_PROTO_VERSION)
		return ccmap_fail(err, CCMAP_E_BAD_VERSION,
			    "unsupported protocol version %u (this agent speaks %u)",
			    buf[H_VERSION], CCMAP_PROTO_VERSION);
	if (len < CCMAP_HDR_LEN)
		return ccmap_fail(err, CCMAP_E_TRUNCATED, "truncated header: %zu of %u bytes",
			    len, CCMAP_HDR_LEN);
	hcrc = ccmap_crc32c(0, buf, H_HCRC);
	if (hcrc != ccmap_get_le32(buf + H_HCRC))
		return ccmap_fail(err, CCMAP_E_BAD_CHECKSUM,
			    "header checksum mismatch: got 0x%08x, computed 0x%08x",
			    ccmap_get_le32(buf + H_HCRC), hcrc);

	h->version = buf[H_VERSION];
	h->type = buf[H_TYPE];
	h->flags = ccmap_get_le16(buf + H_FLAGS);
	h->hdr_len = ccmap_get_le16(buf + H_HDRLEN);
	h->sender = ccmap_get_le16(buf + H_SENDER);
	h->payload_len = ccmap_get_le32(buf + H_PLEN);
	h->seq = ccmap_get_le64(buf + H_SEQ);
	h->req_id = ccmap_get_le64(buf + H_REQID);

	if (h->hdr_len != CCMAP_HDR_LEN)
		return ccmap_fail(err, CCMAP_E_BAD_LENGTH, "header length %u, expected %u",
			    h->hdr_len, CCMAP_HDR_LEN);
	if (h->flags & ~CCMAP_F_ALL)
		return ccmap_fail(err, CCMAP_E_RANGE, "unknown header flags 0x%04x",
			    h->flags & ~CCMAP_F_ALL);
	if (!type_limits(h->type, &min, &max))
		return ccmap_fail(err, CCMAP_E_UNKNOWN_TYPE, "unknown message type %u", h->type);
	if (h->sender > CCMAP_MAX_NODE_ID)
		return ccmap_fail(err, CCMAP_E_RANGE, "sender node id %u out of range (max %u)",
			    h->sender, CCMAP_MAX_NODE_ID);
	if (h->payload_len > max)
		return ccmap_fail(err, CCMAP_E_OVERSIZED,
			    "%s payload of %u bytes exceeds the maximum of %u",
			    ccmap_type_name(h->type), h->payload_len, max);
	if (h->payload_len < min)
		return ccmap_fail(err, CCMAP_E_BAD_LENGTH,
			    "%s payload of %u bytes is below the minimum of %u",
			    ccmap_type_name(h->type), h->payload_len, min);
	return (long)(CCMAP_HDR_LEN + h->payload_len +
		      ((h->flags & CCMAP_F_MAC) ? CCMAP_MAC_LEN : 0));
}

static int want_len(const struct ccmap_hdr *h, uint32_t n, struct ccmap_err *err)
{
	if (h->payload_len == n)
		return 0;
	return ccmap_fail(err, CCMAP_E_BAD_LENGTH, "%s payload is %u bytes, expected %u",
		    ccmap_type_name(h->type), h->payload_len, n);
}

static int zero16(const uint8_t *p, const char *what, struct ccmap_err *err)
{
	if (ccmap_get_le16(p) == 0)
		return 0;
	return ccmap_fail(err, CCMAP_E_RANGE, "reserved field %s is 0x%04x, must be 0",
		    what, ccmap_get_le16(p));
}

static int zero32(const uint8_t *p, const char *what, struct ccmap_err *err)
{
	if (ccmap_get_le32(p) == 0)
		return 0;
	return ccmap_fail(err, CCMAP_E_RANGE, "reserved field %s is 0x%08x, must be 0",
		    what, ccmap_get_le32(p));
}

static int page_crc_ok(const uint8_t *p, struct ccmap_err *err)
{
	uint32_t want = ccmap_get_le32(p + 4);
	uint32_t got = ccmap_crc32c(0, p + 24, CCMAP_PAGE_SIZE);

	if (want == got)
		return 0;
	return ccmap_fail(err, CCMAP_E_BAD_CHECKSUM,
		    "page data checksum mismatch: got 0x%08x, computed 0x%08x", want, got);
}

static int get_hello(const struct ccmap_hdr *h, const uint8_t *p,
		     struct ccmap_hello *o, struct ccmap_err *err)
{
	size_t n = h->payload_len, off;
	size_t end = n - (h->type == CCMAP_T_HELLO_ACK ? CCMAP_PROOF_LEN : 0);
	int rc;

	/* n >= min was checked with the header; end >= P_HELLO_MIN. */
	o->to_node = ccmap_get_le16(p);
	o->n_shares = ccmap_get_le16(p + 2);
	if ((rc = zero32(p + 4, "hello.reserved", err)))
		return rc;
	o->incarnation = ccmap_get_le64(p + 8);
	memcpy(o->nonce, p + 16, CCMAP_NONCE_LEN);
	if (o->n_shares > CCMAP_MAX_SHARES)
		return ccmap_fail(err, CCMAP_E_RANGE, "%u shares, at most %u allowed",
			    o->n_shares, CCMAP_MAX_SHARES);
	off = P_HELLO_MIN;
	for (unsigned i = 0; i < o->n_shares; i++) {
		size_t nl;

		if (end - off < 1)
			return ccmap_fail(err, CCMAP_E_BAD_LENGTH,
				    "%s truncated in share #%u", ccmap_type_name(h->type), i);
		nl = p[off];
		if (nl < 1 || nl > CCMAP_SHARE_NAME_MAX)
			return ccmap_fail(err, CCMAP_E_RANGE, "share #%u name length %zu out of range",
				    i, nl);
		if (end - off < 1 + nl + 8)
			return ccmap_fail(err, CCMAP_E_BAD_LENGTH,
				    "%s truncated in share #%u", ccmap_type_name(h->type), i);
		memcpy(o->shares[i].name, p + off + 1, nl);
		o->shares[i].name[nl] = 0;
		o->shares[i].size = ccmap_get_le64(p + off + 1 + nl);
		off += 1 + nl + 8;
	}
	if (off != end)
		return ccmap_fail(err, CCMAP_E_BAD_LENGTH, "%s has %zu trailing bytes",
			    ccmap_type_name(h->type), end - off);
	if (h->type == CCMAP_T_HELLO_ACK)
		memcpy(o->proof, p + end, CCMAP_PROOF_LEN);
	/* Same semantic checks as the encoder. */
	return check_hello(o, err);
}

static int get_payload(const struct ccmap_hdr *h, const uint8_t *p,
		       struct ccmap_msg *m, struct ccmap_err *err)
{
	int rc;

	switch (h->type) {
	case CCMAP_T_HELLO:
	case CCMAP_T_HELLO_ACK:
		return get_hello(h, p, &m->u.hello, err);
	case CCMAP_T_AUTH:
		memcpy(m->u.auth.proof, p, CCMAP_PROOF_LEN);
		return 0;
	case CCMAP_T_ERROR: {
		struct ccmap_error_msg *e = &m->u.error;
		uint16_t rl = ccmap_get_le16(p + 4);

		e->code = ccmap_get_le16(p);
		e->share = ccmap_get_le16(p + 2);
		e->page = ccmap_get_le64(p + 8);
		if ((rc = zero16(p + 6, "error.reserved", err)))
			return rc;
		if (rl > CCMAP_ERR_REASON_MAX)
			return ccmap_fail(err, CCMAP_E_RANGE, "error reason length %u exceeds %u",
				    rl, CCMAP_ERR_REASON_MAX);
		if ((rc = want_len(h, P_ERROR_MIN + (uint32_t)rl, err)))
			return rc;
		if (e->code == 0 || e->code >= CCMAP_E_MAX)
			return ccmap_fail(err, CCMAP_E_RANGE, "error code %u out of range", e->code);
		if (e->share != CCMAP_NO_SHARE && e->share >= CCMAP_MAX_SHARES)
			return ccmap_fail(err, CCMAP_E_RANGE, "share id %u out of range", e->share);
		memcpy(e->reason, p + 16, rl);
		e->reason[rl] = 0;
		if (!printable(e->reason, rl))
			return ccmap_fail(err, CCMAP_E_RANGE, "error reason not printable ASCII");
		return 0;
	}
	case CCMAP_T_PING:
	case CCMAP_T_PONG:
		m->u.ping.stamp = ccmap_get_le64(p);
		return 0;
	case CCMAP_T_BYE:
		m->u.bye.code = ccmap_get_le16(p);
		if ((rc = zero16(p + 2, "bye.reserved", err)))
			return rc;
		if (m->u.bye.code >= CCMAP_E_MAX)
			return ccmap_fail(err, CCMAP_E_RANGE, "BYE code %u out of range", m->u.bye.code);
		return 0;
	case CCMAP_T_RESUME:
	case CCMAP_T_ACK:
		m->u.sess.from_inc = ccmap_get_le64(p);
		m->u.sess.to_inc = ccmap_get_le64(p + 8);
		m->u.sess.delivered = ccmap_get_le64(p + 16);
		m->u.sess.flags = ccmap_get_le16(p + 24);
		if ((rc = zero16(p + 26, "session.reserved", err)) ||
		    (rc = zero32(p + 28, "session.reserved2", err)))
			return rc;
		return check_sess(h->type, &m->u.sess, err);
	case CCMAP_T_READ_REQ:
	case CCMAP_T_WRITE_REQ:
		m->u.req.share = ccmap_get_le16(p);
		m->u.req.page = ccmap_get_le64(p + 8);
		m->u.req.have_version = ccmap_get_le64(p + 16);
		if ((rc = zero16(p + 2, "req.reserved", err)) ||
		    (rc = zero32(p + 4, "req.reserved2", err)))
			return rc;
		return check_share_page(m->u.req.share, m->u.req.page, err);
	case CCMAP_T_GRANT: {
		struct ccmap_grant *g = &m->u.grant;
		bool data;

		g->share = ccmap_get_le16(p);
		g->mode = p[2];
		g->gflags = p[3];
		g->page = ccmap_get_le64(p + 8);
		g->version = ccmap_get_le64(p + 16);
		if ((rc = check_share_page(g->share, g->page, err)))
			return rc;
		if (g->mode != CCMAP_MODE_S && g->mode != CCMAP_MODE_E)
			return ccmap_fail(err, CCMAP_E_RANGE, "grant mode %u invalid", g->mode);
		if (g->gflags & ~CCMAP_GRANT_F_DATA)
			return ccmap_fail(err, CCMAP_E_RANGE, "grant flags 0x%x invalid", g->gflags);
		data = g->gflags & CCMAP_GRANT_F_DATA;
		if ((rc = want_len(h, data ? P_PAGEMSG : P_FIXED24, err)))
			return rc;
		if (data) {
			if ((rc = page_crc_ok(p, err)))
				return rc;
			g->data = p + 24;
		} else {
			if ((rc = zero32(p + 4, "grant.page_crc", err)))
				return rc;
			g->data = NULL;
		}
		return 0;
	}
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH:
		m->u.fwd.share = ccmap_get_le16(p);
		m->u.fwd.requester = ccmap_get_le16(p + 2);
		m->u.fwd.page = ccmap_get_le64(p + 8);
		m->u.fwd.version = ccmap_get_le64(p + 16);
		if ((rc = zero32(p + 4, "fwd.reserved", err)) ||
		    (rc = check_share_page(m->u.fwd.share, m->u.fwd.page, err)))
			return rc;
		return check_node(m->u.fwd.requester, true, "requester", err);
	case CCMAP_T_INV_ACK:
	case CCMAP_T_RECLAIM_DONE:
	case CCMAP_T_REHOME:
		m->u.ack.share = ccmap_get_le16(p);
		m->u.ack.page = ccmap_get_le64(p + 8);
		m->u.ack.version = ccmap_get_le64(p + 16);
		m->u.ack.data = NULL;
		if ((rc = zero16(p + 2, "ack.reserved", err)) ||
		    (rc = zero32(p + 4, "ack.reserved2", err)))
			return rc;
		if (m->hdr.type == CCMAP_T_RECLAIM_DONE && (m->u.ack.page || m->u.ack.version))
			return ccmap_fail(err, CCMAP_E_PROTOCOL, "RECLAIM_DONE names a page");
		if (m->hdr.type == CCMAP_T_REHOME && (m->u.ack.page || !m->u.ack.version))
			return ccmap_fail(err, CCMAP_E_PROTOCOL,
					  "REHOME names a page or no lost node");
		return check_share_page(m->u.ack.share, m->u.ack.page, err);
	case CCMAP_T_DOWNGRADE_ACK:
	case CCMAP_T_FETCH_ACK:
	case CCMAP_T_WRITEBACK:
		m->u.ack.share = ccmap_get_le16(p);
		m->u.ack.flags = ccmap_get_le16(p + 2);
		m->u.ack.page = ccmap_get_le64(p + 8);
		m->u.ack.version = ccmap_get_le64(p + 16);
		if (m->hdr.type == CCMAP_T_WRITEBACK && (m->u.ack.flags & ~CCMAP_WB_F_ALL))
			return ccmap_fail(err, CCMAP_E_PROTOCOL, "WRITEBACK with unknown flags %#x",
				    m->u.ack.flags);
		if ((m->hdr.type != CCMAP_T_WRITEBACK && (rc = zero16(p + 2, "ack.reserved", err))) ||
		    (rc = check_share_page(m->u.ack.share, m->u.ack.page, err)) ||
		    (rc = page_crc_ok(p, err)))
			return rc;
		m->u.ack.data = p + 24;
		return 0;
	case CCMAP_T_WRITEBACK_ACK:
		m->u.wback.share = ccmap_get_le16(p);
		m->u.wback.status = ccmap_get_le16(p + 2);
		m->u.wback.page = ccmap_get_le64(p + 8);
		m->u.wback.version = ccmap_get_le64(p + 16);
		if ((rc = zero32(p + 4, "wback.reserved", err)) ||
		    (rc = check_share_page(m->u.wback.share, m->u.wback.page, err)))
			return rc;
		if (m->u.wback.status > CCMAP_WB_STALE)
			return ccmap_fail(err, CCMAP_E_RANGE, "writeback status %u invalid",
				    m->u.wback.status);
		return 0;
	}
	/* unreachable: type_limits() accepted the type */
	return ccmap_fail(err, CCMAP_E_UNKNOWN_TYPE, "unknown message type %u", h->type);
}

int ccmap_decode(const uint8_t *buf, size_t len, const struct ccmap_mac_key *mac,
		 bool require_mac, struct ccmap_msg *m, size_t *used,
		 struct ccmap_err *err)
{
	long total;
	const uint8_t *pl;
	uint32_t pcrc;

	if (!buf || !m)
		return ccmap_fail(err, CCMAP_E_INVAL, "NULL argument");
	memset(m, 0, sizeof(*m));
	total = ccmap_decode_header(buf, len, &m->hdr, err);
	if (total < 0)
		return (int)total;
	if ((size_t)total > len)
		return ccmap_fail(err, CCMAP_E_TRUNCATED, "truncated frame: %zu of %ld bytes",
			    len, total);
	pl = buf + CCMAP_HDR_LEN;
	pcrc = ccmap_crc32c(0, pl, m->hdr.payload_len);
	if (pcrc != ccmap_get_le32(buf + H_PCRC))
		return ccmap_fail(err, CCMAP_E_BAD_CHECKSUM,
			    "payload checksum mismatch: got 0x%08x, computed 0x%08x",
			    ccmap_get_le32(buf + H_PCRC), pcrc);
	if (m->hdr.flags & CCMAP_F_MAC) {
		uint8_t want[CCMAP_MAC_LEN];

		if (!mac)
			return ccmap_fail(err, CCMAP_E_BAD_MAC,
				    "frame carries a MAC but the session has no key yet");
		if (frame_mac(mac, buf, CCMAP_HDR_LEN + m->hdr.payload_len, want))
			return ccmap_fail(err, CCMAP_E_AUTH, "HMAC computation failed");
		if (!ccmap_mac_equal(want, pl + m->hdr.payload_len))
			return ccmap_fail(err, CCMAP_E_BAD_MAC, "frame MAC mismatch (%s seq %llu)",
				    ccmap_type_name(m->hdr.type),
				    (unsigned long long)m->hdr.seq);
	} else if (require_mac) {
		return ccmap_fail(err, CCMAP_E_BAD_MAC,
			    "%s frame without MAC on an authenticated session",
			    ccmap_type_name(m->hdr.type));
	}
	{
		int rc = get_payload(&m->hdr, pl, m, err);

		if (rc)
			return rc;
	}
	if (used)
		*used = (size_t)total;
	return 0;
}

/* ---- stream reassembly -------------------------------------------------- */

void ccmap_rx_init(struct ccmap_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->check_seq = true;
}

static void rx_compact(struct ccmap_rx *rx)
{
	if (rx->consumed) {
		memmove(rx->buf, rx->buf + rx->consumed, rx->len - rx->consumed);
		rx->len -= rx->consumed;
		rx->consumed = 0;
	}
}

size_t ccmap_rx_space(const struct ccmap_rx *rx)
{
	if (rx->failed)
		return 0;
	return sizeof(rx->buf) - rx->len + rx->consumed;
}

uint8_t *ccmap_rx_wptr(struct ccmap_rx *rx, size_t *room)
{
	rx_compact(rx);
	*room = rx->failed ? 0 : sizeof(rx->buf) - rx->len;
	return rx->buf + rx->len;
}

void ccmap_rx_commit(struct ccmap_rx *rx, size_t n)
{
	size_t room = sizeof(rx->buf) - rx->len;

	rx->len += n < room ? n : room;
}

size_t ccmap_rx_feed(struct ccmap_rx *rx, const void *data, size_t n)
{
	size_t room;
	uint8_t *w = ccmap_rx_wptr(rx, &room);

	if (n > room)
		n = room;
	memcpy(w, data, n);
	rx->len += n;
	return n;
}

int ccmap_rx_next(struct ccmap_rx *rx, struct ccmap_msg *m)
{
	struct ccmap_hdr h;
	long total;
	size_t used = 0;
	int rc;

	if (rx->failed)
		return -rx->err.code;
	rx_compact(rx);
	if (rx->len == 0)
		return 0;
	/* Header first: reject junk before buffering a payload for it. */
	total = ccmap_decode_header(rx->buf, rx->len, &h, &rx->err);
	if (total == -CCMAP_E_TRUNCATED)
		return 0;
	if (total < 0)
		goto dead;
	if ((size_t)total > rx->len)
		return 0;
	rc = ccmap_decode(rx->buf, (size_t)total, rx->mac, rx->require_mac, m, &used,
			  &rx->err);
	if (rc < 0) {
		total = rc;
		goto dead;
	}
	if (rx->check_seq && m->hdr.seq != rx->expect_seq) {
		ccmap_fail(&rx->err, CCMAP_E_SEQUENCE,
		     "%s has sequence number %llu, expected %llu",
		     ccmap_type_name(m->hdr.type), (unsigned long long)m->hdr.seq,
		     (unsigned long long)rx->expect_seq);
		total = -CCMAP_E_SEQUENCE;
		goto dead;
	}
	rx->expect_seq = m->hdr.seq + 1;
	rx->consumed = used;
	return 1;
dead:
	rx->failed = true;
	return (int)total;
}
