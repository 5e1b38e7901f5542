// SPDX-License-Identifier: GPL-2.0
/*
 * util.c - helpers of the in-guest selftests (see util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "util.h"

double st_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void st_sleep_ms(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- shares ---- */

int st_share_open(struct st_share *s, const char *dir, unsigned int npages,
		  const struct bpf_program *manage, bool map)
{
	unsigned char page[ST_PAGE_SIZE];
	struct st_args a = { };
	struct stat st;
	unsigned int i;
	int err;

	memset(s, 0, sizeof(*s));
	if (!strcmp(dir, "/tmp") && getenv("CCMAP_ST_DIR"))
		dir = getenv("CCMAP_ST_DIR");
	/* fd 0 means "not open" in a zeroed share: use 3 and up. */
	s->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->fd >= 0 && s->fd < 3) {
		int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);

		close(s->fd);
		s->fd = fd;
	}
	if (s->fd < 0) {
		err = -errno;
		CCMAP_ERR("O_TMPFILE in %s: %s", dir, strerror(errno));
		s->fd = 0;
		return err;
	}
	s->npages = npages;
	for (i = 0; i < npages; i++) {
		memset(page, st_fill(i), sizeof(page));
		if (pwrite(s->fd, page, sizeof(page), (off_t)i * ST_PAGE) !=
		    (ssize_t)sizeof(page)) {
			err = errno ? -errno : -EIO;
			CCMAP_ERR("fill page %u: %s", i, strerror(-err));
			goto fail;
		}
	}
	if (fstat(s->fd, &st)) {
		err = -errno;
		CCMAP_ERR("fstat: %s", strerror(errno));
		goto fail;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (manage) {
		a.fd = s->fd;
		err = st_run(manage, &a);
		if (!err && a.ret)
			err = (int)a.ret;
		if (err) {
			CCMAP_ERR("bpf_ccmap_manage: %s", strerror(-err));
			goto fail;
		}
		s->manage = manage;
	}
	if (map) {
		s->map = st_share_mmap(s, MAP_SHARED);
		if (!s->map) {
			err = -ENOMEM;
			goto fail;
		}
	}
	return 0;
fail:
	st_share_close(s);
	return err;
}

void st_share_close(struct st_share *s)
{
	struct st_args a = { .arg = CCMAP_MANAGE_UNMANAGE };

	if (s->map) {
		munmap(s->map, (size_t)s->npages * ST_PAGE);
		s->map = NULL;
	}
	if (s->fd > 0 && s->manage) {
		/* Fails only if the test left another mapping behind. */
		a.fd = s->fd;
		if (st_run(s->manage, &a) || a.ret)
			CCMAP_ERR("unmanage: %s", strerror((int)-a.ret));
	}
	s->manage = NULL;
	if (s->fd > 0)
		close(s->fd);
	s->fd = 0;
}

char *st_share_mmap(const struct st_share *s, int flags)
{
	void *p = mmap(NULL, (size_t)s->npages * ST_PAGE,
		       PROT_READ | PROT_WRITE, flags, s->fd, 0);

	if (p == MAP_FAILED) {
		CCMAP_ERR("mmap: %s", strerror(errno));
		return NULL;
	}
	return p;
}

/* ---- syscall programs ---- */

int st_run(const struct bpf_program *prog, struct st_args *a)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .ctx_in = a,
		    .ctx_size_in = sizeof(*a));
	int err;

	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
	if (err) {
		err = -errno;
		CCMAP_ERR("BPF_PROG_RUN %s: %s", bpf_program__name(prog),
			  strerror(errno));
		return err;
	}
	if (opts.retval) {
		CCMAP_ERR("%s returned %u", bpf_program__name(prog),
			  opts.retval);
		return -EINVAL;
	}
	return 0;
}

static long long st_run_range(const struct bpf_program *prog, int fd,
			      __u64 off, __u64 len, __u64 arg)
{
	struct st_args a = {
		.fd = fd,
		.off = off,
		.len = len,
		.arg = arg,
	};
	int err = st_run(prog, &a);

	return err ? err : a.ret;
}

long long st_zap(const struct bpf_program *prog, int fd, __u64 off, __u64 len)
{
	return st_run_range(prog, fd, off, len, 0);
}

long long st_mkclean(const struct bpf_program *prog, int fd, __u64 off,
		     __u64 len)
{
	return st_run_range(prog, fd, off, len, 0);
}

long long st_wake(const struct bpf_program *prog, __u64 key)
{
	return st_run_range(prog, -1, 0, 0, key);
}

/* ---- accesses that catch SIGBUS ---- */

static __thread sigjmp_buf st_jmp;
static __thread volatile sig_atomic_t st_jmp_armed;
static pthread_once_t st_sigbus_once = PTHREAD_ONCE_INIT;

static void st_sigbus(int sig)
{
	if (st_jmp_armed) {
		st_jmp_armed = 0;
		siglongjmp(st_jmp, 1);
	}
	/* Not one of ours: die of it, as without a handler. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void st_sigbus_install(void)
{
	struct sigaction sa = { .sa_handler = st_sigbus };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL)) {
		CCMAP_ERR("sigaction(SIGBUS): %s", strerror(errno));
		abort();
	}
}

/*
 * The access must be inline in the function that called sigsetjmp(), so
 * each helper is a separate function around one volatile access.
 */
#define ST_ACCESS(access)						\
	do {								\
		pthread_once(&st_sigbus_once, st_sigbus_install);	\
		if (sigsetjmp(st_jmp, 1))				\
			return -EFAULT;					\
		st_jmp_armed = 1;					\
		access;							\
		st_jmp_armed = 0;					\
		return 0;						\
	} while (0)

int st_read8(const volatile void *addr, unsigned char *val)
{
	ST_ACCESS(*val = *(const volatile unsigned char *)addr);
}

int st_write8(volatile void *addr, unsigned char val)
{
	ST_ACCESS(*(volatile unsigned char *)addr = val);
}

int st_read64(const volatile void *addr, __u64 *val)
{
	ST_ACCESS(*val = *(const volatile __u64 *)addr);
}

int st_write64(volatile void *addr, __u64 val)
{
	ST_ACCESS(*(volatile __u64 *)addr = val);
}

/* ---- policies ---- */

struct bpf_link *st_attach(struct bpf_map *ops)
{
	return bpf_map__attach_struct_ops(ops);
}

int st_wait_hup(struct bpf_link *link, int timeout_ms)
{
	struct pollfd pfd = { .fd = bpf_link__fd(link), .events = POLLIN };
	double end = st_now() + timeout_ms / 1000.0;
	int n;

	for (;;) {
		int left = (int)((end - st_now()) * 1000);

		n = poll(&pfd, 1, left > 0 ? left : 0);
		if (n > 0 && (pfd.revents & POLLHUP))
			return 0;
		if (n < 0 && errno != EINTR) {
			CCMAP_ERR("poll(link): %s", strerror(errno));
			return -errno;
		}
		if (left <= 0)
			return -ETIMEDOUT;
		if (n > 0)	/* something else: do not spin on it */
			st_sleep_ms(10);
	}
}

void st_link_destroy(struct bpf_link **link)
{
	if (*link)
		bpf_link__destroy(*link);
	*link = NULL;
}

/* ---- sysfs ---- */

int st_sysfs_str(const char *file, char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), CCMAP_SYSFS_DIR "/%s", file);
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		err = -errno;
		CCMAP_ERR("open %s: %s", path, strerror(errno));
		return err;
	}
	n = read(fd, buf, len - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err) {
		CCMAP_ERR("read %s: %s", path, strerror(-err));
		return err;
	}
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return 0;
}

int st_sysfs_ull(const char *file, unsigned long long *val)
{
	char buf[64], *end;
	int err = st_sysfs_str(file, buf, sizeof(buf));

	if (err)
		return err;
	errno = 0;
	*val = strtoull(buf, &end, 10);
	if (errno || end == buf || *end) {
		CCMAP_ERR("%s: not a number: '%s'", file, buf);
		return -EINVAL;
	}
	return 0;
}

int st_stats_read(struct st_stats *s)
{
	static const char * const names[] = {
		"faults", "waits", "wakes", "timeouts", "sigbus", "zaps",
		"mkcleans", "errors", "revokes",
	};
	unsigned long long *v[] = {
		&s->faults, &s->waits, &s->wakes, &s->timeouts, &s->sigbus,
		&s->zaps, &s->mkcleans, &s->errors, &s->revokes,
	};
	char file[64];
	size_t i;
	int err;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(file, sizeof(file), "stats/%s", names[i]);
		err = st_sysfs_ull(file, v[i]);
		if (err)
			return err;
	}
	return 0;
}

int st_exit_read(struct st_exit *e)
{
	char buf[64], *sp;
	int err;

	memset(e, 0, sizeof(*e));
	err = st_sysfs_str("exit_kind", buf, sizeof(buf));
	if (err)
		return err;
	/* "<name> <number>" */
	sp = strrchr(buf, ' ');
	if (!sp) {
		CCMAP_ERR("exit_kind: '%s'", buf);
		return -EINVAL;
	}
	*sp = '\0';
	e->kind = atoi(sp + 1);
	snprintf(e->kind_str, sizeof(e->kind_str), "%s", buf);
	err = st_sysfs_str("exit_reason", e->reason, sizeof(e->reason));
	return err ? err : st_sysfs_str("exit_ops", e->ops, sizeof(e->ops));
}

bool st_no_policy(void)
{
	char state[32], ops[80];

	if (st_sysfs_str("state", state, sizeof(state)) ||
	    st_sysfs_str("ops", ops, sizeof(ops)))
		return false;
	return !strcmp(state, "disabled") && !ops[0];
}

int st_wait_nr_waiting(unsigned long long n, int timeout_ms)
{
	double end = st_now() + timeout_ms / 1000.0;
	unsigned long long v;
	int err;

	for (;;) {
		err = st_sysfs_ull("nr_waiting", &v);
		if (err)
			return err;
		if (v == n)
			return 0;
		if (st_now() > end)
			return -ETIMEDOUT;
		st_sleep_ms(5);
	}
}

enum ccmap_test_status st_check_woken_once(unsigned long long nr_ask,
					   unsigned long long nr_go,
					   const struct st_stats *s0,
					   const struct st_stats *s1)
{
	/*
	 * Go twice: the woken fault asks again to learn whether to sleep on
	 * (a recheck), then its retry asks for real.
	 */
	CCMAP_ASSERT(nr_ask == 2 && nr_go == 2,
		     "policy asked %llu times (%llu go); want 2 (2)", nr_ask,
		     nr_go);
	CCMAP_ASSERT(s1->waits - s0->waits == 1 &&
		     s1->wakes - s0->wakes == 1 &&
		     s1->timeouts == s0->timeouts && s1->sigbus == s0->sigbus,
		     "waits +%llu wakes +%llu timeouts +%llu sigbus +%llu",
		     s1->waits - s0->waits, s1->wakes - s0->wakes,
		     s1->timeouts - s0->timeouts, s1->sigbus - s0->sigbus);
	CCMAP_ASSERT(!st_wait_nr_waiting(0, 0), "nr_waiting not back to 0");
	return CCMAP_TEST_PASS;
}

/* ---- the kernel log ---- */

int st_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		CCMAP_ERR("open /dev/kmsg: %s", strerror(errno));
		return -errno;
	}
	if (lseek(fd, 0, SEEK_END) < 0) {
		int err = -errno;

		CCMAP_ERR("lseek /dev/kmsg: %s", strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

int st_kmsg_scan(int fd, const char *want, bool *found)
{
	static const char * const bad[] = {
		"BUG:", "WARNING:", "Call Trace:", "Oops", "general protection",
		"possible circular locking", "possible recursive locking",
		"inconsistent lock state", "lock held when returning",
		"blocked for more than", "soft lockup",
	};
	char rec[2048];
	int problems = 0;
	size_t i;
	ssize_t n;

	if (found)
		*found = false;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten records: go on */
			continue;
		if (n < 0 && errno == EAGAIN)
			return problems;
		if (n < 0) {
			CCMAP_ERR("read /dev/kmsg: %s", strerror(errno));
			return -errno;
		}
		if (n == 0)
			return problems;
		rec[n] = '\0';
		if (want && found && strstr(rec, want))
			*found = true;
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (strstr(rec, bad[i])) {
				CCMAP_ERR("kernel log: %s", rec);
				problems++;
				break;
			}
		}
	}
}

/* ---- ext4 ---- */

#define ST_EXT4_IMG	"/tmp/ccmap-selftest-ext4.img"
#define ST_EXT4_DIR	"/tmp/ccmap-selftest-ext4"

static int st_sh(const char *cmd)
{
	int st = system(cmd);

	if (st == -1) {
		CCMAP_ERR("system(%s): %s", cmd, strerror(errno));
		return -errno;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		CCMAP_ERR("'%s' failed (status %#x)", cmd, st);
		return -EIO;
	}
	return 0;
}

int st_ext4_mount(char *dir, size_t len)
{
	int err;

	err = st_sh("truncate -s 64M " ST_EXT4_IMG " && "
		    "mkfs.ext4 -q -F " ST_EXT4_IMG " && "
		    "mkdir -p " ST_EXT4_DIR " && "
		    "mount -o loop " ST_EXT4_IMG " " ST_EXT4_DIR);
	if (err) {
		st_ext4_umount();
		return err;
	}
	snprintf(dir, len, "%s", ST_EXT4_DIR);
	return 0;
}

void st_ext4_umount(void)
{
	/* Each step may have nothing to undo. */
	if (system("mountpoint -q " ST_EXT4_DIR " && umount " ST_EXT4_DIR
		   "; rmdir " ST_EXT4_DIR " 2>/dev/null; rm -f " ST_EXT4_IMG) == -1)
		CCMAP_ERR("system(umount): %s", strerror(errno));
}

/* ---- paths ---- */

int st_build_path(const char *rel, char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;
	int i;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		CCMAP_ERR("readlink(/proc/self/exe): %s", strerror(errno));
		return -errno;
	}
	exe[n] = '\0';
	/* <build>/bin/ccmap-selftests: strip two components. */
	for (i = 0; i < 2; i++) {
		slash = strrchr(exe, '/');
		if (!slash) {
			CCMAP_ERR("unexpected binary path %s", exe);
			return -EINVAL;
		}
		*slash = '\0';
	}
	if ((size_t)snprintf(buf, len, "%s/%s", exe, rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}
