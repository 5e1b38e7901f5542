// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd - the ccmap agent, one per node.  See usage() for what it does;
 * the pieces are in loader/agent/ (agent.h has the map).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent/agent.h"

#define DEFAULT_CONFIG	"/etc/ccmap/ccmapd.conf"
#define TICK_MS		100
#define MAX_OVERRIDES	64

struct agent A;

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    ccmapd - ccmap agent: keeps one file coherent across the nodes that mmap() it\n"
"\n"
"SYNOPSIS\n"
"    ccmapd [-c FILE] [-o KEY=VALUE]... [-p POLICY] [-B DIR] [-P DIR] [--clean]\n"
"           [--resize-replicas[=grow|any|no]] [--check] [-v]...\n"
"    ccmapd -h | --help\n"
"\n"
"DESCRIPTION\n"
"    ccmapd runs on every node of a ccmap cluster.  For each share of the\n"
"    configuration it opens (or creates) the node's local replica, loads the\n"
"    coherency policy (a BPF struct_ops program, by default \"msi\"), marks the\n"
"    replica as a share before anything maps it, and attaches the policy.\n"
"    From then on every fault on a mapping of the replica asks the policy:\n"
"    pages this node holds Shared (read) or Exclusive (read and write) are\n"
"    mapped at once; for the others the policy posts a request that ccmapd\n"
"    sends to the page's home node.\n"
"\n"
"    Every page has a home node (spread round-robin over the configured\n"
"    nodes) that keeps its owner or its copyset and serialises requests for\n"
"    it.  The home revokes (unmaps) or downgrades (write-protects) the copies\n"
"    of other nodes, collects the data into its replica and grants the page\n"
"    with its data to the requester, which writes it into its own replica\n"
"    before the faulting process is woken.  Unmapping never discards the\n"
"    private copies of MAP_PRIVATE mappings.\n"
"\n"
"    Nodes talk over TCP: each node dials the peers with a lower node id and\n"
"    accepts the peers with a higher one, retrying with a backoff.  Both ends\n"
"    authenticate with the cluster key and compare their share lists (names\n"
"    and sizes must match, in the same order); every frame after the\n"
"    handshake carries an HMAC-SHA256.  Malformed, unauthenticated or\n"
"    out-of-protocol frames are rejected, logged and counted (ccmapctl stats).\n"
"    A lost connection is dialled again and the session resumes where it\n"
"    was: nothing reverts and nothing is lost.  A peer is down (pages it\n"
"    held Exclusive revert to their home's copy, faults on pages it is home\n"
"    of fail) only after peer_dead_ms without a connection, on its BYE, or\n"
"    when it comes back as a new incarnation (its agent restarted, and the\n"
"    kernel revoked every mapping the old one had granted).  A fault that cannot be served within the fault\n"
"    deadline (timeout_ms, at most 60000 ms) gets SIGBUS.\n"
"\n"
"    The policy's maps are pinned by name under the pin directory, so that a\n"
"    restarted agent or another policy finds the page states.  ccmapctl(1)\n"
"    talks to the control socket.  If the kernel detaches the policy with an\n"
"    error exit (the reason is in /sys/kernel/ccmap/exit_reason and in the\n"
"    log), faults wait and ccmapd attaches the policy again after a second,\n"
"    at most three times.  \"ccmapctl policy NAME\" replaces the attached\n"
"    policy at run time by NAME.bpf.o from the same directory: loaded with the\n"
"    same pin directory (it takes over the page states) and the same fault\n"
"    deadline, then swapped into the kernel atomically; if anything fails the\n"
"    old policy stays attached.\n"
"\n"
"    On SIGTERM or SIGINT ccmapd detaches the policy, unmaps every page of the\n"
"    shares (applications that touch them then wait for a policy until the\n"
"    deadline and get SIGBUS), says goodbye to its peers, closes its sockets\n"
"    and exits 0.  The pinned maps and the share marks stay for the next\n"
"    agent unless --clean is given.  Data this node held Exclusive and did\n"
"    not hand over is lost to the cluster, as a crash would lose it.\n"
"\n"
"STARTUP\n"
"    A start never destroys data.  Before it creates or changes any file\n"
"    ccmapd checks, in this order: the configuration; the key file; that the\n"
"    directory of every replica exists; that every existing replica is a\n"
"    regular file (no other share's) of the share's size; that the listen\n"
"    address is one of this machine's.  Then it binds the listen socket and\n"
"    the control socket (so a second agent, or an address in use, stops it\n"
"    here) and loads the policy.  Only then does it create missing replicas\n"
"    (mode 0600, zero-filled to the share's size) and resize replicas where\n"
"    resize_replicas allows it.  A start that fails before that point leaves\n"
"    every replica as it was, and says so (\"startup failed before any\n"
"    replica was created or resized\").\n"
"\n"
"    A replica whose size differs from its share's is refused (exit status\n"
"    2) with the share's file:line, the path, both sizes and the option that\n"
"    allows the change, unless resize_replicas says otherwise: \"grow\"\n"
"    (--resize-replicas) extends a smaller replica with zeros and still\n"
"    refuses to shrink one, since shrinking discards the tail of the file;\n"
"    \"any\" (--resize-replicas=any) also shrinks.  Every resize is logged as a\n"
"    warning with both sizes.\n"
"\n"
"    The share list (names and sizes) is compared with each peer's in the\n"
"    handshake, after startup.  A mismatch refuses that connection (logged,\n"
"    counted, shown by ccmapctl status) and never resizes or writes a replica.\n"
"\n"
"OPTIONS\n"
"    -c, --config FILE     configuration file (default " DEFAULT_CONFIG ")\n"
"    -o, --set KEY=VALUE   override a configuration line, e.g. -o node=2,\n"
"                          -o 'peer=3 10.77.0.3:7070', -o timeout_ms=2000,\n"
"                          -o 'share=data /tmp/data size 1M'; may be repeated\n"
"    -p, --policy NAME     policy to load (same as -o policy=NAME); a NAME with\n"
"                          a '/' is the path of a policy object file\n"
"    -B, --bpf-dir DIR     where the policy objects NAME.bpf.o are (default:\n"
"                          ../bpf and ./bpf next to the ccmapd binary, then\n"
"                          /usr/lib/ccmap/bpf)\n"
"    -P, --pin-dir DIR     bpffs directory for the pinned maps\n"
"                          (default " CCMAP_PIN_ROOT_DFL ")\n"
"        --clean           on exit also unpin the maps and unmanage the shares\n"
"        --resize-replicas[=grow|any|no]\n"
"                          may a replica whose size differs from its share's\n"
"                          be resized: grow (the default of the bare option)\n"
"                          only extends, any also shrinks; same as\n"
"                          -o resize_replicas=..., applied after every -o\n"
"                          (see STARTUP)\n"
"        --check           run every check of STARTUP that changes nothing\n"
"                          (configuration, key file, share directories and\n"
"                          replica sizes, listen address; not the ports, which\n"
"                          a running agent holds), print the canonical\n"
"                          configuration and what a start would create or\n"
"                          resize, and exit\n"
"    -v, --verbose         per-page tracing (requests, grants, revocations);\n"
"                          twice: every frame and libbpf's messages\n"
"    -h, --help            this text\n"
"\n"
"CONFIGURATION\n"
"    One keyword per line, '#' starts a comment:\n"
"        node <id>                        this node, 0..63 (required)\n"
"        listen <ip>:<port>               TCP address for peers (required)\n"
"        peer <id> <ip>:<port>            every other node\n"
"        key <path>                       cluster key file: 64..256 hex digits,\n"
"                                         not readable by group or others\n"
"        share <name> <path> size <size>  a share and its local replica\n"
"        policy <name>                    the object <name>.bpf.o (default msi)\n"
"        timeout_ms <n>                   fault deadline, 1..60000 (default 5000)\n"
"        idle_timeout_ms <n>              close and dial again a connection\n"
"                                         without traffic (default 15000)\n"
"        peer_dead_ms <n>                 declare a peer down after that long\n"
"                                         without a connection (default 15000;\n"
"                                         the interim failure detector; the\n"
"                                         lease on a home's pages is 2/3 of it)\n"
"        membership static|corosync       who declares peers down: the interim\n"
"                                         detector, or corosync's process group\n"
"                                         \"ccmap\" (corosync node id = node id)\n"
"        control <path>                   control socket\n"
"                                         (default " CCMAP_CFG_CONTROL_DFL ")\n"
"        resize_replicas no|grow|any      resize a replica of another size\n"
"                                         (default no; see STARTUP)\n"
"        tune <share|*> <name> <value>    set the policy's tunable <name> (a\n"
"                                         global of its object) for one share\n"
"                                         or all, e.g. tune * hold_ms 20 for\n"
"                                         mirage (policy/README.md)\n"
"\n"
"FILES\n"
"    " DEFAULT_CONFIG "       default configuration\n"
"    " CCMAP_CFG_CONTROL_DFL "        default control socket (mode 0600)\n"
"    " CCMAP_PIN_ROOT_DFL "/             pinned maps (ccmap_pages, ccmap_shares, ...)\n"
"    " CCMAP_SYSFS_DIR "/             kernel state of ccmap (policy, exit reason)\n"
"    <bpf-dir>/<policy>.bpf.o      policy objects\n"
"\n"
"EXAMPLES\n"
"    Three nodes, node 2's view (/etc/ccmap/ccmapd.conf):\n"
"        node 2\n"
"        listen 10.77.0.2:7070\n"
"        peer 1 10.77.0.1:7070\n"
"        peer 3 10.77.0.3:7070\n"
"        key /etc/ccmap/cluster.key\n"
"        share data /tmp/ccmap-data size 1M\n"
"\n"
"    Make a key once and copy it to every node:\n"
"        (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \\n' > /etc/ccmap/cluster.key)\n"
"\n"
"    Run in the foreground with per-page tracing:\n"
"        ccmapd -c /etc/ccmap/ccmapd.conf -v\n"
"\n"
"    Check a new configuration without touching anything, e.g. after\n"
"    changing a share's size (then start once with --resize-replicas):\n"
"        ccmapd -c /etc/ccmap/ccmapd.conf --check\n"
"\n"
"    Same configuration file on every node, node id on the command line:\n"
"        ccmapd -c cluster.conf -o node=3 -o listen=10.77.0.3:7070\n"
"\n"
"EXIT STATUS\n"
"    0   stopped by SIGTERM or SIGINT after a clean shutdown (or --check passed)\n"
"    1   a run-time failure: the policy did not load or attach, a replica or\n"
"        socket could not be set up, the listen address is in use (the log\n"
"        says which and why)\n"
"    2   a usage, configuration or key file error, or a share this machine\n"
"        cannot serve as configured: a missing directory, a replica of another\n"
"        size (see STARTUP), a listen address that is not this machine's\n"
"\n"
"SEE ALSO\n"
"    ccmapctl(1), tools/ccmap-watch.bt, docs in the ccmap source tree\n");
}

/* ---- epoll helpers ------------------------------------------------------------ */

int ep_add(struct src *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(A.epfd, EPOLL_CTL_ADD, s->fd, &ev)) {
		log_err("epoll_ctl(ADD): %s", strerror(errno));
		return -1;
	}
	return 0;
}

int ep_mod(struct src *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(A.epfd, EPOLL_CTL_MOD, s->fd, &ev)) {
		log_err("epoll_ctl(MOD): %s", strerror(errno));
		return -1;
	}
	return 0;
}

void ep_del(struct src *s)
{
	if (s->fd >= 0 && epoll_ctl(A.epfd, EPOLL_CTL_DEL, s->fd, NULL) && errno != EBADF &&
	    errno != ENOENT)
		log_warn("epoll_ctl(DEL): %s", strerror(errno));
}

const char *state_name(unsigned st)
{
	switch (st) {
	case CCMAP_ST_I:
		return "I";
	case CCMAP_ST_S:
		return "S";
	case CCMAP_ST_E:
		return "E";
	}
	return "?";
}

/* ---- setup ------------------------------------------------------------------- */

static int find_object(const char *policy, const char *bpf_dir)
{
	char exe[PATH_MAX], dirs[4][PATH_MAX];
	unsigned n = 0;
	ssize_t len;

	if (strchr(policy, '/')) {
		if (snprintf(A.obj_path, sizeof(A.obj_path), "%s", policy) >=
		    (int)sizeof(A.obj_path))
			return -1;
		if (access(A.obj_path, R_OK)) {
			log_err("policy object %s: %s", A.obj_path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (bpf_dir) {
		snprintf(dirs[n++], PATH_MAX, "%s", bpf_dir);
	} else {
		len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (len > 0) {
			char *d;

			exe[len] = 0;
			d = dirname(exe);
			snprintf(dirs[n++], PATH_MAX, "%.4000s/../bpf", d);
			snprintf(dirs[n++], PATH_MAX, "%.4000s/bpf", d);
			snprintf(dirs[n++], PATH_MAX, "%.4000s", d);
		}
		snprintf(dirs[n++], PATH_MAX, "/usr/lib/ccmap/bpf");
	}
	for (unsigned i = 0; i < n; i++) {
		if (snprintf(A.obj_path, sizeof(A.obj_path), "%s/%s.bpf.o", dirs[i], policy) >=
		    (int)sizeof(A.obj_path))
			continue;
		if (access(A.obj_path, R_OK) == 0)
			return 0;
	}
	log_err("policy object %s.bpf.o not found in %s%s (use --bpf-dir)", policy, dirs[0],
		n > 1 ? " and the other default places" : "");
	return -1;
}

/* What the checks before startup found for each replica. */
static struct ccmap_replica_check replica_checks[CCMAP_MAX_SHARES];
/* Set once open_replicas() may have created or resized a replica. */
static bool replicas_touched;

/* The shares as the agent sees them; touches no file. */
static int describe_shares(void)
{
	A.n_shares = A.cfg.n_shares;
	if (ccmap_config_share_descs(&A.cfg, A.descs) != A.n_shares) {
		log_err("cannot describe the shares");
		return -1;
	}
	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];

		sh->id = (uint16_t)i;
		sh->cfg = &A.cfg.shares[i];
		sh->npages = sh->cfg->size / CCMAP_PAGE_SIZE;
	}
	return 0;
}

/* The file behind sh->fd: a regular file, and no other share's. */
static int replica_identify(struct share *sh, struct stat *st)
{
	const struct ccmap_cfg_share *cs = sh->cfg;

	if (fstat(sh->fd, st)) {
		log_err("share %s: fstat %s: %s", cs->name, cs->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		log_err("share %s: replica %s is not a regular file", cs->name, cs->path);
		return -1;
	}
	sh->dev = (uint64_t)st->st_dev;
	sh->ino = (uint64_t)st->st_ino;
	for (unsigned j = 0; j < sh->id; j++) {
		const struct share *o = &A.shares[j];

		if (o->fd >= 0 && o->dev == sh->dev && o->ino == sh->ino) {
			log_err("share %s: replica %s is the same file as the replica %s of share %s",
				cs->name, cs->path, o->cfg->path, o->cfg->name);
			return -1;
		}
	}
	return 0;
}

static int replica_resize(struct share *sh, uint64_t from, bool created)
{
	const struct ccmap_cfg_share *cs = sh->cfg;

	if (ftruncate(sh->fd, (off_t)cs->size)) {
		log_err("share %s: cannot size replica %s to %llu bytes: %s", cs->name, cs->path,
			(unsigned long long)cs->size, strerror(errno));
		return -1;
	}
	if (created)
		log_info("share %s: created replica %s, %llu bytes of zeros", cs->name, cs->path,
			 (unsigned long long)cs->size);
	else if (from < cs->size)
		log_warn("share %s: replica %s grown from %llu to %llu bytes (resize_replicas %s)",
			 cs->name, cs->path, (unsigned long long)from,
			 (unsigned long long)cs->size, ccmap_resize_name(A.cfg.resize));
	else
		log_warn("share %s: replica %s shrunk from %llu to %llu bytes, its last %llu "
			 "bytes discarded (resize_replicas %s)", cs->name, cs->path,
			 (unsigned long long)from, (unsigned long long)cs->size,
			 (unsigned long long)(from - cs->size), ccmap_resize_name(A.cfg.resize));
	return 0;
}

/*
 * Runs only after every check passed, the sockets are bound and the policy
 * is loaded.  First every existing replica is opened and its size decided
 * again (it may have changed since the checks); only when all of them are
 * fine are the missing ones created and the sizes changed that
 * resize_replicas allows.
 */
static int open_replicas(void)
{
	enum ccmap_replica_plan plan[CCMAP_MAX_SHARES];
	uint64_t size[CCMAP_MAX_SHARES];
	struct ccmap_cfg_err ce;
	struct stat st;

	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];
		const struct ccmap_cfg_share *cs = sh->cfg;

		size[i] = 0;
		sh->fd = open(cs->path, O_RDWR | O_CLOEXEC);
		if (sh->fd < 0) {
			if (errno != ENOENT) {
				log_err("share %s: cannot open replica %s: %s", cs->name, cs->path,
					strerror(errno));
				return -1;
			}
			plan[i] = CCMAP_REPLICA_CREATE;
			continue;
		}
		if (replica_identify(sh, &st))
			return -1;
		size[i] = (uint64_t)st.st_size;
		if (ccmap_replica_decide(&A.cfg, i, true, size[i], &plan[i], &ce)) {
			log_err("%s", ce.msg);
			return -1;
		}
		if (plan[i] != replica_checks[i].plan || size[i] != replica_checks[i].size)
			log_warn("share %s: replica %s changed since the startup checks (now %llu "
				 "bytes)", cs->name, cs->path, (unsigned long long)size[i]);
	}
	replicas_touched = true;
	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];
		const struct ccmap_cfg_share *cs = sh->cfg;

		switch (plan[i]) {
		case CCMAP_REPLICA_KEEP:
			break;
		case CCMAP_REPLICA_CREATE:
			sh->fd = open(cs->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (sh->fd < 0) {
				log_err("share %s: cannot create replica %s: %s%s", cs->name,
					cs->path, strerror(errno), errno == EEXIST ?
					" (it appeared during startup: is another agent starting?)" :
					"");
				return -1;
			}
			if (replica_identify(sh, &st) || replica_resize(sh, 0, true)) {
				/* an empty file would be refused by the next start */
				if (unlink(cs->path))
					log_warn("share %s: cannot remove %s again: %s", cs->name,
						 cs->path, strerror(errno));
				return -1;
			}
			break;
		case CCMAP_REPLICA_GROW:
		case CCMAP_REPLICA_SHRINK:
			if (replica_resize(sh, size[i], false))
				return -1;
			break;
		}
	}
	return 0;
}

static int setup_fds(void)
{
	struct itimerspec its = {
		.it_interval = { .tv_nsec = TICK_MS * 1000000L },
		.it_value = { .tv_nsec = TICK_MS * 1000000L },
	};
	sigset_t set;

	A.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (A.epfd < 0) {
		log_err("epoll_create1: %s", strerror(errno));
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		log_err("sigprocmask: %s", strerror(errno));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	A.sig_src.kind = SRC_SIGNAL;
	A.sig_src.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	A.timer_src.kind = SRC_TIMER;
	A.timer_src.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (A.sig_src.fd < 0 || A.timer_src.fd < 0) {
		log_err("signalfd/timerfd: %s", strerror(errno));
		return -1;
	}
	if (timerfd_settime(A.timer_src.fd, 0, &its, NULL)) {
		log_err("timerfd_settime: %s", strerror(errno));
		return -1;
	}
	if (ep_add(&A.sig_src, EPOLLIN) || ep_add(&A.timer_src, EPOLLIN))
		return -1;
	return 0;
}

static void on_signal(void)
{
	struct signalfd_siginfo si;

	while (read(A.sig_src.fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: nothing to reload (restart ccmapd to change the "
				 "configuration)");
			continue;
		}
		log_info("%s from pid %u: stopping", strsignal((int)si.ssi_signo), si.ssi_pid);
		A.stopping = true;
	}
}

static void on_timer(void)
{
	uint64_t ticks;

	if (read(A.timer_src.fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn("timerfd read: %s", strerror(errno));
	net_tick(now_ms());
	cluster_tick(now_ms());
	if (A.obj) {
		coh_tick();
		bpf_drain_lost();
		bpf_reattach_tick(now_ms());
	}
}

/* After every handler: lost peers, then the messages to ourselves. */
static void settle(void)
{
	do {
		net_process_downs();
		coh_deliver_self();
	} while (A.self_head);
}

/*
 * Dispatch events until @done() says so (NULL: until A.stopping) or, with
 * @deadline_ms, until then.
 */
static void run(bool (*done)(void), uint64_t deadline_ms)
{
	struct epoll_event ev[64];

	while (done ? !done() : !A.stopping) {
		int wait_ms = -1, n;
		uint64_t due;

		if (deadline_ms) {
			uint64_t now = now_ms();

			if (now >= deadline_ms)
				break;
			wait_ms = (int)(deadline_ms - now);
		}
		due = coh_next_due_ms();
		if (due) {
			uint64_t now = now_ms();
			int d = due > now ? (int)(due - now) : 0;

			if (wait_ms < 0 || d < wait_ms)
				wait_ms = d;
		}
		n = epoll_wait(A.epfd, ev, 64, wait_ms);
		if (due)
			coh_run_due(false);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			A.stopping = true;
			break;
		}
		for (int i = 0; i < n && (done || !A.stopping); i++) {
			struct src *s = ev[i].data.ptr;

			if (s->fd < 0)
				continue;	/* closed by an earlier event of this batch */
			switch (s->kind) {
			case SRC_LISTEN:
				net_accept();
				break;
			case SRC_PEER:
				net_event((struct conn *)s, ev[i].events);
				break;
			case SRC_CTL_LISTEN:
				ctl_accept();
				break;
			case SRC_CTL:
				ctl_event(s, ev[i].events);
				break;
			case SRC_RING:
				bpf_ring_poll();
				break;
			case SRC_TIMER:
				on_timer();
				break;
			case SRC_SIGNAL:
				on_signal();
				break;
			case SRC_MEMBER:
				cluster_event(s);
				break;
			case SRC_LINK:
				bpf_link_event();
				break;
			}
			settle();
		}
		net_free_dead();
	}
}

static bool handed_off(void)
{
	return A.handoff_pending == 0;
}

/*
 * A clean stop: detach the policy (the kernel revokes every mapping), then
 * write the Exclusive pages back to their homes and wait up to 5 s for
 * their answers, and only then say BYE (cleanup).
 */
static void handoff(void)
{
	uint64_t t0 = now_ms();

	bpf_shutdown();
	if (!coh_handoff())
		return;
	run(handed_off, t0 + 5000);
	if (A.handoff_pending)
		log_warn("stopping: %u write-back(s) unanswered after 5 s: those pages revert "
			 "to their home copy", A.handoff_pending);
	log_info("stopping: %llu page(s) handed over, %llu stale, in %llu ms",
		 (unsigned long long)A.st.handoff_ok, (unsigned long long)A.st.handoff_stale,
		 (unsigned long long)(now_ms() - t0));
}

static void cleanup(void)
{
	bpf_shutdown();
	net_shutdown();
	cluster_close();
	ctl_shutdown();
	coh_free();
	for (unsigned i = 0; i < A.n_shares; i++) {
		if (A.shares[i].fd >= 0)
			close(A.shares[i].fd);
		A.shares[i].fd = -1;
	}
	if (A.sig_src.fd >= 0)
		close(A.sig_src.fd);
	if (A.timer_src.fd >= 0)
		close(A.timer_src.fd);
	if (A.epfd >= 0)
		close(A.epfd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "policy", required_argument, NULL, 'p' },
		{ "bpf-dir", required_argument, NULL, 'B' },
		{ "pin-dir", required_argument, NULL, 'P' },
		{ "clean", no_argument, NULL, 'C' },
		{ "check", no_argument, NULL, 'K' },
		{ "resize-replicas", optional_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *overrides[MAX_OVERRIDES + 1];
	static char policy_override[64 + 8];
	static char resize_override[40];
	const char *config = DEFAULT_CONFIG, *bpf_dir = NULL, *pin_dir = CCMAP_PIN_ROOT_DFL;
	const char *policy_path = NULL;
	unsigned n_over = 0;
	bool check = false;
	struct ccmap_cfg_err ce;
	int opt;

	memset(&A, 0, sizeof(A));
	A.epfd = A.sig_src.fd = A.timer_src.fd = A.listen_src.fd = A.ctl_src.fd = -1;
	for (unsigned i = 0; i < CCMAP_MAX_SHARES; i++)
		A.shares[i].fd = -1;

	while ((opt = getopt_long(argc, argv, "c:o:p:B:P:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'o':
			if (n_over == MAX_OVERRIDES) {
				fprintf(stderr, "ccmapd: at most %d -o options\n", MAX_OVERRIDES);
				return 2;
			}
			overrides[n_over++] = optarg;
			break;
		case 'p':
			if (strchr(optarg, '/')) {
				policy_path = optarg;
				break;
			}
			if (n_over == MAX_OVERRIDES ||
			    snprintf(policy_override, sizeof(policy_override), "policy=%s",
				     optarg) >= (int)sizeof(policy_override)) {
				fprintf(stderr, "ccmapd: bad --policy\n");
				return 2;
			}
			overrides[n_over++] = policy_override;
			break;
		case 'B':
			bpf_dir = optarg;
			break;
		case 'P':
			pin_dir = optarg;
			break;
		case 'C':
			A.clean = true;
			break;
		case 'K':
			check = true;
			break;
		case 'R':
			if (optarg && strcmp(optarg, "grow") && strcmp(optarg, "any") &&
			    strcmp(optarg, "no")) {
				fprintf(stderr, "ccmapd: --resize-replicas=%s: expected grow, any "
					"or no\n", optarg);
				return 2;
			}
			snprintf(resize_override, sizeof(resize_override), "resize_replicas=%s",
				 optarg ? optarg : "grow");
			break;
		case 'v':
			log_level = log_level < LOG_TRACE ? log_level + 1 : LOG_TRACE;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'ccmapd --help'.\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ccmapd: unexpected argument '%s'\nTry 'ccmapd --help'.\n",
			argv[optind]);
		return 2;
	}
	overrides[n_over] = NULL;
	if (resize_override[0]) {
		if (n_over == MAX_OVERRIDES) {
			fprintf(stderr, "ccmapd: at most %d -o options\n", MAX_OVERRIDES);
			return 2;
		}
		overrides[n_over++] = resize_override;
		overrides[n_over] = NULL;
	}
	/*
	 * Every check comes before anything is created or resized: the
	 * configuration, the key, the share directories and replicas, the
	 * listen address; then the sockets are bound and the policy is
	 * loaded.  Only then are replicas created or resized.
	 */
	if (ccmap_config_load(&A.cfg, config, overrides, n_over, &ce) ||
	    ccmap_config_load_key(&A.cfg, &A.key, &ce) ||
	    ccmap_config_check_shares(&A.cfg, replica_checks, &ce) ||
	    ccmap_config_check_listen(&A.cfg, &ce)) {
		fprintf(stderr, "ccmapd: %s\n", ce.msg);
		return 2;
	}
	if (check) {
		static char text[65536];

		/* A policy is its object file: one that is missing fails here. */
		if (find_object(policy_path ? policy_path : A.cfg.policy, bpf_dir))
			return 2;

		if (ccmap_config_format(&A.cfg, text, sizeof(text)) < 0) {
			fprintf(stderr, "ccmapd: configuration too large to print\n");
			return 2;
		}
		fputs(text, stdout);
		for (unsigned i = 0; i < A.cfg.n_shares; i++) {
			const struct ccmap_cfg_share *cs = &A.cfg.shares[i];
			unsigned long long have = (unsigned long long)replica_checks[i].size;

			switch (replica_checks[i].plan) {
			case CCMAP_REPLICA_KEEP:
				break;
			case CCMAP_REPLICA_CREATE:
				fprintf(stderr, "ccmapd: share %s: replica %s does not exist yet: "
					"a start creates it (%llu bytes of zeros)\n", cs->name,
					cs->path, (unsigned long long)cs->size);
				break;
			case CCMAP_REPLICA_GROW:
			case CCMAP_REPLICA_SHRINK:
				fprintf(stderr, "ccmapd: share %s: replica %s is %llu bytes: a start "
					"%s it to %llu bytes (resize_replicas %s)\n", cs->name,
					cs->path, have, replica_checks[i].plan == CCMAP_REPLICA_GROW ?
					"grows" : "shrinks", (unsigned long long)cs->size,
					ccmap_resize_name(A.cfg.resize));
				break;
			}
		}
		fprintf(stderr, "ccmapd: %s: configuration, key, listen address and shares are "
			"valid\n", config);
		return 0;
	}
	if (snprintf(A.pin_dir, sizeof(A.pin_dir), "%s", pin_dir) >= (int)sizeof(A.pin_dir)) {
		fprintf(stderr, "ccmapd: --pin-dir too long\n");
		return 2;
	}

	A.self = A.cfg.node;
	log_node = A.self;
	A.members = ccmap_config_members(&A.cfg);
	A.started_ms = now_ms();
	for (unsigned i = 0; i < A.cfg.n_peers; i++) {
		struct peer *p = &A.peers[A.cfg.peers[i].id];

		p->configured = true;
		p->id = A.cfg.peers[i].id;
		p->addr = A.cfg.peers[i].addr;
		A.n_peers++;
	}
	A.timeout_ms = A.cfg.timeout_ms;
	net_idle_timeout_ms = A.cfg.idle_timeout_ms;
	net_peer_dead_ms = A.cfg.peer_dead_ms;
	while (!A.incarnation) {
		if (getrandom(&A.incarnation, sizeof(A.incarnation), 0) != sizeof(A.incarnation)) {
			log_err("getrandom: %s", strerror(errno));
			return 1;
		}
	}
	log_info("starting: %u peer(s), %u share(s), policy %s, incarnation %016llx",
		 A.n_peers, A.cfg.n_shares, policy_path ? policy_path : A.cfg.policy,
		 (unsigned long long)A.incarnation);

	if (describe_shares() || find_object(policy_path ? policy_path : A.cfg.policy, bpf_dir) ||
	    setup_fds() || net_listen() || ctl_listen() || cluster_open() || bpf_setup() ||
	    open_replicas() || coh_init() || bpf_add_shares() || bpf_attach()) {
		if (replicas_touched)
			log_err("startup failed");
		else
			log_err("startup failed before any replica was created or resized");
		cleanup();
		return 1;
	}
	log_info("ready: node %u of %u, serving %u share(s)", A.self, A.n_peers + 1, A.n_shares);
	run(NULL, 0);
	handoff();
	cleanup();
	log_info("stopped cleanly");
	return 0;
}
