/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ccmapd internals: one agent per node.  Single-threaded: one epoll loop
 * (ccmapd.c) over the policy's ring buffer, the listening TCP socket, the
 * peer connections, the control socket, a timer and a signalfd.
 *
 *   bpf.c   loading the policy object, the SEC("syscall") programs, the
 *           ring buffer and the BPF-side counters
 *   net.c   peer connections: dial/accept, handshake, framing, sending
 *   coh.c   coherence: the directory (home side) and the page states
 *           (requester side) of ccmap/directory.h and their actions
 *   ctl.c   the control socket ccmapctl talks to
 *   log.c   logging
 */
#ifndef CCMAPD_AGENT_H
#define CCMAPD_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ccmap/auth.h>
#include <ccmap/config.h>
#include <ccmap/directory.h>
#include <ccmap/proto.h>
#include <ccmap/session.h>

#include "ccmap_abi.h"

struct ccm;			/* member.h: corosync membership */

/* ---- logging (log.c) ------------------------------------------------------ */

enum { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DBG, LOG_TRACE };

extern int log_level;		/* LOG_INFO; -v LOG_DBG; -vv LOG_TRACE */
extern int log_node;		/* node id shown in every line, -1 before */

__attribute__((format(printf, 2, 3)))
void logmsg(int level, const char *fmt, ...);

#define log_err(...)	logmsg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	logmsg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	logmsg(LOG_INFO, __VA_ARGS__)
#define log_dbg(...)	do { if (log_level >= LOG_DBG) logmsg(LOG_DBG, __VA_ARGS__); } while (0)
#define log_trace(...)	do { if (log_level >= LOG_TRACE) logmsg(LOG_TRACE, __VA_ARGS__); } while (0)

uint64_t now_ms(void);
uint64_t now_us(void);

/* ---- epoll sources ----------------------------------------------------------- */

enum src_kind {
	SRC_LISTEN = 1,
	SRC_PEER,
	SRC_CTL_LISTEN,
	SRC_CTL,
	SRC_RING,
	SRC_TIMER,
	SRC_SIGNAL,
	SRC_LINK,
	SRC_MEMBER,			/* corosync (cluster.c) */
};

struct src {
	int kind;
	int fd;
};

/* ---- shares ------------------------------------------------------------------ */

struct share {
	uint16_t id;
	const struct ccmap_cfg_share *cfg;
	int fd;				/* the replica, O_RDWR */
	uint64_t npages;
	uint64_t dev, ino;
	struct ccmap_dir dir;		/* pages homed here */
	struct ccmap_npage *np;		/* every page, this node's view */
	/*
	 * Per page: a fault waits for rights held back because the home's
	 * lease lapsed (CCMAP_ST_S or CCMAP_ST_E: what it waits for; 0: none).
	 * Published when the lease is renewed, asked for again when the home
	 * comes back after it was declared down.
	 */
	uint8_t *held;
	/* Per page: version + 1 of an Exclusive copy the previous agent left
	 * (RECLAIM it when the home is up), or 0; NULL if there is none. */
	uint64_t *reclaim;
	/*
	 * Re-homing (a node lost for good, coh_rehome): per page, the copy
	 * this node had when the page's home was lost (RH_COPY_*) and its
	 * version, reported to the new home once it is ready; NULL until a
	 * home is lost.  rh_wait: peers whose REHOME is still awaited --
	 * requests for pages re-homed there wait for it.
	 */
	uint8_t *rh_have;
	uint64_t *rh_ver;
	uint64_t rh_wait;
	uint64_t rh_logged;		/* re-homed pages settled, as last logged */
};

enum { RH_COPY_NONE = 0, RH_COPY_OLD, RH_COPY_CURRENT };

/* ---- peers and connections ------------------------------------------------------ */

struct conn {
	struct src src;			/* SRC_PEER */
	bool outgoing;
	bool connecting;		/* non-blocking connect() in progress */
	bool authed;
	bool closing;			/* close once the tx buffer is empty */
	uint16_t peer;			/* node dialled, or authenticated peer */
	char addr[64];			/* remote address, for logs */
	struct ccmap_hs hs;
	struct ccmap_rx rx;
	uint64_t tx_seq;
	uint8_t *tx;
	size_t tx_len, tx_off, tx_cap;
	uint64_t born_ms, last_rx_ms;
	bool want_out;			/* EPOLLOUT registered */
	bool resumed;			/* the peer's RESUME arrived: session traffic flows */
	bool fresh_sent;		/* our RESUME said we had no session */
	uint8_t inject;			/* test hook: damage the next frame (INJECT_*) */
	struct conn *next;		/* all connections */
};

struct peer {
	bool configured;
	uint16_t id;
	struct ccmap_addr addr;
	struct conn *conn;		/* authenticated connection or NULL */
	struct conn *dialing;		/* outgoing connection being set up */
	uint64_t next_dial_ms;
	unsigned backoff_ms;
	uint64_t incarnation;
	uint64_t ups, downs;		/* sessions started / declared down */
	bool down_pending;		/* declared down; coh_peer_down() still to run */
	bool down_restart;		/* ... because its agent restarted (new incarnation) */
	bool down_lost;			/* ... because corosync says its node is gone:
					   its pages are re-homed */
	/*
	 * Membership, interim failure detector (until corosync): a peer is a
	 * member ("alive") from its first authenticated connection until it
	 * has had no authenticated connection for peer_dead_ms, says BYE, or
	 * comes back with another incarnation.  A lost connection alone
	 * changes nothing: the session resumes on the next one.
	 */
	bool alive;
	uint64_t lost_ms;		/* when the last connection was lost */
	uint64_t heard_ms;		/* last authenticated frame from it */
	uint64_t down_at_ms;		/* down_pending: coh_peer_down() not before */
	/*
	 * Our lease on the pages homed at this peer (docs/protocol.md §5.5):
	 * the send time (now_us) of the newest frame it is known to have
	 * received -- a PING it answered, or the start of the connection it
	 * resumed on.  Rights to its pages are revoked when the lease is
	 * older than net_lease_ms() and granted again when it is renewed.
	 */
	uint64_t lease_us;
	bool lease_lost;
	uint64_t leases_lost;
	/*
	 * membership corosync: its agent is in the process group, or left it
	 * (gone: declared down once this node is quorate; no session until
	 * it joins again).
	 */
	bool cs_member, cs_gone;
	uint32_t cs_reason;		/* of the last leave (CPG_REASON_*) */
	uint64_t conns_lost, resumes;
	struct ccmap_sess sess;		/* our session with it */
	uint64_t last_ping_ms, rtt_us;
	char last_error[256];
};

/* ---- counters ------------------------------------------------------------------ */

struct agent_stats {
	uint64_t faults_seen;		/* ring buffer records */
	uint64_t lost_drained;		/* requests from the lost map */
	uint64_t req_sent;		/* READ/WRITE_REQ sent to a home (incl. self) */
	uint64_t req_served;		/* requests handled as home */
	uint64_t grants_sent, grants_recv;
	uint64_t grants_data_sent, grants_data_recv;
	uint64_t fwd_sent, fwd_recv;	/* INVALIDATE/DOWNGRADE/FETCH */
	uint64_t inval_recv, downgrade_recv, fetch_recv;
	uint64_t acks_sent, acks_recv;
	uint64_t errors_sent, errors_recv;
	uint64_t msgs_sent, msgs_recv;	/* coherency frames to/from peers */
	uint64_t self_msgs;		/* delivered through the self FIFO */
	uint64_t bytes_sent, bytes_recv;	/* page data bytes on the wire */
	uint64_t frames_sent, frames_recv;	/* every frame, incl. PING */
	uint64_t stores, reverts;
	uint64_t local_go;		/* ring records the agent found already granted */
	uint64_t fails;			/* faults failed (ccmap_fail) */
	uint64_t home_unreachable;
	uint64_t conns_accepted, conns_dialled, conns_authed, conns_closed;
	uint64_t auth_failures;
	uint64_t conns_lost;		/* authenticated connections lost, peer still a member */
	uint64_t idle_timeouts;		/* of those: closed for lack of traffic */
	uint64_t sess_resumed;		/* sessions resumed on a new connection */
	uint64_t sess_reset;		/* sessions that had state and were started anew */
	uint64_t peers_down;		/* peers declared down (failure detector, BYE, restart) */
	uint64_t downs_deferred;	/* of those: recovery waited for the peer's lease to end */
	uint64_t leases_lost;		/* a home's lease expired: rights to its pages revoked */
	uint64_t leases_renewed;	/* ... and came back */
	uint64_t lease_revoked;		/* pages whose rights a lost lease revoked */
	uint64_t lease_held;		/* grants held back while their home's lease was lost */
	uint64_t revoke_busy;		/* zaps/mkcleans refused (DMA pin) and retried */
	uint64_t yield_holds;		/* pages the policy kept a while before giving them up */
	uint64_t unit_prefetch;		/* requests for the other pages of a fault's unit */
	uint64_t handoff_sent;		/* clean stop: Exclusive pages written back to homes */
	uint64_t handoff_ok, handoff_stale;	/* ... stored there / refused as stale */
	uint64_t handoff_lost;		/* ... that could not be handed over */
	uint64_t reclaim_sent;		/* restart: the previous run's Exclusive pages sent home */
	uint64_t reclaim_ok, reclaim_stale;	/* ... stored there / refused (changed since) */
	uint64_t reclaim_kept;		/* copies of a restarted home's pages kept to send it */
	uint64_t rehome_sent;		/* copies of a lost home's pages sent to their new home */
	uint64_t quorum_revoked;	/* pages whose rights a quorum loss revoked */
	uint64_t sess_retransmitted;	/* session messages sent again after a RESUME */
	uint64_t sess_acks_sent, sess_acks_recv;
	uint64_t injected;		/* test hook: frames damaged on purpose */
	uint64_t bad_frames[CCMAP_E_MAX];	/* by enum ccmap_errcode */
	uint64_t prog_errors;		/* syscall programs that failed */
	uint64_t io_errors;		/* pread/pwrite of replicas */
	uint64_t ctl_requests, ctl_errors;
};

/* ---- the agent ------------------------------------------------------------------- */

struct selfmsg {
	struct ccmap_msg m;
	struct selfmsg *next;
};

struct agent {
	struct ccmap_config cfg;
	struct ccmap_key key;
	uint16_t self;
	uint64_t members;
	uint64_t incarnation;
	bool clean;
	char bpf_dir[PATH_MAX];
	char pin_dir[PATH_MAX];
	char obj_path[PATH_MAX];
	uint32_t timeout_ms;		/* as given to the kernel */

	int epfd;
	struct src listen_src, ctl_src, ring_src, timer_src, sig_src, link_src;
	/* membership corosync (cluster.c); NULL while not connected */
	struct ccm *ccm;
	struct src ccm_src[2];
	bool quorate;
	uint64_t lost;			/* nodes lost for good: their pages re-homed */
	uint64_t totem_ring, quorum_ring;	/* ring ids seen last (nodeid << 48 ^ seq) */
	uint64_t ccm_retry_ms;

	unsigned n_shares;
	struct share shares[CCMAP_MAX_SHARES];
	struct ccmap_share_desc descs[CCMAP_MAX_SHARES];

	struct peer peers[CCMAP_MAX_NODES];
	unsigned n_peers;
	struct conn *conns;

	/* the self FIFO: messages to this node, delivered after the handler */
	struct selfmsg *self_head, *self_tail;

	uint64_t next_req_id;
	unsigned handoff_pending;	/* clean stop: WRITEBACKs not yet answered */
	unsigned reclaim_pending;	/* restart: RECLAIMs not yet answered */
	bool recovering;		/* start: pages homed here wait for the peers' reports */
	uint64_t started_ms;
	bool stopping;

	/* BPF (bpf.c) */
	struct bpf_object *obj;
	struct bpf_link *link;
	struct ring_buffer *rb;
	char policy_name[64];
	int prog_share_add, prog_share_del, prog_grant, prog_revoke,
	    prog_downgrade, prog_fail, prog_raise_error, prog_yield;
	int map_pages, map_lost, map_bstats, map_sinfo, map_shares;
	uint64_t last_ring_full;
	bool policy_detached;		/* the kernel detached it (error exit) */

	struct agent_stats st;
};

extern struct agent A;

/* ---- bpf.c ----------------------------------------------------------------------- */

int bpf_setup(void);			/* load the policy, maps, programs */
int bpf_add_shares(void);		/* page entries + ccmap_share_add */
int bpf_attach(void);			/* struct_ops link + ring buffer */
void bpf_shutdown(void);		/* detach, revoke everything, (--clean) */
int bpf_ring_poll(void);		/* consume the ring buffer */
void bpf_drain_lost(void);		/* requests the ring had no room for */
void bpf_link_event(void);		/* the policy link reported EPOLLHUP */
void bpf_reattach_tick(uint64_t now);	/* attach again after an error exit */
/* Replace the attached policy by <bpf-dir>/<name>.bpf.o (atomic link update,
 * pinned maps kept).  0 and a summary in @why, or -1 and the reason. */
int bpf_swap_policy(const char *name, char *why, size_t len);

int prog_grant(struct share *sh, uint64_t page, unsigned state, uint64_t version);
int prog_revoke(struct share *sh, uint64_t page, uint64_t span);
int prog_downgrade(struct share *sh, uint64_t page);
int prog_fail(struct share *sh, uint64_t page, int err);
int prog_raise_error(void);		/* test hook: policy error exit */
/* The policy's ccmap_yield: ns to keep @page before lowering it to @to. */
uint64_t prog_yield(struct share *sh, uint64_t page, unsigned to);

int bpf_page_state(struct share *sh, uint64_t page, struct ccmap_page_state *out);
int bpf_read_bstats(uint64_t out[CCMAP_BST_NR]);

/* ---- net.c ------------------------------------------------------------------------- */

int net_listen(void);
void net_tick(uint64_t now);		/* dial, ping, time out */
void net_accept(void);
void net_event(struct conn *c, uint32_t events);
/* Send m to node dst (self: the self FIFO).  0, or -1 if dst is not
 * connected (logged by the caller). */
int net_send(uint16_t dst, struct ccmap_msg *m);
bool net_peer_up(uint16_t node);	/* a member: messages to it are delivered */
/* Our lease on the pages homed at @node holds (always for this node). */
bool net_lease_valid(uint16_t node);
unsigned net_lease_ms(void);		/* 2/3 of peer_dead_ms */
/* Interim failure detector and idle timeout (ms); ccmapctl debug set. */
extern unsigned net_peer_dead_ms, net_idle_timeout_ms;
#define NET_PEER_DEAD_MS_DFL	15000
#define NET_IDLE_TIMEOUT_MS_DFL	15000
enum { INJECT_NONE = 0, INJECT_MAC, INJECT_SEQ };
/* Test hooks: damage the next frame to @node (INJECT_*), or drop the
 * connection.  0, or -1 if there is no authenticated connection. */
int net_inject(uint16_t node, int how);
int net_drop(uint16_t node, const char *why);
void net_shutdown(void);
void conn_close(struct conn *c, const char *why);
void net_process_downs(void);		/* after every handler */
void net_free_dead(void);		/* after every epoll batch */

/* Declare @node down now (membership); its recovery waits for its lease.
 * @lost: its node is gone (corosync nodedown): its pages are re-homed. */
void net_declare_down(uint16_t node, const char *why, bool lost);
/* The quorate cluster re-homed @node's pages: it is down here too, at once
 * (its rights are gone: it lost quorum a lease ago). */
void net_force_down(uint16_t node, const char *why);

/* ---- cluster.c: membership from corosync -------------------------------------- */

int cluster_open(void);			/* 0 also when membership is static */
void cluster_event(struct src *s);	/* an SRC_MEMBER descriptor is readable */
void cluster_tick(uint64_t now);	/* reconnect after corosync was lost */
void cluster_close(void);		/* leave the group */
bool cluster_active(void);		/* corosync decides who is down */

/* ---- coh.c ------------------------------------------------------------------------- */

int coh_init(void);
void coh_free(void);
void coh_fault(uint32_t share, uint64_t page, unsigned want);
/* The other pages of a fault's unit: asked for if not held, nobody waits. */
void coh_prefetch(uint32_t share, uint64_t page, unsigned want);
/* Pages a policy keeps a while (ccmap_yield): when the first is due (ms,
 * 0: none), and give up those that are due (all: every one). */
uint64_t coh_next_due_ms(void);
void coh_run_due(bool all);
void coh_message(uint16_t src, const struct ccmap_msg *m);
void coh_peer_up(uint16_t node);
/* @restarted: a new incarnation proved the old agent's rights gone; its
 * Exclusive pages wait for its RECLAIMs instead of reverting. */
void coh_peer_down(uint16_t node, bool restarted);
void coh_lease_lost(uint16_t node);
/* Rights may be published for pages homed at @home: its lease holds, and
 * with membership corosync this node is quorate. */
bool coh_rights_ok(uint16_t home);
/* Quorum lost: revoke every right (faults wait); back: publish them. */
void coh_quorum_changed(bool quorate);
/* The nodes of @lost are gone for good: re-home their pages. */
void coh_rehome(uint64_t lost);
/* Clean stop, after the policy detached: write every Exclusive page back
 * to its home.  Returns the number of WRITEBACKs sent (handoff_pending). */
unsigned coh_handoff(void);
void coh_lease_renewed(uint16_t node);
void coh_deliver_self(void);		/* drain the self FIFO */
void coh_tick(void);			/* retry lowerings the kernel refused (EBUSY) */
void coh_self_push(const struct ccmap_msg *m);

/* ---- ctl.c ------------------------------------------------------------------------- */

int ctl_listen(void);
void ctl_accept(void);
void ctl_event(struct src *s, uint32_t events);
void ctl_shutdown(void);

/* ---- helpers ----------------------------------------------------------------------- */

int ep_add(struct src *s, uint32_t events);
int ep_mod(struct src *s, uint32_t events);
void ep_del(struct src *s);
const char *state_name(unsigned st);
/* io.c: send buf[*off..len) without blocking: 0 all sent, 1 the socket is
 * full (try again on EPOLLOUT), -1 an error (errno). */
int send_pending(int fd, const uint8_t *buf, size_t len, size_t *off);
/* The first line of a file (sysfs), or @dflt when unreadable or empty. */
void read_line_file(const char *path, char *buf, size_t len, const char *dflt);

#endif /* CCMAPD_AGENT_H */
