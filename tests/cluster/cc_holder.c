// SPDX-License-Identifier: GPL-2.0
/*
 * cc_holder - store into pages of a share as fast as it can and remember
 * when its stores completed; used by agent_death.sh (a node loses its rights
 * the moment its agent dies) and partition.sh (a node cut off loses them
 * within its lease, and nobody else writes its pages before that).
 *
 *   cc_holder -f FILE -s SIZE (-i PAGES | -l P,P,...) [-w WORD] -o OUT
 *   cc_holder -f FILE -s SIZE (-i PAGES | -l P,P,...) [-w WORD] -r
 *
 * Increments word WORD (default 0) of pages 0..PAGES-1 (or of the listed pages) of the
 * share in a loop.  Each completed store is counted; the CLOCK_REALTIME at
 * which it began and at which it completed are kept for the first and the
 * last one (a store that waited in a fault executed just before its end).
 * SIGUSR1 appends a report line to OUT and goes on.  SIGUSR2 stops it after
 * the store in progress, with a report: its count is then exact, which is
 * what the tests that compare it with the pages use.  SIGTERM (delivered
 * even while the process waits in a fault) or SIGBUS appends one and exits
 * 0 at once; a store that completed as SIGTERM arrived may be missing from
 * its count.  Nothing else ends it:
 *
 *   stores N last_store BEGIN signal NAME last_end END first_store BEGIN first_end END
 *
 * (times SEC.NSEC; 0.000000000 while there was no store).  It writes "ready"
 * to OUT.ready once every page was stored to once.
 *
 * With -r it only reads that word of those pages through a mapping of the
 * share and prints "sum S" (the total of what cc_holders stored there).
 */
#include "cluster.h"

#define MAX_PAGES 64

static volatile sig_atomic_t stores, stop_req;
static volatile struct timespec last, last_end, first, first_end;
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

static void put_str(char **p, const char *s)
{
	size_t n = strlen(s);

	memcpy(*p, s, n);
	*p += n;
}

static void put_time(char **p, const volatile struct timespec *t)
{
	long ns = t->tv_nsec;

	put_num(p, (unsigned long long)t->tv_sec);
	*(*p)++ = '.';
	for (long i = 100000000; i >= 1; i /= 10) {
		*(*p)++ = (char)('0' + ns / i);
		ns %= i;
	}
}

/* Async-signal-safe: formats by hand and write()s. */
static void on_signal(int sig)
{
	char buf[256], *p = buf;

	put_str(&p, "stores ");
	put_num(&p, (unsigned long long)stores);
	put_str(&p, " last_store ");
	put_time(&p, &last);
	put_str(&p, " signal ");
	put_str(&p, sig == SIGBUS ? "SIGBUS" : sig == SIGUSR1 ? "SIGUSR1" :
		sig == SIGUSR2 ? "SIGUSR2" : "SIGTERM");
	put_str(&p, " last_end ");
	put_time(&p, &last_end);
	put_str(&p, " first_store ");
	put_time(&p, &first);
	put_str(&p, " first_end ");
	put_time(&p, &first_end);
	*p++ = '\n';
	if (write(out_fd, buf, (size_t)(p - buf)) < 0)
		_exit(1);
	if (sig != SIGUSR1)
		_exit(0);
}

static void on_stop(int sig)
{
	(void)sig;
	stop_req = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: cc_holder -f FILE -s SIZE (-i PAGES | -l P,P,...) [-w WORD] "
		"(-o OUT | -r)\n");
	exit(2);
}

/* "3,7,12" into @list; the number of pages, or 0 if malformed. */
static unsigned long parse_list(const char *s, unsigned long *list)
{
	unsigned long n = 0;
	char *end;

	while (*s) {
		if (n == MAX_PAGES || *s < '0' || *s > '9')
			return 0;
		list[n++] = strtoul(s, &end, 10);
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return 0;
		s = end;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long list[MAX_PAGES], pages = 0, p;
	const char *out = NULL, *file = NULL;
	struct timespec ts, te;
	volatile uint64_t *map;
	char ready[4096];
	size_t size = 0;
	unsigned long word = 0;
	bool read_only = false;
	int opt, fd;

	while ((opt = getopt(argc, argv, "f:s:i:l:o:rw:")) != -1) {
		switch (opt) {
		case 'f': file = optarg; break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		case 'i':
			pages = strtoul(optarg, NULL, 10);
			if (!pages || pages > MAX_PAGES)
				usage();
			for (p = 0; p < pages; p++)
				list[p] = p;
			break;
		case 'l':
			pages = parse_list(optarg, list);
			if (!pages)
				usage();
			break;
		case 'o': out = optarg; break;
		case 'r': read_only = true; break;
		case 'w':
			word = strtoul(optarg, NULL, 10);
			if (word >= CC_WORDS)
				usage();
			break;
		default:
			usage();
		}
	}
	if (!file || !pages || !out == !read_only)
		usage();
	for (p = 0; p < pages; p++)
		if ((list[p] + 1) * CC_PAGE > size)
			usage();
	if (read_only) {
		uint64_t sum = 0;

		fd = open(file, O_RDONLY | O_CLOEXEC);
		map = fd < 0 ? MAP_FAILED : mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			perror("cc_holder: open/mmap");
			return 1;
		}
		for (p = 0; p < pages; p++)
			sum += map[list[p] * CC_WORDS + word];
		printf("sum %llu\n", (unsigned long long)sum);
		return 0;
	}
	out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
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
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaddset(&sa.sa_mask, SIGUSR2);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGBUS, &sa, NULL) ||
	    sigaction(SIGUSR1, &sa, NULL)) {
		perror("cc_holder: sigaction");
		return 1;
	}
	{
		struct sigaction st = { .sa_handler = on_stop };

		sigemptyset(&st.sa_mask);
		if (sigaction(SIGUSR2, &st, NULL)) {
			perror("cc_holder: sigaction");
			return 1;
		}
	}
	for (unsigned long n = 0;; n++) {
		p = list[n % pages];
		/*
		 * The time is taken before the store: a store that began after
		 * the node lost its rights can only complete once they are back.
		 */
		clock_gettime(CLOCK_REALTIME, &ts);
		__atomic_fetch_add(&map[p * CC_WORDS + word], 1, __ATOMIC_SEQ_CST);
		clock_gettime(CLOCK_REALTIME, &te);
		/* Count and times are updated together: signals are blocked. */
		sigprocmask(SIG_BLOCK, &sa.sa_mask, NULL);
		if (!stores) {
			first.tv_sec = ts.tv_sec;
			first.tv_nsec = ts.tv_nsec;
			first_end.tv_sec = te.tv_sec;
			first_end.tv_nsec = te.tv_nsec;
		}
		stores = stores + 1;
		last.tv_sec = ts.tv_sec;
		last.tv_nsec = ts.tv_nsec;
		last_end.tv_sec = te.tv_sec;
		last_end.tv_nsec = te.tv_nsec;
		if (stop_req)
			on_signal(SIGUSR2);	/* reports and exits */
		sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
		if (n + 1 == pages) {
			snprintf(ready, sizeof(ready), "%s.ready", out);
			fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
		}
	}
}
