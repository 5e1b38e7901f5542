// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd logging: one line per event on stderr,
 *
 *   2024-11-22T06:40:01.123 ccmapd[node 2] warn: peer 3: handshake failed: ...
 *
 * Levels: err, warn, info (default), debug (-v: per-page tracing of
 * requests, grants and forwards), trace (-vv: every frame).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "agent.h"

int log_level = LOG_INFO;
int log_node = -1;

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void logmsg(int level, const char *fmt, ...)
{
	char line[1024], stamp[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	if (level > log_level)
		return;
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_node >= 0)
		n = snprintf(line, sizeof(line), "%s.%03ld ccmapd[node %d] %s: ", stamp,
			     (long)(tv.tv_usec / 1000), log_node, level_names[level]);
	else
		n = snprintf(line, sizeof(line), "%s.%03ld ccmapd %s: ", stamp,
			     (long)(tv.tv_usec / 1000), level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* one write per line: lines of several processes do not mix */
	fprintf(stderr, "%s\n", line);
}
