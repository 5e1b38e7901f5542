// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd: the control socket (a Unix stream socket, "control" in the
 * configuration, /run/ccmap/ccmapd.sock by default, mode 0600).
 *
 * Protocol (docs in ccmapctl --help): the client sends one request per line
 * (at most 511 bytes, printable ASCII, words separated by blanks); the agent
 * answers with zero or more data lines, each "key value..." text, and a last
 * line that is exactly "OK" or "ERR <reason>".  Several requests may follow
 * each other on one connection.  Requests:
 *
 *   status                   node, peers, shares, page states, policy
 *   pages SHARE [FROM [N]]   per-page dump (SHARE is a name or an id)
 *   stats                    counters
 *   ping                     "pong"
 *   help                     the list of requests
 *   policy NAME              replace the attached policy by <bpf-dir>/NAME.bpf.o
 *                            (atomic; page states kept; on ERR the old one stays)
 *   test-error-exit          test hook: the policy raises an error exit
 *
 * Test hooks for the fault tests (tests/cluster/faults.sh); they damage the
 * connections on purpose and are not meant for anything else:
 *
 *   debug bad-frame PEER mac|seq   the next frame to PEER leaves with a
 *                                  corrupted MAC or a stale (replayed)
 *                                  sequence number: the peer must drop the
 *                                  connection, and the session resume
 *   debug drop PEER                close the connection to PEER now
 *   debug set idle_timeout_ms N    close a connection after N ms without a
 *                                  frame (default 15000; 100..3600000)
 *   debug set peer_dead_ms N       interim failure detector: declare a peer
 *                                  down after N ms without an authenticated
 *                                  connection (default 15000; 100..3600000)
 *
 * A bad request gets "ERR ..."; a line that is too long or not text gets
 * "ERR ..." and the connection is closed.  Nothing a client sends can stop
 * the agent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

#define CTL_LINE_MAX	(CCMAP_CTL_LINE_MAX + 1)	/* with the newline */
#define CTL_OUT_MAX	(32u << 20)
#define CTL_CLIENTS_MAX	32
#define PAGES_MAX	65536

struct ctl {
	struct src src;			/* SRC_CTL */
	char in[CTL_LINE_MAX];
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	bool close_after;
	bool draining;			/* answered, shut down: discard input to EOF */
	size_t drained;
	bool overflow;
	struct ctl *next;
};

static struct ctl *clients;
static unsigned n_clients;

int ctl_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = A.cfg.control;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("control socket path %s is too long", path);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) && errno != EEXIST) {
			log_err("cannot create %s for the control socket: %s", dir, strerror(errno));
			return -1;
		}
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("socket(AF_UNIX): %s", strerror(errno));
		return -1;
	}
	/* A socket left by a dead agent: connect() fails, so it is stale. */
	if (access(path, F_OK) == 0) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			log_err("control socket %s is in use: is another ccmapd running?", path);
			return -1;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	old = umask(077);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
		umask(old);
		log_err("cannot listen on control socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	A.ctl_src.kind = SRC_CTL_LISTEN;
	A.ctl_src.fd = fd;
	if (ep_add(&A.ctl_src, EPOLLIN)) {
		close(fd);
		unlink(path);
		return -1;
	}
	log_info("control socket %s", path);
	return 0;
}

static void ctl_close(struct ctl *c)
{
	for (struct ctl **pp = &clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ep_del(&c->src);
	close(c->src.fd);
	free(c->out);
	free(c);
	n_clients--;
}

void ctl_accept(void)
{
	for (;;) {
		int fd = accept4(A.ctl_src.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctl *c;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("control accept: %s", strerror(errno));
			return;
		}
		if (n_clients >= CTL_CLIENTS_MAX) {
			static const char busy[] = "ERR too many control clients\n";

			if (write(fd, busy, sizeof(busy) - 1) < 0)
				log_dbg("control client refused: %s", strerror(errno));
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->src.kind = SRC_CTL;
		c->src.fd = fd;
		if (ep_add(&c->src, EPOLLIN)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = clients;
		clients = c;
		n_clients++;
	}
}

__attribute__((format(printf, 2, 3)))
static void out(struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->overflow)
		return;
	for (;;) {
		size_t room = c->out_cap - c->out_len;

		va_start(ap, fmt);
		n = vsnprintf(c->out ? c->out + c->out_len : NULL, c->out ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			c->out_len += (size_t)n;
			return;
		}
		{
			size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
			char *nb;

			while (cap - c->out_len <= (size_t)n)
				cap *= 2;
			if (cap > CTL_OUT_MAX || !(nb = realloc(c->out, cap))) {
				c->overflow = true;
				return;
			}
			c->out = nb;
			c->out_cap = cap;
		}
	}
}


static void cmd_status(struct ctl *c)
{
	unsigned configured = 0, connected = 0, authed = 0, lost = 0;
	unsigned long pending_total = 0;
	char v[192];

	out(c, "node %u\n", A.self);
	out(c, "incarnation %016llx\n", (unsigned long long)A.incarnation);
	out(c, "uptime_s %llu\n", (unsigned long long)((now_ms() - A.started_ms) / 1000));
	out(c, "listen %s\n", A.cfg.listen.text);
	out(c, "policy %s\n", A.policy_name);
	out(c, "policy_object %s\n", A.obj_path);
	out(c, "policy_attached %s\n", A.link && !A.policy_detached ? "yes" : "no");
	out(c, "pin_dir %s\n", A.pin_dir);
	out(c, "fault_timeout_ms %u\n", A.timeout_ms);
	if (access(CCMAP_SYSFS_DIR, F_OK) == 0) {
		read_line_file(CCMAP_SYSFS_STATE, v, sizeof(v), "-");
		out(c, "kernel_state %s\n", v);
		read_line_file(CCMAP_SYSFS_OPS, v, sizeof(v), "-");
		out(c, "kernel_ops %s\n", v);
		read_line_file(CCMAP_SYSFS_EXIT_KIND, v, sizeof(v), "-");
		out(c, "kernel_exit_kind %s\n", v);
		read_line_file(CCMAP_SYSFS_EXIT_REASON, v, sizeof(v), "-");
		out(c, "kernel_exit_reason %s\n", v);
		read_line_file(CCMAP_SYSFS_TIMEOUT_MS, v, sizeof(v), "-");
		out(c, "kernel_timeout_ms %s\n", v);
		read_line_file(CCMAP_SYSFS_NR_WAITING, v, sizeof(v), "-");
		out(c, "kernel_nr_waiting %s\n", v);
	} else {
		out(c, "kernel_state absent\n");
	}
	for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
		const struct peer *p = &A.peers[id];

		if (!p->configured)
			continue;
		configured++;
		if (p->conn || (p->dialing && !p->dialing->connecting))
			connected++;
		if (p->conn && p->conn->resumed)
			authed++;
		else if (A.lost & UINT64_C(1) << id)
			lost++;
	}
	out(c, "peers_configured %u\n", configured);
	out(c, "peers_connected %u\n", connected);
	out(c, "peers_authenticated %u\n", authed);
	out(c, "peers_lost_away %u\n", lost);	/* lost for good and not back */
	out(c, "idle_timeout_ms %u\n", net_idle_timeout_ms);
	out(c, "peer_dead_ms %u\n", net_peer_dead_ms);
	for (unsigned id = 0; id < CCMAP_MAX_NODES; id++) {
		const struct peer *p = &A.peers[id];
		const char *st = p->conn ? (p->conn->resumed ? "up" : "resuming") :
				 p->alive ? "disconnected" :
				 p->dialing ? (p->dialing->connecting ? "connecting" : "handshake") :
				 id < A.self ? "down" : "waiting";

		if (!p->configured)
			continue;
		out(c, "peer %u addr %s state %s incarnation %016llx rtt_us %llu ups %llu "
		    "downs %llu conns_lost %llu resumes %llu sent %llu acked %llu queued %zu "
		    "delivered %llu lease %s lease_age_ms %llu leases_lost %llu last_error %s\n",
		    id, p->addr.text, st,
		    (unsigned long long)p->incarnation, (unsigned long long)p->rtt_us,
		    (unsigned long long)p->ups, (unsigned long long)p->downs,
		    (unsigned long long)p->conns_lost, (unsigned long long)p->resumes,
		    (unsigned long long)p->sess.sent, (unsigned long long)p->sess.acked,
		    p->sess.qlen, (unsigned long long)p->sess.delivered,
		    !p->alive ? "-" : p->lease_lost ? "lost" : "held",
		    (unsigned long long)(p->alive ? now_ms() - p->lease_us / 1000 : 0),
		    (unsigned long long)p->leases_lost, p->last_error[0] ? p->last_error : "-");
	}
	if (!A.cfg.corosync)
		out(c, "membership static peer_dead_ms %u lease_ms %u\n", net_peer_dead_ms,
		    net_lease_ms());
	else
		out(c, "membership corosync %s quorate %d peer_dead_ms %u lease_ms %u lost %#llx\n",
		    cluster_active() ? "joined" : "lost", A.quorate, net_peer_dead_ms,
		    net_lease_ms(), (unsigned long long)A.lost);
	out(c, "shares %u\n", A.n_shares);
	for (unsigned i = 0; i < A.n_shares; i++) {
		const struct share *sh = &A.shares[i];
		unsigned long cnt[3] = { 0 }, pend = 0, homed = 0;

		for (uint64_t p = 0; p < sh->npages; p++) {
			const struct ccmap_npage *np = &sh->np[p];

			if (np->state <= CCMAP_PS_E)
				cnt[np->state]++;
			if (np->pending)
				pend++;
			if (ccmap_home_of(A.members, A.lost, sh->id, p) == A.self)
				homed++;
		}
		pending_total += pend;
		out(c, "share %u name %s path %s size %llu pages %llu I %lu S %lu E %lu "
		    "pending %lu homed %lu busy %u\n", sh->id, sh->cfg->name, sh->cfg->path,
		    (unsigned long long)sh->cfg->size, (unsigned long long)sh->npages,
		    cnt[0], cnt[1], cnt[2], pend, homed, sh->dir.busy);
	}
	out(c, "pending_requests %lu\n", pending_total);
}

static const char *pend_name(unsigned p)
{
	return p == CCMAP_T_READ_REQ ? "read" : p == CCMAP_T_WRITE_REQ ? "write" : "-";
}

static void copyset_text(uint64_t cs, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (unsigned id = 0; id < CCMAP_MAX_NODES && n + 4 < len; id++) {
		if (cs & (UINT64_C(1) << id)) {
			int w = snprintf(buf + n, len - n, "%s%u", n ? "," : "", id);

			if (w < 0)
				break;
			n += (size_t)w;
		}
	}
	if (!n)
		snprintf(buf, len, "-");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static void cmd_pages(struct ctl *c, char **argv, int argc)
{
	struct share *sh = NULL;
	uint64_t from = 0, count = 64, id;

	if (argc < 2 || argc > 4) {
		out(c, "ERR usage: pages SHARE [FROM [N]]\n");
		return;
	}
	for (unsigned i = 0; i < A.n_shares; i++)
		if (!strcmp(A.shares[i].cfg->name, argv[1]))
			sh = &A.shares[i];
	if (!sh && parse_u64(argv[1], &id) == 0 && id < A.n_shares)
		sh = &A.shares[id];
	if (!sh) {
		out(c, "ERR no share '%.64s'\n", argv[1]);
		return;
	}
	if ((argc > 2 && parse_u64(argv[2], &from)) || (argc > 3 && parse_u64(argv[3], &count))) {
		out(c, "ERR FROM and N must be decimal numbers\n");
		return;
	}
	if (from >= sh->npages) {
		out(c, "ERR page %llu is beyond share %s (%llu pages)\n",
		    (unsigned long long)from, sh->cfg->name, (unsigned long long)sh->npages);
		return;
	}
	if (count > PAGES_MAX)
		count = PAGES_MAX;
	if (count > sh->npages - from)
		count = sh->npages - from;
	out(c, "share %s pages %llu from %llu count %llu\n", sh->cfg->name,
	    (unsigned long long)sh->npages, (unsigned long long)from,
	    (unsigned long long)count);
	for (uint64_t p = from; p < from + count; p++) {
		const struct ccmap_npage *np = &sh->np[p];
		uint16_t home = ccmap_home_of(A.members, A.lost, sh->id, p);
		struct ccmap_page_state bs;
		char bpf[48];

		if (bpf_page_state(sh, p, &bs) == 0)
			snprintf(bpf, sizeof(bpf), "%s%s", state_name(bs.state),
				 bs.pending ? (bs.pending == CCMAP_ST_E ? "+wantE" : "+wantS") : "");
		else
			snprintf(bpf, sizeof(bpf), "?");
		out(c, "page %llu state %s version %llu pending %s bpf %s home %u",
		    (unsigned long long)p, state_name(np->state),
		    (unsigned long long)np->version, pend_name(np->pending), bpf, home);
		if (home == A.self) {
			const struct ccmap_dir_page *dp = &sh->dir.pages[p];
			char cs[200];

			copyset_text(dp->copyset, cs, sizeof(cs));
			if (dp->owner == CCMAP_NODE_NONE)
				out(c, " owner - copyset %s dir_version %llu", cs,
				    (unsigned long long)dp->version);
			else
				out(c, " owner %u copyset %s dir_version %llu", dp->owner, cs,
				    (unsigned long long)dp->version);
			if (dp->txn)
				out(c, " txn %s queued %u", dp->txn->active ? "active" : "idle",
				    dp->txn->qlen);
		}
		out(c, "\n");
	}
}

static void cmd_stats(struct ctl *c)
{
	const struct agent_stats *s = &A.st;
	struct ccmap_dir_stats d = { 0 };
	uint64_t bst[CCMAP_BST_NR];
	uint64_t bad = 0;
	static const char *const bnames[CCMAP_BST_NR] = {
		"faults", "go", "posted", "coalesced", "unknown_file", "beyond_share",
		"ring_full", "lost_full", "failed", "zap_notify", "mkclean_notify",
	};
	static const char *const knames[] = {
		"faults", "waits", "wakes", "timeouts", "sigbus", "zaps", "mkcleans", "errors",
	};

#define S(name, v) out(c, "%s %llu\n", name, (unsigned long long)(v))
	S("requests_sent", s->req_sent);
	S("requests_served", s->req_served);
	S("grants_sent", s->grants_sent);
	S("grants_received", s->grants_recv);
	S("grants_with_data_sent", s->grants_data_sent);
	S("grants_with_data_received", s->grants_data_recv);
	S("forwards_sent", s->fwd_sent);
	S("forwards_received", s->fwd_recv);
	S("invalidations_received", s->inval_recv);
	S("downgrades_received", s->downgrade_recv);
	S("fetches_received", s->fetch_recv);
	S("acks_sent", s->acks_sent);
	S("acks_received", s->acks_recv);
	S("errors_sent", s->errors_sent);
	S("errors_received", s->errors_recv);
	S("coherency_messages_sent", s->msgs_sent);
	S("coherency_messages_received", s->msgs_recv);
	S("self_messages", s->self_msgs);
	S("frames_sent", s->frames_sent);
	S("frames_received", s->frames_recv);
	S("page_bytes_sent", s->bytes_sent);
	S("page_bytes_received", s->bytes_recv);
	S("bytes_moved", s->bytes_sent + s->bytes_recv);
	S("home_stores", s->stores);
	S("reverts", s->reverts);
	S("fault_requests", s->faults_seen);
	S("lost_requests_drained", s->lost_drained);
	S("already_granted", s->local_go);
	S("faults_failed", s->fails);
	S("home_unreachable", s->home_unreachable);
	S("connections_accepted", s->conns_accepted);
	S("connections_dialled", s->conns_dialled);
	S("connections_authenticated", s->conns_authed);
	S("connections_closed", s->conns_closed);
	S("auth_failures", s->auth_failures);
	S("connections_lost", s->conns_lost);
	S("idle_timeouts", s->idle_timeouts);
	S("sessions_resumed", s->sess_resumed);
	S("sessions_reset", s->sess_reset);
	S("peers_declared_down", s->peers_down);
	S("peer_recoveries_deferred", s->downs_deferred);
	S("leases_lost", s->leases_lost);
	S("leases_renewed", s->leases_renewed);
	S("lease_revoked_pages", s->lease_revoked);
	S("lease_held_grants", s->lease_held);
	S("revokes_busy", s->revoke_busy);
	S("yield_holds", s->yield_holds);
	S("unit_prefetch", s->unit_prefetch);
	S("handoff_sent", s->handoff_sent);
	S("handoff_stored", s->handoff_ok);
	S("handoff_stale", s->handoff_stale);
	S("handoff_lost", s->handoff_lost);
	S("reclaim_sent", s->reclaim_sent);
	S("reclaim_stored", s->reclaim_ok);
	S("reclaim_stale", s->reclaim_stale);
	S("reclaim_kept", s->reclaim_kept);
	S("rehome_copies_sent", s->rehome_sent);
	{
		uint64_t in = 0, kept = 0, rev = 0, got = 0;

		for (unsigned i = 0; i < A.n_shares; i++) {
			const struct ccmap_dir_stats *d = &A.shares[i].dir.st;

			in += d->rehomed;
			got += d->rehome_copies;
			kept += d->rehome_kept;
			rev += d->rehome_reverted;
		}
		S("rehomed_pages", in);
		S("rehome_copies_stored", got);
		S("rehome_kept", kept);
		S("rehome_reverted", rev);
	}
	S("quorum_revoked_pages", s->quorum_revoked);
	S("messages_retransmitted", s->sess_retransmitted);
	S("session_acks_sent", s->sess_acks_sent);
	S("session_acks_received", s->sess_acks_recv);
	{
		uint64_t q = 0;

		for (unsigned id = 0; id < CCMAP_MAX_NODES; id++)
			q += A.peers[id].sess.qlen;
		S("session_queued", q);
	}
	S("test_frames_damaged", s->injected);
	for (int i = 1; i < CCMAP_E_MAX; i++)
		bad += s->bad_frames[i];
	S("bad_frames", bad);
	for (int i = 1; i < CCMAP_E_MAX; i++) {
		char name[64];

		if (!s->bad_frames[i])
			continue;
		snprintf(name, sizeof(name), "bad_frames.%s", ccmap_strerror(i));
		for (char *p = name; *p; p++)
			if (*p == ' ')
				*p = '_';
		S(name, s->bad_frames[i]);
	}
	S("prog_errors", s->prog_errors);
	S("io_errors", s->io_errors);
	S("ctl_requests", s->ctl_requests);
	S("ctl_errors", s->ctl_errors);
	for (unsigned i = 0; i < A.n_shares; i++) {
		const struct ccmap_dir_stats *x = &A.shares[i].dir.st;

		d.requests += x->requests;
		d.grants_s += x->grants_s;
		d.grants_e += x->grants_e;
		d.grants_nodata += x->grants_nodata;
		d.invalidates += x->invalidates;
		d.downgrades += x->downgrades;
		d.fetches += x->fetches;
		d.queued += x->queued;
		d.stores += x->stores;
		d.reverts += x->reverts;
		d.dropped_dead += x->dropped_dead;
		d.proto_errors += x->proto_errors;
		d.version_mismatch += x->version_mismatch;
	}
	S("dir.requests", d.requests);
	S("dir.grants_s", d.grants_s);
	S("dir.grants_e", d.grants_e);
	S("dir.grants_without_data", d.grants_nodata);
	S("dir.invalidates", d.invalidates);
	S("dir.downgrades", d.downgrades);
	S("dir.fetches", d.fetches);
	S("dir.queued", d.queued);
	S("dir.stores", d.stores);
	S("dir.reverts", d.reverts);
	S("dir.dropped_dead", d.dropped_dead);
	S("dir.protocol_errors", d.proto_errors);
	S("dir.version_mismatch", d.version_mismatch);
	if (A.obj && bpf_read_bstats(bst) == 0) {
		for (int i = 0; i < CCMAP_BST_NR; i++) {
			char name[48];

			snprintf(name, sizeof(name), "bpf.%s", bnames[i]);
			S(name, bst[i]);
		}
	}
	for (size_t i = 0; i < sizeof(knames) / sizeof(knames[0]); i++) {
		char path[128], v[64], name[48];

		snprintf(path, sizeof(path), CCMAP_SYSFS_STATS "/%s", knames[i]);
		read_line_file(path, v, sizeof(v), "-");
		snprintf(name, sizeof(name), "kernel.%s", knames[i]);
		out(c, "%s %s\n", name, v);
	}
	/* "timeouts" as the brief of ccmapctl promises: faults that hit the deadline */
#undef S
}

/* Test hooks (see the top of this file).  0, or -1 after an ERR line. */
static int cmd_debug(struct ctl *c, char **argv, int argc)
{
	uint64_t v;

	if (argc == 4 && !strcmp(argv[1], "bad-frame")) {
		int how = !strcmp(argv[3], "mac") ? INJECT_MAC :
			  !strcmp(argv[3], "seq") ? INJECT_SEQ : INJECT_NONE;

		if (how == INJECT_NONE || parse_u64(argv[2], &v) || v > CCMAP_MAX_NODE_ID) {
			out(c, "ERR usage: debug bad-frame PEER mac|seq\n");
			return -1;
		}
		if (net_inject((uint16_t)v, how)) {
			out(c, "ERR no session connection to node %llu\n", (unsigned long long)v);
			return -1;
		}
		out(c, "the next frame to node %llu gets a %s\n", (unsigned long long)v,
		    how == INJECT_MAC ? "corrupted MAC" : "stale sequence number");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "drop")) {
		if (parse_u64(argv[2], &v) || v > CCMAP_MAX_NODE_ID) {
			out(c, "ERR usage: debug drop PEER\n");
			return -1;
		}
		if (net_drop((uint16_t)v, "dropped by a control request (test hook)")) {
			out(c, "ERR no connection to node %llu\n", (unsigned long long)v);
			return -1;
		}
		out(c, "connection to node %llu dropped\n", (unsigned long long)v);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "set") &&
	    (!strcmp(argv[2], "idle_timeout_ms") || !strcmp(argv[2], "peer_dead_ms"))) {
		if (parse_u64(argv[3], &v) || v < 100 || v > 3600000) {
			out(c, "ERR %s must be 100..3600000\n", argv[2]);
			return -1;
		}
		if (!strcmp(argv[2], "idle_timeout_ms"))
			net_idle_timeout_ms = (unsigned)v;
		else
			net_peer_dead_ms = (unsigned)v;
		log_info("test hook: %s set to %llu", argv[2], (unsigned long long)v);
		out(c, "%s %llu\n", argv[2], (unsigned long long)v);
		return 0;
	}
	out(c, "ERR usage: debug bad-frame PEER mac|seq | debug drop PEER | "
	    "debug set idle_timeout_ms|peer_dead_ms N\n");
	return -1;
}

static void handle_line(struct ctl *c, char *line)
{
	char *argv[8];
	int argc = 0;
	char *save = NULL;

	A.st.ctl_requests++;
	for (char *p = line; *p; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			A.st.ctl_errors++;
			out(c, "ERR request is not text\n");
			c->close_after = true;
			return;
		}
	}
	for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc == (int)(sizeof(argv) / sizeof(argv[0]))) {
			A.st.ctl_errors++;
			out(c, "ERR too many words\n");
			return;
		}
		argv[argc++] = tok;
	}
	if (argc == 0) {
		A.st.ctl_errors++;
		out(c, "ERR empty request (try: help)\n");
		return;
	}
	if (!strcmp(argv[0], "status") && argc == 1) {
		cmd_status(c);
	} else if (!strcmp(argv[0], "pages")) {
		size_t before = c->out_len;

		cmd_pages(c, argv, argc);
		/* cmd_pages answered ERR itself */
		if (c->out_len >= before + 4 && !strncmp(c->out + before, "ERR ", 4)) {
			A.st.ctl_errors++;
			return;
		}
	} else if (!strcmp(argv[0], "stats") && argc == 1) {
		cmd_stats(c);
	} else if (!strcmp(argv[0], "ping") && argc == 1) {
		out(c, "pong\n");
	} else if (!strcmp(argv[0], "test-error-exit") && argc == 1) {
		int rc = A.link && !A.policy_detached ? prog_raise_error() : -ENOLINK;

		if (rc) {
			A.st.ctl_errors++;
			out(c, "ERR cannot raise an error exit: %s\n", strerror(-rc));
			return;
		}
		out(c, "error exit raised; ccmapd attaches the policy again\n");
	} else if (!strcmp(argv[0], "policy") && argc == 2) {
		char why[640];

		if (bpf_swap_policy(argv[1], why, sizeof(why))) {
			A.st.ctl_errors++;
			out(c, "ERR %s\n", why);
			return;
		}
		out(c, "%s\n", why);
	} else if (!strcmp(argv[0], "debug")) {
		if (cmd_debug(c, argv, argc)) {
			A.st.ctl_errors++;
			return;
		}
	} else if (!strcmp(argv[0], "help") && argc == 1) {
		out(c, "request status\nrequest pages SHARE [FROM [N]]\nrequest stats\n"
		       "request ping\nrequest policy NAME\nrequest help\n"
		       "request test-error-exit\nrequest debug bad-frame PEER mac|seq\n"
		       "request debug drop PEER\nrequest debug set idle_timeout_ms N\n"
		       "request debug set peer_dead_ms N\n");
	} else {
		A.st.ctl_errors++;
		out(c, "ERR unknown request '%.40s' or wrong arguments (try: help)\n", argv[0]);
		return;
	}
	if (c->overflow) {
		/* Keep what fits, and say the rest did not. */
		c->overflow = false;
		out(c, "ERR reply too large\n");
		return;
	}
	out(c, "OK\n");
}

static void ctl_flush(struct ctl *c)
{
	int rc = send_pending(c->src.fd, (const uint8_t *)c->out, c->out_len, &c->out_off);

	if (rc > 0) {
		ep_mod(&c->src, EPOLLOUT);
		return;
	}
	if (rc < 0) {
		ctl_close(c);
		return;
	}
	c->out_off = c->out_len = 0;
	if (c->close_after) {
		/*
		 * Closing with unread input would reset the connection and the
		 * client could lose our answer: half-close, then discard what
		 * it still sends until it closes too.
		 */
		if (shutdown(c->src.fd, SHUT_WR)) {
			ctl_close(c);
			return;
		}
		c->draining = true;
	}
	ep_mod(&c->src, EPOLLIN);
}

void ctl_event(struct src *s, uint32_t events)
{
	struct ctl *c = (struct ctl *)s;

	if (events & EPOLLOUT) {
		ctl_flush(c);
		return;
	}
	if (c->draining) {
		char junk[4096];
		ssize_t n;

		while ((n = recv(c->src.fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0) {
			c->drained += (size_t)n;
			if (c->drained > (1u << 20))
				break;
		}
		if (n == 0 || c->drained > (1u << 20) ||
		    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			ctl_close(c);
		return;
	}
	if (c->out_len) {
		/* Answer pending: read more only once it is out. */
		ctl_flush(c);
		return;
	}
	for (;;) {
		ssize_t n = recv(c->src.fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
				 MSG_DONTWAIT);
		char *nl;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ctl_close(c);
			return;
		}
		if (n == 0) {
			ctl_close(c);
			return;
		}
		c->in_len += (size_t)n;
		while ((nl = memchr(c->in, '\n', c->in_len))) {
			size_t len = (size_t)(nl - c->in) + 1;

			*nl = 0;
			if (len >= 2 && nl[-1] == '\r')
				nl[-1] = 0;
			if (memchr(c->in, 0, len - 1)) {
				A.st.ctl_errors++;
				out(c, "ERR request is not text\n");
				c->close_after = true;
			} else {
				handle_line(c, c->in);
			}
			memmove(c->in, c->in + len, c->in_len - len);
			c->in_len -= len;
			if (c->close_after)
				break;
		}
		if (!c->close_after && c->in_len == sizeof(c->in)) {
			A.st.ctl_errors++;
			out(c, "ERR request longer than %d bytes\n", CTL_LINE_MAX - 1);
			c->close_after = true;
		}
		if (c->out_len) {
			ctl_flush(c);
			return;
		}
	}
}

void ctl_shutdown(void)
{
	while (clients)
		ctl_close(clients);
	if (A.ctl_src.fd > 0) {
		ep_del(&A.ctl_src);
		close(A.ctl_src.fd);
		A.ctl_src.fd = -1;
		unlink(A.cfg.control);
	}
}
