// SPDX-License-Identifier: GPL-2.0
/*
 * cc_clock - how far this guest's CLOCK_REALTIME is from another's, so that
 * times taken on different nodes can be compared (partition.sh: did anyone
 * write a page before the node cut off had stopped writing it?).  The guests'
 * clocks start from the RTC and differ by up to a second.
 *
 *   cc_clock -l ADDR:PORT -t SECONDS   answer queries for SECONDS
 *   cc_clock -q ADDR:PORT              query 40 times, print the offset
 *
 * A query is one UDP datagram; the answer carries the server's time.  Of 40
 * exchanges 10 ms apart the one with the shortest round trip is kept:
 * offset = server time - midpoint of send and receive, wrong by at most
 * half that round trip, which is printed as the error bound:
 *
 *   offset_ns -412000315 err_ns 310211
 *
 * (add offset_ns to a time of this node to get the server's clock).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "cluster.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end || !port || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static int serve(int fd, const struct sockaddr_in *sin, long seconds)
{
	int64_t until = now_ns() + (int64_t)seconds * 1000000000;

	if (bind(fd, (const struct sockaddr *)sin, sizeof(*sin))) {
		perror("cc_clock: bind");
		return 1;
	}
	while (now_ns() < until) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		int64_t msg[2];
		ssize_t n;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = recvfrom(fd, msg, sizeof(msg), 0, (struct sockaddr *)&from, &flen);
		if (n != (ssize_t)sizeof(msg[0]))
			continue;
		msg[1] = now_ns();
		if (sendto(fd, msg, sizeof(msg), 0, (struct sockaddr *)&from, flen) < 0)
			perror("cc_clock: sendto");
	}
	return 0;
}

static int query(int fd, const struct sockaddr_in *sin)
{
	int64_t best_rtt = INT64_MAX, best_off = 0;

	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin))) {
		perror("cc_clock: connect");
		return 1;
	}
	for (int i = 0; i < 40; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t msg[2], t0 = now_ns(), t1;

		msg[0] = t0;
		if (send(fd, msg, sizeof(msg[0]), 0) < 0) {
			perror("cc_clock: send");
			return 1;
		}
		if (poll(&pfd, 1, 500) == 1 && recv(fd, msg, sizeof(msg), 0) == sizeof(msg) &&
		    msg[0] == t0) {
			t1 = now_ns();
			if (t1 - t0 < best_rtt) {
				best_rtt = t1 - t0;
				best_off = msg[1] - (t0 + (t1 - t0) / 2);
			}
		}
		usleep(10000);
	}
	if (best_rtt == INT64_MAX) {
		fprintf(stderr, "cc_clock: no answer\n");
		return 1;
	}
	printf("offset_ns %lld err_ns %lld\n", (long long)best_off, (long long)(best_rtt / 2));
	return 0;
}

int main(int argc, char **argv)
{
	const char *listen_at = NULL, *ask = NULL;
	struct sockaddr_in sin;
	long seconds = 0;
	int opt, fd;

	while ((opt = getopt(argc, argv, "l:q:t:")) != -1) {
		switch (opt) {
		case 'l': listen_at = optarg; break;
		case 'q': ask = optarg; break;
		case 't': seconds = strtol(optarg, NULL, 10); break;
		default:
			goto usage;
		}
	}
	if (!!listen_at == !!ask || (listen_at && seconds <= 0) ||
	    parse_addr(listen_at ? listen_at : ask, &sin))
		goto usage;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("cc_clock: socket");
		return 1;
	}
	return listen_at ? serve(fd, &sin, seconds) : query(fd, &sin);
usage:
	fprintf(stderr, "usage: cc_clock -l ADDR:PORT -t SECONDS | cc_clock -q ADDR:PORT\n");
	return 2;
}
