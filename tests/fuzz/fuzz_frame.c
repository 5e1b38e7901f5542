// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: frame decoder, stream reassembly and handshake steps.
 *
 * Input: byte 0 = mode bits (bit 0: decode with the MAC key, bit 1: require
 * MAC, bits 2-7: chunk size seed), rest = bytes received from a peer.
 * Oracles besides the sanitizers:
 *   - a frame the decoder accepts re-encodes to exactly the same bytes
 *     (the encoding is canonical, so nothing is ignored or misread);
 *   - one-shot decoding and stream reassembly accept the same frames;
 *   - decoded handshake frames never crash the handshake state machine;
 *   - decoded RESUME and ACK frames applied to a session with messages in
 *     flight either are refused or leave its queue consistent.
 *
 * Build: clang-19 -fsanitize=fuzzer,address,undefined -Iloader/include \
 *          loader/lib/\*.c tests/fuzz/fuzz_frame.c -lcrypto -lz
 * Seeds: tests/fuzz/corpus/frame/, made by building this file with
 *   -DCCMAP_GEN_CORPUS (gives a main() that writes them).
 */
#include <ccmap/auth.h>
#include <ccmap/proto.h>
#include <ccmap/session.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ccmap_mac_key fkey = { .key = "fuzz-session-key-0123456789abcd" };

static void check_canonical(const uint8_t *f, size_t len, const struct ccmap_msg *m)
{
	static uint8_t out[CCMAP_MAX_FRAME];
	long n = ccmap_encode(m, (m->hdr.flags & CCMAP_F_MAC) ? &fkey : NULL, out,
			      sizeof(out), NULL);

	if (n < 0 || (size_t)n != len || memcmp(out, f, len)) {
		fprintf(stderr, "accepted frame (%s, %zu bytes) re-encodes differently (%ld)\n",
			ccmap_type_name(m->hdr.type), len, n);
		abort();
	}
}

static void poke_handshake(const struct ccmap_msg *m)
{
	static struct ccmap_hs hs;
	static struct ccmap_msg out;
	static const struct ccmap_key key = { .len = 32, .bytes = "fuzz-cluster-key-0123456789abcd" };
	static const struct ccmap_share_desc sh[1] = { { "data", 1 << 20 } };
	static const uint8_t nonce[CCMAP_NONCE_LEN] = { 1, 2, 3 };
	struct ccmap_hs_params p = { .key = &key, .self = 2, .peer = 1, .allowed_peers = ~0ull,
				     .incarnation = 5, .n_shares = 1, .shares = sh };
	bool have;

	if (m->hdr.type == CCMAP_T_HELLO || m->hdr.type == CCMAP_T_AUTH) {
		if (ccmap_hs_init(&hs, CCMAP_HS_RESPONDER, &p, nonce))
			abort();
		ccmap_hs_step(&hs, m, &out, &have);
	} else if (m->hdr.type == CCMAP_T_HELLO_ACK || m->hdr.type == CCMAP_T_ERROR) {
		p.self = 1;
		p.peer = 2;
		if (ccmap_hs_init(&hs, CCMAP_HS_INITIATOR, &p, nonce) || ccmap_hs_hello(&hs, &out))
			abort();
		ccmap_hs_step(&hs, m, &out, &have);
	} else {
		return;
	}
	if (have) {
		static uint8_t buf[CCMAP_MAX_FRAME];

		if (ccmap_encode(&out, NULL, buf, sizeof(buf), NULL) < 0) {
			fprintf(stderr, "handshake produced an unencodable %s\n",
				ccmap_type_name(out.hdr.type));
			abort();
		}
	}
}

static void poke_session(const struct ccmap_msg *m)
{
	struct ccmap_sess s = { 0 };
	struct ccmap_msg q;
	struct ccmap_err err;
	int rc;

	if (m->hdr.type != CCMAP_T_RESUME && m->hdr.type != CCMAP_T_ACK)
		return;
	ccmap_sess_init(&s, 11, 9);
	for (unsigned i = 0; i < 5; i++) {
		ccmap_msg_init(&q, CCMAP_T_READ_REQ, 1, 0, i);
		if (ccmap_sess_push(&s, &q) != (long)i + 1)
			abort();
		if (i < 3)
			ccmap_sess_xmitted(&s);
	}
	if (m->hdr.type == CCMAP_T_RESUME)
		rc = ccmap_sess_resume(&s, m->u.sess.delivered, &err);
	else
		rc = ccmap_sess_ack(&s, m->u.sess.delivered, &err);
	/* 3 were written: only 0..3 can have been delivered */
	if ((rc == 0) != (m->u.sess.delivered <= 3) ||
	    s.qlen != 5 - (rc == 0 ? m->u.sess.delivered : 0))
		abort();
	ccmap_sess_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ccmap_rx rx;
	static struct ccmap_msg m;
	struct ccmap_err err;
	const struct ccmap_mac_key *key;
	bool req_mac;
	unsigned chunk_seed;
	size_t off, accepted_oneshot = 0, accepted_stream = 0;

	if (size < 1)
		return 0;
	key = (data[0] & 1) ? &fkey : NULL;
	req_mac = data[0] & 2;
	chunk_seed = data[0] >> 2;
	data++;
	size--;

	/* one-shot decoding of consecutive frames */
	off = 0;
	while (off < size) {
		size_t used = 0;
		struct ccmap_hdr h;

		ccmap_decode_header(data + off, size - off, &h, &err);
		if (ccmap_decode(data + off, size - off, key, req_mac, &m, &used, &err))
			break;
		if (used == 0 || used > size - off)
			abort();
		check_canonical(data + off, used, &m);
		poke_handshake(&m);
		poke_session(&m);
		off += used;
		accepted_oneshot++;
	}

	/* the same bytes through the reassembler in varying chunks */
	ccmap_rx_init(&rx);
	rx.check_seq = false;
	rx.mac = key;
	rx.require_mac = req_mac;
	off = 0;
	for (unsigned i = 0; off < size; i++) {
		size_t chunk = 1 + ((chunk_seed * 131 + i * 17) % 97) * (1 + chunk_seed % 50);
		int rc;

		if (chunk > size - off)
			chunk = size - off;
		off += ccmap_rx_feed(&rx, data + off, chunk);
		while ((rc = ccmap_rx_next(&rx, &m)) == 1)
			accepted_stream++;
		if (rc < 0)
			break;
		if (ccmap_rx_space(&rx) == 0)
			abort(); /* would stall a connection */
	}
	/* every frame accepted one-shot is accepted by the stream too, and the
	 * stream never accepts a frame the one-shot decoder refused */
	if (accepted_stream != accepted_oneshot) {
		fprintf(stderr, "one-shot accepted %zu frames, stream %zu\n", accepted_oneshot,
			accepted_stream);
		abort();
	}
	return 0;
}

#ifdef CCMAP_GEN_CORPUS
/* Writes the seed corpus: valid frames of every type (with and without MAC,
 * single and concatenated) and a few malformed ones. */
static void put(const char *dir, const char *name, uint8_t mode, const uint8_t *b, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 || fwrite(b, 1, n, f) != n)
		exit(1);
	fclose(f);
}

int main(int argc, char **argv)
{
	static uint8_t page[CCMAP_PAGE_SIZE], buf[CCMAP_MAX_FRAME], all[24 * CCMAP_MAX_FRAME];
	static const unsigned types[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 18, 19, 20, 21, 22,
					  23, 24, 25, 26 };
	const char *dir = argc > 1 ? argv[1] : ".";
	size_t alln = 0;
	struct ccmap_msg m;
	char name[64];

	for (int i = 0; i < CCMAP_PAGE_SIZE; i++)
		page[i] = (uint8_t)(i * 7);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (int mac = 0; mac < 2; mac++) {
			long n;

			ccmap_msg_init(&m, types[t], 3, t, 100 + t);
			switch (types[t]) {
			case CCMAP_T_HELLO:
			case CCMAP_T_HELLO_ACK:
				m.u.hello.to_node = 2;
				m.u.hello.incarnation = 9;
				m.u.hello.n_shares = 1;
				strcpy(m.u.hello.shares[0].name, "data");
				m.u.hello.shares[0].size = 1 << 20;
				break;
			case CCMAP_T_ERROR:
				m.u.error.code = CCMAP_E_SHARE_MISMATCH;
				m.u.error.share = CCMAP_NO_SHARE;
				m.u.error.page = CCMAP_NO_PAGE;
				strcpy(m.u.error.reason, "share list mismatch");
				break;
			case CCMAP_T_RESUME:
			case CCMAP_T_ACK:
				m.u.sess.from_inc = 9;
				m.u.sess.to_inc = 11;
				m.u.sess.delivered = 1234;
				m.u.sess.flags = types[t] == CCMAP_T_RESUME ? CCMAP_RESUME_F_FRESH : 0;
				break;
			case CCMAP_T_GRANT:
				m.u.grant.mode = CCMAP_MODE_E;
				m.u.grant.gflags = CCMAP_GRANT_F_DATA;
				m.u.grant.data = page;
				m.u.grant.page = 5;
				break;
			case CCMAP_T_INVALIDATE:
			case CCMAP_T_DOWNGRADE:
			case CCMAP_T_FETCH:
				m.u.fwd.requester = 1;
				break;
			case CCMAP_T_DOWNGRADE_ACK:
			case CCMAP_T_FETCH_ACK:
			case CCMAP_T_WRITEBACK:
				m.u.ack.data = page;
				break;
			}
			n = ccmap_encode(&m, mac ? &fkey : NULL, buf, sizeof(buf), NULL);
			if (n < 0)
				return 1;
			snprintf(name, sizeof(name), "%s%s", ccmap_type_name(types[t]),
				 mac ? "_mac" : "");
			put(dir, name, mac ? 3 : 0, buf, (size_t)n);
			if (!mac && alln + (size_t)n <= sizeof(all)) {
				memcpy(all + alln, buf, (size_t)n);
				alln += (size_t)n;
			}
			if (types[t] == CCMAP_T_READ_REQ && !mac) {
				buf[5] = 99; /* unknown type, stale CRC */
				put(dir, "bad_type_crc", 0, buf, (size_t)n);
				put(dir, "truncated", 0, buf, 30);
			}
		}
	}
	put(dir, "stream_all_types", 0x40, all, alln);
	put(dir, "http", 0, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18);
	return 0;
}
#endif
