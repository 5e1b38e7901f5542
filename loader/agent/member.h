/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ccmap membership through corosync: a closed process group (libcpg) and
 * the quorum state (libquorum), as events an epoll loop can dispatch.
 * Used by ccmapd ("membership corosync", loader/agent/net.c) and by the
 * test program tests/vm/cc_member.c; docs/membership.md describes it.
 *
 * ccm_open() connects to corosync and joins the group, ccm_fds() gives the
 * two descriptors to poll (level-triggered), ccm_dispatch() turns
 * corosync's callbacks into struct ccm_event and calls the user's
 * function, ccm_close() leaves the group, disconnects and frees.  After a
 * CCM_LOST event the caller must close the handle: this process is then
 * outside every membership.
 */
#ifndef CCMAP_MEMBER_H
#define CCMAP_MEMBER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>

enum ccm_kind {
	CCM_JOINED,	/* a process joined the group: nodeid, pid, reason */
	CCM_LEFT,	/* a process left the group: nodeid, pid, reason */
	CCM_MEMBERS,	/* the group's view after a change: members[] */
	CCM_TOTEM,	/* the totem ring changed: ring, nodes[] */
	CCM_QUORUM,	/* quorum state (also the initial one): quorate, ring, nodes[] */
	CCM_LOST,	/* the connection to corosync is gone: error */
};

struct ccm_member {
	uint32_t nodeid;
	uint32_t pid;
};

struct ccm_event {
	enum ccm_kind kind;
	struct timespec when;		/* CLOCK_REALTIME when dispatched */
	uint32_t nodeid, pid;		/* JOINED, LEFT */
	cpg_reason_t reason;		/* JOINED, LEFT */
	int quorate;			/* QUORUM */
	uint32_t ring_nodeid;		/* TOTEM, QUORUM */
	uint64_t ring_seq;		/* TOTEM, QUORUM */
	size_t n;			/* entries in members[] or nodes[] */
	const struct ccm_member *members;	/* MEMBERS */
	const uint32_t *nodes;		/* TOTEM, QUORUM */
	cs_error_t error;		/* LOST */
};

typedef void ccm_event_fn(const struct ccm_event *ev, void *arg);

struct ccm {
	cpg_handle_t cpg;
	quorum_handle_t quorum;
	int have_cpg, have_quorum, joined, lost;
	int cpg_fd, quorum_fd;
	uint32_t nodeid;
	struct cpg_name group;
	ccm_event_fn *fn;
	void *arg;
	char err[160];
};

const char *ccm_strerror(cs_error_t e);		/* the enum's name */
const char *ccm_reason_name(uint32_t r);	/* join, leave, nodedown, ... */
const char *ccm_errmsg(const struct ccm *c);	/* "cpg_join: CS_ERR_..." */
/*
 * Connect and join @group; CS_ERR_TRY_AGAIN is retried for 10 s, a missing
 * corosync for @wait_ms.  On error *out is NULL and @err says why.
 */
cs_error_t ccm_open(struct ccm **out, const char *group, int wait_ms,
		    ccm_event_fn *fn, void *arg, char *err, size_t errlen);
uint32_t ccm_nodeid(const struct ccm *c);
void ccm_fds(const struct ccm *c, int fds[2]);	/* CPG, quorum */
cs_error_t ccm_dispatch(struct ccm *c, int fd);	/* @fd is readable */
cs_error_t ccm_leave_close(struct ccm *c);	/* cpg_leave, finalize */
void ccm_close(struct ccm *c);			/* ccm_leave_close, free */

#endif /* CCMAP_MEMBER_H */
