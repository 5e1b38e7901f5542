/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Page directory (home side) and page state (requester side) of ccmap's
 * home-based single-writer / multiple-reader protocol (Li & Hudak's fixed
 * distributed manager with data routed through the home).
 *
 * Both halves are PURE: no sockets, no files, no clocks.  The agent feeds
 * events in (a decoded request or ack, a node failure) and gets the
 * resulting actions out through a callback, in the order they must be
 * carried out.  tests/unit/test_directory.c and tests/model/ccmap.pml check
 * exactly this logic.
 *
 * Roles.  Every page has a home node, ccmap_home_node().  The home keeps the
 * page's owner (the node holding it Exclusive, if any) or its copyset (the
 * nodes holding it Shared), and serialises all requests for the page: at
 * most one transaction per page is in progress, later requests wait in a
 * FIFO queue.  The home is also an ordinary node; it talks to itself through
 * a local FIFO exactly as it talks to others (the agent must deliver its own
 * messages after the current handler returns, never recursively).
 *
 * Transport assumption: reliable FIFO delivery per ordered pair of nodes
 * (one TCP connection per pair; the self queue for a node to itself).  No
 * order is assumed between different pairs.
 *
 * Data flow.  All page data passes through the home: holders return data to
 * the home (DOWNGRADE_ACK, FETCH_ACK, WRITEBACK), the home stores it in its
 * local replica (action STORE) and GRANTs read from that replica.
 * Invariant H: whenever the page has no owner and no transaction is waiting
 * for data, the home replica holds the current contents.  This is what a
 * page reverts to if its owner dies.
 *
 * Protocol invariants (asserted in debug builds, checked by the tests):
 *  I1 single writer: owner != NONE  =>  copyset == 0 (outside a transaction);
 *     a GRANT E is sent only after every other holder acknowledged giving the
 *     page up, a GRANT S only when no other node holds E.
 *  I2 one transaction per page; a forward is sent only to a node that holds
 *     the page according to the directory, and its ack is expected from
 *     exactly that node with the transaction's id.
 *  I3 each node has at most one request per page queued or active at home.
 *  I4 copyset and owner only name live nodes (after node_down()).
 */
#ifndef CCMAP_DIRECTORY_H
#define CCMAP_DIRECTORY_H

#include <ccmap/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Home of a page: the (page + share)-th node, modulo the number of
 * configured nodes, in increasing node-id order.  members is the bitmap of
 * configured node ids (never changes while the cluster runs). */
uint16_t ccmap_home_node(uint64_t members, uint16_t share, uint64_t page);

/*
 * Home of a page once the nodes of @lost are gone for good (declared lost
 * by a quorate membership, their pages re-homed): ccmap_home_node() if that
 * node is not lost, otherwise the surviving member of highest rendezvous
 * weight for (share, page).  Losing a node moves only the pages homed on
 * it, and spreads them over the survivors.  CCMAP_NODE_NONE if every
 * member is lost.
 */
uint16_t ccmap_home_of(uint64_t members, uint64_t lost, uint16_t share, uint64_t page);

/* ---- home side -------------------------------------------------------- */

enum ccmap_dir_out_kind {
	CCMAP_DO_SEND = 1,   /* send a frame: type/dst/... below */
	CCMAP_DO_STORE,      /* write the page data of the frame being handled
	                        into the home replica (before later SENDs read it) */
	CCMAP_DO_REVERT,     /* page lost its only up-to-date copy (owner died);
	                        it reverts to the home replica: log and count */
};

struct ccmap_dir_out {
	uint8_t  kind;
	uint8_t  type;       /* SEND: GRANT, INVALIDATE, DOWNGRADE, FETCH, ERROR,
	                        WRITEBACK_ACK */
	uint16_t dst;
	uint16_t share;
	uint64_t page;
	uint64_t req_id;     /* GRANT/ERROR: requester's request id; forwards:
	                        transaction id; WRITEBACK_ACK: writeback's id */
	uint64_t version;
	uint8_t  mode;       /* GRANT: CCMAP_MODE_S/E */
	bool     with_data;  /* GRANT: attach the home replica's copy of the page */
	uint16_t requester;  /* forwards: node whose request caused them */
	uint16_t code;       /* ERROR: error code; WRITEBACK_ACK: status */
	const char *reason;  /* ERROR: static text */
};

typedef void (*ccmap_dir_emit_fn)(void *ctx, const struct ccmap_dir_out *o);

struct ccmap_dir_req {
	uint16_t node;
	uint8_t  type;       /* CCMAP_T_READ_REQ / CCMAP_T_WRITE_REQ */
	uint64_t req_id;
	uint64_t have_version;
};

/* A page re-homed here while the survivors report their copies. */
enum ccmap_dir_rehome {
	CCMAP_RH_NONE = 0,   /* not being re-homed */
	CCMAP_RH_EMPTY,      /* no copy yet: the home replica is all there is */
	CCMAP_RH_STALE,      /* the newest copy so far was not held at the loss */
	CCMAP_RH_CURRENT,    /* a copy held S or E at the loss: the last data */
};

/* Busy state of a page: the transaction in progress and the waiting queue. */
struct ccmap_dir_txn {
	uint64_t id;
	bool     active;              /* cur is being served */
	struct ccmap_dir_req cur;     /* request being served */
	uint64_t waiting;             /* nodes whose ack is still expected */
	uint16_t data_from;           /* owner asked for the data, or NONE */
	uint8_t  data_fwd;            /* DOWNGRADE or FETCH sent to data_from */
	bool     no_data;             /* WRITE upgrade: requester's S copy is current */
	bool     requester_gone;      /* requester died: finish without GRANT */
	unsigned qhead, qlen;         /* FIFO of waiting requests */
	struct ccmap_dir_req q[CCMAP_MAX_NODES];
};

struct ccmap_dir_page {
	uint64_t copyset;             /* nodes holding S (bit n = node n) */
	uint64_t version;             /* bumped by every E grant and every revert */
	uint16_t owner;               /* node holding E, or CCMAP_NODE_NONE */
	uint16_t reverted_from;       /* the owner whose copy the last revert lost,
	                                 until the next grant (or CCMAP_NODE_NONE) */
	bool reclaim_wait;            /* the owner's agent restarted: its RECLAIM (or
	                                 RECLAIM_DONE) is awaited before anyone else
	                                 gets the page */
	uint8_t rehome;               /* enum ccmap_dir_rehome: re-homed here, the
	                                 survivors' copies are being collected */
	struct ccmap_dir_txn *txn;    /* non-NULL iff a transaction is active */
};

struct ccmap_dir_stats {
	uint64_t requests, grants_s, grants_e, grants_nodata;
	uint64_t invalidates, downgrades, fetches;
	uint64_t queued, stores, reverts, writebacks, stale_writebacks;
	uint64_t reclaims, stale_reclaims, reclaim_waits, adopted;
	uint64_t rehomed;             /* pages re-homed here after a node loss */
	uint64_t rehome_copies;       /* survivors' copies stored while re-homing */
	uint64_t rehome_kept;         /* re-homed pages whose last data survived */
	uint64_t rehome_reverted;     /* ... that reverted to an older copy */
	uint64_t dropped_dead;        /* requests/acks from nodes marked down */
	uint64_t proto_errors;        /* unexpected acks, duplicate requests, ... */
	uint64_t version_mismatch;    /* ack versions that differ from home's */
};

struct ccmap_dir {
	uint16_t self;
	uint16_t share;
	uint64_t npages;
	uint64_t members;             /* configured nodes (bitmap) */
	uint64_t alive;               /* nodes not marked down */
	uint64_t lost;                /* nodes gone for good: their pages are
	                                 re-homed (ccmap_home_of) */
	uint64_t awaiting;            /* recovery: nodes whose RECLAIM_DONE is still
	                                 awaited; no request is served meanwhile */
	uint64_t next_txn;
	unsigned busy;                /* pages with a transaction in progress */
	struct ccmap_dir_page *pages; /* npages entries (only homed ones used) */
	ccmap_dir_emit_fn emit;
	void *emit_ctx;
	struct ccmap_dir_stats st;
};

/* The frame for a SEND action, from node self.  data is the page a GRANT
 * with_data carries (NULL when the data need not travel, e.g. to the home
 * itself); the GRANT keeps CCMAP_GRANT_F_DATA either way.  0, or
 * -CCMAP_E_INVAL for a type the directory never sends. */
int ccmap_dir_out_msg(const struct ccmap_dir_out *o, uint16_t self,
		      const uint8_t *data, struct ccmap_msg *m);

/* Returns 0 or -CCMAP_E_INVAL / -CCMAP_E_NOMEM. */
int ccmap_dir_init(struct ccmap_dir *d, uint16_t self, uint16_t share,
		   uint64_t npages, uint64_t members, ccmap_dir_emit_fn emit, void *ctx);
void ccmap_dir_free(struct ccmap_dir *d);

/* READ_REQ or WRITE_REQ from node src. 0, or -code (an ERROR was emitted
 * to src when the request was refused). */
int ccmap_dir_request(struct ccmap_dir *d, uint16_t src, unsigned type,
		      uint64_t page, uint64_t req_id, uint64_t have_version);

/* INV_ACK / DOWNGRADE_ACK / FETCH_ACK from src for transaction txn_id.
 * For data acks a STORE is emitted (unless src is the home itself).
 * 0, or -CCMAP_E_PROTOCOL for an ack nobody waits for (ignored, counted). */
int ccmap_dir_ack(struct ccmap_dir *d, uint16_t src, unsigned type, uint64_t page,
		  uint64_t txn_id, uint64_t version);

/* WRITEBACK (msync) from src: STORE if src is the owner with the current
 * version, then WRITEBACK_ACK(OK or STALE). */
int ccmap_dir_writeback(struct ccmap_dir *d, uint16_t src, uint64_t page,
			uint64_t req_id, uint64_t version);

/*
 * RECLAIM (a WRITEBACK flagged CCMAP_WB_F_RECLAIM) from src: the restarted
 * agent of a node whose previous incarnation owned @page at @version sends
 * the data its replica kept.  Stored if the home awaits it
 * (ccmap_dir_node_restart: the page is still src's, at that version; a
 * transaction waiting for src's data completes with it), or if the page
 * reverted from src (version + 1) and nothing was granted since, so no
 * other node can have seen the reverted copy; then WRITEBACK_ACK(OK or
 * STALE).
 */
int ccmap_dir_reclaim(struct ccmap_dir *d, uint16_t src, uint64_t page,
		      uint64_t req_id, uint64_t version);

/*
 * The agent of @node restarted (a new incarnation; its kernel revoked every
 * right of the old one when its policy detached).  Like node_down, but the
 * pages it owned do not revert: they wait for its RECLAIMs, which carry
 * their last data, and transactions that need their data wait with them.
 * The caller then runs ccmap_dir_node_up(); ccmap_dir_reclaim_done()
 * reverts whatever the new agent did not send back.
 */
int ccmap_dir_node_restart(struct ccmap_dir *d, uint16_t node);

/* RECLAIM_DONE from src: its RECLAIMs for this share are all sent; pages
 * still awaiting one revert to the home copy; src no longer holds up the
 * recovery (ccmap_dir_hold).  Returns the number of pages reverted. */
int ccmap_dir_reclaim_done(struct ccmap_dir *d, uint16_t src);

/*
 * Recovery of a home that (re)started: its directory is empty, but other
 * nodes may still hold pages homed here from the previous incarnation.
 * Until each node of @nodes has sent RECLAIM_DONE or is marked down, no
 * request is served (they queue) and a RECLAIM from such a node for an
 * untouched page is adopted: its data becomes the home copy.  The caller
 * ends the wait with ccmap_dir_release() once no lease on the previous
 * incarnation can still be valid.
 */
void ccmap_dir_hold(struct ccmap_dir *d, uint64_t nodes);
/* End the recovery: serve the queued requests.  Returns the nodes that
 * had not reported. */
uint64_t ccmap_dir_release(struct ccmap_dir *d);

/*
 * The nodes of @lost are gone for good (a quorate membership declared them
 * lost, after their leases ran out): their pages move to new homes
 * (ccmap_home_of).  Pages that become homed here start with no holder and
 * the home replica's data, and the directory holds every request, as a
 * restarted home does (ccmap_dir_hold on every live peer), until each live
 * peer has reported its copies (ccmap_dir_rehome_copy) and sent
 * RECLAIM_DONE; the caller reports this node's own copies the same way.
 * When the hold ends (ccmap_dir_release) every re-homed page keeps the
 * newest copy reported; a page for which no copy held at the loss was
 * reported reverts (DO_REVERT, counted in rehome_reverted).  If this node
 * is lost itself, the pages homed here are forgotten.  @lost only grows.
 * Returns the number of pages newly homed here, or -CCMAP_E_INVAL.
 */
int ccmap_dir_set_lost(struct ccmap_dir *d, uint64_t lost);

/*
 * A copy of @page, re-homed here, reported by @src (a RECLAIM flagged
 * CCMAP_WB_F_REHOME, or this node itself): its data at @version; @current
 * when src held the page S or E when its home was lost (the page's last
 * data: no other node can have written it since).  The newest copy, a
 * current one before any other, becomes the home copy: STORE (not for
 * src == self, whose replica holds it) and 0; -CCMAP_E_PROTOCOL when a
 * newer copy is held already or the page is served again.  No reply: a
 * copy is not a right, src dropped the page before it reported it.
 */
int ccmap_dir_rehome_copy(struct ccmap_dir *d, uint16_t src, uint64_t page,
			  uint64_t req_id, uint64_t version, bool current);

/* Node failure (connection lost for good, or a new incarnation seen):
 * forget its copies, revert pages it owned to the home replica, finish or
 * continue transactions that waited for it, drop its queued requests. */
int ccmap_dir_node_down(struct ccmap_dir *d, uint16_t node);

/* A node that was down is back (new incarnation, all its pages Invalid). */
int ccmap_dir_node_up(struct ccmap_dir *d, uint16_t node);

/* Self-check of invariants I1..I4 on every page (tests); 0 or -1 with a
 * description in buf. */
int ccmap_dir_check(const struct ccmap_dir *d, char *buf, size_t len);

/* ---- requester side (one per node per page) ---------------------------- */

enum ccmap_pstate { CCMAP_PS_I = 0, CCMAP_PS_S = 1, CCMAP_PS_E = 2 };

struct ccmap_npage {
	uint8_t  state;      /* enum ccmap_pstate */
	uint8_t  pending;    /* 0, CCMAP_T_READ_REQ or CCMAP_T_WRITE_REQ */
	uint64_t version;    /* version of the copy held (valid if state != I) */
	uint64_t req_id;     /* id of the pending request */
};

enum ccmap_np_act {
	CCMAP_NA_GO       = 0x01,   /* fault may proceed (rights held) */
	CCMAP_NA_WAIT     = 0x02,   /* fault waits for the pending request */
	CCMAP_NA_SEND_REQ = 0x04,   /* send req_type to the home */
	CCMAP_NA_INSTALL  = 0x08,   /* write granted data into the local replica */
	CCMAP_NA_WAKE     = 0x10,   /* wake faults waiting on this page */
	CCMAP_NA_ZAP      = 0x20,   /* unmap the page locally (keep COW copies) */
	CCMAP_NA_MKCLEAN  = 0x40,   /* write-protect the page locally */
	CCMAP_NA_READ     = 0x80,   /* read the page from the local replica
	                               (after ZAP/MKCLEAN) into the reply */
	CCMAP_NA_REPLY    = 0x100,  /* send reply_type to the home */
	CCMAP_NA_FAIL     = 0x200,  /* fail waiting faults (SIGBUS after policy) */
};

struct ccmap_np_action {
	unsigned flags;             /* CCMAP_NA_* */
	uint8_t  req_type;          /* SEND_REQ: READ_REQ/WRITE_REQ */
	uint64_t req_id;
	uint64_t have_version;
	uint8_t  reply_type;        /* REPLY: INV_ACK/DOWNGRADE_ACK/FETCH_ACK */
	uint64_t version;           /* REPLY: version of the copy given up */
};

/* A local fault (write or read).  new_req_id is used if a request is sent. */
int ccmap_np_fault(struct ccmap_npage *p, bool write, uint64_t new_req_id,
		   struct ccmap_np_action *a);

/* GRANT for this page.  -CCMAP_E_PROTOCOL if it does not match the pending
 * request or would install a page without data. */
int ccmap_np_grant(struct ccmap_npage *p, uint8_t mode, bool has_data,
		   uint64_t version, uint64_t req_id, struct ccmap_np_action *a);

/* INVALIDATE / DOWNGRADE / FETCH from the home. */
int ccmap_np_forward(struct ccmap_npage *p, unsigned type, uint64_t version,
		     struct ccmap_np_action *a);

/* ERROR from the home about the pending request: fail the waiting faults. */
int ccmap_np_error(struct ccmap_npage *p, uint64_t req_id, struct ccmap_np_action *a);

/* The page's home died: fail a pending request and fence the local copy
 * (zap; nobody can coordinate it any more). */
void ccmap_np_home_down(struct ccmap_npage *p, struct ccmap_np_action *a);

#ifdef __cplusplus
}
#endif
#endif /* CCMAP_DIRECTORY_H */
