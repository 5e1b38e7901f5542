// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_pingpong - proves two guests exchange TCP, and measures the round trip.
 *
 * Usage: tcp_pingpong server PORT ROUNDS
 *        tcp_pingpong client HOST PORT ROUNDS
 *
 * The client sends ROUNDS messages of 64 bytes with a sequence number and a
 * pseudo-random body; the server echoes each one; the client checks every
 * echo byte for byte.  The client retries connecting for 60 s so that the
 * guests need not boot in order.  It prints the median round trip in
 * microseconds.  Exit status 0 only when every echo matched.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_LEN 64

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || !*s || *end || *out > max ? -1 : 0;
}

static int full_io(int fd, void *buf, size_t len, int rd)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = rd ? read(fd, (char *)buf + done, len - done)
			       : write(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int server(unsigned short port, unsigned long rounds)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	unsigned char buf[MSG_LEN];
	int one = 1, lfd, fd;
	unsigned long i;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1)) {
		perror("tcp_pingpong: server socket");
		return 1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		perror("tcp_pingpong: accept");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < rounds; i++) {
		if (full_io(fd, buf, sizeof(buf), 1) || full_io(fd, buf, sizeof(buf), 0)) {
			fprintf(stderr, "tcp_pingpong: server: connection lost at %lu\n", i);
			return 1;
		}
	}
	close(fd);
	close(lfd);
	printf("tcp_pingpong: server echoed %lu messages\n", rounds);
	return 0;
}

static int client(const char *host, unsigned short port, unsigned long rounds)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	unsigned char out[MSG_LEN], in[MSG_LEN];
	double *rtt, t0;
	unsigned long i, seed = 12345;
	int one = 1, fd = -1, tries;
	size_t j;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "tcp_pingpong: bad IPv4 address '%s'\n", host);
		return 2;
	}
	for (tries = 0; tries < 600; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			perror("tcp_pingpong: socket");
			return 1;
		}
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(fd);
		fd = -1;
		usleep(100000);
	}
	if (fd < 0) {
		fprintf(stderr, "tcp_pingpong: cannot connect to %s:%u\n", host, port);
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rtt = calloc(rounds, sizeof(*rtt));
	if (!rtt) {
		perror("tcp_pingpong: calloc");
		return 1;
	}
	for (i = 0; i < rounds; i++) {
		memcpy(out, &i, sizeof(i));
		for (j = sizeof(i); j < sizeof(out); j++) {
			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			out[j] = seed >> 56;
		}
		t0 = now_us();
		if (full_io(fd, out, sizeof(out), 0) || full_io(fd, in, sizeof(in), 1)) {
			fprintf(stderr, "tcp_pingpong: client: connection lost at %lu\n", i);
			free(rtt);
			return 1;
		}
		rtt[i] = now_us() - t0;
		if (memcmp(in, out, sizeof(in))) {
			fprintf(stderr, "tcp_pingpong: echo %lu differs from what was sent\n", i);
			free(rtt);
			return 1;
		}
	}
	qsort(rtt, rounds, sizeof(*rtt), cmp_double);
	printf("tcp_pingpong: %lu round trips to %s verified, median %.0f us\n",
	       rounds, host, rtt[rounds / 2]);
	free(rtt);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long port, rounds;

	if (argc == 4 && !strcmp(argv[1], "server") &&
	    !parse_uint(argv[2], 65535, &port) && !parse_uint(argv[3], 1000000, &rounds) &&
	    port && rounds)
		return server(port, rounds);
	if (argc == 5 && !strcmp(argv[1], "client") &&
	    !parse_uint(argv[3], 65535, &port) && !parse_uint(argv[4], 1000000, &rounds) &&
	    port && rounds)
		return client(argv[2], port, rounds);
	fprintf(stderr, "usage: tcp_pingpong server PORT ROUNDS\n"
			"       tcp_pingpong client HOST PORT ROUNDS\n");
	return 2;
}
