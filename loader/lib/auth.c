// SPDX-License-Identifier: GPL-2.0
/*
 * Cluster key loading, HMAC-SHA256 (OpenSSL EVP_MAC) and the HELLO /
 * HELLO_ACK / AUTH mutual authentication handshake.  See auth.h.
 */
#include <ccmap/auth.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>


/* ---- key ------------------------------------------------------------------ */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int ccmap_key_parse(const char *t, size_t len, struct ccmap_key *k,
		    struct ccmap_err *err)
{
	size_t b = 0, e = len, digits;

	while (b < e && is_space(t[b]))
		b++;
	while (e > b && is_space(t[e - 1]))
		e--;
	digits = e - b;
	if (digits == 0)
		return ccmap_fail(err, CCMAP_E_INVAL, "key is empty");
	for (size_t i = b; i < e; i++)
		if (hexval(t[i]) < 0)
			return ccmap_fail(err, CCMAP_E_INVAL,
				    "key has a non-hex character at offset %zu", i);
	if (digits % 2)
		return ccmap_fail(err, CCMAP_E_INVAL, "key has an odd number of hex digits (%zu)",
			    digits);
	if (digits / 2 < CCMAP_KEY_MIN || digits / 2 > CCMAP_KEY_MAX)
		return ccmap_fail(err, CCMAP_E_INVAL,
			    "key is %zu bytes, must be %d to %d bytes (%d to %d hex digits)",
			    digits / 2, CCMAP_KEY_MIN, CCMAP_KEY_MAX, 2 * CCMAP_KEY_MIN,
			    2 * CCMAP_KEY_MAX);
	k->len = digits / 2;
	for (size_t i = 0; i < k->len; i++)
		k->bytes[i] = (uint8_t)(hexval(t[b + 2 * i]) << 4 | hexval(t[b + 2 * i + 1]));
	return 0;
}

int ccmap_key_load(const char *path, struct ccmap_key *k, struct ccmap_err *err)
{
	char buf[2 * CCMAP_KEY_MAX + 64];
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ccmap_fail(err, CCMAP_E_IO, "%s: cannot open key file: %s", path,
			    strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = ccmap_fail(err, CCMAP_E_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = ccmap_fail(err, CCMAP_E_INVAL, "%s: key file is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = ccmap_fail(err, CCMAP_E_INVAL,
			  "%s: key file is accessible by group/others (mode %03o); chmod 600 it",
			  path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	while (got < sizeof(buf)) {
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ccmap_fail(err, CCMAP_E_IO, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == sizeof(buf)) {
		rc = ccmap_fail(err, CCMAP_E_INVAL, "%s: key file too long", path);
		goto out;
	}
	rc = ccmap_key_parse(buf, got, k, err);
	if (rc && err) {
		char tmp[sizeof(err->msg)];

		if (snprintf(tmp, sizeof(tmp), "%s: %s", path, err->msg) < 0)
			tmp[0] = 0;
		memcpy(err->msg, tmp, sizeof(tmp));
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* ---- HMAC ----------------------------------------------------------------- */

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_init(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int ccmap_hmac_sha256(const uint8_t *key, size_t klen, const struct ccmap_iov *v,
		      size_t n, uint8_t out[32])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	size_t olen = 0;
	int ok;

	pthread_once(&hmac_once, hmac_init);
	if (!hmac_alg)
		return -CCMAP_E_AUTH;
	ctx = EVP_MAC_CTX_new(hmac_alg);
	if (!ctx)
		return -CCMAP_E_NOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, key, klen, params);
	for (size_t i = 0; ok && i < n; i++)
		if (v[i].n)
			ok = EVP_MAC_update(ctx, v[i].p, v[i].n);
	if (ok)
		ok = EVP_MAC_final(ctx, out, &olen, 32);
	EVP_MAC_CTX_free(ctx);
	return ok && olen == 32 ? 0 : -CCMAP_E_AUTH;
}

bool ccmap_mac_equal(const uint8_t a[32], const uint8_t b[32])
{
	return CRYPTO_memcmp(a, b, 32) == 0;
}

/* ---- share lists ---------------------------------------------------------- */

int ccmap_shares_compare(const struct ccmap_share_desc *mine, unsigned n_mine,
			 uint16_t self, const struct ccmap_share_desc *theirs,
			 unsigned n_theirs, uint16_t peer, struct ccmap_err *err)
{
	unsigned n = n_mine < n_theirs ? n_mine : n_theirs;

	for (unsigned i = 0; i < n; i++) {
		if (strcmp(mine[i].name, theirs[i].name))
			return ccmap_fail(err, CCMAP_E_SHARE_MISMATCH,
				    "share list mismatch: share #%u is '%s' on node %u but "
				    "'%s' on node %u", i, mine[i].name, self, theirs[i].name, peer);
		if (mine[i].size != theirs[i].size)
			return ccmap_fail(err, CCMAP_E_SHARE_MISMATCH,
				    "share list mismatch: share '%s' is %llu bytes on node %u "
				    "but %llu bytes on node %u", mine[i].name,
				    (unsigned long long)mine[i].size, self,
				    (unsigned long long)theirs[i].size, peer);
	}
	if (n_mine != n_theirs)
		return ccmap_fail(err, CCMAP_E_SHARE_MISMATCH,
			    "share list mismatch: node %u has %u shares, node %u has %u "
			    "(first unmatched: '%s')", self, n_mine, peer, n_theirs,
			    n_mine > n_theirs ? mine[n].name : theirs[n].name);
	return 0;
}

/* ---- handshake ------------------------------------------------------------ */

static void hs_fail_msg(struct ccmap_hs *hs, struct ccmap_msg *out, bool *have_out)
{
	hs->state = CCMAP_HS_FAILED;
	if (!out || !have_out)
		return;
	ccmap_msg_init(out, CCMAP_T_ERROR, hs->p.self, 0, 0);
	out->u.error.code = (uint16_t)hs->err.code;
	out->u.error.share = CCMAP_NO_SHARE;
	out->u.error.page = CCMAP_NO_PAGE;
	if (snprintf(out->u.error.reason, sizeof(out->u.error.reason), "%s",
		     hs->err.msg) < 0)
		out->u.error.reason[0] = 0;
	/* keep only printable ASCII */
	for (char *c = out->u.error.reason; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	*have_out = true;
}

int ccmap_hs_init(struct ccmap_hs *hs, int role, const struct ccmap_hs_params *p,
		  const uint8_t *nonce)
{
	memset(hs, 0, sizeof(*hs));
	hs->state = CCMAP_HS_FAILED;
	if (!p || !p->key || p->key->len < CCMAP_KEY_MIN || p->key->len > CCMAP_KEY_MAX)
		return ccmap_fail(&hs->err, CCMAP_E_INVAL, "handshake needs a cluster key");
	if (p->self > CCMAP_MAX_NODE_ID)
		return ccmap_fail(&hs->err, CCMAP_E_INVAL, "own node id %u out of range", p->self);
	if (role == CCMAP_HS_INITIATOR && (p->peer > CCMAP_MAX_NODE_ID || p->peer == p->self))
		return ccmap_fail(&hs->err, CCMAP_E_INVAL, "peer node id %u invalid", p->peer);
	if (role != CCMAP_HS_INITIATOR && role != CCMAP_HS_RESPONDER)
		return ccmap_fail(&hs->err, CCMAP_E_INVAL, "bad handshake role %d", role);
	if (p->incarnation == 0 || p->n_shares > CCMAP_MAX_SHARES ||
	    (p->n_shares && !p->shares))
		return ccmap_fail(&hs->err, CCMAP_E_INVAL, "bad handshake parameters");
	hs->p = *p;
	memcpy(hs->shares, p->shares, p->n_shares * sizeof(*p->shares));
	hs->p.shares = hs->shares;
	hs->role = role;
	if (nonce)
		memcpy(hs->nonce, nonce, CCMAP_NONCE_LEN);
	else if (RAND_bytes(hs->nonce, CCMAP_NONCE_LEN) != 1)
		return ccmap_fail(&hs->err, CCMAP_E_AUTH, "RAND_bytes failed");
	hs->peer = role == CCMAP_HS_INITIATOR ? p->peer : CCMAP_NODE_NONE;
	hs->state = role == CCMAP_HS_INITIATOR ? CCMAP_HS_START : CCMAP_HS_WAIT_HELLO;
	return 0;
}

static void fill_hello(const struct ccmap_hs *hs, struct ccmap_hello *h, uint16_t to)
{
	h->to_node = to;
	h->n_shares = hs->p.n_shares;
	h->incarnation = hs->p.incarnation;
	memcpy(h->nonce, hs->nonce, CCMAP_NONCE_LEN);
	memcpy(h->shares, hs->shares, hs->p.n_shares * sizeof(hs->shares[0]));
}

int ccmap_hs_hello(struct ccmap_hs *hs, struct ccmap_msg *out)
{
	long n;

	if (hs->role != CCMAP_HS_INITIATOR || hs->state != CCMAP_HS_START)
		return ccmap_fail(&hs->err, CCMAP_E_PROTOCOL, "HELLO not expected in this state");
	ccmap_msg_init(out, CCMAP_T_HELLO, hs->p.self, 0, 0);
	fill_hello(hs, &out->u.hello, hs->p.peer);
	n = ccmap_encode_payload(out, hs->t_hello, sizeof(hs->t_hello), &hs->err);
	if (n < 0) {
		hs->state = CCMAP_HS_FAILED;
		return (int)n;
	}
	hs->t_hello_len = (size_t)n;
	hs->state = CCMAP_HS_WAIT_ACK;
	return 0;
}

/* Ids of the initiator (a) and responder (b). */
static void ids(const struct ccmap_hs *hs, uint8_t ab[4])
{
	uint16_t a = hs->role == CCMAP_HS_INITIATOR ? hs->p.self : hs->peer;
	uint16_t b = hs->role == CCMAP_HS_INITIATOR ? hs->peer : hs->p.self;

	ccmap_put_le16(ab, a);
	ccmap_put_le16(ab + 2, b);
}

/* HMAC(K, label | A | B | len T_h | T_h | len T_a | T_a [| extra]) */
static int transcript_mac(const struct ccmap_hs *hs, const char *label,
			  const uint8_t *extra, size_t extra_len, uint8_t out[32])
{
	uint8_t ab[4], lh[4], la[4];
	struct ccmap_iov v[8];

	ids(hs, ab);
	ccmap_put_le32(lh, (uint32_t)hs->t_hello_len);
	ccmap_put_le32(la, (uint32_t)hs->t_ack_len);
	v[0] = (struct ccmap_iov){ label, strlen(label) + 1 };
	v[1] = (struct ccmap_iov){ ab, 4 };
	v[2] = (struct ccmap_iov){ lh, 4 };
	v[3] = (struct ccmap_iov){ hs->t_hello, hs->t_hello_len };
	v[4] = (struct ccmap_iov){ la, 4 };
	v[5] = (struct ccmap_iov){ hs->t_ack, hs->t_ack_len };
	v[6] = (struct ccmap_iov){ extra, extra_len };
	return ccmap_hmac_sha256(hs->p.key->bytes, hs->p.key->len, v, 7, out);
}

static int derive_keys(struct ccmap_hs *hs, const uint8_t proof_a[32])
{
	uint8_t a2b[32], b2a[32];
	uint8_t both[64];

	memcpy(both, hs->proof_b, 32);
	memcpy(both + 32, proof_a, 32);
	if (transcript_mac(hs, "ccmap/1 key a2b", both, 64, a2b) ||
	    transcript_mac(hs, "ccmap/1 key b2a", both, 64, b2a))
		return -CCMAP_E_AUTH;
	if (hs->role == CCMAP_HS_INITIATOR) {
		memcpy(hs->tx_key.key, a2b, 32);
		memcpy(hs->rx_key.key, b2a, 32);
	} else {
		memcpy(hs->tx_key.key, b2a, 32);
		memcpy(hs->rx_key.key, a2b, 32);
	}
	OPENSSL_cleanse(a2b, sizeof(a2b));
	OPENSSL_cleanse(b2a, sizeof(b2a));
	return 0;
}

static int on_hello(struct ccmap_hs *hs, const struct ccmap_msg *in,
		    struct ccmap_msg *out, bool *have_out)
{
	const struct ccmap_hello *h = &in->u.hello;
	uint16_t from = in->hdr.sender;
	struct ccmap_msg probe;
	long n;

	if (from == hs->p.self || from > CCMAP_MAX_NODE_ID ||
	    !(hs->p.allowed_peers >> from & 1))
		return ccmap_fail(&hs->err, CCMAP_E_AUTH,
			    "HELLO from node %u, which is not a configured peer", from);
	if (h->to_node != hs->p.self)
		return ccmap_fail(&hs->err, CCMAP_E_AUTH,
			    "node %u thinks it is talking to node %u, but this is node %u",
			    from, h->to_node, hs->p.self);
	n = ccmap_encode_payload(in, hs->t_hello, sizeof(hs->t_hello), &hs->err);
	if (n < 0)
		return (int)n;
	hs->t_hello_len = (size_t)n;
	hs->peer = from;
	hs->peer_incarnation = h->incarnation;
	/* Refuse a share mismatch with a clear reason (sent in ERROR). */
	if (ccmap_shares_compare(hs->shares, hs->p.n_shares, hs->p.self, h->shares,
				 h->n_shares, from, &hs->err))
		return -CCMAP_E_SHARE_MISMATCH;

	ccmap_msg_init(out, CCMAP_T_HELLO_ACK, hs->p.self, 0, 0);
	fill_hello(hs, &out->u.hello, from);
	/* transcript of the ACK without its proof: encode as HELLO */
	probe = *out;
	probe.hdr.type = CCMAP_T_HELLO;
	n = ccmap_encode_payload(&probe, hs->t_ack, sizeof(hs->t_ack), &hs->err);
	if (n < 0)
		return (int)n;
	hs->t_ack_len = (size_t)n;
	if (transcript_mac(hs, "ccmap/1 responder", NULL, 0, hs->proof_b))
		return ccmap_fail(&hs->err, CCMAP_E_AUTH, "HMAC failed");
	memcpy(out->u.hello.proof, hs->proof_b, CCMAP_PROOF_LEN);
	*have_out = true;
	hs->state = CCMAP_HS_WAIT_AUTH;
	return 0;
}

static int on_hello_ack(struct ccmap_hs *hs, const struct ccmap_msg *in,
			struct ccmap_msg *out, bool *have_out)
{
	const struct ccmap_hello *h = &in->u.hello;
	struct ccmap_msg probe;
	uint8_t want[32], proof_a[32];
	long n;

	if (in->hdr.sender != hs->peer)
		return ccmap_fail(&hs->err, CCMAP_E_AUTH,
			    "HELLO_ACK from node %u, but node %u was dialled",
			    in->hdr.sender, hs->peer);
	if (h->to_node != hs->p.self)
		return ccmap_fail(&hs->err, CCMAP_E_AUTH,
			    "node %u thinks it is talking to node %u, but this is node %u",
			    in->hdr.sender, h->to_node, hs->p.self);
	probe = *in;
	probe.hdr.type = CCMAP_T_HELLO;
	n = ccmap_encode_payload(&probe, hs->t_ack, sizeof(hs->t_ack), &hs->err);
	if (n < 0)
		return (int)n;
	hs->t_ack_len = (size_t)n;
	if (transcript_mac(hs, "ccmap/1 responder", NULL, 0, want))
		return ccmap_fail(&hs->err, CCMAP_E_AUTH, "HMAC failed");
	if (!ccmap_mac_equal(want, h->proof))
		return ccmap_fail(&hs->err, CCMAP_E_AUTH,
			    "node %u failed to prove the cluster key (different key file?)",
			    hs->peer);
	memcpy(hs->proof_b, h->proof, 32);
	hs->peer_incarnation = h->incarnation;
	if (ccmap_shares_compare(hs->shares, hs->p.n_shares, hs->p.self, h->shares,
				 h->n_shares, hs->peer, &hs->err))
		return -CCMAP_E_SHARE_MISMATCH;
	if (transcript_mac(hs, "ccmap/1 initiator", hs->proof_b, 32, proof_a) ||
	    derive_keys(hs, proof_a))
		return ccmap_fail(&hs->err, CCMAP_E_AUTH, "HMAC failed");
	ccmap_msg_init(out, CCMAP_T_AUTH, hs->p.self, 0, 0);
	memcpy(out->u.auth.proof, proof_a, 32);
	*have_out = true;
	hs->state = CCMAP_HS_DONE;
	return 1;
}

static int on_auth(struct ccmap_hs *hs, const struct ccmap_msg *in)
{
	uint8_t want[32];

	if (in->hdr.sender != hs->peer)
		return ccmap_fail(&hs->err, CCMAP_E_AUTH, "AUTH from node %u, expected node %u",
			    in->hdr.sender, hs->peer);
	if (transcript_mac(hs, "ccmap/1 initiator", hs->proof_b, 32, want))
		return ccmap_fail(&hs->err, CCMAP_E_AUTH, "HMAC failed");
	if (!ccmap_mac_equal(want, in->u.auth.proof))
		return ccmap_fail(&hs->err, CCMAP_E_AUTH,
			    "node %u failed to prove the cluster key (different key file?)",
			    hs->peer);
	if (derive_keys(hs, in->u.auth.proof))
		return ccmap_fail(&hs->err, CCMAP_E_AUTH, "HMAC failed");
	hs->state = CCMAP_HS_DONE;
	return 1;
}

int ccmap_hs_step(struct ccmap_hs *hs, const struct ccmap_msg *in,
		  struct ccmap_msg *out, bool *have_out)
{
	int rc;

	*have_out = false;
	if (hs->state == CCMAP_HS_FAILED || hs->state == CCMAP_HS_DONE)
		return ccmap_fail(&hs->err, CCMAP_E_PROTOCOL, "handshake already finished");
	if (in->hdr.type == CCMAP_T_ERROR) {
		rc = ccmap_fail(&hs->err, in->u.error.code ? in->u.error.code : CCMAP_E_PROTOCOL,
			  "node %u refused the connection: %s", in->hdr.sender,
			  in->u.error.reason);
		hs->state = CCMAP_HS_FAILED;
		return rc;
	}
	if (hs->state == CCMAP_HS_WAIT_HELLO && in->hdr.type == CCMAP_T_HELLO)
		rc = on_hello(hs, in, out, have_out);
	else if (hs->state == CCMAP_HS_WAIT_ACK && in->hdr.type == CCMAP_T_HELLO_ACK)
		rc = on_hello_ack(hs, in, out, have_out);
	else if (hs->state == CCMAP_HS_WAIT_AUTH && in->hdr.type == CCMAP_T_AUTH)
		rc = on_auth(hs, in);
	else
		rc = ccmap_fail(&hs->err, CCMAP_E_PROTOCOL, "unexpected %s during handshake",
			  ccmap_type_name(in->hdr.type) ? ccmap_type_name(in->hdr.type)
							: "message");
	if (rc < 0) {
		*have_out = false;
		hs_fail_msg(hs, out, have_out);
	}
	return rc;
}
