// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the ccmapd config parser: a full good config, defaults, every
 * error message (exact text), overrides, the canonical format round trip,
 * and file loading; the checks against this machine (key file, listen
 * address, share directories and replica sizes) with their file:line
 * messages, on files in a temporary directory.
 */
#include <ccmap/auth.h>
#include <ccmap/config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

static const char good[] =
	"# ccmapd config\n"
	"node 1\n"
	"listen 10.77.0.1:7070\n"
	"peer 2 10.77.0.2:7070   # second\n"
	"peer 3 10.77.0.3:7070\n"
	"\tkey /etc/ccmap/cluster.key\n"
	"share data /tmp/ccmap/data size 1M\n"
	"share log /tmp/ccmap/log size 8192\r\n"
	"policy mirage\n"
	"timeout_ms 250\n"
	"control /run/ccmap/x.sock\n"
	"\n"
	"   # trailing comment\n";

static struct ccmap_config c;
static struct ccmap_cfg_err e;

static int parse_finish(const char *text)
{
	ccmap_config_defaults(&c);
	if (ccmap_config_parse_mem(&c, "t.conf", text, strlen(text), &e))
		return -1;
	return ccmap_config_finish(&c, &e);
}

static void test_good(void)
{
	char buf[4096];
	struct ccmap_config c2;
	struct ccmap_share_desc d[CCMAP_MAX_SHARES];
	int n;

	OK(parse_finish(good) == 0, "good config parses: %s", e.msg);
	OK(c.node == 1 && !strcmp(c.listen.text, "10.77.0.1:7070") && c.n_peers == 2 &&
	   c.peers[0].id == 2 && !strcmp(c.peers[1].addr.text, "10.77.0.3:7070") &&
	   !strcmp(c.key_path, "/etc/ccmap/cluster.key") && c.n_shares == 2 &&
	   c.shares[0].size == 1048576 && !strcmp(c.shares[1].name, "log") &&
	   c.shares[1].size == 8192 && !strcmp(c.shares[1].path, "/tmp/ccmap/log") &&
	   !strcmp(c.policy, "mirage") && c.timeout_ms == 250 &&
	   !strcmp(c.control, "/run/ccmap/x.sock") && c.resize == CCMAP_RESIZE_NO,
	   "all values as written (resize_replicas defaults to no)");
	OK(ccmap_config_members(&c) == 0xe, "members bitmap {1,2,3}");
	OK(ccmap_config_share_descs(&c, d) == 2 && !strcmp(d[0].name, "data") &&
	   d[0].size == 1048576, "share descriptors for HELLO");
	n = ccmap_config_format(&c, buf, sizeof(buf));
	ccmap_config_defaults(&c2);
	OK(n > 0 && ccmap_config_parse_mem(&c2, "fmt", buf, (size_t)n, &e) == 0 &&
	   ccmap_config_finish(&c2, &e) == 0 && c2.node == c.node && c2.n_peers == 2 &&
	   c2.shares[0].size == c.shares[0].size && c2.timeout_ms == 250 &&
	   !strcmp(c2.policy, "mirage"), "canonical format parses back to the same values");
	OK(n > 0 && strstr(buf, "\nresize_replicas no\n"), "canonical format says resize_replicas no");
	OK(ccmap_config_format(&c, buf, 10) == -1, "format reports a too small buffer");
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"resize_replicas grow\n") == 0 && c.resize == CCMAP_RESIZE_GROW &&
	   parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"resize_replicas any\n") == 0 && c.resize == CCMAP_RESIZE_ANY &&
	   parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"resize_replicas no\n") == 0 && c.resize == CCMAP_RESIZE_NO,
	   "resize_replicas no, grow, any: %s", e.msg);
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"resize_replicas any\n") == 0 &&
	   (n = ccmap_config_format(&c, buf, sizeof(buf))) > 0 &&
	   strstr(buf, "\nresize_replicas any\n") && (ccmap_config_defaults(&c2), 1) &&
	   ccmap_config_parse_mem(&c2, "fmt", buf, (size_t)n, &e) == 0 &&
	   c2.resize == CCMAP_RESIZE_ANY, "resize_replicas survives the format round trip");
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n") == 0 &&
	   !c.corosync && (n = ccmap_config_format(&c, buf, sizeof(buf))) > 0 &&
	   strstr(buf, "\nmembership static\n"), "membership defaults to static");
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"membership corosync\n") == 0 && c.corosync &&
	   (n = ccmap_config_format(&c, buf, sizeof(buf))) > 0 &&
	   strstr(buf, "\nmembership corosync\n") && (ccmap_config_defaults(&c2), 1) &&
	   ccmap_config_parse_mem(&c2, "fmt", buf, (size_t)n, &e) == 0 && c2.corosync,
	   "membership corosync, and it survives the format round trip");
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"membership heartbeat\n") == -1 &&
	   strstr(e.msg, "t.conf:5: membership 'heartbeat': expected static or corosync"),
	   "membership: unknown value refused with its line (%s)", e.msg);
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"membership static\nmembership corosync\n") == -1 &&
	   strstr(e.msg, "duplicate 'membership' (first given on line 5)"),
	   "membership: given twice is refused (%s)", e.msg);
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"tune a hold_ms 20\ntune * unit_pages 8\ntune a hold_ms 30\n") == 0 &&
	   c.n_tunes == 2 && !strcmp(c.tunes[0].share, "a") &&
	   !strcmp(c.tunes[0].name, "hold_ms") && c.tunes[0].value == 30 &&
	   c.tunes[0].line == 7 && !strcmp(c.tunes[1].share, "*") && c.tunes[1].value == 8 &&
	   (n = ccmap_config_format(&c, buf, sizeof(buf))) > 0 &&
	   strstr(buf, "\ntune a hold_ms 30\ntune * unit_pages 8\n") &&
	   (ccmap_config_defaults(&c2), 1) &&
	   ccmap_config_parse_mem(&c2, "fmt", buf, (size_t)n, &e) == 0 && c2.n_tunes == 2 &&
	   c2.tunes[0].value == 30, "tune: per share and for all, a later line replaces, "
	   "survives the format round trip (%s)", e.msg);
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"tune b hold_ms 20\n") == -1 &&
	   strstr(e.msg, "t.conf:5: tune b hold_ms: there is no share 'b'"),
	   "tune: an unknown share is refused with its line (%s)", e.msg);
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"tune a 9lives 1\n") == -1 &&
	   strstr(e.msg, "t.conf:5: tune: bad tunable name '9lives'"),
	   "tune: a name that is not an identifier is refused (%s)", e.msg);
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"tune a hold_ms -1\n") == -1 && strstr(e.msg, "t.conf:5: tune: "),
	   "tune: a negative value is refused (%s)", e.msg);
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"tune a hold_ms\n") == -1 && strstr(e.msg, "t.conf:5: "),
	   "tune: a missing value is refused (%s)", e.msg);
	OK(ccmap_config_override(&c, "tune=a hold_ms 99", &e) == 0 && c.n_tunes == 1 &&
	   c.tunes[0].value == 99 && c.tunes[0].line == -1,
	   "tune as a command-line override replaces the line (%s)", e.msg);
	OK(!strcmp(ccmap_resize_name(CCMAP_RESIZE_NO), "no") &&
	   !strcmp(ccmap_resize_name(CCMAP_RESIZE_GROW), "grow") &&
	   !strcmp(ccmap_resize_name(CCMAP_RESIZE_ANY), "any") &&
	   !strcmp(ccmap_resize_name((enum ccmap_resize)7), "?"), "resize names");

	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n") == 0 &&
	   !strcmp(c.policy, "msi") && c.timeout_ms == 5000 &&
	   !strcmp(c.control, "/run/ccmap/ccmapd.sock") && c.n_peers == 0,
	   "minimal config gets defaults (msi, 5000 ms, control socket)");
	OK(c.idle_timeout_ms == 15000 && c.peer_dead_ms == 15000,
	   "idle_timeout_ms and peer_dead_ms default to 15000");
	OK(parse_finish("node 0\nlisten 127.0.0.1:1\nkey /k\nshare a /a size 4K\n"
			"idle_timeout_ms 300\npeer_dead_ms 2500\n") == 0 &&
	   c.idle_timeout_ms == 300 && c.peer_dead_ms == 2500 &&
	   (n = ccmap_config_format(&c, buf, sizeof(buf))) > 0 &&
	   strstr(buf, "\nidle_timeout_ms 300\n") && strstr(buf, "\npeer_dead_ms 2500\n"),
	   "idle_timeout_ms and peer_dead_ms as written, and in the canonical format: %s",
	   e.msg);
	OK(parse_finish("node 63\nlisten [::1]:65535\nkey /k\nshare a.b-c_D /a size 1g\n"
			"share b /b size 16T\npeer 0 [fd00::2]:7070\n") == 0 &&
	   !strcmp(c.listen.text, "[::1]:65535") && c.shares[0].size == (1ull << 30) &&
	   c.shares[1].size == (16ull << 40) && !strcmp(c.peers[0].addr.text, "[fd00::2]:7070"),
	   "IPv6, node 63, lower-case suffix, 16T share: %s", e.msg);
}

struct bad { const char *text; const char *msg; };

static const struct bad bads[] = {
	{ "nodes 1\n", "t.conf:1: unknown keyword 'nodes'" },
	{ "node\n", "t.conf:1: 'node' takes 1 argument (node <id>), got 0" },
	{ "node 1 2\n", "t.conf:1: 'node' takes 1 argument (node <id>), got 2" },
	{ "node 64\n", "t.conf:1: node id '64' out of range (max 63)" },
	{ "node -1\n", "t.conf:1: node id '-1' is not a decimal number" },
	{ "node 1x\n", "t.conf:1: node id '1x' is not a decimal number" },
	{ "node 99999999999999999999999\n",
	  "t.conf:1: node id '99999999999999999999999' out of range (max 63)" },
	{ "node 1\n\nnode 2\n", "t.conf:3: duplicate 'node' (first given on line 1)" },
	{ "listen 10.0.0.1\n",
	  "t.conf:1: bad address '10.0.0.1': expected IPv4:port or [IPv6]:port" },
	{ "listen 10.0.0.256:7070\n",
	  "t.conf:1: bad address '10.0.0.256:7070': '10.0.0.256' is not an IPv4 address "
	  "(dotted decimal a.b.c.d)" },
	{ "listen host.example:7070\n",
	  "t.conf:1: bad address 'host.example:7070': 'host.example' is not an IPv4 address "
	  "(dotted decimal a.b.c.d)" },
	{ "listen 10.0.0.1:70000\n",
	  "t.conf:1: bad address '10.0.0.1:70000': port '70000' out of range (max 65535)" },
	{ "listen 10.0.0.1:0\n",
	  "t.conf:1: bad address '10.0.0.1:0': port 0 out of range 1-65535" },
	{ "listen 10.0.0.1:http\n",
	  "t.conf:1: bad address '10.0.0.1:http': port 'http' is not a decimal number" },
	{ "listen :7070\n", "t.conf:1: bad address ':7070': bad host part" },
	{ "listen [::1:7070\n", "t.conf:1: bad address '[::1:7070': expected [IPv6]:port" },
	{ "listen [::g]:7070\n",
	  "t.conf:1: bad address '[::g]:7070': '::g' is not an IPv6 address" },
	{ "listen 1.2.3.4:5\nlisten 1.2.3.4:6\n",
	  "t.conf:2: duplicate 'listen' (first given on line 1)" },
	{ "peer 2\n", "t.conf:1: 'peer' takes 2 arguments (peer <id> <ip:port>), got 1" },
	{ "peer 2 10.0.0.2:7070\npeer 2 10.0.0.3:7070\n",
	  "t.conf:2: duplicate peer id 2 (first on line 1)" },
	{ "peer 2 10.0.0.2:7070\npeer 3 10.0.0.2:7070\n",
	  "t.conf:2: peer 3 has the same address 10.0.0.2:7070 as peer 2" },
	{ "peer 2 0.0.0.0:7070\n",
	  "t.conf:1: peer 2 address 0.0.0.0:7070 is unspecified (0.0.0.0/::)" },
	{ "peer 70 10.0.0.2:1\n", "t.conf:1: peer id '70' out of range (max 63)" },
	{ "node 1\nlisten 10.0.0.1:7070\nkey /k\nshare a /a size 4K\npeer 1 10.0.0.2:7070\n",
	  "t.conf:5: peer id 1 is this node's own id" },
	{ "node 1\nlisten 10.0.0.1:7070\nkey /k\nshare a /a size 4K\npeer 2 10.0.0.1:7070\n",
	  "t.conf:5: peer 2 has this node's listen address 10.0.0.1:7070" },
	{ "key etc/key\n", "t.conf:1: key path 'etc/key' must be absolute" },
	{ "key /a\nkey /b\n", "t.conf:2: duplicate 'key' (first given on line 1)" },
	{ "share data /d\n",
	  "t.conf:1: 'share' takes 4 arguments (share <name> <path> size <size>), got 2" },
	{ "share data /d bytes 1M\n",
	  "t.conf:1: expected 'size' after the share path, got 'bytes'" },
	{ "share da/ta /d size 1M\n",
	  "t.conf:1: bad share name 'da/ta': 1 to 63 characters of A-Z a-z 0-9 _ . -" },
	{ "share data d size 1M\n", "t.conf:1: share path 'd' must be absolute" },
	{ "share data /d size 1000\n",
	  "t.conf:1: share 'data' size 1000 is not a multiple of the page size 4096" },
	{ "share data /d size 0\n", "t.conf:1: share 'data' size must not be 0" },
	{ "share data /d size 1X\n",
	  "t.conf:1: size '1X' has an unknown suffix (use K, M, G or T)" },
	{ "share data /d size 1MB\n",
	  "t.conf:1: size '1MB' has trailing characters after the suffix" },
	{ "share data /d size M\n", "t.conf:1: size 'M' does not start with a number" },
	{ "share data /d size 18446744073709551616\n",
	  "t.conf:1: size '18446744073709551616' overflows 64 bits" },
	{ "share data /d size 16777216T\n", "t.conf:1: size '16777216T' overflows 64 bits" },
	{ "share data /d size 17T\n",
	  "t.conf:1: share 'data' size 18691697672192 exceeds the maximum 16T" },
	{ "share a /d size 4K\nshare a /e size 4K\n",
	  "t.conf:2: duplicate share name 'a' (first on line 1)" },
	{ "share a /d size 4K\nshare b /d size 4K\n",
	  "t.conf:2: share 'b' uses the same path as share 'a'" },
	{ "policy ../msi\n",
	  "t.conf:1: policy '../msi': a policy name is 1 to 31 letters, digits, '_' or '-' (the object <name>.bpf.o)" },
	{ "policy a2345678901234567890123456789012\n",
	  "t.conf:1: policy 'a2345678901234567890123456789012': a policy name is 1 to 31 letters, digits, '_' or '-' (the object <name>.bpf.o)" },
	{ "policy msi\npolicy msi\n", "t.conf:2: duplicate 'policy' (first given on line 1)" },
	{ "timeout_ms 0\n", "t.conf:1: timeout_ms must be at least 1" },
	{ "timeout_ms 60001\n", "t.conf:1: timeout_ms '60001' out of range (max 60000)" },
	{ "timeout_ms 5s\n", "t.conf:1: timeout_ms '5s' is not a decimal number" },
	{ "peer_dead_ms 99\n", "t.conf:1: peer_dead_ms must be at least 100" },
	{ "idle_timeout_ms 3600001\n",
	  "t.conf:1: idle_timeout_ms '3600001' out of range (max 3600000)" },
	{ "idle_timeout_ms 500\nidle_timeout_ms 600\n",
	  "t.conf:2: duplicate 'idle_timeout_ms' (first given on line 1)" },
	{ "peer_dead_ms\n",
	  "t.conf:1: 'peer_dead_ms' takes 1 argument (peer_dead_ms <n>), got 0" },
	{ "control run/sock\n", "t.conf:1: control socket path 'run/sock' must be absolute" },
	{ "control /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  "t.conf:1: control socket path is 128 bytes long (max 107)" },
	{ "resize_replicas yes\n", "t.conf:1: resize_replicas 'yes': expected no, grow or any" },
	{ "resize_replicas\n",
	  "t.conf:1: 'resize_replicas' takes 1 argument (resize_replicas no|grow|any), got 0" },
	{ "resize_replicas grow\nresize_replicas any\n",
	  "t.conf:2: duplicate 'resize_replicas' (first given on line 1)" },
	{ "node 1 \x01\n", "t.conf:1: invalid character 0x01 at column 8" },
	{ "node 1\xc3\xa9\n", "t.conf:1: invalid character 0xc3 at column 7" },
	{ "a b c d e f g h i\n", "t.conf:1: too many words on one line (max 8)" },
	/* missing required keywords (no line) */
	{ "", "t.conf: missing required keyword 'node'" },
	{ "node 1\n", "t.conf: missing required keyword 'listen'" },
	{ "node 1\nlisten 1.2.3.4:5\n", "t.conf: missing required keyword 'key'" },
	{ "node 1\nlisten 1.2.3.4:5\nkey /k\n",
	  "t.conf: missing required keyword 'share' (at least one)" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		int rc = parse_finish(bads[i].text);

		OK(rc == -1 && !strcmp(e.msg, bads[i].msg), "error: %s%s%s", bads[i].msg,
		   rc == -1 && strcmp(e.msg, bads[i].msg) ? " -- got: " : "",
		   rc == -1 && strcmp(e.msg, bads[i].msg) ? e.msg : "");
	}
	/* NUL byte, over-long line, too many peers/shares: built in code */
	{
		const char t[] = "node 1\nno\0de 2\n";

		ccmap_config_defaults(&c);
		OK(ccmap_config_parse_mem(&c, "t.conf", t, sizeof(t) - 1, &e) == -1 &&
		   !strcmp(e.msg, "t.conf:2: NUL byte at column 3") && e.line == 2,
		   "error: %s", e.msg);
	}
	{
		static char t[3000];

		memset(t, ' ', 2000);
		memcpy(t + 2000, "node 1\n", 8);
		ccmap_config_defaults(&c);
		OK(ccmap_config_parse_mem(&c, "t.conf", t, strlen(t), &e) == -1 &&
		   !strcmp(e.msg, "t.conf:1: line too long (2006 bytes, max 1023)"),
		   "error: %s", e.msg);
	}
	{
		static char t[8192];
		size_t n = 0;

		for (int i = 0; i < 64; i++)
			n += (size_t)sprintf(t + n, "peer %d 10.0.%d.%d:7070\n", i, i / 200, i % 200 + 1);
		ccmap_config_defaults(&c);
		OK(ccmap_config_parse_mem(&c, "t.conf", t, n, &e) == -1 &&
		   !strcmp(e.msg, "t.conf:64: too many peers (max 63)"), "error: %s", e.msg);
		n = 0;
		for (int i = 0; i < 33; i++)
			n += (size_t)sprintf(t + n, "share s%d /s/%d size 4K\n", i, i);
		ccmap_config_defaults(&c);
		OK(ccmap_config_parse_mem(&c, "t.conf", t, n, &e) == -1 &&
		   !strcmp(e.msg, "t.conf:33: too many shares (max 32)"), "error: %s", e.msg);
	}
}

static void test_overrides(void)
{
	const char *ov[] = { "timeout_ms=100", "peer=3 10.77.0.33:7070", "peer=4 10.77.0.4:7070",
			     "share=data /tmp/ccmap/data size 2M", "policy=msi", "node=5",
			     "resize_replicas=any" };
	char path[] = "/tmp/ccmap-cfgXXXXXX";
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, good, sizeof(good) - 1) != (ssize_t)(sizeof(good) - 1)) {
		OK(false, "temp file");
		return;
	}
	close(fd);
	OK(ccmap_config_load(&c, path, ov, 7, &e) == 0 && c.timeout_ms == 100 &&
	   c.resize == CCMAP_RESIZE_ANY && c.line_resize == -1 &&
	   c.n_peers == 3 && !strcmp(c.peers[1].addr.text, "10.77.0.33:7070") &&
	   c.peers[2].id == 4 && c.shares[0].size == (2u << 20) && c.n_shares == 2 &&
	   !strcmp(c.policy, "msi") && c.node == 5 && ccmap_config_members(&c) == 0x3c,
	   "load with overrides: replaced values, added peer 4, share resized: %s", e.msg);
	{
		const char *bad1[] = { "timeout_ms=abc" };
		const char *bad2[] = { "nosuch=1" };
		const char *bad3[] = { "timeout_ms" };
		const char *bad4[] = { "node=2" };
		const char *bad5[] = { "peer=5 10.77.0.2:7070" };
		const char *bad6[] = { "=5" };

		OK(ccmap_config_load(&c, path, bad1, 1, &e) == -1 &&
		   !strcmp(e.msg, "override 'timeout_ms=abc': timeout_ms 'abc' is not a decimal number"),
		   "override error: %s", e.msg);
		OK(ccmap_config_load(&c, path, bad2, 1, &e) == -1 &&
		   !strcmp(e.msg, "override 'nosuch=1': unknown keyword 'nosuch'"),
		   "override error: %s", e.msg);
		OK(ccmap_config_load(&c, path, bad3, 1, &e) == -1 &&
		   !strcmp(e.msg, "override 'timeout_ms': expected keyword=value"),
		   "override error: %s", e.msg);
		OK(ccmap_config_load(&c, path, bad4, 1, &e) == -1 &&
		   !strcmp(e.msg, strcat(strcpy((char[300]){ 0 }, path),
					 ":4: peer id 2 is this node's own id")),
		   "override makes the node a peer: %s", e.msg);
		OK(ccmap_config_load(&c, path, bad5, 1, &e) == -1 &&
		   !strcmp(e.msg, "override 'peer=5 10.77.0.2:7070': peer 5 has the same address "
			   "10.77.0.2:7070 as peer 2"), "override error: %s", e.msg);
		OK(ccmap_config_load(&c, path, bad6, 1, &e) == -1 &&
		   !strcmp(e.msg, "override '=5': expected keyword=value"),
		   "override error: %s", e.msg);
	}
	unlink(path);
	OK(ccmap_config_load(&c, path, NULL, 0, &e) == -1 &&
	   strstr(e.msg, "cannot open: No such file or directory") &&
	   !strncmp(e.msg, path, strlen(path)), "missing file: %s", e.msg);
	OK(ccmap_config_load(&c, "/tmp", NULL, 0, &e) == -1 &&
	   !strcmp(e.msg, "/tmp: not a regular file"), "directory: %s", e.msg);
}

static void test_values(void)
{
	uint64_t v;
	uint32_t u;
	char why[120];
	struct ccmap_addr a, b;

	OK(ccmap_parse_size("4K", &v, why, sizeof(why)) == 0 && v == 4096 &&
	   ccmap_parse_size("3G", &v, why, sizeof(why)) == 0 && v == 3ull << 30 &&
	   ccmap_parse_size("18446744073709551615", &v, why, sizeof(why)) == 0 &&
	   v == UINT64_MAX && ccmap_parse_size("16777215T", &v, why, sizeof(why)) == 0 &&
	   v == 16777215ull << 40, "sizes incl. the largest representable ones");
	OK(ccmap_parse_u32("4294967295", UINT32_MAX, &u, why, sizeof(why), "n") == 0 &&
	   u == UINT32_MAX && ccmap_parse_u32("4294967296", UINT32_MAX, &u, why, sizeof(why),
					      "n") == -1, "u32 bounds");
	OK(ccmap_parse_addr("10.0.0.1:7070", &a, why, sizeof(why)) == 0 &&
	   ccmap_parse_addr("10.0.0.1:7070", &b, why, sizeof(why)) == 0 && ccmap_addr_equal(&a, &b) &&
	   ccmap_parse_addr("10.0.0.1:7071", &b, why, sizeof(why)) == 0 && !ccmap_addr_equal(&a, &b),
	   "address equality");
}

/* ---- checks against this machine, in a temporary directory ---------------- */

static char tmpdir[] = "/tmp/ccmap-cfgchkXXXXXX";

__attribute__((format(printf, 1, 2)))
static const char *tpath(const char *fmt, ...)
{
	static char bufs[4][512];
	static unsigned next;
	char rel[256];
	char *b = bufs[next++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, rel);
	return b;
}

/* A file of size bytes, byte i = (i * 7 + seed) & 0xff; 0 or -1. */
static int make_file(const char *path, size_t size, unsigned seed, mode_t mode)
{
	static unsigned char buf[1 << 17];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int rc = 0;

	if (fd < 0 || size > sizeof(buf))
		return -1;
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)(i * 7 + seed);
	if (write(fd, buf, size) != (ssize_t)size || fchmod(fd, mode))
		rc = -1;
	close(fd);
	return rc;
}

/* Is path exactly make_file(path, size, seed)? */
static bool same_file(const char *path, size_t size, unsigned seed)
{
	static unsigned char buf[(1 << 17) + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != (ssize_t)size)
		return false;
	for (size_t i = 0; i < size; i++)
		if (buf[i] != (unsigned char)(i * 7 + seed))
			return false;
	return true;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t n = strlen(text);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (write(fd, text, n) != (ssize_t)n || fchmod(fd, mode))
		rc = -1;
	close(fd);
	return rc;
}

/* A minimal configuration with its 'key' on line 4 and one share on line 5. */
static int load_one(const char *key, const char *share_path, const char *size,
		    const char *extra)
{
	char text[2048];

	snprintf(text, sizeof(text), "node 1\nlisten 127.0.0.1:7070\npeer 2 127.0.0.2:7070\n"
		 "key %s\nshare data %s size %s\n%s", key, share_path, size, extra ? extra : "");
	return parse_finish(text);
}

static bool msg_is(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool msg_is(const char *fmt, ...)
{
	char want[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	if (strcmp(e.msg, want)) {
		printf("#   want: %s\n#   got:  %s\n", want, e.msg);
		return false;
	}
	return true;
}

static void test_key_file(void)
{
	char key[512];
	struct ccmap_key k;

	snprintf(key, sizeof(key), "%s", tpath("cluster.key"));
	OK(load_one(key, "/x/data", "64K", NULL) == 0 && ccmap_config_load_key(&c, &k, &e) == -1 &&
	   msg_is("t.conf:4: key %s: cannot open key file: No such file or directory", key),
	   "missing key file: file:line of 'key' and the path");
	OK(write_text(key, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		      0644) == 0 && ccmap_config_load_key(&c, &k, &e) == -1 &&
	   msg_is("t.conf:4: key %s: key file is accessible by group/others (mode 644); "
		  "chmod 600 it", key), "group-readable key file: file:line");
	OK(write_text(key, "0123456789abcdef\n", 0600) == 0 &&
	   ccmap_config_load_key(&c, &k, &e) == -1 &&
	   msg_is("t.conf:4: key %s: key is 8 bytes, must be 32 to 128 bytes (64 to 256 hex "
		  "digits)", key), "short key: file:line and the lengths");
	OK(write_text(key, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\n",
		      0600) == 0 && ccmap_config_load_key(&c, &k, &e) == -1 &&
	   msg_is("t.conf:4: key %s: key has a non-hex character at offset 63", key),
	   "non-hex key: file:line");
	OK(ccmap_config_load_key(&c, &k, &e) == -1 && e.line == 4, "the error carries line 4");
	OK(write_text(key, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
		      0600) == 0 && ccmap_config_load_key(&c, &k, &e) == 0 && k.len == 32 &&
	   k.bytes[0] == 0x01 && k.bytes[31] == 0xef, "good key loads: %s", e.msg);
	{
		char ov[600];

		snprintf(ov, sizeof(ov), "key=%s", tpath("nokey"));
		OK(ccmap_config_override(&c, ov, &e) == 0 && ccmap_config_load_key(&c, &k, &e) == -1 &&
		   msg_is("override 'key=%.55s': key %s: cannot open key file: No such file or "
			  "directory", tpath("nokey"), tpath("nokey")),
		   "key from an override names the override");
	}
	OK(mkdir(tpath("keydir"), 0700) == 0 && load_one(tpath("keydir"), "/x/d", "4K", NULL) == 0 &&
	   ccmap_config_load_key(&c, &k, &e) == -1 &&
	   msg_is("t.conf:4: key %s: key file is not a regular file", tpath("keydir")),
	   "key path is a directory: file:line");
}

static void test_listen(void)
{
	OK(parse_finish("node 1\nlisten 127.0.0.1:7070\nkey /k\nshare a /a size 4K\n") == 0 &&
	   ccmap_config_check_listen(&c, &e) == 0, "127.0.0.1 is this machine's: %s", e.msg);
	OK(parse_finish("node 1\n\nlisten 203.0.113.77:7070\nkey /k\nshare a /a size 4K\n") == 0 &&
	   ccmap_config_check_listen(&c, &e) == -1 &&
	   msg_is("t.conf:3: listen 203.0.113.77:7070: Cannot assign requested address (it is not "
		  "an address of this machine)"), "a foreign listen address fails with file:line");
	OK(ccmap_config_override(&c, "listen=198.51.100.77:1", &e) == 0 &&
	   ccmap_config_check_listen(&c, &e) == -1 &&
	   !strncmp(e.msg, "override 'listen=198.51.100.77:1': listen 198.51.100.77:1: ",
		    strlen("override 'listen=198.51.100.77:1': listen 198.51.100.77:1: ")),
	   "a foreign listen address from an override names it: %s", e.msg);
}

static void test_shares(void)
{
	struct ccmap_replica_check rc[CCMAP_MAX_SHARES];
	enum ccmap_replica_plan plan;
	char data[512];
	struct stat st;

	snprintf(data, sizeof(data), "%s", tpath("data"));
	OK(load_one("/k", tpath("nodir/data"), "64K", NULL) == 0 &&
	   ccmap_config_check_shares(&c, rc, &e) == -1 && e.line == 5 &&
	   msg_is("t.conf:5: share 'data': directory %s of replica %s does not exist",
		  tpath("nodir"), tpath("nodir/data")), "missing directory: file:line");
	OK(stat(tpath("nodir"), &st) == -1 && errno == ENOENT, "... and nothing was created");
	OK(make_file(tpath("plain"), 10, 1, 0600) == 0 &&
	   load_one("/k", tpath("plain/data"), "64K", NULL) == 0 &&
	   ccmap_config_check_shares(&c, rc, &e) == -1 &&
	   msg_is("t.conf:5: share 'data': %s (directory of replica %s) is not a directory",
		  tpath("plain"), tpath("plain/data")), "directory that is a file: file:line");

	OK(load_one("/k", data, "64K", NULL) == 0 && ccmap_config_check_shares(&c, rc, &e) == 0 &&
	   rc[0].plan == CCMAP_REPLICA_CREATE && rc[0].size == 0,
	   "missing replica in an existing directory: to be created: %s", e.msg);
	OK(stat(data, &st) == -1 && errno == ENOENT, "... the check did not create it");

	OK(make_file(data, 65536, 3, 0600) == 0 && ccmap_config_check_shares(&c, rc, &e) == 0 &&
	   rc[0].plan == CCMAP_REPLICA_KEEP && rc[0].size == 65536 && rc[0].ino != 0,
	   "replica of the right size: kept: %s", e.msg);

	OK(make_file(data, 8192, 5, 0600) == 0 && ccmap_config_check_shares(&c, rc, &e) == -1 &&
	   e.line == 5 &&
	   msg_is("t.conf:5: share 'data': replica %s is 8192 bytes but the share is 65536 "
		  "bytes; not resizing it (growing adds 57344 zero bytes: allow it with "
		  "--resize-replicas or 'resize_replicas grow')", data),
	   "smaller replica refused: share, path, both sizes, the option");
	OK(same_file(data, 8192, 5), "... and left as it was");
	OK(load_one("/k", data, "64K", "resize_replicas grow\n") == 0 &&
	   ccmap_config_check_shares(&c, rc, &e) == 0 && rc[0].plan == CCMAP_REPLICA_GROW &&
	   rc[0].size == 8192 && same_file(data, 8192, 5),
	   "smaller replica with resize_replicas grow: to be grown, not yet changed: %s", e.msg);

	OK(make_file(data, 131072, 9, 0600) == 0 && ccmap_config_check_shares(&c, rc, &e) == -1 &&
	   msg_is("t.conf:5: share 'data': replica %s is 131072 bytes but the share is 65536 "
		  "bytes; not shrinking it (that discards its last 65536 bytes: allow it with "
		  "--resize-replicas=any or 'resize_replicas any')", data),
	   "larger replica refused even with resize_replicas grow");
	OK(load_one("/k", data, "64K", NULL) == 0 && ccmap_config_check_shares(&c, rc, &e) == -1 &&
	   strstr(e.msg, "not shrinking it"), "larger replica refused by default");
	OK(load_one("/k", data, "64K", "resize_replicas any\n") == 0 &&
	   ccmap_config_check_shares(&c, rc, &e) == 0 && rc[0].plan == CCMAP_REPLICA_SHRINK &&
	   rc[0].size == 131072 && same_file(data, 131072, 9),
	   "larger replica with resize_replicas any: to be shrunk, not yet changed: %s", e.msg);

	OK(ccmap_replica_decide(&c, 0, false, 0, &plan, &e) == 0 && plan == CCMAP_REPLICA_CREATE &&
	   ccmap_replica_decide(&c, 0, true, 65536, &plan, &e) == 0 && plan == CCMAP_REPLICA_KEEP &&
	   ccmap_replica_decide(&c, 0, true, 4096, &plan, &e) == 0 && plan == CCMAP_REPLICA_GROW &&
	   ccmap_replica_decide(&c, 0, true, 1 << 20, &plan, &e) == 0 &&
	   plan == CCMAP_REPLICA_SHRINK, "decide: create, keep, grow, shrink under 'any'");
	OK(load_one("/k", data, "64K", NULL) == 0 &&
	   ccmap_replica_decide(&c, 0, true, 0, &plan, &e) == -1 &&
	   strstr(e.msg, "is 0 bytes but the share is 65536 bytes; not resizing it"),
	   "decide: an empty replica is refused too (no silent zero-fill of a truncated file)");

	OK(symlink(tpath("nowhere"), tpath("dangling")) == 0 &&
	   load_one("/k", tpath("dangling"), "64K", NULL) == 0 &&
	   ccmap_config_check_shares(&c, rc, &e) == -1 &&
	   msg_is("t.conf:5: share 'data': replica %s is a symbolic link to a file that does "
		  "not exist", tpath("dangling")), "dangling symbolic link: refused, file:line");
	OK(mkdir(tpath("adir"), 0700) == 0 && load_one("/k", tpath("adir"), "64K", NULL) == 0 &&
	   ccmap_config_check_shares(&c, rc, &e) == -1 &&
	   msg_is("t.conf:5: share 'data': replica %s is not a regular file", tpath("adir")),
	   "replica that is a directory: file:line");
	{
		char text[2048];

		snprintf(text, sizeof(text), "node 1\nlisten 127.0.0.1:7070\nkey /k\n"
			 "share a %s size 64K\nshare b %s size 128K\n", data, tpath("alias"));
		OK(make_file(data, 65536, 3, 0600) == 0 && symlink(data, tpath("alias")) == 0 &&
		   parse_finish(text) == 0 && ccmap_config_check_shares(&c, rc, &e) == -1 &&
		   msg_is("t.conf:5: share 'b': replica %s is the same file as the replica %s of "
			  "share 'a'", tpath("alias"), data), "two shares on one file: refused");
	}
	{
		char ov[600];

		snprintf(ov, sizeof(ov), "share=data %s size 64K", tpath("gone/x"));
		OK(load_one("/k", data, "64K", NULL) == 0 && ccmap_config_override(&c, ov, &e) == 0 &&
		   ccmap_config_check_shares(&c, rc, &e) == -1 &&
		   !strncmp(e.msg, "override 'share=data ", 21) &&
		   strstr(e.msg, "share 'data': directory ") && strstr(e.msg, "does not exist"),
		   "share from an override: the error names the override: %s", e.msg);
	}
	OK(same_file(data, 65536, 3), "no check changed the replica");
}

static void test_machine(void)
{
	if (!mkdtemp(tmpdir)) {
		OK(false, "mkdtemp: %s", strerror(errno));
		return;
	}
	test_key_file();
	test_listen();
	test_shares();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		OK(system(cmd) == 0, "temporary directory removed");
	}
}

int main(void)
{
	test_good();
	test_bad();
	test_overrides();
	test_values();
	test_machine();
	printf("1..%d\n", tests);
	if (failures)
		printf("# %d of %d tests failed\n", failures, tests);
	return failures ? 1 : 0;
}
