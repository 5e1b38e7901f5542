/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ccmapd configuration file.  Line based; '#' starts a comment; tokens are
 * separated by blanks (no quoting: paths cannot contain blanks or '#').
 *
 *   node <id>                          this node's id, 0..63       (required)
 *   listen <addr>                      a.b.c.d:port or [v6]:port  (required)
 *   peer <id> <addr>                   one line per other node, at most 63
 *   key <path>                         cluster key file (absolute) (required)
 *   share <name> <path> size <size>    at least one, at most 32   (required)
 *   policy <name>                      the object <name>.bpf.o in the BPF
 *                                      directory; 1..31 of [A-Za-z0-9_-] (msi)
 *   timeout_ms <n>                     fault deadline, 1..60000 (5000): the
 *                                      kernel's CCMAP_TIMEOUT_{MAX,DFL}_MS
 *   idle_timeout_ms <n>                a connection without traffic for that
 *                                      long is closed and dialled again,
 *                                      100..3600000 (15000)
 *   peer_dead_ms <n>                   a peer without a connection for that
 *                                      long is declared down (interim failure
 *                                      detector), 100..3600000 (15000); the
 *                                      lease on a home's pages is 2/3 of it
 *   membership <static|corosync>       who declares peers down: the interim
 *                                      detector above, or corosync's closed
 *                                      process group "ccmap" (static)
 *   control <path>                     control socket (/run/ccmap/ccmapd.sock)
 *   resize_replicas <no|grow|any>      may startup resize a replica whose size
 *                                      differs from the share's size (no)
 *   tune <share|*> <name> <value>      a tunable of the policy (a global of
 *                                      its object, see policy/README.md) for
 *                                      one share or all; value 0..2^32-1; at
 *                                      most 32 lines; a later line for the
 *                                      same share and name replaces it
 *
 * <size> is a decimal number of bytes with an optional suffix K, M, G or T
 * (powers of 1024); it must be a positive multiple of 4096 and at most 16T.
 * Share names are 1..63 characters of [A-Za-z0-9_.-].
 *
 * Every error is reported as "file:line: reason" (or "file: reason" for a
 * missing keyword, "override 'k=v': reason" for a command-line override).
 * The checks against this machine (key file, listen address, share
 * directories and replicas) report the line of the keyword they are about.
 * See docs/protocol.md, section "Configuration".
 */
#ifndef CCMAP_CONFIG_H
#define CCMAP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ccmap_abi.h"	/* the kernel's limits */

#include <ccmap/auth.h>
#include <ccmap/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CCMAP_CFG_MAX_PEERS   (CCMAP_MAX_NODES - 1)
#define CCMAP_CFG_PATH_MAX    255
#define CCMAP_CFG_SOCK_MAX    107            /* sun_path - 1 */
#define CCMAP_CFG_LINE_MAX    1023
#define CCMAP_CFG_FILE_MAX    (1024 * 1024)  /* bytes */
#define CCMAP_SHARE_SIZE_MAX  (UINT64_C(1) << 44)

struct ccmap_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];                       /* canonical "ip:port" / "[ip]:port" */
};

struct ccmap_cfg_peer {
	uint16_t id;
	int line;
	struct ccmap_addr addr;
};

/* What startup may do to a replica whose size differs from its share's. */
enum ccmap_resize {
	CCMAP_RESIZE_NO = 0,   /* refuse to start (default) */
	CCMAP_RESIZE_GROW,     /* extend a smaller replica with zeros; refuse to shrink */
	CCMAP_RESIZE_ANY,      /* grow or shrink (shrinking discards the tail) */
};

struct ccmap_cfg_share {
	char name[CCMAP_SHARE_NAME_MAX + 1];
	char path[CCMAP_CFG_PATH_MAX + 1];
	uint64_t size;
	int line;
};

#define CCMAP_CFG_MAX_TUNES   32
#define CCMAP_TUNE_NAME_MAX   31

/* tune <share|*> <name> <value> */
struct ccmap_cfg_tune {
	char share[CCMAP_SHARE_NAME_MAX + 1];  /* "*" for every share */
	char name[CCMAP_TUNE_NAME_MAX + 1];    /* a C identifier */
	uint32_t value;
	int line;
};

struct ccmap_config {
	char source[CCMAP_CFG_PATH_MAX + 1]; /* file name used in messages */
	uint16_t node;
	struct ccmap_addr listen;
	char key_path[CCMAP_CFG_PATH_MAX + 1];
	char policy[32];
	uint32_t timeout_ms;
	uint32_t idle_timeout_ms, peer_dead_ms;
	char control[CCMAP_CFG_SOCK_MAX + 1];
	enum ccmap_resize resize;
	bool corosync;			/* membership corosync */
	unsigned n_peers;
	struct ccmap_cfg_peer peers[CCMAP_CFG_MAX_PEERS];
	unsigned n_shares;
	struct ccmap_cfg_share shares[CCMAP_MAX_SHARES];
	unsigned n_tunes;
	struct ccmap_cfg_tune tunes[CCMAP_CFG_MAX_TUNES];
	/* line where each single-valued keyword was given (0: not given,
	 * -1: set by an override) */
	int line_node, line_listen, line_key, line_policy, line_timeout, line_idle, line_dead, line_control,
	    line_resize, line_membership;
};

struct ccmap_cfg_err {
	int line;          /* 0 if not about one line */
	char msg[512];     /* "file:line: reason" */
};

/* The control socket of ccmapd and ccmapctl when none is given. */
#define CCMAP_CFG_CONTROL_DFL	"/run/ccmap/ccmapd.sock"
/* Longest request line on the control socket, without its newline. */
#define CCMAP_CTL_LINE_MAX	511
#define CCMAP_CTL_LINE_MAX_S	"511"	/* the same, for usage texts */
_Static_assert(CCMAP_CTL_LINE_MAX == 511 && sizeof(CCMAP_CTL_LINE_MAX_S) == 4,
	       "CCMAP_CTL_LINE_MAX_S must spell CCMAP_CTL_LINE_MAX");

/* Defaults: policy msi, timeout 5000 ms, control CCMAP_CFG_CONTROL_DFL. */
void ccmap_config_defaults(struct ccmap_config *c);

/* Parse a buffer (may contain anything); name is used in messages.  Does
 * not check required keywords: call ccmap_config_finish() afterwards.
 * Returns 0 or -1 with e filled. */
int ccmap_config_parse_mem(struct ccmap_config *c, const char *name,
			   const char *buf, size_t len, struct ccmap_cfg_err *e);

/* Read and parse a file (at most CCMAP_CFG_FILE_MAX bytes); no finish. */
int ccmap_config_parse_file(struct ccmap_config *c, const char *path,
			    struct ccmap_cfg_err *e);

/* Apply one "keyword=arguments" override, e.g. "timeout_ms=100",
 * "peer=4 10.77.0.4:7070" (replaces or adds peer 4), "share=data /x size 2M"
 * (replaces or adds share 'data').  Call ccmap_config_finish() afterwards. */
int ccmap_config_override(struct ccmap_config *c, const char *kv,
			  struct ccmap_cfg_err *e);

/* Required keywords and cross-line checks (peer id equal to node id, peer
 * address equal to the listen address). */
int ccmap_config_finish(struct ccmap_config *c, struct ccmap_cfg_err *e);

/* defaults + parse_file + overrides + finish */
int ccmap_config_load(struct ccmap_config *c, const char *path,
		      const char *const *overrides, unsigned n_overrides,
		      struct ccmap_cfg_err *e);

/* Bitmap of configured node ids (this node and its peers). */
uint64_t ccmap_config_members(const struct ccmap_config *c);

/* Share list as exchanged in HELLO. */
unsigned ccmap_config_share_descs(const struct ccmap_config *c,
				  struct ccmap_share_desc *out);

/* Canonical text of a configuration (parses back to the same values).
 * Returns the length written (excluding NUL) or -1 if len is too small. */
int ccmap_config_format(const struct ccmap_config *c, char *buf, size_t len);

/* "no", "grow" or "any". */
const char *ccmap_resize_name(enum ccmap_resize r);

/* Load the cluster key file the configuration names.  Errors name the
 * place of the 'key' line: "file:line: key <path>: reason". */
int ccmap_config_load_key(const struct ccmap_config *c, struct ccmap_key *k,
			  struct ccmap_cfg_err *e);

/* Can this machine listen on the configured address?  Binds a socket to
 * the listen IP with port 0 and closes it again (it does not take the
 * port, so it works while an agent is running).  Errors name the 'listen'
 * line. */
int ccmap_config_check_listen(const struct ccmap_config *c, struct ccmap_cfg_err *e);

/* What startup does to one replica. */
enum ccmap_replica_plan {
	CCMAP_REPLICA_KEEP = 0,   /* exists with the share's size */
	CCMAP_REPLICA_CREATE,     /* missing: created empty, then sized */
	CCMAP_REPLICA_GROW,       /* smaller: extended with zeros (resize grow/any) */
	CCMAP_REPLICA_SHRINK,     /* larger: truncated (resize any) */
};

struct ccmap_replica_check {
	enum ccmap_replica_plan plan;
	uint64_t size;            /* its size now (0 if missing) */
	uint64_t dev, ino;        /* if it exists */
};

/* The decision alone: share i's replica exists (or not) with this size;
 * may startup use it, and how?  -1 with a message naming the share's line,
 * the path, both sizes and the option that would allow it. */
int ccmap_replica_decide(const struct ccmap_config *c, unsigned i, bool exists,
			 uint64_t size, enum ccmap_replica_plan *plan,
			 struct ccmap_cfg_err *e);

/* Check every share on this machine without changing anything: its
 * directory exists and is a directory; the replica, if it exists, is a
 * regular file (not the replica of another share too), readable and
 * writable, and of the share's size or allowed to be resized; if missing,
 * the directory is writable.  Fills out[0..n_shares-1].  Errors name the
 * share's line. */
int ccmap_config_check_shares(const struct ccmap_config *c,
			      struct ccmap_replica_check *out,
			      struct ccmap_cfg_err *e);

/* Parsers used by the above, exposed for ccmapctl and tests.  On error they
 * return -1 and write a reason (without file/line) to why. */
int ccmap_parse_size(const char *s, uint64_t *out, char *why, size_t whylen);
int ccmap_parse_u32(const char *s, uint32_t max, uint32_t *out, char *why,
		    size_t whylen, const char *what);
int ccmap_parse_addr(const char *s, struct ccmap_addr *a, char *why, size_t whylen);
bool ccmap_addr_equal(const struct ccmap_addr *a, const struct ccmap_addr *b);

#ifdef __cplusplus
}
#endif
#endif /* CCMAP_CONFIG_H */
