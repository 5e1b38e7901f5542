// SPDX-License-Identifier: GPL-2.0
/*
 * ccmap membership through corosync (member.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "member.h"

/* The name of a cs_error_t, as corotypes.h spells it. */
const char *ccm_strerror(cs_error_t e)
{
	static char unknown[32];

	switch (e) {
	case CS_OK: return "CS_OK";
	case CS_ERR_LIBRARY: return "CS_ERR_LIBRARY";
	case CS_ERR_VERSION: return "CS_ERR_VERSION";
	case CS_ERR_INIT: return "CS_ERR_INIT";
	case CS_ERR_TIMEOUT: return "CS_ERR_TIMEOUT";
	case CS_ERR_TRY_AGAIN: return "CS_ERR_TRY_AGAIN";
	case CS_ERR_INVALID_PARAM: return "CS_ERR_INVALID_PARAM";
	case CS_ERR_NO_MEMORY: return "CS_ERR_NO_MEMORY";
	case CS_ERR_BAD_HANDLE: return "CS_ERR_BAD_HANDLE";
	case CS_ERR_BUSY: return "CS_ERR_BUSY";
	case CS_ERR_ACCESS: return "CS_ERR_ACCESS";
	case CS_ERR_NOT_EXIST: return "CS_ERR_NOT_EXIST";
	case CS_ERR_NAME_TOO_LONG: return "CS_ERR_NAME_TOO_LONG";
	case CS_ERR_EXIST: return "CS_ERR_EXIST";
	case CS_ERR_NO_SPACE: return "CS_ERR_NO_SPACE";
	case CS_ERR_INTERRUPT: return "CS_ERR_INTERRUPT";
	case CS_ERR_NAME_NOT_FOUND: return "CS_ERR_NAME_NOT_FOUND";
	case CS_ERR_NO_RESOURCES: return "CS_ERR_NO_RESOURCES";
	case CS_ERR_NOT_SUPPORTED: return "CS_ERR_NOT_SUPPORTED";
	case CS_ERR_BAD_OPERATION: return "CS_ERR_BAD_OPERATION";
	case CS_ERR_FAILED_OPERATION: return "CS_ERR_FAILED_OPERATION";
	case CS_ERR_MESSAGE_ERROR: return "CS_ERR_MESSAGE_ERROR";
	case CS_ERR_QUEUE_FULL: return "CS_ERR_QUEUE_FULL";
	case CS_ERR_QUEUE_NOT_AVAILABLE: return "CS_ERR_QUEUE_NOT_AVAILABLE";
	case CS_ERR_BAD_FLAGS: return "CS_ERR_BAD_FLAGS";
	case CS_ERR_TOO_BIG: return "CS_ERR_TOO_BIG";
	case CS_ERR_NO_SECTIONS: return "CS_ERR_NO_SECTIONS";
	case CS_ERR_CONTEXT_NOT_FOUND: return "CS_ERR_CONTEXT_NOT_FOUND";
	case CS_ERR_TOO_MANY_GROUPS: return "CS_ERR_TOO_MANY_GROUPS";
	case CS_ERR_SECURITY: return "CS_ERR_SECURITY";
	}
	snprintf(unknown, sizeof(unknown), "cs_error_t %d", (int)e);
	return unknown;
}

const char *ccm_reason_name(uint32_t r)
{
	switch (r) {
	case CPG_REASON_JOIN: return "join";
	case CPG_REASON_LEAVE: return "leave";
	case CPG_REASON_NODEDOWN: return "nodedown";
	case CPG_REASON_NODEUP: return "nodeup";
	case CPG_REASON_PROCDOWN: return "procdown";
	default: return "undefined";
	}
}

const char *ccm_errmsg(const struct ccm *c)
{
	return c->err;
}

/* Records "CALL: CS_ERR_..." and returns e. */
static cs_error_t ccm_fail(struct ccm *c, const char *call, cs_error_t e)
{
	snprintf(c->err, sizeof(c->err), "%s: %s", call, ccm_strerror(e));
	return e;
}

static void ccm_emit(struct ccm *c, struct ccm_event *ev)
{
	clock_gettime(CLOCK_REALTIME, &ev->when);
	c->fn(ev, c->arg);
}

static struct ccm *ccm_from_cpg(cpg_handle_t h)
{
	void *ctx = NULL;

	return cpg_context_get(h, &ctx) == CS_OK ? ctx : NULL;
}

static void ccm_cpg_deliver(cpg_handle_t h, const struct cpg_name *group,
			    uint32_t nodeid, uint32_t pid, void *msg, size_t len)
{
	/* The group carries no messages yet; membership is all we use. */
	(void)h; (void)group; (void)nodeid; (void)pid; (void)msg; (void)len;
}

static void ccm_cpg_confchg(cpg_handle_t h, const struct cpg_name *group,
			    const struct cpg_address *members, size_t n_members,
			    const struct cpg_address *left, size_t n_left,
			    const struct cpg_address *joined, size_t n_joined)
{
	struct ccm *c = ccm_from_cpg(h);
	struct ccm_member list[CPG_MEMBERS_MAX];
	struct ccm_event ev;
	size_t i;

	(void)group;
	if (!c)
		return;
	for (i = 0; i < n_left; i++) {
		ev = (struct ccm_event){ .kind = CCM_LEFT, .nodeid = left[i].nodeid,
					 .pid = left[i].pid, .reason = left[i].reason };
		ccm_emit(c, &ev);
	}
	for (i = 0; i < n_joined; i++) {
		ev = (struct ccm_event){ .kind = CCM_JOINED, .nodeid = joined[i].nodeid,
					 .pid = joined[i].pid, .reason = joined[i].reason };
		ccm_emit(c, &ev);
	}
	if (n_members > CPG_MEMBERS_MAX)
		n_members = CPG_MEMBERS_MAX;
	for (i = 0; i < n_members; i++)
		list[i] = (struct ccm_member){ members[i].nodeid, members[i].pid };
	ev = (struct ccm_event){ .kind = CCM_MEMBERS, .n = n_members, .members = list };
	ccm_emit(c, &ev);
}

static void ccm_cpg_totem(cpg_handle_t h, struct cpg_ring_id ring,
			  uint32_t n, const uint32_t *nodes)
{
	struct ccm *c = ccm_from_cpg(h);
	struct ccm_event ev = { .kind = CCM_TOTEM, .ring_nodeid = ring.nodeid,
				.ring_seq = ring.seq, .n = n, .nodes = nodes };

	if (c)
		ccm_emit(c, &ev);
}

static void ccm_quorum_notify(quorum_handle_t h, uint32_t quorate,
			      struct quorum_ring_id ring, uint32_t n,
			      const uint32_t *nodes)
{
	const void *ctx = NULL;
	struct ccm *c;
	struct ccm_event ev = { .kind = CCM_QUORUM, .quorate = !!quorate,
				.ring_nodeid = ring.nodeid, .ring_seq = ring.seq,
				.n = n, .nodes = nodes };

	if (quorum_context_get(h, &ctx) != CS_OK || !ctx)
		return;
	c = (struct ccm *)ctx;
	ccm_emit(c, &ev);
}

/*
 * Calls expr until it returns something other than CS_ERR_TRY_AGAIN (which
 * corosync answers while it synchronises a new membership), for at most
 * about 10 s.
 */
#define CCM_RETRY(err, expr) do {					\
	int tries_ = 0;							\
	while (((err) = (expr)) == CS_ERR_TRY_AGAIN && ++tries_ < 100)	\
		usleep(100 * 1000);					\
} while (0)

/*
 * Connects to the local corosync, joins GROUP and starts quorum tracking.
 * wait_ms > 0 retries the connection that long while corosync is not (yet)
 * running.  On failure returns the error, with the failed call in errbuf,
 * and *out stays NULL.
 */
cs_error_t ccm_open(struct ccm **out, const char *group, int wait_ms,
			   ccm_event_fn *fn, void *arg, char *errbuf, size_t errlen)
{
	cpg_model_v1_data_t cpg_model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = ccm_cpg_deliver,
		.cpg_confchg_fn = ccm_cpg_confchg,
		.cpg_totem_confchg_fn = ccm_cpg_totem,
		.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	quorum_model_v1_data_t q_model = {
		.model = QUORUM_MODEL_V1,
		.quorum_notify_fn = ccm_quorum_notify,
		.nodelist_notify_fn = NULL,
	};
	struct ccm *c;
	uint32_t qtype = 0;
	cs_error_t e;
	int waited = 0;

	*out = NULL;
	if (strlen(group) >= CPG_MAX_NAME_LENGTH) {
		snprintf(errbuf, errlen, "group name '%s' too long", group);
		return CS_ERR_NAME_TOO_LONG;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(errbuf, errlen, "out of memory");
		return CS_ERR_NO_MEMORY;
	}
	c->fn = fn;
	c->arg = arg;
	c->cpg_fd = c->quorum_fd = -1;
	c->group.length = strlen(group);
	memcpy(c->group.value, group, c->group.length);

	for (;;) {
		e = cpg_model_initialize(&c->cpg, CPG_MODEL_V1,
					 (cpg_model_data_t *)&cpg_model, c);
		if (e == CS_OK || waited >= wait_ms ||
		    (e != CS_ERR_LIBRARY && e != CS_ERR_TRY_AGAIN))
			break;
		usleep(200 * 1000);
		waited += 200;
	}
	if (e != CS_OK) {
		ccm_fail(c, "cpg_model_initialize", e);
		goto fail;
	}
	c->have_cpg = 1;
	if ((e = cpg_local_get(c->cpg, &c->nodeid)) != CS_OK) {
		ccm_fail(c, "cpg_local_get", e);
		goto fail;
	}
	if ((e = cpg_fd_get(c->cpg, &c->cpg_fd)) != CS_OK) {
		ccm_fail(c, "cpg_fd_get", e);
		goto fail;
	}
	e = quorum_model_initialize(&c->quorum, QUORUM_MODEL_V1,
				    (quorum_model_data_t *)&q_model, &qtype, c);
	if (e != CS_OK) {
		ccm_fail(c, "quorum_model_initialize", e);
		goto fail;
	}
	c->have_quorum = 1;
	if (qtype != QUORUM_SET) {
		snprintf(c->err, sizeof(c->err),
			 "quorum_model_initialize: no quorum provider configured");
		e = CS_ERR_NOT_SUPPORTED;
		goto fail;
	}
	if ((e = quorum_fd_get(c->quorum, &c->quorum_fd)) != CS_OK) {
		ccm_fail(c, "quorum_fd_get", e);
		goto fail;
	}
	CCM_RETRY(e, quorum_trackstart(c->quorum, CS_TRACK_CURRENT | CS_TRACK_CHANGES));
	if (e != CS_OK) {
		ccm_fail(c, "quorum_trackstart", e);
		goto fail;
	}
	CCM_RETRY(e, cpg_join(c->cpg, &c->group));
	if (e != CS_OK) {
		ccm_fail(c, "cpg_join", e);
		goto fail;
	}
	c->joined = 1;
	*out = c;
	return CS_OK;
fail:
	snprintf(errbuf, errlen, "%s", c->err);
	ccm_close(c);
	return e;
}

/* The local node id, as corosync numbers it (nodeid in the nodelist). */
uint32_t ccm_nodeid(const struct ccm *c)
{
	return c->nodeid;
}

/* The two descriptors to poll for input: fds[0] CPG, fds[1] quorum. */
void ccm_fds(const struct ccm *c, int fds[2])
{
	fds[0] = c->cpg_fd;
	fds[1] = c->quorum_fd;
}

/*
 * Call when fd (one of ccm_fds()) is readable or reports an error/hangup.
 * Delivers the pending events.  When corosync has gone away, emits one
 * CCM_LOST event and returns its error; the caller must then ccm_close()
 * and treat itself as outside any membership.
 */
cs_error_t ccm_dispatch(struct ccm *c, int fd)
{
	struct ccm_event ev;
	cs_error_t e;
	const char *call;

	if (c->lost)
		return CS_ERR_BAD_HANDLE;
	if (fd == c->cpg_fd) {
		call = "cpg_dispatch";
		e = cpg_dispatch(c->cpg, CS_DISPATCH_ALL);
	} else if (fd == c->quorum_fd) {
		call = "quorum_dispatch";
		e = quorum_dispatch(c->quorum, CS_DISPATCH_ALL);
	} else {
		snprintf(c->err, sizeof(c->err), "ccm_dispatch: fd %d is not ours", fd);
		return CS_ERR_INVALID_PARAM;
	}
	if (e == CS_OK || e == CS_ERR_TRY_AGAIN)
		return CS_OK;
	ccm_fail(c, call, e);
	c->lost = 1;
	ev = (struct ccm_event){ .kind = CCM_LOST, .error = e };
	ccm_emit(c, &ev);
	return e;
}

/*
 * Leaves the group (unless the connection is lost), stops tracking and
 * disconnects.  Errors are recorded (ccm_errmsg) only for the caller's
 * information: the resources are released in every case.
 */
cs_error_t ccm_leave_close(struct ccm *c)
{
	cs_error_t e, first = CS_OK;

	if (c->joined && !c->lost) {
		CCM_RETRY(e, cpg_leave(c->cpg, &c->group));
		if (e != CS_OK)
			first = ccm_fail(c, "cpg_leave", e);
	}
	if (c->have_quorum && !c->lost) {
		e = quorum_trackstop(c->quorum);
		if (e != CS_OK && first == CS_OK)
			first = ccm_fail(c, "quorum_trackstop", e);
	}
	if (c->have_quorum) {
		e = quorum_finalize(c->quorum);
		if (e != CS_OK && first == CS_OK && !c->lost)
			first = ccm_fail(c, "quorum_finalize", e);
	}
	if (c->have_cpg) {
		e = cpg_finalize(c->cpg);
		if (e != CS_OK && first == CS_OK && !c->lost)
			first = ccm_fail(c, "cpg_finalize", e);
	}
	c->joined = c->have_quorum = c->have_cpg = 0;
	return first;
}

/* Releases everything; for paths that already reported their error. */
void ccm_close(struct ccm *c)
{
	if (!c)
		return;
	ccm_leave_close(c);
	free(c);
}
