// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapctl - talk to a running ccmapd over its control socket.
 * The protocol is described in usage() and in loader/agent/ctl.c.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ccmap/config.h>

#define DEFAULT_SOCKET	CCMAP_CFG_CONTROL_DFL
#define LINE_MAX_REQ	CCMAP_CTL_LINE_MAX

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    ccmapctl - query a running ccmap agent (ccmapd)\n"
"\n"
"SYNOPSIS\n"
"    ccmapctl [-s SOCKET | -c CONFIG] [-t SECONDS] status\n"
"    ccmapctl [-s SOCKET | -c CONFIG] [-t SECONDS] pages SHARE [FROM [N]]\n"
"    ccmapctl [-s SOCKET | -c CONFIG] [-t SECONDS] stats\n"
"    ccmapctl [-s SOCKET | -c CONFIG] [-t SECONDS] stat NAME\n"
"    ccmapctl [-s SOCKET | -c CONFIG] [-t SECONDS] wait\n"
"    ccmapctl [-s SOCKET | -c CONFIG] [-t SECONDS] policy NAME\n"
"    ccmapctl [-s SOCKET | -c CONFIG] raw REQUEST...\n"
"    ccmapctl -h | --help\n"
"\n"
"DESCRIPTION\n"
"    ccmapctl connects to the control socket of the ccmapd of this node,\n"
"    sends one request and prints the answer, one \"key value...\" line each.\n"
"\n"
"COMMANDS\n"
"    status      node id, incarnation, policy (name, object, attached) and the\n"
"                kernel's view of it from /sys/kernel/ccmap (state, attached\n"
"                ops, last exit kind and reason, deadline, waiting faults);\n"
"                peers configured, connected and authenticated, then one line\n"
"                per peer (address, up/down, incarnation, round trip, last\n"
"                error); one line per share (path, size, pages, how many are\n"
"                I, S and E on this node, pending requests, pages homed here,\n"
"                transactions in progress) and the total of pending requests.\n"
"    pages SHARE [FROM [N]]\n"
"                one line per page FROM.. (default 0, N default 64, at most\n"
"                65536): this node's state, version and pending request, the\n"
"                policy's state (bpf, +wantS/+wantE while a fault waits), the\n"
"                home node and, for pages homed here, the owner, the copyset,\n"
"                the directory's version and the transaction in progress.\n"
"                SHARE is a share name or its index.\n"
"    stats       counters: requests sent and served, grants, forwards\n"
"                (invalidations, downgrades, fetches), acks, errors,\n"
"                coherency messages, page bytes moved, connections, bad\n"
"                frames (total and bad_frames.<reason>), the directory's\n"
"                counters (dir.*), the policy's (bpf.*: faults, go, posted,\n"
"                coalesced, ...) and the kernel's (kernel.*: faults, waits,\n"
"                wakes, timeouts, sigbus, ...).\n"
"    stat NAME   the value of one counter of \"stats\" (exit 1 if unknown).\n"
"    wait        wait until the agent answers and every configured peer (but\n"
"                those lost for good, whose pages were re-homed) is\n"
"                authenticated (up to -t SECONDS, default 60).\n"
"    policy NAME replace the attached policy, at run time, by NAME.bpf.o from\n"
"                the agent's policy directory (-B): it is loaded with the same\n"
"                pin directory, so it takes over the pinned maps (page states,\n"
"                shares, ring buffer), gets the same fault deadline and is\n"
"                swapped into the kernel atomically (no moment without a\n"
"                policy).  On ERR (unknown policy, load failure with the end\n"
"                of the verifier log, swap failure) the old policy stays\n"
"                attached.  Swapping to the policy already running reloads it.\n"
"    raw REQUEST...\n"
"                send REQUEST as it is and print the answer, e.g. \"raw ping\",\n"
"                or \"raw test-error-exit\": a test hook that makes the policy\n"
"                raise an error exit (the kernel detaches it, ccmapd logs the\n"
"                reason and attaches it again after a second).\n"
"\n"
"OPTIONS\n"
"    -s, --socket PATH    control socket (default " DEFAULT_SOCKET ")\n"
"    -c, --config FILE    take the control socket from ccmapd's configuration\n"
"    -t, --timeout SEC    give up after SEC seconds (default 10; wait: 60)\n"
"    -h, --help           this text\n"
"\n"
"PROTOCOL\n"
"    The control socket is a Unix stream socket (mode 0600).  A request is\n"
"    one line of at most " CCMAP_CTL_LINE_MAX_S " bytes of printable text: \"status\", \"pages\n"
"    SHARE [FROM [N]]\", \"stats\", \"ping\", \"policy NAME\", \"help\" or\n"
"    \"test-error-exit\".\n"
"    The answer is zero or more lines of text followed by a line that is\n"
"    exactly \"OK\", or a line \"ERR <reason>\" for a bad request.  Requests\n"
"    may follow each other on one connection; a line that is too long or not\n"
"    text is answered with ERR and the connection is closed.\n"
"\n"
"FILES\n"
"    " DEFAULT_SOCKET "   default control socket\n"
"\n"
"EXAMPLES\n"
"    ccmapctl status\n"
"    ccmapctl pages data 0 8\n"
"    ccmapctl stat coherency_messages_sent\n"
"    ccmapctl -t 120 wait && run-my-workload\n"
"    ccmapctl policy msi\n"
"    ccmapctl -s /run/ccmap/node2.sock stats | grep ^bad_frames\n"
"\n"
"EXIT STATUS\n"
"    0   the agent answered OK (wait: every peer is up)\n"
"    1   the agent answered ERR, the counter is unknown, or wait timed out\n"
"    2   usage error, or the agent could not be reached\n");
}

static int sock_path_from_config(const char *file, char *out, size_t len)
{
	struct ccmap_config *c = malloc(sizeof(*c));
	struct ccmap_cfg_err e;

	if (!c) {
		fprintf(stderr, "ccmapctl: out of memory\n");
		return -1;
	}
	ccmap_config_defaults(c);
	if (ccmap_config_parse_file(c, file, &e)) {
		fprintf(stderr, "ccmapctl: %s\n", e.msg);
		free(c);
		return -1;
	}
	snprintf(out, len, "%s", c->control);
	free(c);
	return 0;
}

static int connect_agent(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ccmapctl: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "ccmapctl: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Send @req and collect the answer into a malloc()ed buffer (*answer, data
 * lines only) and the final line into @last.  0 on OK, 1 on ERR, -1 on
 * failure (message printed unless @quiet).
 */
static int request(const char *path, const char *req, double timeout, char **answer,
		   char *last, size_t last_len, bool quiet)
{
	double deadline = now_s() + timeout;
	size_t cap = 65536, len = 0, reqlen = strlen(req);
	char *buf, *line;
	int fd, rc = -1;

	*answer = NULL;
	fd = connect_agent(path);
	if (fd < 0) {
		if (!quiet)
			fprintf(stderr, "ccmapctl: cannot reach ccmapd at %s: %s\n", path,
				strerror(errno));
		return -1;
	}
	if (write(fd, req, reqlen) != (ssize_t)reqlen || write(fd, "\n", 1) != 1) {
		if (!quiet)
			fprintf(stderr, "ccmapctl: sending the request: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = deadline - now_s();
		char *end;
		ssize_t n;

		/* The answer is complete once its last line is OK or ERR. */
		if (len && buf[len - 1] == '\n') {
			buf[len] = 0;
			end = buf + len - 1;
			*end = 0;
			line = strrchr(buf, '\n');
			line = line ? line + 1 : buf;
			if (!strcmp(line, "OK") || !strncmp(line, "ERR", 3)) {
				snprintf(last, last_len, "%s", line);
				*line = 0;
				rc = strcmp(last, "OK") ? 1 : 0;
				break;
			}
			*end = '\n';
		}
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0) {
			if (!quiet)
				fprintf(stderr, "ccmapctl: no complete answer from ccmapd within %g s\n",
					timeout);
			break;
		}
		if (cap - len < 4096 + 1) {
			char *nb = cap < (256u << 20) ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				if (!quiet)
					fprintf(stderr, "ccmapctl: answer too large\n");
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!quiet)
				fprintf(stderr, "ccmapctl: ccmapd closed the connection%s%s\n",
					n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (rc < 0) {
		free(buf);
		return -1;
	}
	*answer = buf;
	return rc;
}

/* Value of "key value" line @key in @text, or NULL. */
static const char *find_value(char *text, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	for (char *l = text; l && *l; ) {
		char *nl = strchr(l, '\n');

		if (!strncmp(l, key, kl) && l[kl] == ' ') {
			size_t vl = nl ? (size_t)(nl - (l + kl + 1)) : strlen(l + kl + 1);

			if (vl >= len)
				vl = len - 1;
			memcpy(out, l + kl + 1, vl);
			out[vl] = 0;
			return out;
		}
		l = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static int do_wait(const char *path, double timeout)
{
	double deadline = now_s() + timeout;
	bool reached = false;

	for (;;) {
		char *ans = NULL, last[256], conf[32], auth[32], away[32] = "0";
		int rc = request(path, "status", 5, &ans, last, sizeof(last), true);

		if (rc == 0) {
			reached = true;
			/* Nodes lost for good (their pages re-homed) are not waited for. */
			find_value(ans, "peers_lost_away", away, sizeof(away));
			if (find_value(ans, "peers_configured", conf, sizeof(conf)) &&
			    find_value(ans, "peers_authenticated", auth, sizeof(auth)) &&
			    atol(auth) + atol(away) >= atol(conf)) {
				if (atol(away))
					printf("all %ld peer(s) authenticated (%s lost for good)\n",
					       atol(conf) - atol(away), away);
				else
					printf("all %s peer(s) authenticated\n", conf);
				free(ans);
				return 0;
			}
		}
		free(ans);
		if (now_s() >= deadline) {
			fprintf(stderr, "ccmapctl: %s within %g s\n",
				reached ? "not every peer is authenticated" :
				"ccmapd did not answer", timeout);
			return 1;
		}
		usleep(200 * 1000);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char path[CCMAP_CFG_SOCK_MAX + 1] = DEFAULT_SOCKET;
	char req[LINE_MAX_REQ + 1], last[512];
	double timeout = -1;
	char *ans = NULL, *end;
	size_t n = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "+s:c:t:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			if (snprintf(path, sizeof(path), "%s", optarg) >= (int)sizeof(path)) {
				fprintf(stderr, "ccmapctl: socket path too long\n");
				return 2;
			}
			break;
		case 'c':
			if (sock_path_from_config(optarg, path, sizeof(path)))
				return 2;
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || !(timeout > 0) || timeout > 86400) {
				fprintf(stderr, "ccmapctl: bad timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'ccmapctl --help'.\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ccmapctl: no command\nTry 'ccmapctl --help'.\n");
		return 2;
	}
	argv += optind;
	argc -= optind;

	if (!strcmp(argv[0], "wait") && argc == 1)
		return do_wait(path, timeout > 0 ? timeout : 60);
	if (!strcmp(argv[0], "stat")) {
		char val[128];

		if (argc != 2) {
			fprintf(stderr, "ccmapctl: usage: stat NAME\n");
			return 2;
		}
		rc = request(path, "stats", timeout > 0 ? timeout : 10, &ans, last, sizeof(last),
			     false);
		if (rc < 0)
			return 2;
		if (rc == 0 && find_value(ans, argv[1], val, sizeof(val))) {
			printf("%s\n", val);
			free(ans);
			return 0;
		}
		if (rc)
			fprintf(stderr, "ccmapctl: %s\n", last);
		else
			fprintf(stderr, "ccmapctl: no counter '%s' (see ccmapctl stats)\n", argv[1]);
		free(ans);
		return 1;
	}
	if (!strcmp(argv[0], "status") || !strcmp(argv[0], "stats")) {
		if (argc != 1) {
			fprintf(stderr, "ccmapctl: %s takes no arguments\n", argv[0]);
			return 2;
		}
	} else if (!strcmp(argv[0], "pages")) {
		if (argc < 2 || argc > 4) {
			fprintf(stderr, "ccmapctl: usage: pages SHARE [FROM [N]]\n");
			return 2;
		}
	} else if (!strcmp(argv[0], "policy")) {
		if (argc != 2) {
			fprintf(stderr, "ccmapctl: usage: policy NAME\n");
			return 2;
		}
	} else if (!strcmp(argv[0], "raw")) {
		argv++;
		argc--;
		if (argc == 0) {
			fprintf(stderr, "ccmapctl: usage: raw REQUEST...\n");
			return 2;
		}
	} else {
		fprintf(stderr, "ccmapctl: unknown command '%s'\nTry 'ccmapctl --help'.\n", argv[0]);
		return 2;
	}
	req[0] = 0;
	for (int i = 0; i < argc; i++) {
		int w = snprintf(req + n, sizeof(req) - n, "%s%s", i ? " " : "", argv[i]);

		if (w < 0 || (size_t)w >= sizeof(req) - n) {
			fprintf(stderr, "ccmapctl: request longer than %d bytes\n", LINE_MAX_REQ);
			return 2;
		}
		n += (size_t)w;
	}
	rc = request(path, req, timeout > 0 ? timeout : 10, &ans, last, sizeof(last), false);
	if (rc < 0)
		return 2;
	fputs(ans, stdout);
	free(ans);
	if (rc) {
		fprintf(stderr, "ccmapctl: %s\n", last);
		return 1;
	}
	return 0;
}
