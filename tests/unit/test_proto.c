// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the wire protocol: CRC32C, round trips of every frame type
 * with and without MAC, every decoder error path, stream reassembly with
 * 1-byte and random feeds, HMAC-SHA256, the key file, and the HELLO /
 * HELLO_ACK / AUTH handshake (success and each failure).
 */
#include <ccmap/auth.h>
#include <ccmap/proto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static uint8_t page_a[CCMAP_PAGE_SIZE], page_b[CCMAP_PAGE_SIZE];
static const struct ccmap_mac_key mkey = { .key = "0123456789abcdef0123456789abcde" };

/* ---- sample messages of every type ---------------------------------- */

static const unsigned all_types[] = {
	CCMAP_T_HELLO, CCMAP_T_HELLO_ACK, CCMAP_T_AUTH, CCMAP_T_ERROR, CCMAP_T_PING,
	CCMAP_T_PONG, CCMAP_T_BYE, CCMAP_T_RESUME, CCMAP_T_ACK, CCMAP_T_READ_REQ, CCMAP_T_WRITE_REQ, CCMAP_T_GRANT,
	CCMAP_T_INVALIDATE, CCMAP_T_INV_ACK, CCMAP_T_DOWNGRADE, CCMAP_T_DOWNGRADE_ACK,
	CCMAP_T_FETCH, CCMAP_T_FETCH_ACK, CCMAP_T_WRITEBACK, CCMAP_T_WRITEBACK_ACK,
	CCMAP_T_RECLAIM_DONE, CCMAP_T_REHOME,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static void sample(struct ccmap_msg *m, unsigned type, int variant)
{
	ccmap_msg_init(m, type, 7, 1000 + type, 0x1122334455667788ull + type);
	switch (type) {
	case CCMAP_T_HELLO:
	case CCMAP_T_HELLO_ACK:
		m->u.hello.to_node = 63;
		m->u.hello.incarnation = 0xdeadbeefcafef00dull;
		for (int i = 0; i < CCMAP_NONCE_LEN; i++)
			m->u.hello.nonce[i] = (uint8_t)(i * 7);
		m->u.hello.n_shares = variant ? CCMAP_MAX_SHARES : 2;
		for (unsigned i = 0; i < m->u.hello.n_shares; i++) {
			if (variant)
				snprintf(m->u.hello.shares[i].name, sizeof(m->u.hello.shares[i].name),
					 "%.55s%08u",
					 "share_with_a_long_name.0123456789-0123456789_abcdefghij", i);
			else
				snprintf(m->u.hello.shares[i].name, sizeof(m->u.hello.shares[i].name),
					 "s%u", i);
			m->u.hello.shares[i].size = (uint64_t)(i + 1) << 20;
		}
		for (int i = 0; i < CCMAP_PROOF_LEN; i++)
			m->u.hello.proof[i] = (uint8_t)(0xa0 + i);
		break;
	case CCMAP_T_AUTH:
		for (int i = 0; i < CCMAP_PROOF_LEN; i++)
			m->u.auth.proof[i] = (uint8_t)(255 - i);
		break;
	case CCMAP_T_ERROR:
		m->u.error.code = CCMAP_E_SHARE_MISMATCH;
		m->u.error.share = variant ? CCMAP_NO_SHARE : 3;
		m->u.error.page = variant ? CCMAP_NO_PAGE : 12345;
		if (variant)
			memset(m->u.error.reason, 'x', CCMAP_ERR_REASON_MAX);
		else
			strcpy(m->u.error.reason, "share 'data' size 1048576 here, 2097152 on node 2");
		break;
	case CCMAP_T_PING:
	case CCMAP_T_PONG:
		m->u.ping.stamp = 0x0102030405060708ull;
		break;
	case CCMAP_T_BYE:
		m->u.bye.code = CCMAP_E_NODE_DOWN;
		break;
	case CCMAP_T_RESUME:
	case CCMAP_T_ACK:
		m->u.sess.from_inc = variant ? UINT64_MAX : 0x1111222233334444ull;
		m->u.sess.to_inc = variant ? 1 : 0x5555666677778888ull;
		m->u.sess.delivered = variant ? UINT64_MAX : 12345;
		m->u.sess.flags = type == CCMAP_T_RESUME && variant ? CCMAP_RESUME_F_FRESH : 0;
		break;
	case CCMAP_T_READ_REQ:
	case CCMAP_T_WRITE_REQ:
		m->u.req.share = 31;
		m->u.req.page = variant ? ((UINT64_C(1) << 52) - 1) : 42;
		m->u.req.have_version = variant ? CCMAP_NO_VERSION : 9;
		break;
	case CCMAP_T_GRANT:
		m->u.grant.share = 1;
		m->u.grant.mode = variant ? CCMAP_MODE_S : CCMAP_MODE_E;
		m->u.grant.gflags = variant ? 0 : CCMAP_GRANT_F_DATA;
		m->u.grant.page = 77;
		m->u.grant.version = 5;
		m->u.grant.data = variant ? NULL : page_a;
		break;
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH:
		m->u.fwd.share = 2;
		m->u.fwd.requester = variant ? CCMAP_NODE_NONE : 3;
		m->u.fwd.page = 1000;
		m->u.fwd.version = 17;
		break;
	case CCMAP_T_INV_ACK:
		m->u.ack.share = 2;
		m->u.ack.page = 1000;
		m->u.ack.version = 17;
		break;
	case CCMAP_T_RECLAIM_DONE:
		m->u.ack.share = variant ? 31 : 2;
		break;
	case CCMAP_T_REHOME:
		m->u.ack.share = 3;
		m->u.ack.version = variant ? 0x8000000000000001ull : 0x4;
		break;
	case CCMAP_T_DOWNGRADE_ACK:
	case CCMAP_T_FETCH_ACK:
	case CCMAP_T_WRITEBACK:
		m->u.ack.share = 4;
		m->u.ack.page = 99;
		m->u.ack.version = 3;
		m->u.ack.data = variant ? page_b : page_a;
		if (type == CCMAP_T_WRITEBACK && variant)
			m->u.ack.flags = CCMAP_WB_F_ALL;
		break;
	case CCMAP_T_WRITEBACK_ACK:
		m->u.wback.share = 4;
		m->u.wback.status = variant ? CCMAP_WB_STALE : CCMAP_WB_OK;
		m->u.wback.page = 99;
		m->u.wback.version = 3;
		break;
	}
}

/* Field-by-field equality of two decoded messages (data by content). */
static bool msg_equal(const struct ccmap_msg *a, const struct ccmap_msg *b)
{
	if (a->hdr.type != b->hdr.type || a->hdr.sender != b->hdr.sender ||
	    a->hdr.seq != b->hdr.seq || a->hdr.req_id != b->hdr.req_id)
		return false;
	switch (a->hdr.type) {
	case CCMAP_T_HELLO:
	case CCMAP_T_HELLO_ACK:
		if (a->u.hello.to_node != b->u.hello.to_node ||
		    a->u.hello.n_shares != b->u.hello.n_shares ||
		    a->u.hello.incarnation != b->u.hello.incarnation ||
		    memcmp(a->u.hello.nonce, b->u.hello.nonce, CCMAP_NONCE_LEN))
			return false;
		for (unsigned i = 0; i < a->u.hello.n_shares; i++)
			if (strcmp(a->u.hello.shares[i].name, b->u.hello.shares[i].name) ||
			    a->u.hello.shares[i].size != b->u.hello.shares[i].size)
				return false;
		return a->hdr.type == CCMAP_T_HELLO ||
		       !memcmp(a->u.hello.proof, b->u.hello.proof, CCMAP_PROOF_LEN);
	case CCMAP_T_AUTH:
		return !memcmp(a->u.auth.proof, b->u.auth.proof, CCMAP_PROOF_LEN);
	case CCMAP_T_ERROR:
		return a->u.error.code == b->u.error.code && a->u.error.share == b->u.error.share &&
		       a->u.error.page == b->u.error.page &&
		       !strcmp(a->u.error.reason, b->u.error.reason);
	case CCMAP_T_PING:
	case CCMAP_T_PONG:
		return a->u.ping.stamp == b->u.ping.stamp;
	case CCMAP_T_BYE:
		return a->u.bye.code == b->u.bye.code;
	case CCMAP_T_RESUME:
	case CCMAP_T_ACK:
		return a->u.sess.from_inc == b->u.sess.from_inc &&
		       a->u.sess.to_inc == b->u.sess.to_inc &&
		       a->u.sess.delivered == b->u.sess.delivered &&
		       a->u.sess.flags == b->u.sess.flags;
	case CCMAP_T_READ_REQ:
	case CCMAP_T_WRITE_REQ:
		return a->u.req.share == b->u.req.share && a->u.req.page == b->u.req.page &&
		       a->u.req.have_version == b->u.req.have_version;
	case CCMAP_T_GRANT:
		if (a->u.grant.share != b->u.grant.share || a->u.grant.mode != b->u.grant.mode ||
		    a->u.grant.gflags != b->u.grant.gflags || a->u.grant.page != b->u.grant.page ||
		    a->u.grant.version != b->u.grant.version ||
		    !a->u.grant.data != !b->u.grant.data)
			return false;
		return !a->u.grant.data || !memcmp(a->u.grant.data, b->u.grant.data, CCMAP_PAGE_SIZE);
	case CCMAP_T_INVALIDATE:
	case CCMAP_T_DOWNGRADE:
	case CCMAP_T_FETCH:
		return a->u.fwd.share == b->u.fwd.share && a->u.fwd.requester == b->u.fwd.requester &&
		       a->u.fwd.page == b->u.fwd.page && a->u.fwd.version == b->u.fwd.version;
	case CCMAP_T_INV_ACK:
	case CCMAP_T_RECLAIM_DONE:
	case CCMAP_T_REHOME:
	case CCMAP_T_DOWNGRADE_ACK:
	case CCMAP_T_FETCH_ACK:
	case CCMAP_T_WRITEBACK:
		if (a->u.ack.share != b->u.ack.share || a->u.ack.page != b->u.ack.page ||
		    a->u.ack.version != b->u.ack.version || a->u.ack.flags != b->u.ack.flags ||
		    !a->u.ack.data != !b->u.ack.data)
			return false;
		return !a->u.ack.data || !memcmp(a->u.ack.data, b->u.ack.data, CCMAP_PAGE_SIZE);
	case CCMAP_T_WRITEBACK_ACK:
		return a->u.wback.share == b->u.wback.share &&
		       a->u.wback.status == b->u.wback.status &&
		       a->u.wback.page == b->u.wback.page && a->u.wback.version == b->u.wback.version;
	}
	return false;
}

static void test_crc(void)
{
	uint32_t tab[256];
	bool same = true;

	OK(ccmap_crc32c(0, "123456789", 9) == 0xe3069283u, "crc32c check value 0xE3069283");
	OK(ccmap_crc32c(0, "", 0) == 0, "crc32c of nothing is 0");
	OK(ccmap_crc32c(ccmap_crc32c(0, "1234", 4), "56789", 5) == 0xe3069283u,
	   "crc32c is incremental");
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		tab[i] = c;
		same &= tab[i] == ccmap_crc32c_table[i];
	}
	OK(same, "crc32c table matches the polynomial");
	{
		static uint8_t b[10000];
		bool agree = true;

		srand(7);
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)rand();
		for (size_t off = 0; off < 9; off++)
			for (size_t len = 0; len < 300; len += 1 + len / 8)
				agree &= ccmap_crc32c(off, b + off, len) ==
					 ccmap_crc32c_sw(off, b + off, len);
		agree &= ccmap_crc32c(0, b, sizeof(b)) == ccmap_crc32c_sw(0, b, sizeof(b));
		OK(agree && ccmap_crc32c_sw(0, "123456789", 9) == 0xe3069283u,
		   "crc32c %s path agrees with the table on unaligned buffers",
		   ccmap_crc32c_hw_available() ? "SSE4.2" : "table");
	}
}

static void test_roundtrip(void)
{
	static uint8_t buf[CCMAP_MAX_FRAME], buf2[CCMAP_MAX_FRAME];
	struct ccmap_msg m, d;
	struct ccmap_err err;

	for (unsigned ti = 0; ti < NTYPES; ti++) {
		for (int variant = 0; variant < 2; variant++) {
			for (int mac = 0; mac < 2; mac++) {
				unsigned t = all_types[ti];
				long n, n2;
				size_t used = 0;
				int rc;

				sample(&m, t, variant);
				n = ccmap_encode(&m, mac ? &mkey : NULL, buf, sizeof(buf), &err);
				rc = n > 0 ? ccmap_decode(buf, (size_t)n, mac ? &mkey : NULL, mac,
							  &d, &used, &err) : -1;
				n2 = rc == 0 ? ccmap_encode(&d, mac ? &mkey : NULL, buf2,
							    sizeof(buf2), &err) : -1;
				OK(n > 0 && rc == 0 && used == (size_t)n && msg_equal(&m, &d) &&
				   n2 == n && !memcmp(buf, buf2, (size_t)n) &&
				   (d.hdr.flags & CCMAP_F_MAC) == (mac ? CCMAP_F_MAC : 0),
				   "round trip %s variant %d %s (%ld bytes)%s%s", ccmap_type_name(t),
				   variant, mac ? "with MAC" : "without MAC", n,
				   rc ? ": " : "", rc ? err.msg : "");
			}
		}
	}
	/* decode with trailing bytes after the frame: used == frame length */
	{
		long n;
		size_t used = 0;

		sample(&m, CCMAP_T_PING, 0);
		n = ccmap_encode(&m, NULL, buf, sizeof(buf), &err);
		memset(buf + n, 0xee, 10);
		OK(ccmap_decode(buf, (size_t)n + 10, NULL, false, &d, &used, &err) == 0 &&
		   used == (size_t)n, "decode ignores bytes after the frame");
	}
	/* encoder refuses what the decoder would refuse */
	{
		sample(&m, CCMAP_T_READ_REQ, 0);
		m.u.req.share = CCMAP_MAX_SHARES;
		OK(ccmap_encode(&m, NULL, buf, sizeof(buf), &err) == -CCMAP_E_RANGE,
		   "encode refuses share id out of range: %s", err.msg);
		sample(&m, CCMAP_T_GRANT, 0);
		m.u.grant.mode = 3;
		OK(ccmap_encode(&m, NULL, buf, sizeof(buf), &err) == -CCMAP_E_RANGE,
		   "encode refuses grant mode 3: %s", err.msg);
		sample(&m, CCMAP_T_GRANT, 0);
		m.u.grant.data = NULL;
		OK(ccmap_encode(&m, NULL, buf, sizeof(buf), &err) == -CCMAP_E_INVAL,
		   "encode refuses data flag without data: %s", err.msg);
		sample(&m, CCMAP_T_PING, 0);
		m.hdr.sender = 64;
		OK(ccmap_encode(&m, NULL, buf, sizeof(buf), &err) == -CCMAP_E_RANGE,
		   "encode refuses sender 64: %s", err.msg);
		sample(&m, CCMAP_T_HELLO, 0);
		m.u.hello.shares[1].size = 4097;
		OK(ccmap_encode(&m, NULL, buf, sizeof(buf), &err) == -CCMAP_E_RANGE,
		   "encode refuses unaligned share size: %s", err.msg);
		sample(&m, CCMAP_T_FETCH_ACK, 0);
		OK(ccmap_encode(&m, NULL, buf, 100, &err) == -CCMAP_E_NOSPACE,
		   "encode reports a too small buffer: %s", err.msg);
		sample(&m, CCMAP_T_PING, 0);
		m.hdr.type = 99;
		OK(ccmap_encode(&m, NULL, buf, sizeof(buf), &err) == -CCMAP_E_UNKNOWN_TYPE,
		   "encode refuses unknown type: %s", err.msg);
	}
}

/* Recompute both CRCs after tampering with a frame. */
static void refix(uint8_t *f)
{
	uint32_t plen = ccmap_get_le32(f + 12);

	ccmap_put_le32(f + 32, ccmap_crc32c(0, f + CCMAP_HDR_LEN, plen));
	ccmap_put_le32(f + 36, ccmap_crc32c(0, f, 36));
}

static long enc(unsigned type, int variant, uint8_t *buf)
{
	struct ccmap_msg m;
	struct ccmap_err err;

	sample(&m, type, variant);
	return ccmap_encode(&m, NULL, buf, CCMAP_MAX_FRAME, &err);
}

static void expect_err(const uint8_t *buf, size_t len, const struct ccmap_mac_key *k,
		       bool req_mac, int code, const char *needle, const char *what)
{
	struct ccmap_msg m;
	struct ccmap_err err = { 0 };
	int rc = ccmap_decode(buf, len, k, req_mac, &m, NULL, &err);

	OK(rc == -code && err.code == code && strstr(err.msg, needle),
	   "decode error %s: %s -> \"%s\"", ccmap_strerror(code), what, err.msg);
}

static void test_decode_errors(void)
{
	static uint8_t f[CCMAP_MAX_FRAME + 64];
	long n;

	/* bad magic: detected from the first byte already */
	n = enc(CCMAP_T_PING, 0, f);
	f[0] = 'X';
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_MAGIC, "bad magic", "first byte");
	expect_err(f, 1, NULL, false, CCMAP_E_BAD_MAGIC, "byte 0", "one byte only");
	n = enc(CCMAP_T_PING, 0, f);
	f[3] = 'Q';
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_MAGIC, "byte 3", "fourth byte");
	/* HTTP request sent to the agent port */
	expect_err((const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18, NULL, false, CCMAP_E_BAD_MAGIC,
		   "bad magic", "an HTTP request");

	/* bad version */
	n = enc(CCMAP_T_PING, 0, f);
	f[4] = 1;	/* an agent from before the session (RESUME, ACK) */
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_VERSION,
		   "unsupported protocol version 1 (this agent speaks 2)", "version 1");
	expect_err(f, 5, NULL, false, CCMAP_E_BAD_VERSION, "version 1", "version 1, 5 bytes");
	f[4] = 3;
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_VERSION, "version 3", "version 3");

	/* truncated */
	n = enc(CCMAP_T_READ_REQ, 0, f);
	expect_err(f, 39, NULL, false, CCMAP_E_TRUNCATED, "truncated header", "39-byte header");
	expect_err(f, 0, NULL, false, CCMAP_E_TRUNCATED, "0 of 40", "empty input");
	expect_err(f, (size_t)n - 1, NULL, false, CCMAP_E_TRUNCATED, "truncated frame",
		   "payload one byte short");
	{
		struct ccmap_msg m;
		struct ccmap_err err;

		sample(&m, CCMAP_T_PING, 0);
		n = ccmap_encode(&m, &mkey, f, sizeof(f), &err);
		expect_err(f, (size_t)n - 1, &mkey, true, CCMAP_E_TRUNCATED, "truncated frame",
			   "MAC trailer one byte short");
	}

	/* oversized: per-type maximum and absolute maximum */
	n = enc(CCMAP_T_READ_REQ, 0, f);
	ccmap_put_le32(f + 12, 25);
	refix(f);
	expect_err(f, (size_t)n + 1, NULL, false, CCMAP_E_OVERSIZED, "exceeds the maximum of 24",
		   "READ_REQ with 25-byte payload");
	n = enc(CCMAP_T_GRANT, 0, f);
	ccmap_put_le32(f + 12, 0xffffffffu);
	ccmap_put_le32(f + 36, ccmap_crc32c(0, f, 36));
	expect_err(f, 40, NULL, false, CCMAP_E_OVERSIZED, "4294967295", "4 GiB payload length");
	n = enc(CCMAP_T_ERROR, 0, f);
	ccmap_put_le32(f + 12, CCMAP_MAX_PAYLOAD + 1);
	ccmap_put_le32(f + 36, ccmap_crc32c(0, f, 36));
	expect_err(f, 40, NULL, false, CCMAP_E_OVERSIZED, "ERROR payload", "ERROR above max");

	/* unknown type */
	n = enc(CCMAP_T_PING, 0, f);
	f[5] = 200;
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_UNKNOWN_TYPE, "type 200", "type 200");
	f[5] = 0;
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_UNKNOWN_TYPE, "type 0", "type 0");

	/* bad checksums: header, payload, page data */
	n = enc(CCMAP_T_PING, 0, f);
	f[16] ^= 1; /* seq */
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_CHECKSUM, "header checksum",
		   "flipped bit in seq");
	n = enc(CCMAP_T_PING, 0, f);
	f[40] ^= 0x80;
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_CHECKSUM, "payload checksum",
		   "flipped bit in payload");
	n = enc(CCMAP_T_FETCH_ACK, 0, f);
	f[40 + 24 + 100] ^= 4;
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_CHECKSUM, "payload checksum",
		   "flipped bit in page data");
	n = enc(CCMAP_T_GRANT, 0, f);
	f[40 + 24 + 4095] ^= 4;
	refix(f); /* frame CRC fixed up, page CRC not */
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_CHECKSUM, "page data checksum",
		   "GRANT page data vs its own CRC");
	n = enc(CCMAP_T_WRITEBACK, 0, f);
	f[40 + 24] ^= 4;
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_CHECKSUM, "page data checksum",
		   "WRITEBACK page data vs its own CRC");

	/* MAC */
	{
		struct ccmap_msg m;
		struct ccmap_err err;
		struct ccmap_mac_key other = mkey;

		other.key[5] ^= 1;
		sample(&m, CCMAP_T_GRANT, 0);
		n = ccmap_encode(&m, &mkey, f, sizeof(f), &err);
		expect_err(f, (size_t)n, &other, true, CCMAP_E_BAD_MAC, "MAC mismatch",
			   "MAC made with another key");
		expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_MAC, "no key",
			   "MAC but the session has no key");
		f[40 + 10] ^= 1;
		refix(f);
		expect_err(f, (size_t)n, &mkey, true, CCMAP_E_BAD_MAC, "MAC mismatch",
			   "payload altered and CRCs fixed up");
		n = ccmap_encode(&m, &mkey, f, sizeof(f), &err);
		f[n - 1] ^= 0x10;
		expect_err(f, (size_t)n, &mkey, true, CCMAP_E_BAD_MAC, "MAC mismatch",
			   "flipped bit in the MAC trailer");
		n = ccmap_encode(&m, NULL, f, sizeof(f), &err);
		expect_err(f, (size_t)n, &mkey, true, CCMAP_E_BAD_MAC, "without MAC",
			   "missing MAC on an authenticated session");
	}

	/* field out of range / reserved / bad length */
	n = enc(CCMAP_T_PING, 0, f);
	ccmap_put_le16(f + 10, 64);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "sender node id 64", "sender 64");
	n = enc(CCMAP_T_PING, 0, f);
	ccmap_put_le16(f + 6, 0x8000);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "unknown header flags",
		   "flag 0x8000");
	n = enc(CCMAP_T_PING, 0, f);
	ccmap_put_le16(f + 8, 48);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_LENGTH, "header length 48",
		   "header length 48");
	n = enc(CCMAP_T_READ_REQ, 0, f);
	ccmap_put_le16(f + 40, 32);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "share id 32", "share id 32");
	n = enc(CCMAP_T_READ_REQ, 0, f);
	ccmap_put_le64(f + 48, UINT64_C(1) << 52);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "page index", "page 2^52");
	n = enc(CCMAP_T_READ_REQ, 0, f);
	f[42] = 1;
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "reserved field",
		   "reserved bits set in READ_REQ");
	n = enc(CCMAP_T_GRANT, 1, f);
	f[42] = 3;
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "grant mode 3", "grant mode 3");
	n = enc(CCMAP_T_GRANT, 1, f);
	f[43] = 0x2;
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "grant flags", "grant flags 0x2");
	n = enc(CCMAP_T_GRANT, 1, f);
	f[43] = CCMAP_GRANT_F_DATA; /* says data, has none */
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_LENGTH, "expected 4120",
		   "GRANT data flag without data");
	n = enc(CCMAP_T_GRANT, 1, f);
	ccmap_put_le32(f + 44, 1);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "page_crc",
		   "GRANT without data but with a page CRC");
	n = enc(CCMAP_T_FETCH, 0, f);
	ccmap_put_le16(f + 42, 64);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "requester node id 64",
		   "FETCH requester 64");
	n = enc(CCMAP_T_WRITEBACK_ACK, 0, f);
	ccmap_put_le16(f + 42, 2);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "writeback status 2",
		   "WRITEBACK_ACK status 2");
	n = enc(CCMAP_T_ERROR, 0, f);
	ccmap_put_le16(f + 40, 0);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "error code 0", "ERROR code 0");
	n = enc(CCMAP_T_ERROR, 0, f);
	f[40 + 16 + 3] = 0x07;
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "not printable",
		   "ERROR reason with a control character");
	n = enc(CCMAP_T_ERROR, 0, f);
	ccmap_put_le16(f + 44, 10); /* reason length disagrees with payload length */
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_LENGTH, "expected 26",
		   "ERROR reason length vs payload length");
	n = enc(CCMAP_T_BYE, 0, f);
	ccmap_put_le16(f + 40, 500);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "BYE code 500", "BYE code 500");
	n = enc(CCMAP_T_HELLO, 0, f);
	ccmap_put_le64(f + 48, 0);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "incarnation", "HELLO incarnation 0");
	n = enc(CCMAP_T_HELLO, 0, f);
	ccmap_put_le16(f + 42, 33);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "33 shares", "HELLO 33 shares");
	n = enc(CCMAP_T_HELLO, 0, f);
	ccmap_put_le16(f + 42, 3); /* claims 3 shares, carries 2 */
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_LENGTH, "truncated in share #2",
		   "HELLO share count larger than the list");
	n = enc(CCMAP_T_HELLO, 0, f);
	ccmap_put_le16(f + 42, 1); /* claims 1 share, carries 2 */
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_LENGTH, "trailing bytes",
		   "HELLO share count smaller than the list");
	n = enc(CCMAP_T_HELLO, 0, f);
	f[40 + 48 + 1] = '/'; /* first share name "s0" -> "/0" */
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "invalid name",
		   "HELLO share name with '/'");
	n = enc(CCMAP_T_HELLO, 0, f);
	f[40 + 48] = 0; /* name length 0 */
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "name length 0",
		   "HELLO share name length 0");
	n = enc(CCMAP_T_HELLO, 0, f);
	ccmap_put_le64(f + 40 + 48 + 3, 4096 + 1);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "not a positive multiple",
		   "HELLO share size 4097");
	n = enc(CCMAP_T_PING, 0, f);
	ccmap_put_le32(f + 12, 4);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_LENGTH, "below the minimum",
		   "PING with 4-byte payload");

	/* RESUME and ACK: exact length, reserved fields, incarnations, flags */
	n = enc(CCMAP_T_RESUME, 0, f);
	OK(n == CCMAP_HDR_LEN + 32, "RESUME is a 32-byte payload (%ld bytes)", n);
	ccmap_put_le32(f + 12, 33);
	refix(f);
	expect_err(f, (size_t)n + 1, NULL, false, CCMAP_E_OVERSIZED, "exceeds the maximum of 32",
		   "RESUME with a 33-byte payload");
	n = enc(CCMAP_T_ACK, 0, f);
	ccmap_put_le32(f + 12, 31);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_BAD_LENGTH, "below the minimum of 32",
		   "ACK with a 31-byte payload");
	n = enc(CCMAP_T_RESUME, 0, f);
	ccmap_put_le64(f + 40, 0);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "RESUME incarnation must not be 0",
		   "RESUME from incarnation 0");
	n = enc(CCMAP_T_ACK, 0, f);
	ccmap_put_le64(f + 48, 0);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "ACK incarnation must not be 0",
		   "ACK to incarnation 0");
	n = enc(CCMAP_T_RESUME, 0, f);
	ccmap_put_le16(f + 40 + 24, 2);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "RESUME flags 0x0002",
		   "RESUME with an unknown flag");
	n = enc(CCMAP_T_ACK, 0, f);
	ccmap_put_le16(f + 40 + 24, CCMAP_RESUME_F_FRESH);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "ACK flags 0x0001",
		   "ACK with the FRESH flag");
	n = enc(CCMAP_T_RESUME, 0, f);
	ccmap_put_le16(f + 40 + 26, 1);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "session.reserved is",
		   "RESUME reserved u16 not 0");
	n = enc(CCMAP_T_ACK, 0, f);
	ccmap_put_le32(f + 40 + 28, 1);
	refix(f);
	expect_err(f, (size_t)n, NULL, false, CCMAP_E_RANGE, "session.reserved2",
		   "ACK reserved u32 not 0");
	{
		struct ccmap_msg m;
		struct ccmap_err err;

		sample(&m, CCMAP_T_ACK, 0);
		m.u.sess.to_inc = 0;
		OK(ccmap_encode(&m, NULL, f, CCMAP_MAX_FRAME, &err) == -CCMAP_E_RANGE,
		   "encode refuses an ACK to incarnation 0: %s", err.msg);
		sample(&m, CCMAP_T_ACK, 0);
		m.u.sess.flags = CCMAP_RESUME_F_FRESH;
		OK(ccmap_encode(&m, NULL, f, CCMAP_MAX_FRAME, &err) == -CCMAP_E_RANGE,
		   "encode refuses an ACK with the FRESH flag: %s", err.msg);
	}
}

/* Stream of frames: every type and variant, seq 0.., with or without MAC. */
static size_t build_stream(uint8_t *s, size_t cap, bool mac, unsigned *nframes,
			   struct ccmap_msg *msgs)
{
	size_t len = 0;
	unsigned k = 0;

	for (unsigned ti = 0; ti < NTYPES; ti++) {
		for (int v = 0; v < 2; v++) {
			struct ccmap_msg *m = &msgs[k];
			struct ccmap_err err;
			long n;

			sample(m, all_types[ti], v);
			m->hdr.seq = k;
			n = ccmap_encode(m, mac ? &mkey : NULL, s + len, cap - len, &err);
			if (n < 0) {
				printf("# encode failed: %s\n", err.msg);
				exit(2);
			}
			len += (size_t)n;
			k++;
		}
	}
	*nframes = k;
	return len;
}

static void test_reassembly(void)
{
	static uint8_t s[NTYPES * 2 * CCMAP_MAX_FRAME];
	static struct ccmap_msg msgs[NTYPES * 2];
	static struct ccmap_rx rx;
	struct ccmap_msg m;
	unsigned nf, got;
	size_t len;
	bool all_equal;
	int rc;

	for (int mac = 0; mac < 2; mac++) {
		len = build_stream(s, sizeof(s), mac, &nf, msgs);
		/* 1-byte feeds */
		ccmap_rx_init(&rx);
		rx.mac = mac ? &mkey : NULL;
		rx.require_mac = mac;
		got = 0;
		all_equal = true;
		rc = 0;
		for (size_t i = 0; i < len && rc >= 0; i++) {
			if (ccmap_rx_feed(&rx, s + i, 1) != 1) {
				rc = -1;
				break;
			}
			while ((rc = ccmap_rx_next(&rx, &m)) == 1) {
				all_equal &= got < nf && msg_equal(&m, &msgs[got]);
				got++;
			}
		}
		OK(rc == 0 && got == nf && all_equal,
		   "reassembly with 1-byte feeds%s: %u of %u frames, all equal",
		   mac ? " (MAC)" : "", got, nf);

		/* random chunk sizes, several seeds, also via wptr/commit */
		srand(42 + (unsigned)mac);
		for (int round = 0; round < 20; round++) {
			size_t pos = 0;

			ccmap_rx_init(&rx);
			rx.mac = mac ? &mkey : NULL;
			rx.require_mac = mac;
			got = 0;
			all_equal = true;
			rc = 0;
			while (pos < len && rc >= 0) {
				size_t room, chunk = 1 + (size_t)rand() % 9000;
				uint8_t *w = ccmap_rx_wptr(&rx, &room);

				if (chunk > room)
					chunk = room;
				if (chunk > len - pos)
					chunk = len - pos;
				memcpy(w, s + pos, chunk);
				ccmap_rx_commit(&rx, chunk);
				pos += chunk;
				while ((rc = ccmap_rx_next(&rx, &m)) == 1) {
					all_equal &= got < nf && msg_equal(&m, &msgs[got]);
					got++;
				}
			}
			if (rc != 0 || got != nf || !all_equal)
				break;
			if (round == 19)
				OK(true, "reassembly with random chunks%s: 20 rounds x %u frames",
				   mac ? " (MAC)" : "", nf);
		}
		if (rc != 0 || got != nf || !all_equal)
			OK(false, "reassembly with random chunks%s: rc %d got %u", mac ? " (MAC)" : "",
			   rc, got);
	}

	/* errors: detected at the header, sticky */
	ccmap_rx_init(&rx);
	ccmap_rx_feed(&rx, "CCMX", 4);
	rc = ccmap_rx_next(&rx, &m);
	OK(rc == -CCMAP_E_BAD_MAGIC && rx.failed, "stream: bad magic at byte 3 -> %s",
	   rx.err.msg);
	OK(ccmap_rx_next(&rx, &m) == -CCMAP_E_BAD_MAGIC && ccmap_rx_feed(&rx, "x", 1) == 0,
	   "stream: error is sticky and no more input is taken");

	/* oversized frame rejected from its header, before its payload */
	{
		uint8_t f[64];
		long n = enc(CCMAP_T_PING, 0, f);

		(void)n;
		ccmap_put_le32(f + 12, 0x7fffffffu);
		ccmap_put_le32(f + 36, ccmap_crc32c(0, f, 36));
		ccmap_rx_init(&rx);
		ccmap_rx_feed(&rx, f, 40);
		rc = ccmap_rx_next(&rx, &m);
		OK(rc == -CCMAP_E_OVERSIZED, "stream: oversized frame rejected from header: %s",
		   rx.err.msg);
	}
	/* sequence numbers */
	{
		uint8_t f[2][128];
		long n0, n1;
		struct ccmap_msg a;
		struct ccmap_err err;

		sample(&a, CCMAP_T_PING, 0);
		a.hdr.seq = 0;
		n0 = ccmap_encode(&a, NULL, f[0], sizeof(f[0]), &err);
		a.hdr.seq = 2;
		n1 = ccmap_encode(&a, NULL, f[1], sizeof(f[1]), &err);
		ccmap_rx_init(&rx);
		ccmap_rx_feed(&rx, f[0], (size_t)n0);
		ccmap_rx_feed(&rx, f[1], (size_t)n1);
		rc = ccmap_rx_next(&rx, &m);
		OK(rc == 1 && m.hdr.seq == 0, "stream: seq 0 accepted");
		rc = ccmap_rx_next(&rx, &m);
		OK(rc == -CCMAP_E_SEQUENCE && strstr(rx.err.msg, "expected 1"),
		   "stream: seq 2 after 0 rejected: %s", rx.err.msg);
		/* replayed frame */
		ccmap_rx_init(&rx);
		ccmap_rx_feed(&rx, f[0], (size_t)n0);
		ccmap_rx_feed(&rx, f[0], (size_t)n0);
		OK(ccmap_rx_next(&rx, &m) == 1 && ccmap_rx_next(&rx, &m) == -CCMAP_E_SEQUENCE,
		   "stream: replayed frame rejected");
	}
	/* space accounting: full buffer holding a frame, then room after next */
	{
		size_t room;

		ccmap_rx_init(&rx);
		len = build_stream(s, sizeof(s), false, &nf, msgs);
		size_t fed = ccmap_rx_feed(&rx, s, len);
		OK(fed == sizeof(rx.buf) && ccmap_rx_space(&rx) == 0,
		   "stream: feed stops when the buffer is full (%zu bytes)", fed);
		rc = ccmap_rx_next(&rx, &m);
		ccmap_rx_wptr(&rx, &room);
		OK(rc == 1 && room > 0 && ccmap_rx_space(&rx) == room,
		   "stream: room again after a frame is taken (%zu)", room);
	}
}

static void hexs(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_hmac_and_key(void)
{
	uint8_t out[32];
	char hex[65];
	struct ccmap_iov v[2] = { { "what do ya want ", 16 }, { "for nothing?", 12 } };
	struct ccmap_key k;
	struct ccmap_err err;
	char path[] = "/tmp/ccmap-keyXXXXXX";
	int fd;

	/* RFC 4231 test case 2 */
	OK(ccmap_hmac_sha256((const uint8_t *)"Jefe", 4, v, 2, out) == 0, "hmac computes");
	hexs(hex, out, 32);
	OK(!strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
	   "HMAC-SHA256 RFC 4231 case 2 over two pieces");
	OK(ccmap_mac_equal(out, out) && !ccmap_mac_equal(out, (uint8_t[32]){ 0 }),
	   "constant-time compare");

	const char *good = "  00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n";
	OK(ccmap_key_parse(good, strlen(good), &k, &err) == 0 && k.len == 32 &&
	   k.bytes[31] == 0xff && k.bytes[1] == 0x11, "key: 64 hex digits with blanks");
	OK(ccmap_key_parse("abc", 3, &k, &err) == -CCMAP_E_INVAL && strstr(err.msg, "odd"),
	   "key: odd digit count: %s", err.msg);
	OK(ccmap_key_parse("0011zz", 6, &k, &err) == -CCMAP_E_INVAL && strstr(err.msg, "non-hex"),
	   "key: non-hex: %s", err.msg);
	OK(ccmap_key_parse("00112233", 8, &k, &err) == -CCMAP_E_INVAL &&
	   strstr(err.msg, "4 bytes"), "key: too short: %s", err.msg);
	OK(ccmap_key_parse(" \n", 2, &k, &err) == -CCMAP_E_INVAL && strstr(err.msg, "empty"),
	   "key: empty: %s", err.msg);
	{
		char big[2 * CCMAP_KEY_MAX + 3];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = 0;
		OK(ccmap_key_parse(big, 2 * CCMAP_KEY_MAX + 2, &k, &err) == -CCMAP_E_INVAL &&
		   strstr(err.msg, "129 bytes"), "key: too long: %s", err.msg);
	}
	fd = mkstemp(path);
	if (fd >= 0) {
		if (write(fd, good, strlen(good)) < 0)
			perror("write");
		close(fd);
		chmod(path, 0600);
		OK(ccmap_key_load(path, &k, &err) == 0 && k.len == 32, "key file mode 0600 loads");
		chmod(path, 0644);
		OK(ccmap_key_load(path, &k, &err) == -CCMAP_E_INVAL && strstr(err.msg, "mode 644"),
		   "key file mode 0644 refused: %s", err.msg);
		unlink(path);
		OK(ccmap_key_load(path, &k, &err) == -CCMAP_E_IO && strstr(err.msg, "cannot open"),
		   "missing key file: %s", err.msg);
	} else {
		OK(false, "mkstemp");
	}
}

/* ---- handshake over the real encoder/decoder --------------------------- */

struct side {
	struct ccmap_hs hs;
	uint64_t tx_seq;
	struct ccmap_rx rx;
};

/* Encode out on a's side and decode it on b's rx. */
static int wire(struct side *a, struct side *b, const struct ccmap_msg *out,
		struct ccmap_msg *in)
{
	static uint8_t buf[CCMAP_MAX_FRAME];
	struct ccmap_msg m = *out;
	struct ccmap_err err;
	long n;

	m.hdr.seq = a->tx_seq++;
	n = ccmap_encode(&m, NULL, buf, sizeof(buf), &err);
	if (n < 0) {
		printf("# encode: %s\n", err.msg);
		return -1;
	}
	if (ccmap_rx_feed(&b->rx, buf, (size_t)n) != (size_t)n)
		return -1;
	return ccmap_rx_next(&b->rx, in) == 1 ? 0 : -1;
}

static struct ccmap_share_desc shares_a[2] = { { "data", 1 << 20 }, { "log", 8192 } };
static struct ccmap_share_desc shares_b[2] = { { "data", 1 << 20 }, { "log", 8192 } };

static void setup(struct side *a, struct side *b, const struct ccmap_key *ka,
		  const struct ccmap_key *kb, uint16_t dial, uint64_t allowed)
{
	struct ccmap_hs_params pa = { .key = ka, .self = 1, .peer = dial, .incarnation = 11,
				       .n_shares = 2, .shares = shares_a };
	struct ccmap_hs_params pb = { .key = kb, .self = 2, .allowed_peers = allowed,
				       .incarnation = 22, .n_shares = 2, .shares = shares_b };

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	ccmap_rx_init(&a->rx);
	ccmap_rx_init(&b->rx);
	if (ccmap_hs_init(&a->hs, CCMAP_HS_INITIATOR, &pa, NULL) ||
	    ccmap_hs_init(&b->hs, CCMAP_HS_RESPONDER, &pb, NULL))
		printf("# hs_init failed: %s / %s\n", a->hs.err.msg, b->hs.err.msg);
}

/* Runs HELLO -> HELLO_ACK -> AUTH; returns the step at which it stopped. */
static int run_hs(struct side *a, struct side *b, struct ccmap_msg *last_error)
{
	static struct ccmap_msg out, in;
	bool have;
	int rc;

	if (ccmap_hs_hello(&a->hs, &out) || wire(a, b, &out, &in))
		return -1;
	rc = ccmap_hs_step(&b->hs, &in, &out, &have);
	if (rc < 0) {
		if (have && !wire(b, a, &out, &in)) {
			*last_error = in;
			ccmap_hs_step(&a->hs, &in, &out, &have);
		}
		return 1;
	}
	if (!have || out.hdr.type != CCMAP_T_HELLO_ACK || wire(b, a, &out, &in))
		return -1;
	rc = ccmap_hs_step(&a->hs, &in, &out, &have);
	if (rc < 0) {
		if (have && !wire(a, b, &out, &in)) {
			*last_error = in;
			ccmap_hs_step(&b->hs, &in, &out, &have);
		}
		return 2;
	}
	if (rc != 1 || !have || out.hdr.type != CCMAP_T_AUTH || wire(a, b, &out, &in))
		return -1;
	rc = ccmap_hs_step(&b->hs, &in, &out, &have);
	return rc == 1 ? 0 : 3;
}

static void test_handshake(void)
{
	static struct side a, b;
	struct ccmap_key k1, k2;
	struct ccmap_msg err_msg;
	struct ccmap_err err;
	const char *h1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	const char *h2 = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	int step;

	ccmap_key_parse(h1, strlen(h1), &k1, &err);
	ccmap_key_parse(h2, strlen(h2), &k2, &err);

	setup(&a, &b, &k1, &k1, 2, 1u << 1);
	step = run_hs(&a, &b, &err_msg);
	OK(step == 0 && a.hs.state == CCMAP_HS_DONE && b.hs.state == CCMAP_HS_DONE &&
	   a.hs.peer == 2 && b.hs.peer == 1 && a.hs.peer_incarnation == 22 &&
	   b.hs.peer_incarnation == 11, "handshake succeeds with the same key");
	OK(!memcmp(a.hs.tx_key.key, b.hs.rx_key.key, 32) &&
	   !memcmp(a.hs.rx_key.key, b.hs.tx_key.key, 32) &&
	   memcmp(a.hs.tx_key.key, a.hs.rx_key.key, 32),
	   "session keys agree crosswise and differ per direction");
	{
		/* a MAC'd frame from A decodes at B with B's rx key only */
		static uint8_t f[CCMAP_MAX_FRAME];
		struct ccmap_msg m, d;
		long n;

		sample(&m, CCMAP_T_WRITE_REQ, 0);
		n = ccmap_encode(&m, &a.hs.tx_key, f, sizeof(f), &err);
		OK(ccmap_decode(f, (size_t)n, &b.hs.rx_key, true, &d, NULL, &err) == 0 &&
		   ccmap_decode(f, (size_t)n, &b.hs.tx_key, true, &d, NULL, &err) == -CCMAP_E_BAD_MAC,
		   "post-handshake frame verifies with the direction key only (no reflection)");
	}
	{
		/* two runs with fresh nonces give different session keys */
		static struct side a2, b2;
		struct ccmap_mac_key old = a.hs.tx_key;

		setup(&a2, &b2, &k1, &k1, 2, 1u << 1);
		OK(run_hs(&a2, &b2, &err_msg) == 0 && memcmp(old.key, a2.hs.tx_key.key, 32),
		   "fresh nonces give fresh session keys");
	}

	/* different key on B: A detects B cannot prove the key */
	setup(&a, &b, &k1, &k2, 2, 1u << 1);
	memset(&err_msg, 0, sizeof(err_msg));
	step = run_hs(&a, &b, &err_msg);
	OK(step == 2 && a.hs.state == CCMAP_HS_FAILED && a.hs.err.code == CCMAP_E_AUTH &&
	   strstr(a.hs.err.msg, "node 2 failed to prove the cluster key"),
	   "wrong key on responder: initiator refuses: %s", a.hs.err.msg);
	OK(b.hs.state == CCMAP_HS_FAILED && err_msg.hdr.type == CCMAP_T_ERROR &&
	   strstr(b.hs.err.msg, "refused"), "responder learns why: %s", b.hs.err.msg);

	/* initiator without the key, forging AUTH: B refuses */
	{
		static struct ccmap_msg out, in;
		bool have;
		int rc;

		setup(&a, &b, &k1, &k1, 2, 1u << 1);
		ccmap_hs_hello(&a.hs, &out);
		wire(&a, &b, &out, &in);
		ccmap_hs_step(&b.hs, &in, &out, &have);
		wire(&b, &a, &out, &in);
		/* attacker does not know the key: sends some proof */
		ccmap_msg_init(&out, CCMAP_T_AUTH, 1, 0, 0);
		memset(out.u.auth.proof, 0x5a, 32);
		wire(&a, &b, &out, &in);
		rc = ccmap_hs_step(&b.hs, &in, &out, &have);
		OK(rc == -CCMAP_E_AUTH && have && out.hdr.type == CCMAP_T_ERROR &&
		   strstr(b.hs.err.msg, "node 1 failed to prove"),
		   "forged AUTH refused by responder: %s", b.hs.err.msg);
	}
	/* replayed HELLO_ACK from an earlier session (other nonce_a) */
	{
		static struct ccmap_msg out, in, old_ack;
		static struct side a1, b1;
		bool have;
		int rc;

		setup(&a1, &b1, &k1, &k1, 2, 1u << 1);
		ccmap_hs_hello(&a1.hs, &out);
		wire(&a1, &b1, &out, &in);
		ccmap_hs_step(&b1.hs, &in, &out, &have);
		old_ack = out;
		setup(&a, &b, &k1, &k1, 2, 1u << 1);
		ccmap_hs_hello(&a.hs, &out);
		old_ack.hdr.seq = 0;
		wire(&b, &a, &old_ack, &in);
		rc = ccmap_hs_step(&a.hs, &in, &out, &have);
		OK(rc == -CCMAP_E_AUTH, "replayed HELLO_ACK refused: %s", a.hs.err.msg);
	}
	/* share size mismatch: clear error on both sides */
	shares_b[0].size = 2 << 20;
	setup(&a, &b, &k1, &k1, 2, 1u << 1);
	memset(&err_msg, 0, sizeof(err_msg));
	step = run_hs(&a, &b, &err_msg);
	shares_b[0].size = 1 << 20;
	OK(step == 1 && b.hs.err.code == CCMAP_E_SHARE_MISMATCH &&
	   !strcmp(b.hs.err.msg, "share list mismatch: share 'data' is 2097152 bytes on node 2 "
		   "but 1048576 bytes on node 1"), "share size mismatch refused: %s", b.hs.err.msg);
	OK(err_msg.hdr.type == CCMAP_T_ERROR && err_msg.u.error.code == CCMAP_E_SHARE_MISMATCH &&
	   a.hs.state == CCMAP_HS_FAILED &&
	   strstr(a.hs.err.msg, "node 2 refused the connection: share list mismatch: share "
		  "'data' is 2097152 bytes on node 2 but 1048576 bytes on node 1"),
	   "initiator reports the refusal: %s", a.hs.err.msg);
	/* share name / count mismatch */
	{
		struct ccmap_share_desc x[2] = { { "data", 4096 }, { "other", 4096 } };
		struct ccmap_share_desc y[1] = { { "data", 4096 } };

		OK(ccmap_shares_compare(x, 2, 1, x, 2, 3, &err) == 0, "identical share lists match");
		OK(ccmap_shares_compare(x, 2, 1, y, 1, 3, &err) == -CCMAP_E_SHARE_MISMATCH &&
		   strstr(err.msg, "node 1 has 2 shares, node 3 has 1 (first unmatched: 'other')"),
		   "share count mismatch: %s", err.msg);
		strcpy(y[0].name, "dota");
		OK(ccmap_shares_compare(x, 2, 1, y, 1, 3, &err) == -CCMAP_E_SHARE_MISMATCH &&
		   strstr(err.msg, "share #0 is 'data' on node 1 but 'dota' on node 3"),
		   "share name mismatch: %s", err.msg);
	}
	/* unknown peer and wrong destination */
	setup(&a, &b, &k1, &k1, 2, 1u << 3);
	step = run_hs(&a, &b, &err_msg);
	OK(step == 1 && strstr(b.hs.err.msg, "not a configured peer"),
	   "HELLO from an unconfigured node refused: %s", b.hs.err.msg);
	setup(&a, &b, &k1, &k1, 5, 1u << 1);
	step = run_hs(&a, &b, &err_msg);
	OK(step == 1 && strstr(b.hs.err.msg, "thinks it is talking to node 5"),
	   "HELLO for another node refused: %s", b.hs.err.msg);
	/* out-of-order handshake messages */
	{
		static struct ccmap_msg out, in;
		bool have;

		setup(&a, &b, &k1, &k1, 2, 1u << 1);
		ccmap_msg_init(&in, CCMAP_T_READ_REQ, 1, 0, 0);
		OK(ccmap_hs_step(&b.hs, &in, &out, &have) == -CCMAP_E_PROTOCOL &&
		   strstr(b.hs.err.msg, "unexpected READ_REQ"),
		   "data frame before authentication refused: %s", b.hs.err.msg);
	}
	{
		struct ccmap_hs hs;
		struct ccmap_hs_params p = { .key = NULL };

		OK(ccmap_hs_init(&hs, CCMAP_HS_INITIATOR, &p, NULL) == -CCMAP_E_INVAL,
		   "handshake without key refused");
	}
}

int main(void)
{
	for (int i = 0; i < CCMAP_PAGE_SIZE; i++) {
		page_a[i] = (uint8_t)(i * 31 + 7);
		page_b[i] = (uint8_t)(i ^ 0x5a);
	}
	test_crc();
	test_roundtrip();
	test_decode_errors();
	test_reassembly();
	test_hmac_and_key();
	test_handshake();
	printf("1..%d\n", tests);
	if (failures)
		printf("# %d of %d tests failed\n", failures, tests);
	return failures ? 1 : 0;
}
