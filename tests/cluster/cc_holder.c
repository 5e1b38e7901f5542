// SPDX-License-Identifier: GPL-2.0
/*
 * cc_holder - store into pages of a share as fast as it can and remember
 * when the last store completed; used by agent_death.sh to show that a
 * node loses its rights the moment its agent dies.
 *
 *   cc_holder -f FILE -s SIZE -i PAGES -o OUT
 *
 * Increments word 0 of pages 0..PAGES-1 of the share in a loop.  After each
 * completed store it records the store count and the CLOCK_REALTIME at
 * which that store began (last_store).  SIGTERM
 * (delivered even while the process waits in a fault) or SIGBUS writes
 * "stores N last_store SEC.NSEC signal NAME" to OUT and exits 0; nothing
 * else ends it.  It writes "ready" to OUT.ready once every page was stored
 * to once.
 */
#include "cluster.h"

static volatile sig_atomic_t stores;
static volatile struct timespec last;
static int out_fd = -1;

static void put_num(char **p, unsigned long long v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*(*p)++ = tmp[--n];
}

/* Async-signal-safe: formats by hand and write()s. */
static void on_signal(int sig)
{
	char buf[128], *p = buf;
	const char *name = sig == SIGBUS ? "SIGBUS" : "SIGTERM";
	long ns = last.tv_nsec;
	int i;

	memcpy(p, "stores ", 7);
	p += 7;
	put_num(&p, (unsigned long long)stores);
	memcpy(p, " last_store ", 12);
	p += 12;
	put_num(&p, (unsigned long long)last.tv_sec);
	*p++ = '.';
	for (i = 100000000; i >= 1; i /= 10) {
		*p++ = (char)('0' + ns / i);
		ns %= i;
	}
	memcpy(p, " signal ", 8);
	p += 8;
	memcpy(p, name, strlen(name));
	p += strlen(name);
	*p++ = '\n';
	if (write(out_fd, buf, (size_t)(p - buf)) < 0)
		_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *out = NULL;
	char ready[4096];
	unsigned long pages = 0, p;
	size_t size = 0;
	volatile uint64_t *map;
	struct timespec ts;
	const char *file = NULL;
	int opt, fd;

	while ((opt = getopt(argc, argv, "f:s:i:o:")) != -1) {
		switch (opt) {
		case 'f': file = optarg; break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		case 'i': pages = strtoul(optarg, NULL, 10); break;
		case 'o': out = optarg; break;
		default:
			fprintf(stderr, "usage: cc_holder -f FILE -s SIZE -i PAGES -o OUT\n");
			return 2;
		}
	}
	if (!file || !out || !pages || size < pages * CC_PAGE) {
		fprintf(stderr, "usage: cc_holder -f FILE -s SIZE -i PAGES -o OUT\n");
		return 2;
	}
	out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	fd = open(file, O_RDWR | O_CLOEXEC);
	if (out_fd < 0 || fd < 0) {
		perror("cc_holder: open");
		return 1;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("cc_holder: mmap");
		return 1;
	}
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGBUS);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGBUS, &sa, NULL)) {
		perror("cc_holder: sigaction");
		return 1;
	}
	for (unsigned long n = 0;; n++) {
		p = n % pages;
		/*
		 * The time is taken before the store: a store that began after
		 * the node lost its rights can only complete once they are back.
		 */
		clock_gettime(CLOCK_REALTIME, &ts);
		__atomic_fetch_add(&map[p * CC_WORDS], 1, __ATOMIC_SEQ_CST);
		/* Count and time are updated together: signals are blocked. */
		sigprocmask(SIG_BLOCK, &sa.sa_mask, NULL);
		stores = stores + 1;
		last.tv_sec = ts.tv_sec;
		last.tv_nsec = ts.tv_nsec;
		sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
		if (n + 1 == pages) {
			snprintf(ready, sizeof(ready), "%s.ready", out);
			fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
		}
	}
}
