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
 * The membership module itself is the agent's, loader/agent/member.c
 * (docs/membership.md describes its API); this program prints its events.
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

#include "member.h"

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
