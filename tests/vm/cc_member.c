// SPDX-License-Identifier: GPL-2.0
/*
 * cc_member - joins the closed process group "ccmap" through corosync's
 * libcpg, tracks quorum through libquorum, and prints one line per event.
 *
 * Usage: cc_member [-g GROUP] [-t SECONDS] [-w SECONDS]
 *   -g GROUP    CPG group name (default "ccmap")
 *   -t SECONDS  run time; 0 (default) runs until SIGTERM or SIGINT
 *   -w SECONDS  keep retrying the connection to corosync this long
 *               (default 0: corosync must already be running)
 *
 * Every line starts with a CLOCK_REALTIME timestamp (seconds.microseconds)
 * and the event name, then key=value fields:
 *
 *   <t> start nodeid=1 pid=245 group=ccmap
 *   <t> joined nodeid=3 pid=250 reason=join
 *   <t> left nodeid=3 pid=250 reason=procdown
 *   <t> members n=2 list=1:245,2:240
 *   <t> totem ring=1.12 n=2 nodes=1,2
 *   <t> quorum quorate=1 ring=1.12 n=2 nodes=1,2
 *   <t> lost error=CS_ERR_LIBRARY            (corosync went away)
 *   <t> exit status=0 why=signal
 *
 * reason is one of join, leave (the process called cpg_leave), nodedown
 * (totem removed its node), nodeup (its node merged back), procdown (the
 * process died or closed its connection while its node stayed).  Exit
 * status 0 after SIGTERM/SIGINT or the run time, 1 when a corosync call
 * failed or the connection to corosync was lost, 2 on usage errors.
 *
 * The first half of this file is the membership module the agent is meant
 * to take over (docs/membership.md describes its API): ccm_open() connects
 * to corosync and joins the group, ccm_fds() gives the two descriptors to
 * poll (epoll-friendly, level-triggered), ccm_dispatch() turns corosync's
 * callbacks into struct ccm_event and calls the user's function, and
 * ccm_close() leaves and disconnects.  Build with -DCC_MEMBER_NO_MAIN to get
 * the module alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>

/* ---- membership module ------------------------------------------------ */

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

/* The name of a cs_error_t, as corotypes.h spells it. */
static const char *ccm_strerror(cs_error_t e)
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

static const char *ccm_reason_name(uint32_t r)
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

static const char *ccm_errmsg(const struct ccm *c)
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

static void ccm_close(struct ccm *c);

/*
 * Connects to the local corosync, joins GROUP and starts quorum tracking.
 * wait_ms > 0 retries the connection that long while corosync is not (yet)
 * running.  On failure returns the error, with the failed call in errbuf,
 * and *out stays NULL.
 */
static cs_error_t ccm_open(struct ccm **out, const char *group, int wait_ms,
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
static uint32_t ccm_nodeid(const struct ccm *c)
{
	return c->nodeid;
}

/* The two descriptors to poll for input: fds[0] CPG, fds[1] quorum. */
static void ccm_fds(const struct ccm *c, int fds[2])
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
static cs_error_t ccm_dispatch(struct ccm *c, int fd)
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
static cs_error_t ccm_leave_close(struct ccm *c)
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
static void ccm_close(struct ccm *c)
{
	if (!c)
		return;
	ccm_leave_close(c);
	free(c);
}

#ifndef CC_MEMBER_NO_MAIN
/* ---- the test program ------------------------------------------------- */

static void print_event(const struct ccm_event *ev, void *arg)
{
	size_t i;

	(void)arg;
	printf("%lld.%06ld ", (long long)ev->when.tv_sec, ev->when.tv_nsec / 1000);
	switch (ev->kind) {
	case CCM_JOINED:
	case CCM_LEFT:
		printf("%s nodeid=%" PRIu32 " pid=%" PRIu32 " reason=%s\n",
		       ev->kind == CCM_JOINED ? "joined" : "left",
		       ev->nodeid, ev->pid, ccm_reason_name(ev->reason));
		break;
	case CCM_MEMBERS:
		printf("members n=%zu list=", ev->n);
		for (i = 0; i < ev->n; i++)
			printf("%s%" PRIu32 ":%" PRIu32, i ? "," : "",
			       ev->members[i].nodeid, ev->members[i].pid);
		printf("\n");
		break;
	case CCM_TOTEM:
	case CCM_QUORUM:
		if (ev->kind == CCM_TOTEM)
			printf("totem ");
		else
			printf("quorum quorate=%d ", ev->quorate);
		printf("ring=%" PRIu32 ".%" PRIu64 " n=%zu nodes=",
		       ev->ring_nodeid, ev->ring_seq, ev->n);
		for (i = 0; i < ev->n; i++)
			printf("%s%" PRIu32, i ? "," : "", ev->nodes[i]);
		printf("\n");
		break;
	case CCM_LOST:
		printf("lost error=%s\n", ccm_strerror(ev->error));
		break;
	}
}

static void stamp(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%lld.%06ld ", (long long)ts.tv_sec, ts.tv_nsec / 1000);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static int parse_secs(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno || !*s || *end || *out < 0 || *out > 86400 ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cc_member [-g GROUP] [-t SECONDS] [-w SECONDS]\n"
		   "  joins the CPG group GROUP (default ccmap), tracks quorum and prints\n"
		   "  one timestamped line per membership or quorum event; -t run time\n"
		   "  (0: until SIGTERM/SIGINT), -w retry connecting to corosync that long\n");
}

int main(int argc, char **argv)
{
	const char *group = "ccmap", *why = "signal";
	long run_s = 0, wait_s = 0;
	struct ccm *c = NULL;
	struct epoll_event evs[4], ev;
	struct timespec start, now;
	char err[160];
	sigset_t mask;
	int opt, ep = -1, sfd = -1, fds[2], status = 1, i, n, timeout;
	cs_error_t e;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "g:t:w:h")) != -1) {
		switch (opt) {
		case 'g': group = optarg; break;
		case 't':
			if (parse_secs(optarg, &run_s)) {
				fprintf(stderr, "cc_member: bad run time '%s'\n", optarg);
				return 2;
			}
			break;
		case 'w':
			if (parse_secs(optarg, &wait_s)) {
				fprintf(stderr, "cc_member: bad wait time '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		perror("cc_member: signalfd");
		return 1;
	}
	/* corosync's IPC reports a vanished server as EPIPE: keep running. */
	signal(SIGPIPE, SIG_IGN);

	e = ccm_open(&c, group, (int)wait_s * 1000, print_event, NULL, err, sizeof(err));
	if (e != CS_OK) {
		fprintf(stderr, "cc_member: %s\n", err);
		stamp("exit status=1 why=%s\n", err);
		close(sfd);
		return 1;
	}
	stamp("start nodeid=%" PRIu32 " pid=%d group=%s\n", ccm_nodeid(c),
	      (int)getpid(), group);

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("cc_member: epoll_create1");
		goto out;
	}
	ccm_fds(c, fds);
	for (i = 0; i < 2; i++) {
		ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = fds[i] };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			perror("cc_member: epoll_ctl");
			goto out;
		}
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = sfd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0) {
		perror("cc_member: epoll_ctl");
		goto out;
	}

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		timeout = -1;
		if (run_s) {
			long left_ms;

			clock_gettime(CLOCK_MONOTONIC, &now);
			left_ms = run_s * 1000 - ((now.tv_sec - start.tv_sec) * 1000 +
						  (now.tv_nsec - start.tv_nsec) / 1000000);
			if (left_ms <= 0) {
				why = "run time";
				status = 0;
				break;
			}
			timeout = (int)left_ms;
		}
		n = epoll_wait(ep, evs, 4, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("cc_member: epoll_wait");
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si)) {
					perror("cc_member: read signalfd");
					goto out;
				}
				why = si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
				status = 0;
				goto done;
			}
			if (ccm_dispatch(c, evs[i].data.fd) != CS_OK) {
				fprintf(stderr, "cc_member: %s\n", ccm_errmsg(c));
				why = "corosync connection lost";
				goto out;
			}
		}
	}
done:
	e = ccm_leave_close(c);
	if (e != CS_OK) {
		fprintf(stderr, "cc_member: %s\n", ccm_errmsg(c));
		why = ccm_errmsg(c);
		status = 1;
	}
out:
	stamp("exit status=%d why=%s\n", status, why);
	ccm_close(c);
	if (ep >= 0)
		close(ep);
	close(sfd);
	return status;
}
#endif /* CC_MEMBER_NO_MAIN */
