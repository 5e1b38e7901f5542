// SPDX-License-Identifier: GPL-2.0
/*
 * ccmapd configuration parser.  Format: see loader/include/ccmap/config.h
 * and docs/protocol.md ("Configuration").
 */
#include <ccmap/config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOK 8

static const char *const resize_names[] = { "no", "grow", "any" };

/* Where an error is reported: a file line or an override string. */
struct where {
	const char *file;
	int line;             /* > 0: file line */
	const char *override; /* non-NULL: override text */
};

__attribute__((format(printf, 3, 4)))
static int cfg_fail(struct ccmap_cfg_err *e, const struct where *w, const char *fmt, ...)
{
	char reason[420];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (r < 0)
		reason[0] = 0;
	if (!e)
		return -1;
	e->line = w->override ? 0 : w->line;
	if (w->override)
		r = snprintf(e->msg, sizeof(e->msg), "override '%.60s': %s", w->override, reason);
	else if (w->line > 0)
		r = snprintf(e->msg, sizeof(e->msg), "%.80s:%d: %s", w->file, w->line, reason);
	else
		r = snprintf(e->msg, sizeof(e->msg), "%.80s: %s", w->file, reason);
	if (r < 0)
		e->msg[0] = 0;
	return -1;
}

__attribute__((format(printf, 3, 4)))
static int why_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		if (vsnprintf(why, len, fmt, ap) < 0)
			why[0] = 0;
		va_end(ap);
	}
	return -1;
}

void ccmap_config_defaults(struct ccmap_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->source, sizeof(c->source), "%s", "<config>");
	strcpy(c->policy, "msi");
	c->timeout_ms = CCMAP_TIMEOUT_DFL_MS;
	c->idle_timeout_ms = 15000;
	c->peer_dead_ms = 15000;
	strcpy(c->control, CCMAP_CFG_CONTROL_DFL);
}

/* ---- value parsers ------------------------------------------------------ */

/* Decimal digits only, no sign; out must not exceed max. */
static int parse_dec(const char *s, uint64_t max, uint64_t *out, size_t *ndigits)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (max - d) / 10)
			return -2; /* overflow */
		v = v * 10 + d;
	}
	*ndigits = i;
	*out = v;
	return i ? 0 : -1;
}

int ccmap_parse_u32(const char *s, uint32_t max, uint32_t *out, char *why,
		    size_t whylen, const char *what)
{
	uint64_t v;
	size_t n;
	int rc = parse_dec(s, UINT64_MAX, &v, &n);

	if (rc == -2 || (rc == 0 && !s[n] && v > max))
		return why_fail(why, whylen, "%s '%.40s' out of range (max %u)", what, s, max);
	if (rc || s[n])
		return why_fail(why, whylen, "%s '%.40s' is not a decimal number", what, s);
	*out = (uint32_t)v;
	return 0;
}

int ccmap_parse_size(const char *s, uint64_t *out, char *why, size_t whylen)
{
	uint64_t v, mult = 1;
	size_t n;
	int rc = parse_dec(s, UINT64_MAX, &v, &n);

	if (rc == -2)
		return why_fail(why, whylen, "size '%.40s' overflows 64 bits", s);
	if (rc)
		return why_fail(why, whylen, "size '%.40s' does not start with a number", s);
	if (s[n]) {
		switch (s[n]) {
		case 'K': case 'k': mult = UINT64_C(1) << 10; break;
		case 'M': case 'm': mult = UINT64_C(1) << 20; break;
		case 'G': case 'g': mult = UINT64_C(1) << 30; break;
		case 'T': case 't': mult = UINT64_C(1) << 40; break;
		default:
			return why_fail(why, whylen,
					"size '%.40s' has an unknown suffix (use K, M, G or T)", s);
		}
		if (s[n + 1])
			return why_fail(why, whylen,
					"size '%.40s' has trailing characters after the suffix", s);
	}
	if (v > UINT64_MAX / mult)
		return why_fail(why, whylen, "size '%.40s' overflows 64 bits", s);
	*out = v * mult;
	return 0;
}

int ccmap_parse_addr(const char *s, struct ccmap_addr *a, char *why, size_t whylen)
{
	char host[64];
	const char *colon, *port_s, *hb, *he;
	uint32_t port;
	char pwhy[100];

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return why_fail(why, whylen,
					"bad address '%.60s': expected [IPv6]:port", s);
		hb = s + 1;
		port_s = he + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return why_fail(why, whylen,
					"bad address '%.60s': expected IPv4:port or [IPv6]:port", s);
		hb = s;
		he = colon;
		port_s = colon + 1;
	}
	if ((size_t)(he - hb) >= sizeof(host) || he == hb)
		return why_fail(why, whylen, "bad address '%.60s': bad host part", s);
	memcpy(host, hb, (size_t)(he - hb));
	host[he - hb] = 0;
	if (ccmap_parse_u32(port_s, 65535, &port, pwhy, sizeof(pwhy), "port"))
		return why_fail(why, whylen, "bad address '%.60s': %s", s, pwhy);
	if (port == 0)
		return why_fail(why, whylen, "bad address '%.60s': port 0 out of range 1-65535", s);
	if (s[0] == '[') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return why_fail(why, whylen,
					"bad address '%.60s': '%s' is not an IPv6 address", s, host);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*in6);
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		if (snprintf(a->text, sizeof(a->text), "[%s]:%u", host, port) < 0)
			a->text[0] = 0;
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;

		if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
			return why_fail(why, whylen,
					"bad address '%.60s': '%s' is not an IPv4 address "
					"(dotted decimal a.b.c.d)", s, host);
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in4);
		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		if (snprintf(a->text, sizeof(a->text), "%s:%u", host, port) < 0)
			a->text[0] = 0;
	}
	return 0;
}

bool ccmap_addr_equal(const struct ccmap_addr *a, const struct ccmap_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

static bool addr_unspecified(const struct ccmap_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr.s_addr == 0;
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_addr);
}

/* ---- keyword handlers --------------------------------------------------- */

static int parse_node_id(const char *s, uint16_t *id, struct ccmap_cfg_err *e,
			 const struct where *w, const char *what)
{
	char why[100];
	uint32_t v;

	if (ccmap_parse_u32(s, CCMAP_MAX_NODE_ID, &v, why, sizeof(why), what))
		return cfg_fail(e, w, "%s", why);
	*id = (uint16_t)v;
	return 0;
}

static int parse_abs_path(const char *s, size_t max, char *out, struct ccmap_cfg_err *e,
			  const struct where *w, const char *what)
{
	size_t n = strlen(s);

	if (s[0] != '/')
		return cfg_fail(e, w, "%s path '%.60s' must be absolute", what, s);
	if (n > max)
		return cfg_fail(e, w, "%s path is %zu bytes long (max %zu)", what, n, max);
	memcpy(out, s, n + 1);
	return 0;
}

/* Is the keyword given once already?  Overrides may replace. */
static int once(int *line, const char *kw, struct ccmap_cfg_err *e, const struct where *w)
{
	if (!w->override && *line > 0)
		return cfg_fail(e, w, "duplicate '%s' (first given on line %d)", kw, *line);
	*line = w->override ? -1 : w->line;
	return 0;
}

static int want_args(int ntok, int n, const char *kw, const char *usage,
		     struct ccmap_cfg_err *e, const struct where *w)
{
	if (ntok - 1 == n)
		return 0;
	return cfg_fail(e, w, "'%s' takes %d argument%s (%s), got %d", kw, n,
			n == 1 ? "" : "s", usage, ntok - 1);
}

static int do_line(struct ccmap_config *c, char **tok, int ntok,
		   struct ccmap_cfg_err *e, const struct where *w)
{
	const char *kw = tok[0];
	char why[200];
	int wline = w->override ? -1 : w->line;

	if (!strcmp(kw, "node")) {
		uint16_t id = 0;

		if (want_args(ntok, 1, kw, "node <id>", e, w) ||
		    parse_node_id(tok[1], &id, e, w, "node id") ||
		    once(&c->line_node, kw, e, w))
			return -1;
		c->node = id;
		return 0;
	}
	if (!strcmp(kw, "listen")) {
		struct ccmap_addr a;

		if (want_args(ntok, 1, kw, "listen <ip:port>", e, w))
			return -1;
		if (ccmap_parse_addr(tok[1], &a, why, sizeof(why)))
			return cfg_fail(e, w, "%s", why);
		if (once(&c->line_listen, kw, e, w))
			return -1;
		c->listen = a;
		return 0;
	}
	if (!strcmp(kw, "peer")) {
		struct ccmap_addr a;
		uint16_t id = 0;
		unsigned i;

		if (want_args(ntok, 2, kw, "peer <id> <ip:port>", e, w) ||
		    parse_node_id(tok[1], &id, e, w, "peer id"))
			return -1;
		if (ccmap_parse_addr(tok[2], &a, why, sizeof(why)))
			return cfg_fail(e, w, "%s", why);
		if (addr_unspecified(&a))
			return cfg_fail(e, w, "peer %u address %s is unspecified (0.0.0.0/::)",
					id, a.text);
		for (i = 0; i < c->n_peers; i++)
			if (c->peers[i].id == id)
				break;
		if (i < c->n_peers && !w->override)
			return cfg_fail(e, w, "duplicate peer id %u (first on line %d)", id,
					c->peers[i].line);
		for (unsigned j = 0; j < c->n_peers; j++)
			if (j != i && ccmap_addr_equal(&c->peers[j].addr, &a))
				return cfg_fail(e, w, "peer %u has the same address %s as peer %u",
						id, a.text, c->peers[j].id);
		if (i == c->n_peers) {
			if (c->n_peers == CCMAP_CFG_MAX_PEERS)
				return cfg_fail(e, w, "too many peers (max %d)", CCMAP_CFG_MAX_PEERS);
			c->n_peers++;
		}
		c->peers[i].id = id;
		c->peers[i].addr = a;
		c->peers[i].line = wline;
		return 0;
	}
	if (!strcmp(kw, "key")) {
		char path[CCMAP_CFG_PATH_MAX + 1];

		if (want_args(ntok, 1, kw, "key <path>", e, w) ||
		    parse_abs_path(tok[1], CCMAP_CFG_PATH_MAX, path, e, w, "key") ||
		    once(&c->line_key, kw, e, w))
			return -1;
		strcpy(c->key_path, path);
		return 0;
	}
	if (!strcmp(kw, "share")) {
		struct ccmap_cfg_share s;
		unsigned i;

		if (want_args(ntok, 4, kw, "share <name> <path> size <size>", e, w))
			return -1;
		memset(&s, 0, sizeof(s));
		if (!ccmap_share_name_ok(tok[1], strlen(tok[1])))
			return cfg_fail(e, w, "bad share name '%.70s': 1 to %d characters of "
					"A-Z a-z 0-9 _ . -", tok[1], CCMAP_SHARE_NAME_MAX);
		strcpy(s.name, tok[1]);
		if (parse_abs_path(tok[2], CCMAP_CFG_PATH_MAX, s.path, e, w, "share"))
			return -1;
		if (strcmp(tok[3], "size"))
			return cfg_fail(e, w, "expected 'size' after the share path, got '%.40s'",
					tok[3]);
		if (ccmap_parse_size(tok[4], &s.size, why, sizeof(why)))
			return cfg_fail(e, w, "%s", why);
		if (s.size == 0)
			return cfg_fail(e, w, "share '%s' size must not be 0", s.name);
		if (s.size % CCMAP_PAGE_SIZE)
			return cfg_fail(e, w, "share '%s' size %llu is not a multiple of the "
					"page size %d", s.name, (unsigned long long)s.size,
					CCMAP_PAGE_SIZE);
		if (s.size > CCMAP_SHARE_SIZE_MAX)
			return cfg_fail(e, w, "share '%s' size %llu exceeds the maximum 16T",
					s.name, (unsigned long long)s.size);
		for (i = 0; i < c->n_shares; i++)
			if (!strcmp(c->shares[i].name, s.name))
				break;
		if (i < c->n_shares && !w->override)
			return cfg_fail(e, w, "duplicate share name '%s' (first on line %d)",
					s.name, c->shares[i].line);
		for (unsigned j = 0; j < c->n_shares; j++)
			if (j != i && !strcmp(c->shares[j].path, s.path))
				return cfg_fail(e, w, "share '%s' uses the same path as share '%s'",
						s.name, c->shares[j].name);
		if (i == c->n_shares) {
			if (c->n_shares == CCMAP_MAX_SHARES)
				return cfg_fail(e, w, "too many shares (max %d)", CCMAP_MAX_SHARES);
			c->n_shares++;
		}
		s.line = wline;
		c->shares[i] = s;
		return 0;
	}
	if (!strcmp(kw, "policy")) {
		size_t len = strlen(tok[1]);

		if (want_args(ntok, 1, kw, "policy <name>", e, w))
			return -1;
		/* Any policy is an object file: ccmapd finds <name>.bpf.o. */
		if (len == 0 || len >= sizeof(c->policy) ||
		    strspn(tok[1], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789_-") != len)
			return cfg_fail(e, w, "policy '%.40s': a policy name is 1 to %zu letters, "
					"digits, '_' or '-' (the object <name>.bpf.o)", tok[1],
					sizeof(c->policy) - 1);
		if (once(&c->line_policy, kw, e, w))
			return -1;
		strcpy(c->policy, tok[1]);
		return 0;
	}
	if (!strcmp(kw, "timeout_ms")) {
		uint32_t v;

		if (want_args(ntok, 1, kw, "timeout_ms <n>", e, w))
			return -1;
		if (ccmap_parse_u32(tok[1], CCMAP_TIMEOUT_MAX_MS, &v, why, sizeof(why), "timeout_ms"))
			return cfg_fail(e, w, "%s", why);
		if (v == 0)
			return cfg_fail(e, w, "timeout_ms must be at least 1");
		if (once(&c->line_timeout, kw, e, w))
			return -1;
		c->timeout_ms = v;
		return 0;
	}
	if (!strcmp(kw, "idle_timeout_ms") || !strcmp(kw, "peer_dead_ms")) {
		bool idle = !strcmp(kw, "idle_timeout_ms");
		uint32_t v;

		if (want_args(ntok, 1, kw, idle ? "idle_timeout_ms <n>" : "peer_dead_ms <n>",
			      e, w))
			return -1;
		if (ccmap_parse_u32(tok[1], 3600000, &v, why, sizeof(why), kw))
			return cfg_fail(e, w, "%s", why);
		if (v < 100)
			return cfg_fail(e, w, "%s must be at least 100", kw);
		if (once(idle ? &c->line_idle : &c->line_dead, kw, e, w))
			return -1;
		*(idle ? &c->idle_timeout_ms : &c->peer_dead_ms) = v;
		return 0;
	}
	if (!strcmp(kw, "control")) {
		char path[CCMAP_CFG_SOCK_MAX + 1];

		if (want_args(ntok, 1, kw, "control <path>", e, w) ||
		    parse_abs_path(tok[1], CCMAP_CFG_SOCK_MAX, path, e, w, "control socket") ||
		    once(&c->line_control, kw, e, w))
			return -1;
		strcpy(c->control, path);
		return 0;
	}
	if (!strcmp(kw, "resize_replicas")) {
		size_t i;

		if (want_args(ntok, 1, kw, "resize_replicas no|grow|any", e, w))
			return -1;
		for (i = 0; i < sizeof(resize_names) / sizeof(resize_names[0]); i++)
			if (!strcmp(tok[1], resize_names[i]))
				break;
		if (i == sizeof(resize_names) / sizeof(resize_names[0]))
			return cfg_fail(e, w, "resize_replicas '%.40s': expected no, grow or any",
					tok[1]);
		if (once(&c->line_resize, kw, e, w))
			return -1;
		c->resize = (enum ccmap_resize)i;
		return 0;
	}
	if (!strcmp(kw, "membership")) {
		if (want_args(ntok, 1, kw, "membership static|corosync", e, w))
			return -1;
		if (strcmp(tok[1], "static") && strcmp(tok[1], "corosync"))
			return cfg_fail(e, w, "membership '%.40s': expected static or corosync",
					tok[1]);
		if (once(&c->line_membership, kw, e, w))
			return -1;
		c->corosync = !strcmp(tok[1], "corosync");
		return 0;
	}
	if (!strcmp(kw, "tune")) {
		struct ccmap_cfg_tune t;
		size_t nl = strlen(tok[2]);
		unsigned i;

		if (want_args(ntok, 3, kw, "tune <share|*> <name> <value>", e, w))
			return -1;
		memset(&t, 0, sizeof(t));
		if (strcmp(tok[1], "*") && !ccmap_share_name_ok(tok[1], strlen(tok[1])))
			return cfg_fail(e, w, "tune: bad share name '%.70s' (a share's name, or * "
					"for every share)", tok[1]);
		if (nl == 0 || nl > CCMAP_TUNE_NAME_MAX || (tok[2][0] >= '0' && tok[2][0] <= '9') ||
		    strspn(tok[2], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789_") != nl)
			return cfg_fail(e, w, "tune: bad tunable name '%.40s': 1 to %d letters, "
					"digits or '_', not starting with a digit (the name of a "
					"global in the policy)", tok[2], CCMAP_TUNE_NAME_MAX);
		if (ccmap_parse_u32(tok[3], UINT32_MAX, &t.value, why, sizeof(why), tok[2]))
			return cfg_fail(e, w, "tune: %s", why);
		strcpy(t.share, tok[1]);
		strcpy(t.name, tok[2]);
		t.line = wline;
		for (i = 0; i < c->n_tunes; i++)
			if (!strcmp(c->tunes[i].share, t.share) && !strcmp(c->tunes[i].name, t.name))
				break;
		if (i == c->n_tunes) {
			if (c->n_tunes == CCMAP_CFG_MAX_TUNES)
				return cfg_fail(e, w, "too many tune lines (max %d)",
						CCMAP_CFG_MAX_TUNES);
			c->n_tunes++;
		}
		c->tunes[i] = t;
		return 0;
	}
	return cfg_fail(e, w, "unknown keyword '%.40s'", kw);
}

/* Split line (modified in place) into tokens; strips comments. */
static int tokenize(char *line, char **tok, int *ntok, struct ccmap_cfg_err *e,
		    const struct where *w)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			break;
		if (n == MAX_TOK)
			return cfg_fail(e, w, "too many words on one line (max %d)", MAX_TOK);
		tok[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '#')
			p++;
		if (*p == '#') {
			*p = 0;
			break;
		}
		if (*p)
			*p++ = 0;
	}
	*ntok = n;
	return 0;
}

int ccmap_config_parse_mem(struct ccmap_config *c, const char *name,
			   const char *buf, size_t len, struct ccmap_cfg_err *e)
{
	struct where w = { .file = name ? name : "<config>" };
	char line[CCMAP_CFG_LINE_MAX + 2];
	size_t pos = 0;

	if (e)
		memset(e, 0, sizeof(*e));
	if (snprintf(c->source, sizeof(c->source), "%s", w.file) < 0)
		c->source[0] = 0;
	w.file = c->source;
	while (pos < len) {
		size_t end = pos, n;
		char *tok[MAX_TOK];
		int ntok;

		while (end < len && buf[end] != '\n')
			end++;
		w.line++;
		n = end - pos;
		if (n && buf[end - 1] == '\r')
			n--;
		if (n > CCMAP_CFG_LINE_MAX)
			return cfg_fail(e, &w, "line too long (%zu bytes, max %d)", n,
					CCMAP_CFG_LINE_MAX);
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)buf[pos + i];

			if (ch == 0)
				return cfg_fail(e, &w, "NUL byte at column %zu", i + 1);
			if ((ch < 0x20 && ch != '\t') || ch >= 0x7f)
				return cfg_fail(e, &w, "invalid character 0x%02x at column %zu",
						ch, i + 1);
		}
		memcpy(line, buf + pos, n);
		line[n] = 0;
		pos = end + 1;
		if (tokenize(line, tok, &ntok, e, &w))
			return -1;
		if (ntok && do_line(c, tok, ntok, e, &w))
			return -1;
	}
	return 0;
}

int ccmap_config_parse_file(struct ccmap_config *c, const char *path,
			    struct ccmap_cfg_err *e)
{
	struct where w = { .file = path };
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cfg_fail(e, &w, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cfg_fail(e, &w, "not a regular file");
	}
	if (st.st_size > CCMAP_CFG_FILE_MAX) {
		close(fd);
		return cfg_fail(e, &w, "file too large (%lld bytes, max %d)",
				(long long)st.st_size, CCMAP_CFG_FILE_MAX);
	}
	buf = malloc(CCMAP_CFG_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return cfg_fail(e, &w, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, CCMAP_CFG_FILE_MAX + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cfg_fail(e, &w, "read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > CCMAP_CFG_FILE_MAX) {
			rc = cfg_fail(e, &w, "file too large (max %d bytes)", CCMAP_CFG_FILE_MAX);
			goto out;
		}
	}
	rc = ccmap_config_parse_mem(c, path, buf, got, e);
out:
	free(buf);
	close(fd);
	return rc;
}

int ccmap_config_override(struct ccmap_config *c, const char *kv, struct ccmap_cfg_err *e)
{
	struct where w = { .file = c->source, .override = kv };
	char line[CCMAP_CFG_LINE_MAX + 2];
	const char *eq = strchr(kv, '=');
	char *tok[MAX_TOK];
	size_t n = strlen(kv);
	int ntok;

	if (e)
		memset(e, 0, sizeof(*e));
	if (!eq || eq == kv)
		return cfg_fail(e, &w, "expected keyword=value");
	if (n > CCMAP_CFG_LINE_MAX)
		return cfg_fail(e, &w, "too long");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)kv[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '#')
			return cfg_fail(e, &w, "invalid character 0x%02x", ch);
	}
	memcpy(line, kv, n + 1);
	line[eq - kv] = ' ';
	if (tokenize(line, tok, &ntok, e, &w))
		return -1;
	if (ntok < 1 || strchr(tok[0], ' '))
		return cfg_fail(e, &w, "expected keyword=value");
	return do_line(c, tok, ntok, e, &w);
}

int ccmap_config_finish(struct ccmap_config *c, struct ccmap_cfg_err *e)
{
	struct where w = { .file = c->source };

	if (e)
		memset(e, 0, sizeof(*e));
	if (!c->line_node)
		return cfg_fail(e, &w, "missing required keyword 'node'");
	if (!c->line_listen)
		return cfg_fail(e, &w, "missing required keyword 'listen'");
	if (!c->line_key)
		return cfg_fail(e, &w, "missing required keyword 'key'");
	if (!c->n_shares)
		return cfg_fail(e, &w, "missing required keyword 'share' (at least one)");
	for (unsigned i = 0; i < c->n_peers; i++) {
		const struct ccmap_cfg_peer *p = &c->peers[i];
		struct where pw = { .file = c->source, .line = p->line > 0 ? p->line : 0 };

		if (p->id == c->node)
			return cfg_fail(e, &pw, "peer id %u is this node's own id", p->id);
		if (ccmap_addr_equal(&p->addr, &c->listen))
			return cfg_fail(e, &pw, "peer %u has this node's listen address %s",
					p->id, p->addr.text);
	}
	for (unsigned i = 0; i < c->n_tunes; i++) {
		const struct ccmap_cfg_tune *t = &c->tunes[i];
		struct where tw = { .file = c->source, .line = t->line > 0 ? t->line : 0 };
		bool found = !strcmp(t->share, "*");

		for (unsigned j = 0; j < c->n_shares && !found; j++)
			found = !strcmp(c->shares[j].name, t->share);
		if (!found)
			return cfg_fail(e, &tw, "tune %s %s: there is no share '%s'", t->share,
					t->name, t->share);
	}
	return 0;
}

int ccmap_config_load(struct ccmap_config *c, const char *path,
		      const char *const *overrides, unsigned n_overrides,
		      struct ccmap_cfg_err *e)
{
	ccmap_config_defaults(c);
	if (ccmap_config_parse_file(c, path, e))
		return -1;
	for (unsigned i = 0; i < n_overrides; i++)
		if (ccmap_config_override(c, overrides[i], e))
			return -1;
	return ccmap_config_finish(c, e);
}

uint64_t ccmap_config_members(const struct ccmap_config *c)
{
	uint64_t m = UINT64_C(1) << c->node;

	for (unsigned i = 0; i < c->n_peers; i++)
		m |= UINT64_C(1) << c->peers[i].id;
	return m;
}

unsigned ccmap_config_share_descs(const struct ccmap_config *c,
				  struct ccmap_share_desc *out)
{
	for (unsigned i = 0; i < c->n_shares; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		strcpy(out[i].name, c->shares[i].name);
		out[i].size = c->shares[i].size;
	}
	return c->n_shares;
}

int ccmap_config_format(const struct ccmap_config *c, char *buf, size_t len)
{
	size_t n = 0;
	int r;

#define OUT(...) do { \
	r = snprintf(buf + n, len - n, __VA_ARGS__); \
	if (r < 0 || (size_t)r >= len - n) \
		return -1; \
	n += (size_t)r; \
} while (0)
	if (!len)
		return -1;
	buf[0] = 0;
	if (c->line_node)
		OUT("node %u\n", c->node);
	if (c->line_listen)
		OUT("listen %s\n", c->listen.text);
	for (unsigned i = 0; i < c->n_peers; i++)
		OUT("peer %u %s\n", c->peers[i].id, c->peers[i].addr.text);
	if (c->line_key)
		OUT("key %s\n", c->key_path);
	for (unsigned i = 0; i < c->n_shares; i++)
		OUT("share %s %s size %llu\n", c->shares[i].name, c->shares[i].path,
		    (unsigned long long)c->shares[i].size);
	OUT("policy %s\n", c->policy);
	OUT("timeout_ms %u\n", c->timeout_ms);
	OUT("idle_timeout_ms %u\n", c->idle_timeout_ms);
	OUT("peer_dead_ms %u\n", c->peer_dead_ms);
	OUT("control %s\n", c->control);
	OUT("resize_replicas %s\n", ccmap_resize_name(c->resize));
	OUT("membership %s\n", c->corosync ? "corosync" : "static");
	for (unsigned i = 0; i < c->n_tunes; i++)
		OUT("tune %s %s %u\n", c->tunes[i].share, c->tunes[i].name, c->tunes[i].value);
#undef OUT
	return (int)n;
}

const char *ccmap_resize_name(enum ccmap_resize r)
{
	return (unsigned)r < sizeof(resize_names) / sizeof(resize_names[0]) ? resize_names[r] : "?";
}

/* ---- checks against this machine ------------------------------------------ */

/*
 * Where a keyword of the loaded configuration was given: its file line,
 * or, for a command-line override (line -1), the override as it would be
 * written (text points into buf).
 */
static void keyword_where(const struct ccmap_config *c, int line, const char *override,
			  struct where *w)
{
	memset(w, 0, sizeof(*w));
	w->file = c->source;
	if (line > 0)
		w->line = line;
	else if (line < 0)
		w->override = override;
}

int ccmap_config_load_key(const struct ccmap_config *c, struct ccmap_key *k,
			  struct ccmap_cfg_err *e)
{
	char ov[CCMAP_CFG_PATH_MAX + 8];
	struct ccmap_err ke;
	const char *why;
	size_t plen = strlen(c->key_path);
	struct where w;

	if (e)
		memset(e, 0, sizeof(*e));
	snprintf(ov, sizeof(ov), "key=%s", c->key_path);
	keyword_where(c, c->line_key, ov, &w);
	if (!c->line_key)
		return cfg_fail(e, &w, "missing required keyword 'key'");
	memset(&ke, 0, sizeof(ke));
	if (ccmap_key_load(c->key_path, k, &ke) == 0)
		return 0;
	/* the library's reason starts with the path; say it once */
	why = ke.msg;
	if (!strncmp(why, c->key_path, plen) && why[plen] == ':' && why[plen + 1] == ' ')
		why += plen + 2;
	return cfg_fail(e, &w, "key %.120s: %s", c->key_path, why);
}

int ccmap_config_check_listen(const struct ccmap_config *c, struct ccmap_cfg_err *e)
{
	struct sockaddr_storage ss = c->listen.ss;
	char ov[80];
	struct where w;
	int fd, err = 0;

	if (e)
		memset(e, 0, sizeof(*e));
	snprintf(ov, sizeof(ov), "listen=%s", c->listen.text);
	keyword_where(c, c->line_listen, ov, &w);
	if (!c->line_listen)
		return cfg_fail(e, &w, "missing required keyword 'listen'");
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)(void *)&ss)->sin_port = 0;
	else if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)&ss)->sin6_port = 0;
	else
		return cfg_fail(e, &w, "listen address %s has an unknown family", c->listen.text);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cfg_fail(e, &w, "listen %s: socket: %s", c->listen.text, strerror(errno));
	if (bind(fd, (const struct sockaddr *)&ss, c->listen.len))
		err = errno;
	close(fd);
	if (err == EADDRNOTAVAIL)
		return cfg_fail(e, &w, "listen %s: %s (it is not an address of this machine)",
				c->listen.text, strerror(err));
	if (err)
		return cfg_fail(e, &w, "listen %s: cannot bind: %s", c->listen.text,
				strerror(err));
	return 0;
}

static void share_where(const struct ccmap_config *c, unsigned i, char *ov, size_t len,
			struct where *w)
{
	const struct ccmap_cfg_share *s = &c->shares[i];

	snprintf(ov, len, "share=%s %s size %llu", s->name, s->path,
		 (unsigned long long)s->size);
	keyword_where(c, s->line, ov, w);
}

int ccmap_replica_decide(const struct ccmap_config *c, unsigned i, bool exists,
			 uint64_t size, enum ccmap_replica_plan *plan,
			 struct ccmap_cfg_err *e)
{
	const struct ccmap_cfg_share *s = &c->shares[i];
	unsigned long long have = (unsigned long long)size, want = (unsigned long long)s->size;
	char ov[CCMAP_CFG_PATH_MAX + CCMAP_SHARE_NAME_MAX + 40];
	struct where w;

	if (e)
		memset(e, 0, sizeof(*e));
	share_where(c, i, ov, sizeof(ov), &w);
	if (!exists) {
		*plan = CCMAP_REPLICA_CREATE;
		return 0;
	}
	if (size == s->size) {
		*plan = CCMAP_REPLICA_KEEP;
		return 0;
	}
	if (size < s->size) {
		if (c->resize == CCMAP_RESIZE_NO)
			return cfg_fail(e, &w, "share '%s': replica %.100s is %llu bytes but the "
					"share is %llu bytes; not resizing it (growing adds %llu "
					"zero bytes: allow it with --resize-replicas or "
					"'resize_replicas grow')", s->name, s->path, have, want,
					want - have);
		*plan = CCMAP_REPLICA_GROW;
		return 0;
	}
	if (c->resize != CCMAP_RESIZE_ANY)
		return cfg_fail(e, &w, "share '%s': replica %.100s is %llu bytes but the share "
				"is %llu bytes; not shrinking it (that discards its last %llu "
				"bytes: allow it with --resize-replicas=any or "
				"'resize_replicas any')", s->name, s->path, have, want, have - want);
	*plan = CCMAP_REPLICA_SHRINK;
	return 0;
}

int ccmap_config_check_shares(const struct ccmap_config *c,
			      struct ccmap_replica_check *out,
			      struct ccmap_cfg_err *e)
{
	char ov[CCMAP_CFG_PATH_MAX + CCMAP_SHARE_NAME_MAX + 40];

	if (e)
		memset(e, 0, sizeof(*e));
	for (unsigned i = 0; i < c->n_shares; i++) {
		const struct ccmap_cfg_share *s = &c->shares[i];
		char dir[CCMAP_CFG_PATH_MAX + 1];
		char *slash;
		struct stat st;
		struct where w;

		share_where(c, i, ov, sizeof(ov), &w);
		memset(&out[i], 0, sizeof(out[i]));
		snprintf(dir, sizeof(dir), "%s", s->path);
		slash = strrchr(dir, '/');
		if (!slash || !slash[1])
			return cfg_fail(e, &w, "share '%s': replica path %.100s names no file",
					s->name, s->path);
		if (slash == dir)
			slash[1] = 0;	/* the root directory */
		else
			*slash = 0;
		if (stat(dir, &st)) {
			if (errno == ENOENT)
				return cfg_fail(e, &w, "share '%s': directory %.100s of replica "
						"%.100s does not exist", s->name, dir, s->path);
			return cfg_fail(e, &w, "share '%s': directory %.100s: %s", s->name, dir,
					strerror(errno));
		}
		if (!S_ISDIR(st.st_mode))
			return cfg_fail(e, &w, "share '%s': %.100s (directory of replica %.100s) "
					"is not a directory", s->name, dir, s->path);
		if (stat(s->path, &st)) {
			if (errno != ENOENT)
				return cfg_fail(e, &w, "share '%s': replica %.100s: %s", s->name,
						s->path, strerror(errno));
			if (lstat(s->path, &st) == 0)
				return cfg_fail(e, &w, "share '%s': replica %.100s is a symbolic "
						"link to a file that does not exist", s->name, s->path);
			if (access(dir, W_OK | X_OK))
				return cfg_fail(e, &w, "share '%s': replica %.100s does not exist "
						"and cannot be created in %.100s: %s", s->name,
						s->path, dir, strerror(errno));
			out[i].plan = CCMAP_REPLICA_CREATE;
			continue;
		}
		if (!S_ISREG(st.st_mode))
			return cfg_fail(e, &w, "share '%s': replica %.100s is not a regular file",
					s->name, s->path);
		if (access(s->path, R_OK | W_OK))
			return cfg_fail(e, &w, "share '%s': replica %.100s is not readable and "
					"writable: %s", s->name, s->path, strerror(errno));
		for (unsigned j = 0; j < i; j++)
			if (out[j].plan != CCMAP_REPLICA_CREATE &&
			    out[j].dev == (uint64_t)st.st_dev && out[j].ino == (uint64_t)st.st_ino)
				return cfg_fail(e, &w, "share '%s': replica %.100s is the same file "
						"as the replica %.100s of share '%s'", s->name,
						s->path, c->shares[j].path, c->shares[j].name);
		out[i].size = (uint64_t)st.st_size;
		out[i].dev = (uint64_t)st.st_dev;
		out[i].ino = (uint64_t)st.st_ino;
		if (ccmap_replica_decide(c, i, true, out[i].size, &out[i].plan, e))
			return -1;
	}
	return 0;
}
