// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd: small I/O helpers shared by the peer connections (net.c), the
 * control socket (ctl.c) and the loader (bpf.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "agent.h"

int send_pending(int fd, const uint8_t *buf, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t n = send(fd, buf + *off, len - *off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
		}
		*off += (size_t)n;
	}
	return 0;
}

void read_line_file(const char *path, char *buf, size_t len, const char *dflt)
{
	FILE *f = fopen(path, "r");

	snprintf(buf, len, "%s", dflt);
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	if (!buf[0])
		snprintf(buf, len, "%s", dflt);
	fclose(f);
}
