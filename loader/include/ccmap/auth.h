/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cluster key and the mutual-authentication handshake between agents.
 *
 *   A (initiator, dials)                      B (responder, accepts)
 *   HELLO     {to=B, incarnation, nonce_a, shares}  ------>
 *             <------  HELLO_ACK {to=A, incarnation, nonce_b, shares, proof_b}
 *   AUTH      {proof_a}                             ------>
 *
 *   T_h    = canonical HELLO payload, T_a = HELLO_ACK payload without proof
 *   proof_b = HMAC(K, "ccmap/1 responder" | A | B | len T_h | T_h | len T_a | T_a)
 *   proof_a = HMAC(K, "ccmap/1 initiator" | A | B | len T_h | T_h | len T_a | T_a | proof_b)
 *   key A->B = HMAC(K, "ccmap/1 key a2b" | same transcript as proof_a | proof_a)
 *   key B->A = HMAC(K, "ccmap/1 key b2a" | ...)
 *
 * Both proofs cover both nonces, both node ids and both share lists, so a
 * replayed or altered handshake fails.  After AUTH every frame in both
 * directions carries an HMAC-SHA256 trailer with the direction's key (see
 * proto.h); the sequence numbers inside the MAC stop replay and reordering.
 * A share-list difference is refused with a clear reason in an ERROR frame.
 */
#ifndef CCMAP_AUTH_H
#define CCMAP_AUTH_H

#include <ccmap/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CCMAP_KEY_MIN 32   /* bytes */
#define CCMAP_KEY_MAX 128

/* Shared cluster key.  Key file: 64..256 hex digits (32..128 bytes) and
 * optional surrounding whitespace; must not be readable by group/others. */
struct ccmap_key {
	size_t  len;
	uint8_t bytes[CCMAP_KEY_MAX];
};

int ccmap_key_parse(const char *text, size_t len, struct ccmap_key *k,
		    struct ccmap_err *err);
int ccmap_key_load(const char *path, struct ccmap_key *k, struct ccmap_err *err);

/* HMAC-SHA256 over the concatenation of n pieces; 0 or -CCMAP_E_AUTH. */
struct ccmap_iov { const void *p; size_t n; };
int ccmap_hmac_sha256(const uint8_t *key, size_t klen, const struct ccmap_iov *v,
		      size_t n, uint8_t out[32]);

/* Constant-time equality of two 32-byte values. */
bool ccmap_mac_equal(const uint8_t a[32], const uint8_t b[32]);

enum ccmap_hs_role { CCMAP_HS_INITIATOR = 1, CCMAP_HS_RESPONDER = 2 };

enum ccmap_hs_state {
	CCMAP_HS_START = 0,    /* initiator: call ccmap_hs_hello() */
	CCMAP_HS_WAIT_HELLO,   /* responder waits for HELLO */
	CCMAP_HS_WAIT_ACK,     /* initiator waits for HELLO_ACK */
	CCMAP_HS_WAIT_AUTH,    /* responder waits for AUTH */
	CCMAP_HS_DONE,
	CCMAP_HS_FAILED,
};

struct ccmap_hs_params {
	const struct ccmap_key *key;
	uint16_t self;
	uint16_t peer;              /* initiator: node dialled; responder: ignored */
	uint64_t allowed_peers;     /* responder: bitmap of node ids it accepts */
	uint64_t incarnation;       /* nonzero, random per agent start */
	uint16_t n_shares;
	const struct ccmap_share_desc *shares;
};

#define CCMAP_HS_TRANSCRIPT_MAX CCMAP_MAX_PAYLOAD

struct ccmap_hs {
	struct ccmap_hs_params p;
	struct ccmap_share_desc shares[CCMAP_MAX_SHARES];
	int      role;
	int      state;
	uint16_t peer;              /* authenticated peer id once DONE */
	uint64_t peer_incarnation;
	uint8_t  nonce[CCMAP_NONCE_LEN];
	uint8_t  t_hello[CCMAP_HS_TRANSCRIPT_MAX];
	size_t   t_hello_len;
	uint8_t  t_ack[CCMAP_HS_TRANSCRIPT_MAX];   /* without proof */
	size_t   t_ack_len;
	uint8_t  proof_b[CCMAP_PROOF_LEN];
	struct ccmap_mac_key tx_key; /* valid once DONE */
	struct ccmap_mac_key rx_key;
	struct ccmap_err err;        /* why it FAILED */
};

/*
 * Set up a handshake.  nonce may be NULL (random from OpenSSL's RAND_bytes)
 * or point to CCMAP_NONCE_LEN bytes (tests, fuzzing).  Returns 0 or -code.
 */
int ccmap_hs_init(struct ccmap_hs *hs, int role, const struct ccmap_hs_params *p,
		  const uint8_t *nonce);

/* Initiator: build the HELLO to send (header seq/req_id left 0). */
int ccmap_hs_hello(struct ccmap_hs *hs, struct ccmap_msg *out);

/*
 * Feed a received frame.  Returns 0 (continue), 1 (handshake complete; keys
 * valid) or -code (failed; hs->err says why).  When *have_out is set, *out
 * must be sent (HELLO_ACK, AUTH, or an ERROR telling the peer why it was
 * refused).
 */
int ccmap_hs_step(struct ccmap_hs *hs, const struct ccmap_msg *in,
		  struct ccmap_msg *out, bool *have_out);

/*
 * Compare two share lists; on mismatch returns -CCMAP_E_SHARE_MISMATCH with
 * err describing the first difference ("share list mismatch: share 'data'
 * is 1048576 bytes on node 1 but 2097152 bytes on node 2").
 */
int ccmap_shares_compare(const struct ccmap_share_desc *mine, unsigned n_mine,
			 uint16_t self, const struct ccmap_share_desc *theirs,
			 unsigned n_theirs, uint16_t peer, struct ccmap_err *err);

#ifdef __cplusplus
}
#endif
#endif /* CCMAP_AUTH_H */
