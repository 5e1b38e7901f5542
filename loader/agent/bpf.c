// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd: the BPF side.  A generic loader: any policy object
 * (<bpf-dir>/<policy>.bpf.o) built with bpf/ccmap_agent.bpf.c loads
 * through it; programs and maps are found by name (ccmap_abi.h), the
 * struct_ops map by type, and the fault deadline is written into the
 * struct_ops map's timeout_ms member, found by name in the object's BTF.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "agent.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static struct bpf_map *ops_map;
static bool shares_added;		/* ccmap_share_add ran for every share */
static struct bpf_map *reqs_map;
static int ncpus;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n;
	int lvl;

	switch (level) {
	case LIBBPF_WARN:
		lvl = LOG_WARN;
		break;
	case LIBBPF_INFO:
		lvl = LOG_DBG;
		break;
	default:
		lvl = LOG_TRACE;
		break;
	}
	if (lvl > log_level)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	/* libbpf's own lines start with "libbpf: " already */
	logmsg(lvl, "%s%s", strncmp(buf, "libbpf: ", 8) ? "libbpf: " : "", buf);
	return 0;
}

/* mkdir -p for the pin directory (mode 0700 for what we create). */
static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The pin directory must live on a bpffs: mount /sys/fs/bpf if needed. */
static int ensure_bpffs(const char *dir)
{
	struct statfs sfs;
	char parent[PATH_MAX];
	char *slash;
	int rc;

	if (snprintf(parent, sizeof(parent), "%s", dir) >= (int)sizeof(parent))
		return -ENAMETOOLONG;
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = 0;
	if (statfs(parent, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
		goto make;
	if (strncmp(dir, "/sys/fs/bpf/", 12) == 0) {
		if (statfs("/sys/fs/bpf", &sfs) || sfs.f_type != BPF_FS_MAGIC) {
			if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
				log_err("cannot mount bpffs on /sys/fs/bpf: %s", strerror(errno));
				return -errno;
			}
			log_info("mounted bpffs on /sys/fs/bpf");
		}
	} else {
		log_warn("pin directory %s is not on a bpffs: pinning will fail", dir);
	}
make:
	rc = mkdir_p(dir);
	if (rc)
		log_err("cannot create pin directory %s: %s", dir, strerror(-rc));
	return rc;
}

/* Pointer to member @name of the struct_ops map's user-side data. */
static void *ops_member_of(struct bpf_object *obj, struct bpf_map *ops, const char *name,
			   size_t *size)
{
	struct btf *btf = bpf_object__btf(obj);
	const struct btf_type *t;
	const struct btf_member *m;
	size_t datasz;
	__u32 tid;
	char *data;

	if (!btf || !ops)
		return NULL;
	data = bpf_map__initial_value(ops, &datasz);
	tid = bpf_map__btf_value_type_id(ops);
	t = btf__type_by_id(btf, tid);
	while (t && (btf_is_typedef(t) || btf_is_mod(t)))
		t = btf__type_by_id(btf, t->type);
	if (!data || !t || !btf_is_struct(t))
		return NULL;
	m = btf_members(t);
	for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
		const char *mn = btf__name_by_offset(btf, m->name_off);
		__u32 off = btf_member_bit_offset(t, i) / 8;
		__s64 sz;

		if (!mn || strcmp(mn, name))
			continue;
		sz = btf__resolve_size(btf, m->type);
		if (sz <= 0 || off + (size_t)sz > datasz)
			return NULL;
		*size = (size_t)sz;
		return data + off;
	}
	return NULL;
}

static void *ops_member(const char *name, size_t *size)
{
	return ops_member_of(A.obj, ops_map, name, size);
}

static int find_prog(const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(A.obj, name);

	if (!p) {
		log_err("policy object %s has no program %s: was it built with bpf/ccmap_agent.bpf.c (the Makefile's policy rule)?",
			A.obj_path, name);
		return -1;
	}
	return bpf_program__fd(p);
}

static int find_map(const char *name, struct bpf_map **out)
{
	struct bpf_map *m = bpf_object__find_map_by_name(A.obj, name);

	if (!m) {
		log_err("policy object %s has no map %s: was it built with bpf/ccmap_agent.bpf.c (the Makefile's policy rule)?",
			A.obj_path, name);
		return -1;
	}
	if (out)
		*out = m;
	return bpf_map__fd(m);
}

/*
 * Set the policy's tunables from the configuration's tune lines, before the
 * object is loaded: each is a read-only global of the object (.rodata) of
 * four bytes (one value) or of CCMAP_STATE_MAX_SHARES times four (one per
 * share id).  Lines for "*" first, then those for one share.  @strict (the
 * configured policy): a tunable the object lacks is an error; otherwise
 * (a swap) it is only logged.  0, or -1 with @why.
 */
static int apply_tunables(struct bpf_object *obj, const char *path, bool strict,
			  char *why, size_t len)
{
	const struct ccmap_config *c = &A.cfg;
	struct bpf_map *ro = NULL, *m;
	const struct btf_var_secinfo *vs;
	const struct btf_type *sec;
	struct btf *btf;
	uint8_t *data = NULL;
	size_t size = 0;
	int id;

	if (!c->n_tunes)
		return 0;
	bpf_object__for_each_map(m, obj) {
		const char *n = bpf_map__name(m);
		size_t nl = strlen(n);

		if (bpf_map__is_internal(m) && nl >= 7 && !strcmp(n + nl - 7, ".rodata"))
			ro = m;
	}
	btf = bpf_object__btf(obj);
	if (ro)
		data = bpf_map__initial_value(ro, &size);
	id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	sec = id > 0 ? btf__type_by_id(btf, (__u32)id) : NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < c->n_tunes; i++) {
			const struct ccmap_cfg_tune *t = &c->tunes[i];
			bool all = !strcmp(t->share, "*");
			uint32_t *var = NULL;
			size_t vsz = 0;
			int share = -1;

			if (all != (pass == 0))
				continue;
			for (unsigned j = 0; !all && j < A.n_shares; j++)
				if (!strcmp(A.shares[j].cfg->name, t->share))
					share = (int)j;
			vs = sec ? btf_var_secinfos(sec) : NULL;
			for (unsigned k = 0; vs && k < btf_vlen(sec); k++, vs++) {
				const struct btf_type *v = btf__type_by_id(btf, vs->type);

				if (v && !strcmp(btf__name_by_offset(btf, v->name_off), t->name) &&
				    data && (size_t)vs->offset + vs->size <= size) {
					var = (uint32_t *)(data + vs->offset);
					vsz = vs->size;
				}
			}
			if (!var || (vsz != 4 && vsz != 4 * CCMAP_STATE_MAX_SHARES)) {
				if (!strict) {
					log_info("policy object %s has no tunable %s: tune line %d "
						 "ignored", path, t->name, t->line);
					continue;
				}
				snprintf(why, len, "%s:%d: tune %s %s: policy object %s has no "
					 "tunable %s (a const volatile __u32 global, see "
					 "policy/README.md)", c->source, t->line, t->share, t->name,
					 path, t->name);
				return -1;
			}
			if (vsz == 4 && !all) {
				snprintf(why, len, "%s:%d: tune %s %s: tunable %s of %s is one value "
					 "for the node, not per share: write tune * %s %u",
					 c->source, t->line, t->share, t->name, t->name, path,
					 t->name, t->value);
				if (!strict) {
					log_warn("%s; ignored", why);
					continue;
				}
				return -1;
			}
			if (vsz == 4 || all) {
				for (size_t k = 0; k < vsz / 4; k++)
					memcpy(var + k, &t->value, 4);
			} else if (share >= 0) {
				memcpy(var + share, &t->value, 4);
			}
			log_info("policy tunable %s = %u for %s", t->name, t->value,
				 all ? "every share" : t->share);
		}
	}
	return 0;
}

int bpf_setup(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = A.pin_dir);
	struct bpf_map *m;
	uint32_t *tmo;
	char *name;
	size_t sz;
	int err;

	libbpf_set_print(libbpf_log);
	if (access(CCMAP_SYSFS_DIR, F_OK)) {
		log_err("this kernel has no ccmap support (%s is missing): boot a kernel "
			"with the ccmap patch (CONFIG_CCMAP=y)", CCMAP_SYSFS_DIR);
		return -1;
	}
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		log_err("cannot count possible CPUs: %s", strerror(-ncpus));
		return -1;
	}
	if (ensure_bpffs(A.pin_dir))
		return -1;

	A.obj = bpf_object__open_file(A.obj_path, &oo);
	if (!A.obj) {
		err = errno;
		log_err("cannot open policy object %s: %s", A.obj_path, strerror(err));
		return -1;
	}
	bpf_object__for_each_map(m, A.obj) {
		if (bpf_map__type(m) == BPF_MAP_TYPE_STRUCT_OPS) {
			if (ops_map) {
				log_err("policy object %s defines more than one struct_ops map",
					A.obj_path);
				return -1;
			}
			ops_map = m;
		}
	}
	if (!ops_map) {
		log_err("policy object %s has no struct_ops map: not a ccmap policy", A.obj_path);
		return -1;
	}
	tmo = ops_member("timeout_ms", &sz);
	if (!tmo || sz != sizeof(*tmo)) {
		log_err("policy object %s: struct_ops %s has no u32 timeout_ms member",
			A.obj_path, bpf_map__name(ops_map));
		return -1;
	}
	*tmo = A.timeout_ms;
	{
		char why[512];

		if (apply_tunables(A.obj, A.obj_path, true, why, sizeof(why))) {
			log_err("%s", why);
			return -1;
		}
	}
	name = ops_member("name", &sz);
	if (name && sz > 0)
		snprintf(A.policy_name, sizeof(A.policy_name), "%.*s", (int)sz, name);
	if (!A.policy_name[0])
		snprintf(A.policy_name, sizeof(A.policy_name), "%s", bpf_map__name(ops_map));

	err = bpf_object__load(A.obj);
	if (err) {
		log_err("cannot load policy object %s: %s (run with -v for the verifier log; "
			"a pinned map of an incompatible older layout is removed by "
			"ccmapd --clean)", A.obj_path, strerror(-err));
		return -1;
	}
	A.prog_share_add = find_prog(CCMAP_PROG_SHARE_ADD);
	A.prog_share_del = find_prog(CCMAP_PROG_SHARE_DEL);
	A.prog_grant = find_prog(CCMAP_PROG_GRANT);
	A.prog_revoke = find_prog(CCMAP_PROG_REVOKE);
	A.prog_downgrade = find_prog(CCMAP_PROG_DOWNGRADE);
	A.prog_fail = find_prog(CCMAP_PROG_FAIL);
	{
		struct bpf_program *p = bpf_object__find_program_by_name(A.obj,
							CCMAP_PROG_RAISE_ERROR);

		A.prog_raise_error = p ? bpf_program__fd(p) : -1;
		p = bpf_object__find_program_by_name(A.obj, CCMAP_PROG_YIELD);
		A.prog_yield = p ? bpf_program__fd(p) : -1;
	}
	A.map_pages = find_map(CCMAP_MAP_PAGES, NULL);
	A.map_lost = find_map(CCMAP_MAP_LOST, NULL);
	A.map_bstats = find_map(CCMAP_MAP_BSTATS, NULL);
	A.map_sinfo = find_map(CCMAP_MAP_SINFO, NULL);
	A.map_shares = find_map(CCMAP_MAP_SHARES, NULL);
	if (find_map(CCMAP_MAP_REQS, &reqs_map) < 0 || A.prog_share_add < 0 ||
	    A.prog_share_del < 0 || A.prog_grant < 0 || A.prog_revoke < 0 ||
	    A.prog_downgrade < 0 || A.prog_fail < 0 || A.map_pages < 0 ||
	    A.map_lost < 0 || A.map_bstats < 0 || A.map_sinfo < 0 || A.map_shares < 0)
		return -1;
	log_info("policy \"%s\" loaded from %s, maps pinned under %s, fault deadline %u ms",
		 A.policy_name, A.obj_path, A.pin_dir, A.timeout_ms);
	return 0;
}

/* BPF_PROG_RUN of a syscall program; its return value or -errno. */
static int run_prog(int fd, void *ctx, size_t size, const char *what)
{
	LIBBPF_OPTS(bpf_test_run_opts, t, .ctx_in = ctx, .ctx_size_in = (__u32)size);
	int err = bpf_prog_test_run_opts(fd, &t);

	if (err) {
		A.st.prog_errors++;
		log_err("running %s failed: %s", what, strerror(errno));
		return -errno;
	}
	return (int)t.retval;
}

int prog_grant(struct share *sh, uint64_t page, unsigned state, uint64_t version)
{
	struct ccmap_args_page a = {
		.fd = sh->fd, .share = sh->id, .pgoff = page, .version = version,
		.state = state,
	};
	int rc = run_prog(A.prog_grant, &a, sizeof(a), CCMAP_PROG_GRANT);

	if (rc) {
		A.st.prog_errors++;
		log_err("share %s page %llu: grant %s failed: %s", sh->cfg->name,
			(unsigned long long)page, state_name(state), strerror(-rc));
	} else {
		log_dbg("share %s page %llu: %s -> %s v%llu (published, woken)", sh->cfg->name,
			(unsigned long long)page, state_name(a.old_state), state_name(state),
			(unsigned long long)version);
	}
	return rc;
}

static int lower(int prog, const char *what, struct share *sh, uint64_t page,
		 uint64_t span)
{
	struct ccmap_args_page a = {
		.fd = sh->fd, .share = sh->id, .pgoff = page, .span = span,
	};
	int rc = run_prog(prog, &a, sizeof(a), what);

	if (rc) {
		A.st.prog_errors++;
		log_err("share %s page %llu: %s failed: %s", sh->cfg->name,
			(unsigned long long)page, what, strerror(-rc));
	} else {
		log_dbg("share %s page %llu: %s (was %s, %lld folio(s) still mapped/cleaned)",
			sh->cfg->name, (unsigned long long)page, what,
			state_name(a.old_state), (long long)a.ret);
	}
	return rc;
}

int prog_revoke(struct share *sh, uint64_t page, uint64_t span)
{
	return lower(A.prog_revoke, "revoke", sh, page, span);
}

int prog_downgrade(struct share *sh, uint64_t page)
{
	return lower(A.prog_downgrade, "downgrade", sh, page, 0);
}

int prog_fail(struct share *sh, uint64_t page, int err)
{
	struct ccmap_args_page a = {
		.fd = sh->fd, .share = sh->id, .pgoff = page, .err = err,
	};
	int rc = run_prog(A.prog_fail, &a, sizeof(a), CCMAP_PROG_FAIL);

	A.st.fails++;
	if (rc) {
		A.st.prog_errors++;
		log_err("share %s page %llu: fail failed: %s", sh->cfg->name,
			(unsigned long long)page, strerror(-rc));
	}
	return rc;
}

uint64_t prog_yield(struct share *sh, uint64_t page, unsigned to)
{
	struct ccmap_args_page a = {
		.fd = sh->fd, .share = sh->id, .pgoff = page, .state = to,
	};

	if (A.prog_yield < 0 || A.policy_detached)
		return 0;
	if (run_prog(A.prog_yield, &a, sizeof(a), CCMAP_PROG_YIELD) || a.ret <= 0)
		return 0;
	return (uint64_t)a.ret < CCMAP_YIELD_MAX_NS ? (uint64_t)a.ret : CCMAP_YIELD_MAX_NS;
}

int prog_raise_error(void)
{
	if (A.prog_raise_error < 0)
		return -ENOENT;
	log_warn("raising an error exit of policy \"%s\" (test hook)", A.policy_name);
	return run_prog(A.prog_raise_error, NULL, 0, CCMAP_PROG_RAISE_ERROR);
}

int bpf_page_state(struct share *sh, uint64_t page, struct ccmap_page_state *out)
{
	struct ccmap_page_key k = { .share = sh->id, .pgoff = page };

	if (bpf_map_lookup_elem(A.map_pages, &k, out))
		return -errno;
	return 0;
}

int bpf_read_bstats(uint64_t out[CCMAP_BST_NR])
{
	uint64_t *vals = calloc((size_t)ncpus, sizeof(*vals));

	if (!vals)
		return -ENOMEM;
	for (__u32 i = 0; i < CCMAP_BST_NR; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(A.map_bstats, &i, vals))
			continue;
		for (int c = 0; c < ncpus; c++)
			out[i] += vals[c];
	}
	free(vals);
	return 0;
}

/* Forget pages and shares a previous run left in the pinned maps. */
static void purge_stale(void)
{
	struct ccmap_page_key k, *prev = NULL, *doomed = NULL;
	struct ccmap_share_key sk, snext, *sprev = NULL;
	size_t n = 0, cap = 0;
	unsigned long purged = 0;

	/* Collect first: deleting while iterating restarts the walk. */
	while (bpf_map_get_next_key(A.map_pages, prev, &k) == 0) {
		if (!(k.share < A.n_shares && k.pgoff < A.shares[k.share].npages)) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				struct ccmap_page_key *nd = realloc(doomed, nc * sizeof(*nd));

				if (!nd)
					break;
				doomed = nd;
				cap = nc;
			}
			doomed[n++] = k;
		}
		prev = &k;
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(A.map_pages, &doomed[i]) == 0)
			purged++;
	free(doomed);
	while (bpf_map_get_next_key(A.map_shares, sprev, &snext) == 0) {
		__u32 id;
		bool keep = false;

		sk = snext;
		if (bpf_map_lookup_elem(A.map_shares, &sk, &id) == 0 && id < A.n_shares)
			keep = A.shares[id].dev == sk.dev && A.shares[id].ino == sk.ino;
		if (!keep && bpf_map_delete_elem(A.map_shares, &sk) == 0) {
			purged++;
			sprev = NULL;	/* at most CCMAP_STATE_MAX_SHARES: restart */
			continue;
		}
		sprev = &sk;
	}
	for (__u32 id = A.n_shares; id < CCMAP_STATE_MAX_SHARES; id++) {
		struct ccmap_share_info si = { 0 };

		bpf_map_update_elem(A.map_sinfo, &id, &si, BPF_ANY);
	}
	/* Requests parked by a previous run are stale. */
	while (bpf_map_get_next_key(A.map_lost, NULL, &k) == 0) {
		if (bpf_map_delete_elem(A.map_lost, &k))
			break;
	}
	if (purged)
		log_info("forgot %lu stale entries of a previous run in the pinned maps", purged);
}

/* Every page of @sh starts Invalid: the home replicas hold the data. */
static int reset_pages(struct share *sh)
{
	enum { CHUNK = 1024 };
	static struct ccmap_page_key keys[CHUNK];
	static struct ccmap_page_state vals[CHUNK];
	uint64_t page = 0;

	memset(vals, 0, sizeof(vals));
	while (page < sh->npages) {
		__u32 n = (__u32)(sh->npages - page < CHUNK ? sh->npages - page : CHUNK);
		LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = 0, .flags = 0);
		__u32 count = n;

		for (__u32 i = 0; i < n; i++) {
			keys[i].share = sh->id;
			keys[i].reserved = 0;
			keys[i].pgoff = page + i;
		}
		if (bpf_map_update_batch(A.map_pages, keys, vals, &count, &bo)) {
			/* older kernels or a full map: one by one for a clear error */
			for (__u32 i = 0; i < n; i++) {
				if (bpf_map_update_elem(A.map_pages, &keys[i], &vals[i], BPF_ANY)) {
					log_err("share %s: cannot create the state of page %llu: %s%s",
						sh->cfg->name, (unsigned long long)(page + i),
						strerror(errno), errno == E2BIG || errno == ENOMEM ?
						" (too many pages for " CCMAP_MAP_PAGES ")" : "");
					return -1;
				}
			}
		}
		page += n;
	}
	return 0;
}

/*
 * The previous agent of this node died without handing its Exclusive pages
 * over (a clean stop resets every state): their states are still in the
 * pinned map and their data in the replica, which nothing could change
 * since the kernel revoked every mapping.  Note them before the states are
 * reset, to send them to their homes as RECLAIMs (coh_peer_up).
 */
static void collect_reclaims(struct share *sh)
{
	struct ccmap_share_info si;
	unsigned long n = 0;
	__u32 id = sh->id;

	if (bpf_map_lookup_elem(A.map_sinfo, &id, &si) || si.dev != sh->dev ||
	    si.ino != sh->ino || si.npages != sh->npages)
		return;		/* another file had this id, or nothing ran */
	for (uint64_t page = 0; page < sh->npages; page++) {
		struct ccmap_page_key k = { .share = sh->id, .pgoff = page };
		struct ccmap_page_state ps;

		if (bpf_map_lookup_elem(A.map_pages, &k, &ps) || ps.state != CCMAP_ST_E ||
		    ccmap_home_of(A.members, A.lost, sh->id, page) == A.self)
			continue;
		if (!sh->reclaim && !(sh->reclaim = calloc(sh->npages, sizeof(*sh->reclaim)))) {
			log_err("share %s: out of memory: the previous run's Exclusive pages "
				"revert to their home copy", sh->cfg->name);
			return;
		}
		sh->reclaim[page] = ps.version + 1;
		n++;
	}
	if (n)
		log_info("share %s: the previous run held %lu page(s) homed elsewhere "
			 "Exclusive; their data goes back to their homes when they are up",
			 sh->cfg->name, n);
}

int bpf_add_shares(void)
{
	purge_stale();
	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];
		struct ccmap_args_share a = {
			.fd = sh->fd, .share = sh->id, .dev = sh->dev, .ino = sh->ino,
			.npages = sh->npages,
		};
		int rc;

		collect_reclaims(sh);
		if (reset_pages(sh))
			return -1;
		rc = run_prog(A.prog_share_add, &a, sizeof(a), CCMAP_PROG_SHARE_ADD);
		if (rc) {
			const char *why = "";

			if (a.ret == -EBUSY)
				why = ": the file is mapped by a process but is not a share; "
				      "stop that process first (shares must be managed before "
				      "anything maps them)";
			else if (a.ret == -EINVAL)
				why = ": not a regular file, or a file system ccmap cannot manage "
				      "(hugetlbfs, DAX)";
			else if (a.ret == -EPERM)
				why = ": neither owner of the file nor CAP_FOWNER";
			log_err("share %s (%s): cannot manage it: %s%s", sh->cfg->name,
				sh->cfg->path, strerror(-rc), why);
			return -1;
		}
		log_info("share %s: %s, %llu bytes (%llu pages), dev %llu ino %llu %s",
			 sh->cfg->name, sh->cfg->path, (unsigned long long)sh->cfg->size,
			 (unsigned long long)sh->npages, (unsigned long long)sh->dev,
			 (unsigned long long)sh->ino,
			 a.flags & CCMAP_SHARE_WAS_MANAGED ?
			 "managed already (mappings of the previous run dropped)" : "now managed");
	}
	shares_added = true;
	return 0;
}

static int ring_cb(void *ctx, void *data, size_t size)
{
	const struct ccmap_req_rec *r = data;

	(void)ctx;
	if (size < sizeof(*r)) {
		log_warn("short ring buffer record (%zu bytes): ignored", size);
		return 0;
	}
	A.st.faults_seen++;
	coh_fault(r->share, r->pgoff, r->want);
	if (r->npages > 1 && r->first <= r->pgoff && r->pgoff - r->first < r->npages) {
		/* The policy's unit: the rest in one burst, capped. */
		uint64_t n = r->npages < CCMAP_UNIT_MAX ? r->npages : CCMAP_UNIT_MAX;
		uint64_t first = r->first;

		if (r->pgoff - first >= n)
			first = r->pgoff - n + 1;
		for (uint64_t p = first; p < first + n; p++)
			if (p != r->pgoff)
				coh_prefetch(r->share, p, r->want);
	}
	return 0;
}

int bpf_attach(void)
{
	int lfd;

	A.link = bpf_map__attach_struct_ops(ops_map);
	if (!A.link) {
		int err = errno;
		char cur[64] = "";
		FILE *f = fopen(CCMAP_SYSFS_OPS, "r");

		if (f) {
			if (fgets(cur, sizeof(cur), f))
				cur[strcspn(cur, "\n")] = 0;
			fclose(f);
		}
		if (err == EBUSY)
			log_err("cannot attach policy \"%s\": policy \"%s\" is attached already "
				"(is another ccmapd running?)", A.policy_name, cur);
		else
			log_err("cannot attach policy \"%s\": %s (see %s)", A.policy_name,
				strerror(err), CCMAP_SYSFS_EXIT_REASON);
		return -1;
	}
	lfd = bpf_link__fd(A.link);
	A.link_src.kind = SRC_LINK;
	A.link_src.fd = lfd;
	if (ep_add(&A.link_src, EPOLLIN))
		log_warn("cannot watch the policy link: an error exit will go unnoticed");

	A.rb = ring_buffer__new(bpf_map__fd(reqs_map), ring_cb, NULL, NULL);
	if (!A.rb) {
		log_err("cannot set up the request ring buffer: %s", strerror(errno));
		return -1;
	}
	A.ring_src.kind = SRC_RING;
	A.ring_src.fd = ring_buffer__epoll_fd(A.rb);
	if (ep_add(&A.ring_src, EPOLLIN))
		return -1;
	log_info("policy \"%s\" attached", A.policy_name);
	return 0;
}

int bpf_ring_poll(void)
{
	int n = ring_buffer__consume(A.rb);

	if (n < 0 && n != -EINTR)
		log_err("ring buffer: %s", strerror(-n));
	return n;
}

void bpf_drain_lost(void)
{
	struct ccmap_page_key k;
	unsigned n = 0;
	__u32 want;

	/* Deleting the key we got makes the next lookup start over. */
	while (n < CCMAP_LOST_MAX && bpf_map_get_next_key(A.map_lost, NULL, &k) == 0) {
		if (bpf_map_lookup_elem(A.map_lost, &k, &want) == 0 &&
		    bpf_map_delete_elem(A.map_lost, &k) == 0) {
			A.st.lost_drained++;
			coh_fault(k.share, k.pgoff, want);
		} else if (bpf_map_delete_elem(A.map_lost, &k)) {
			break;
		}
		n++;
	}
	if (n)
		log_warn("ring buffer overflowed: served %u parked request(s)", n);
}

#define REATTACH_TRIES	3
#define REATTACH_DELAY_MS 1000

static unsigned reattach_tries;
static uint64_t reattach_at;

void bpf_link_event(void)
{
	char kind[64], reason[160];

	read_line_file(CCMAP_SYSFS_EXIT_KIND, kind, sizeof(kind), "");
	read_line_file(CCMAP_SYSFS_EXIT_REASON, reason, sizeof(reason), "");
	log_err("policy \"%s\" was detached by the kernel: %s: %s; faults on shares wait "
		"for a policy until their deadline", A.policy_name, kind[0] ? kind : "?",
		reason[0] ? reason : "?");
	ep_del(&A.link_src);
	bpf_link__destroy(A.link);
	A.link = NULL;
	A.policy_detached = true;
	if (reattach_tries < REATTACH_TRIES) {
		reattach_at = now_ms() + REATTACH_DELAY_MS;
		log_info("attaching policy \"%s\" again in %u ms (try %u of %u)", A.policy_name,
			 REATTACH_DELAY_MS, reattach_tries + 1, REATTACH_TRIES);
	} else {
		log_err("policy \"%s\" failed %u times: not attaching it again; restart "
			"ccmapd once the cause is fixed", A.policy_name, REATTACH_TRIES + 1);
	}
}

/* From the timer: the page states survived in the maps, attach again. */
void bpf_reattach_tick(uint64_t now)
{
	if (!A.policy_detached || A.link || reattach_tries >= REATTACH_TRIES ||
	    now < reattach_at)
		return;
	reattach_tries++;
	A.link = bpf_map__attach_struct_ops(ops_map);
	if (!A.link) {
		log_err("attaching policy \"%s\" again failed: %s", A.policy_name,
			strerror(errno));
		reattach_at = now + REATTACH_DELAY_MS;
		return;
	}
	A.link_src.fd = bpf_link__fd(A.link);
	if (ep_add(&A.link_src, EPOLLIN))
		log_warn("cannot watch the policy link: an error exit will go unnoticed");
	A.policy_detached = false;
	log_info("policy \"%s\" attached again (waiting faults ask it again)", A.policy_name);
}

void bpf_shutdown(void)
{
	if (A.rb) {
		ep_del(&A.ring_src);
		ring_buffer__free(A.rb);
		A.rb = NULL;
	}
	if (A.link) {
		ep_del(&A.link_src);
		bpf_link__destroy(A.link);
		A.link = NULL;
		log_info("policy \"%s\" detached", A.policy_name);
	}
	if (!A.obj)
		return;
	if (!shares_added)
		goto close;
	/*
	 * Nobody coordinates this node's copies any more: every page goes
	 * Invalid and is unmapped, so applications cannot go on with stale
	 * data; their next access waits (bounded) for a policy.
	 */
	for (unsigned i = 0; i < A.n_shares; i++) {
		struct share *sh = &A.shares[i];
		struct ccmap_page_state zero = { 0 };

		if (sh->fd < 0)
			continue;
		for (uint64_t p = 0; p < sh->npages; p++) {
			struct ccmap_page_key k = { .share = sh->id, .pgoff = p };

			bpf_map_update_elem(A.map_pages, &k, &zero, BPF_EXIST);
		}
		prog_revoke(sh, 0, CCMAP_SPAN_EOF);
		if (A.clean) {
			struct ccmap_args_share a = {
				.fd = sh->fd, .share = sh->id, .dev = sh->dev, .ino = sh->ino,
				.npages = sh->npages,
			};

			run_prog(A.prog_share_del, &a, sizeof(a), CCMAP_PROG_SHARE_DEL);
			if (a.ret)
				log_warn("share %s stays managed: %s", sh->cfg->name,
					 strerror((int)-a.ret));
		}
	}
	if (A.clean) {
		int err = bpf_object__unpin_maps(A.obj, NULL);

		if (err)
			log_warn("unpinning the maps: %s", strerror(-err));
		if (rmdir(A.pin_dir) && errno != ENOENT)
			log_warn("cannot remove %s: %s", A.pin_dir, strerror(errno));
		else
			log_info("maps unpinned, %s removed (--clean)", A.pin_dir);
	}
close:
	bpf_object__close(A.obj);
	A.obj = NULL;
}

/* ---- run-time policy swap -------------------------------------------------------- */

#define SWAP_LOG_SIZE	(1u << 20)
#define SWAP_LOG_LINES	3

/* The last @nlines non-empty lines of a verifier log, joined by " | ". */
static void log_tail(const char *log, unsigned nlines, char *out, size_t len)
{
	const char *end = log + strlen(log), *start = end;
	unsigned seen = 0;
	size_t n = 0;

	out[0] = 0;
	while (start > log && seen < nlines) {
		const char *e = start;

		while (e > log && e[-1] == '\n')
			e--;
		start = e;
		while (start > log && start[-1] != '\n')
			start--;
		if (e > start)
			seen++;
		if (start == log)
			break;
	}
	for (const char *p = start; p < end && n + 4 < len; ) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int w;

		if (l) {
			w = snprintf(out + n, len - n, "%s%.*s", n ? " | " : "", (int)l, p);
			if (w < 0)
				break;
			n += (size_t)w < len - n ? (size_t)w : len - n - 1;
		}
		p += l + 1;
	}
}

static int map_id(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_map_get_info_by_fd(fd, &info, &len))
		return -1;
	return (int)info.id;
}

__attribute__((format(printf, 3, 4)))
static int swap_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	log_warn("policy swap refused: %s; policy \"%s\" stays attached", why, A.policy_name);
	return -1;
}

static bool policy_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 48 || name[0] == '.' || name[0] == '-')
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

/*
 * Replace the attached policy by <dir of the current object>/<name>.bpf.o:
 * load it with the same pin root (it reuses the pinned maps, so the page
 * states, the shares and the ring buffer carry over), swap it into the
 * struct_ops link atomically (faults never see no policy), switch the
 * syscall programs over and close the old object (nothing is unpinned).
 * On any failure the old policy stays attached; @why says what went wrong.
 */
int bpf_swap_policy(const char *name, char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = A.pin_dir);
	struct bpf_object *obj = NULL, *old;
	struct bpf_map *m, *ops = NULL, *reqs = NULL;
	char path[PATH_MAX], dir[PATH_MAX], pname[64] = "", old_name[64];
	char *logbuf = NULL, *slash, *nm;
	int progs[8], maps[5], err, rc = -1;
	static const char *const prog_names[8] = {
		CCMAP_PROG_SHARE_ADD, CCMAP_PROG_SHARE_DEL, CCMAP_PROG_GRANT,
		CCMAP_PROG_REVOKE, CCMAP_PROG_DOWNGRADE, CCMAP_PROG_FAIL,
		CCMAP_PROG_RAISE_ERROR, CCMAP_PROG_YIELD,	/* the last two optional */
	};
	static const char *const map_names[5] = {
		CCMAP_MAP_PAGES, CCMAP_MAP_LOST, CCMAP_MAP_BSTATS, CCMAP_MAP_SINFO,
		CCMAP_MAP_SHARES,
	};
	const int old_maps[5] = { A.map_pages, A.map_lost, A.map_bstats, A.map_sinfo,
				  A.map_shares };
	uint32_t *tmo;
	size_t sz;

	if (!policy_name_ok(name))
		return swap_fail(why, len, "bad policy name '%.64s' (letters, digits, '_', "
				 "'-', '.')", name);
	if (!A.obj || !A.link || A.policy_detached)
		return swap_fail(why, len, "no policy is attached to replace");
	snprintf(dir, sizeof(dir), "%s", A.obj_path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof(dir), ".");
	if (snprintf(path, sizeof(path), "%s/%s.bpf.o", dir, name) >= (int)sizeof(path))
		return swap_fail(why, len, "policy object path too long");
	if (access(path, R_OK))
		return swap_fail(why, len, "unknown policy %s: %s: %s", name, path,
				 strerror(errno));
	logbuf = malloc(SWAP_LOG_SIZE);
	if (!logbuf)
		return swap_fail(why, len, "out of memory");
	logbuf[0] = 0;
	oo.kernel_log_buf = logbuf;
	oo.kernel_log_size = SWAP_LOG_SIZE;
	oo.kernel_log_level = 0;	/* libbpf asks for the log when a load fails */
	obj = bpf_object__open_file(path, &oo);
	if (!obj) {
		swap_fail(why, len, "cannot open policy object %s: %s", path, strerror(errno));
		goto out;
	}
	bpf_object__for_each_map(m, obj) {
		if (bpf_map__type(m) != BPF_MAP_TYPE_STRUCT_OPS)
			continue;
		if (ops) {
			swap_fail(why, len, "policy object %s defines more than one struct_ops "
				  "map", path);
			goto out;
		}
		ops = m;
	}
	if (!ops) {
		swap_fail(why, len, "policy object %s has no struct_ops map: not a ccmap "
			  "policy", path);
		goto out;
	}
	tmo = ops_member_of(obj, ops, "timeout_ms", &sz);
	if (!tmo || sz != sizeof(*tmo)) {
		swap_fail(why, len, "policy object %s: struct_ops %s has no u32 timeout_ms "
			  "member", path, bpf_map__name(ops));
		goto out;
	}
	*tmo = A.timeout_ms;
	{
		char tw[512];

		if (apply_tunables(obj, path, false, tw, sizeof(tw))) {
			swap_fail(why, len, "%s", tw);
			goto out;
		}
	}
	nm = ops_member_of(obj, ops, "name", &sz);
	if (nm && sz > 0)
		snprintf(pname, sizeof(pname), "%.*s", (int)sz, nm);
	if (!pname[0])
		snprintf(pname, sizeof(pname), "%s", bpf_map__name(ops));

	err = bpf_object__load(obj);
	if (err) {
		char tail[320];

		log_tail(logbuf, SWAP_LOG_LINES, tail, sizeof(tail));
		swap_fail(why, len, "cannot load policy object %s: %s%s%s", path,
			  strerror(-err), tail[0] ? "; verifier log ends: " : "", tail);
		goto out;
	}
	for (int i = 0; i < 8; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, prog_names[i]);

		progs[i] = p ? bpf_program__fd(p) : -1;
		if (progs[i] < 0 && i < 6) {
			swap_fail(why, len, "policy object %s has no program %s", path,
				  prog_names[i]);
			goto out;
		}
	}
	for (int i = 0; i < 5; i++) {
		struct bpf_map *mm = bpf_object__find_map_by_name(obj, map_names[i]);

		maps[i] = mm ? bpf_map__fd(mm) : -1;
		if (maps[i] < 0) {
			swap_fail(why, len, "policy object %s has no map %s", path, map_names[i]);
			goto out;
		}
		/* the state must carry over: the same pinned map */
		if (map_id(maps[i]) < 0 || map_id(maps[i]) != map_id(old_maps[i])) {
			swap_fail(why, len, "policy object %s: map %s is not the pinned map of "
				  "the attached policy (incompatible layout?)", path, map_names[i]);
			goto out;
		}
	}
	reqs = bpf_object__find_map_by_name(obj, CCMAP_MAP_REQS);
	if (!reqs || bpf_map__fd(reqs) < 0) {
		swap_fail(why, len, "policy object %s has no map %s", path, CCMAP_MAP_REQS);
		goto out;
	}

	err = bpf_link__update_map(A.link, ops);
	if (err) {
		swap_fail(why, len, "replacing the attached policy failed: %s",
			  strerror(-err));
		goto out;
	}

	/*
	 * Attached.  The ring buffer: the same pinned map keeps the existing
	 * ring_buffer (its mappings hold the map); another one gets a new
	 * consumer, after what the old one still holds has been consumed.
	 */
	if (map_id(bpf_map__fd(reqs)) != map_id(bpf_map__fd(reqs_map))) {
		struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(reqs), ring_cb, NULL, NULL);
		struct src nsrc = { .kind = SRC_RING };

		if (!rb) {
			log_err("policy swap: cannot set up the new request ring buffer: %s; "
				"faults are served through the lost map only", strerror(errno));
		} else {
			nsrc.fd = ring_buffer__epoll_fd(rb);
			bpf_ring_poll();
			ep_del(&A.ring_src);
			ring_buffer__free(A.rb);
			A.rb = rb;
			A.ring_src = nsrc;
			if (ep_add(&A.ring_src, EPOLLIN))
				log_err("policy swap: cannot watch the new ring buffer");
		}
	}
	A.prog_share_add = progs[0];
	A.prog_share_del = progs[1];
	A.prog_grant = progs[2];
	A.prog_revoke = progs[3];
	A.prog_downgrade = progs[4];
	A.prog_fail = progs[5];
	A.prog_raise_error = progs[6];
	A.prog_yield = progs[7];
	A.map_pages = maps[0];
	A.map_lost = maps[1];
	A.map_bstats = maps[2];
	A.map_sinfo = maps[3];
	A.map_shares = maps[4];
	reqs_map = reqs;
	ops_map = ops;
	old = A.obj;
	A.obj = obj;
	obj = NULL;
	snprintf(old_name, sizeof(old_name), "%s", A.policy_name);
	snprintf(A.policy_name, sizeof(A.policy_name), "%s", pname);
	snprintf(A.obj_path, sizeof(A.obj_path), "%s", path);
	/* closing does not unpin: the maps live on in the new object */
	bpf_object__close(old);
	log_info("policy \"%s\" replaced by policy \"%s\" from %s (atomic link update, "
		 "page states kept, fault deadline %u ms)", old_name, A.policy_name, path,
		 A.timeout_ms);
	snprintf(why, len, "policy %s attached, replacing %s", A.policy_name, old_name);
	rc = 0;
out:
	bpf_object__close(obj);
	free(logbuf);
	return rc;
}
