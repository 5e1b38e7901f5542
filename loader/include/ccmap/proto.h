/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ccmap wire protocol between agents (ccmapd <-> ccmapd over TCP).
 *
 * Every frame is
 *
 *     header (40 bytes, little endian) | payload (payload_len bytes) | [MAC (32 bytes)]
 *
 * The full layout, every message type and the handshake are described in
 * docs/protocol.md; this header is the normative C view of it.
 *
 * Decoding never trusts a length: the header is checked (magic, version,
 * header length, flags, payload length against the per-type limits, header
 * CRC) before any payload byte is looked at, the payload CRC and, when
 * present, the MAC are checked before the payload is parsed, and the payload
 * parser checks every field and that the payload has exactly the length the
 * type needs.  Errors come back as a code plus a human-readable reason.
 */
#ifndef CCMAP_PROTO_H
#define CCMAP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants -------------------------------------------------------- */

#define CCMAP_MAGIC           0x504d4343u /* bytes "CCMP" on the wire */
#define CCMAP_PROTO_VERSION   2           /* 2: RESUME and ACK (the session) */
#define CCMAP_HDR_LEN         40
#define CCMAP_MAC_LEN         32          /* HMAC-SHA256 trailer */
#define CCMAP_PAGE_SIZE       4096
#define CCMAP_MAX_NODES       64          /* node ids 0..63, copyset is a u64 */
#define CCMAP_MAX_NODE_ID     (CCMAP_MAX_NODES - 1)
#define CCMAP_NODE_NONE       0xffffu
#define CCMAP_MAX_SHARES      32
#define CCMAP_SHARE_NAME_MAX  63          /* bytes, without NUL */
#define CCMAP_NONCE_LEN       32
#define CCMAP_PROOF_LEN       32
#define CCMAP_ERR_REASON_MAX  200         /* bytes of reason text in ERROR */
#define CCMAP_NO_VERSION      UINT64_MAX  /* "I hold no copy" in requests */
#define CCMAP_NO_PAGE         UINT64_MAX  /* ERROR not about a page */
#define CCMAP_NO_SHARE        0xffffu
/* Largest payload of any type (HELLO_ACK with CCMAP_MAX_SHARES shares). */
#define CCMAP_MAX_PAYLOAD     8192
#define CCMAP_MAX_FRAME       (CCMAP_HDR_LEN + CCMAP_MAX_PAYLOAD + CCMAP_MAC_LEN)

/* header flags */
#define CCMAP_F_MAC           0x0001u     /* 32-byte HMAC trailer present */
#define CCMAP_F_ALL           (CCMAP_F_MAC)

/* message types */
enum ccmap_msg_type {
	CCMAP_T_HELLO         = 1,
	CCMAP_T_HELLO_ACK     = 2,
	CCMAP_T_AUTH          = 3,
	CCMAP_T_ERROR         = 4,
	CCMAP_T_PING          = 5,
	CCMAP_T_PONG          = 6,
	CCMAP_T_BYE           = 7,
	CCMAP_T_RESUME        = 8,   /* session: first frame after AUTH */
	CCMAP_T_ACK           = 9,   /* session: cumulative acknowledgement */
	CCMAP_T_READ_REQ      = 16,
	CCMAP_T_WRITE_REQ     = 17,
	CCMAP_T_GRANT         = 18,
	CCMAP_T_INVALIDATE    = 19,
	CCMAP_T_INV_ACK       = 20,
	CCMAP_T_DOWNGRADE     = 21,
	CCMAP_T_DOWNGRADE_ACK = 22,
	CCMAP_T_FETCH         = 23,
	CCMAP_T_FETCH_ACK     = 24,
	CCMAP_T_WRITEBACK     = 25,
	CCMAP_T_WRITEBACK_ACK = 26,
	CCMAP_T_RECLAIM_DONE  = 27,  /* a restarted node sent all its RECLAIMs for a share */
	CCMAP_T_REHOME        = 28,  /* the sender re-homed the pages of the nodes in
	                                version (a bitmap): send it your copies */
};

/* page access modes carried by GRANT */
enum ccmap_mode { CCMAP_MODE_S = 1, CCMAP_MODE_E = 2 };

#define CCMAP_GRANT_F_DATA    0x01u       /* GRANT carries the page */

/* RESUME flags */
#define CCMAP_RESUME_F_FRESH  0x0001u     /* the sender has no session with the receiver */

/* WRITEBACK_ACK status */
enum ccmap_wb_status { CCMAP_WB_OK = 0, CCMAP_WB_STALE = 1 };
/* WRITEBACK flags: RECLAIM is the data of a previous incarnation's
 * Exclusive page (ccmap_dir_reclaim); with REHOME, a survivor's copy of a
 * page re-homed at the receiver after its home was lost, CURRENT if it was
 * held S or E at the loss (ccmap_dir_rehome_copy). */
#define CCMAP_WB_F_RECLAIM	0x0001u
#define CCMAP_WB_F_REHOME	0x0002u
#define CCMAP_WB_F_CURRENT	0x0004u
#define CCMAP_WB_F_ALL		(CCMAP_WB_F_RECLAIM | CCMAP_WB_F_REHOME | CCMAP_WB_F_CURRENT)

/* ---- error codes (returned negated by functions, carried in ERROR) ---- */

enum ccmap_errcode {
	CCMAP_OK              = 0,
	CCMAP_E_BAD_MAGIC     = 1,
	CCMAP_E_BAD_VERSION   = 2,
	CCMAP_E_TRUNCATED     = 3,
	CCMAP_E_OVERSIZED     = 4,
	CCMAP_E_UNKNOWN_TYPE  = 5,
	CCMAP_E_BAD_CHECKSUM  = 6,
	CCMAP_E_BAD_MAC       = 7,
	CCMAP_E_RANGE         = 8,  /* a field is out of range */
	CCMAP_E_BAD_LENGTH    = 9,  /* payload length wrong for the type */
	CCMAP_E_SEQUENCE      = 10, /* sequence number not the expected one */
	CCMAP_E_NOSPACE       = 11, /* output buffer too small */
	CCMAP_E_AUTH          = 12, /* authentication failed */
	CCMAP_E_SHARE_MISMATCH= 13, /* peer's share list differs */
	CCMAP_E_PROTOCOL      = 14, /* message not allowed in this state */
	CCMAP_E_NOT_HOME      = 15, /* page not homed at the receiver */
	CCMAP_E_NODE_DOWN     = 16, /* peer/home considered dead */
	CCMAP_E_INVAL         = 17, /* bad argument to a library call */
	CCMAP_E_NOMEM         = 18,
	CCMAP_E_IO            = 19,
	CCMAP_E_MAX
};

/* Text name of an error code ("bad magic", ...); never NULL. */
const char *ccmap_strerror(int code);

/* Name of a message type ("READ_REQ", ...) or NULL if unknown. */
const char *ccmap_type_name(unsigned type);

/* Error detail filled in by decode/encode/handshake functions. */
struct ccmap_err {
	int code;              /* enum ccmap_errcode */
	char msg[192];         /* human-readable reason, NUL terminated */
};

/* Fills err (if not NULL) with code and a formatted reason; returns -code. */
__attribute__((format(printf, 3, 4)))
int ccmap_fail(struct ccmap_err *err, int code, const char *fmt, ...);

/* ---- CRC32C (Castagnoli), implemented in crc32c.c --------------------- */

uint32_t ccmap_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t ccmap_crc32c_sw(uint32_t crc, const void *buf, size_t len); /* table only */
bool ccmap_crc32c_hw_available(void);
extern const uint32_t ccmap_crc32c_table[256];

/* ---- decoded messages ------------------------------------------------- */

struct ccmap_hdr {
	uint8_t  version;
	uint8_t  type;
	uint16_t flags;
	uint16_t hdr_len;
	uint16_t sender;       /* sender's node id */
	uint32_t payload_len;
	uint64_t seq;          /* per-connection, per-direction, from 0 */
	uint64_t req_id;       /* request id (requests, GRANT, ERROR) or
	                          transaction id (forwards and their acks) */
};

struct ccmap_share_desc {
	char     name[CCMAP_SHARE_NAME_MAX + 1];
	uint64_t size;         /* bytes, multiple of CCMAP_PAGE_SIZE, > 0 */
};

/* HELLO and HELLO_ACK (proof only in HELLO_ACK) */
struct ccmap_hello {
	uint16_t to_node;      /* node id the sender believes it talks to */
	uint16_t n_shares;
	uint64_t incarnation;  /* random per agent start; nonzero */
	uint8_t  nonce[CCMAP_NONCE_LEN];
	struct ccmap_share_desc shares[CCMAP_MAX_SHARES];
	uint8_t  proof[CCMAP_PROOF_LEN];   /* HELLO_ACK only */
};

struct ccmap_auth {
	uint8_t proof[CCMAP_PROOF_LEN];
};

/* READ_REQ / WRITE_REQ */
struct ccmap_req {
	uint16_t share;
	uint64_t page;
	uint64_t have_version; /* version of the S copy held, CCMAP_NO_VERSION if none */
};

struct ccmap_grant {
	uint16_t share;
	uint8_t  mode;         /* CCMAP_MODE_S / CCMAP_MODE_E */
	uint8_t  gflags;       /* CCMAP_GRANT_F_DATA */
	uint64_t page;
	uint64_t version;
	const uint8_t *data;   /* CCMAP_PAGE_SIZE bytes or NULL */
};

/* INVALIDATE / DOWNGRADE / FETCH (home -> holder) */
struct ccmap_fwd {
	uint16_t share;
	uint16_t requester;    /* informational: whose request caused it */
	uint64_t page;
	uint64_t version;      /* home's current version of the page */
};

/* INV_ACK (no data), DOWNGRADE_ACK, FETCH_ACK, WRITEBACK (with data) */
struct ccmap_pack {
	uint16_t share;
	uint16_t flags;        /* WRITEBACK: CCMAP_WB_F_*; 0 otherwise */
	uint64_t page;
	uint64_t version;
	const uint8_t *data;   /* CCMAP_PAGE_SIZE bytes, NULL for INV_ACK */
};

struct ccmap_wback_ack {
	uint16_t share;
	uint16_t status;       /* enum ccmap_wb_status */
	uint64_t page;
	uint64_t version;
};

struct ccmap_error_msg {
	uint16_t code;         /* enum ccmap_errcode */
	uint16_t share;        /* or CCMAP_NO_SHARE */
	uint64_t page;         /* or CCMAP_NO_PAGE */
	char     reason[CCMAP_ERR_REASON_MAX + 1];  /* printable ASCII */
};

struct ccmap_ping { uint64_t stamp; };

/* RESUME and ACK: the session above the connections (docs/protocol.md §3.1).
 * delivered = how many session messages of the receiver this node has
 * delivered in the session (from_inc, to_inc). */
struct ccmap_sessmsg {
	uint64_t from_inc;     /* sender's incarnation, nonzero */
	uint64_t to_inc;       /* receiver's incarnation as the sender knows it, nonzero */
	uint64_t delivered;
	uint16_t flags;        /* RESUME: CCMAP_RESUME_F_FRESH; ACK: 0 */
};
struct ccmap_bye  { uint16_t code; };

struct ccmap_msg {
	struct ccmap_hdr hdr;
	union {
		struct ccmap_hello      hello;
		struct ccmap_auth       auth;
		struct ccmap_req        req;
		struct ccmap_grant      grant;
		struct ccmap_fwd        fwd;
		struct ccmap_pack       ack;
		struct ccmap_wback_ack  wback;
		struct ccmap_error_msg  error;
		struct ccmap_ping       ping;
		struct ccmap_sessmsg    sess;
		struct ccmap_bye        bye;
	} u;
};

/* MAC key of an authenticated session (see auth.h for how it is derived). */
struct ccmap_mac_key {
	uint8_t key[32];
};

/* ---- encoding ---------------------------------------------------------- */

/*
 * Encode m into buf.  m->hdr.type, sender, seq and req_id are used; version,
 * hdr_len, payload_len and flags are computed (CCMAP_F_MAC is set iff mac is
 * not NULL).  All fields are range checked as the decoder would.
 * Returns the frame length (> 0) or -code with err filled in.
 */
long ccmap_encode(const struct ccmap_msg *m, const struct ccmap_mac_key *mac,
		  uint8_t *buf, size_t cap, struct ccmap_err *err);

/* Encoded payload only (no header), used for handshake transcripts. */
long ccmap_encode_payload(const struct ccmap_msg *m, uint8_t *buf, size_t cap,
			  struct ccmap_err *err);

/* Initialise m as a message of type with the common header fields. */
void ccmap_msg_init(struct ccmap_msg *m, unsigned type, uint16_t sender,
		    uint64_t seq, uint64_t req_id);

/* ---- decoding ---------------------------------------------------------- */

/*
 * Check the fixed header in buf[0..len).  Needs CCMAP_HDR_LEN bytes (less:
 * -CCMAP_E_TRUNCATED, but a wrong magic/version in the bytes present is
 * reported at once).  On success fills h and returns the full frame length.
 */
long ccmap_decode_header(const uint8_t *buf, size_t len, struct ccmap_hdr *h,
			 struct ccmap_err *err);

/*
 * Decode one complete frame from buf[0..len).  len may be larger than the
 * frame; *used gets the frame length.  If the frame has a MAC, mac must be
 * the session key (else -CCMAP_E_BAD_MAC).  If require_mac and the frame has
 * no MAC: -CCMAP_E_BAD_MAC.  Page data pointers in m point into buf.
 * Returns 0 or -code with err filled.
 */
int ccmap_decode(const uint8_t *buf, size_t len, const struct ccmap_mac_key *mac,
		 bool require_mac, struct ccmap_msg *m, size_t *used,
		 struct ccmap_err *err);

/* ---- stream reassembly for non-blocking sockets ----------------------- */

struct ccmap_rx {
	uint8_t  buf[CCMAP_MAX_FRAME];
	size_t   len;          /* bytes buffered */
	size_t   consumed;     /* bytes of the frame returned last (dropped on next call) */
	uint64_t expect_seq;   /* next sequence number expected */
	bool     check_seq;    /* enforce seq == expect_seq */
	bool     require_mac;  /* frames without MAC are rejected */
	bool     failed;       /* sticky: after an error the stream is dead */
	const struct ccmap_mac_key *mac;  /* session key or NULL */
	struct ccmap_err err;  /* the error that killed the stream */
};

void ccmap_rx_init(struct ccmap_rx *rx);

/*
 * Room left in the buffer; feed at most this many bytes.  Always >= 1 while
 * no complete frame is buffered and the stream is not failed.
 */
size_t ccmap_rx_space(const struct ccmap_rx *rx);

/* Copy up to n bytes into the buffer; returns the number accepted. */
size_t ccmap_rx_feed(struct ccmap_rx *rx, const void *data, size_t n);

/* Pointer/length to read(2) into directly, then call ccmap_rx_commit. */
uint8_t *ccmap_rx_wptr(struct ccmap_rx *rx, size_t *room);
void ccmap_rx_commit(struct ccmap_rx *rx, size_t n);

/*
 * Get the next complete frame.  Returns 1 with *m filled (page data points
 * into rx->buf and stays valid until the next ccmap_rx_next/feed call), 0 if
 * more bytes are needed, or -code on a malformed stream (sticky: the
 * connection must be dropped; rx->err says why).
 */
int ccmap_rx_next(struct ccmap_rx *rx, struct ccmap_msg *m);

/* ---- helpers ---------------------------------------------------------- */

static inline void ccmap_put_le16(uint8_t *p, uint16_t v)
{ p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void ccmap_put_le32(uint8_t *p, uint32_t v)
{ for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void ccmap_put_le64(uint8_t *p, uint64_t v)
{ for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t ccmap_get_le16(const uint8_t *p)
{ return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t ccmap_get_le32(const uint8_t *p)
{ uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static inline uint64_t ccmap_get_le64(const uint8_t *p)
{ uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

/* true if name is a valid share name: 1..63 chars of [A-Za-z0-9_.-] */
bool ccmap_share_name_ok(const char *name, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CCMAP_PROTO_H */
