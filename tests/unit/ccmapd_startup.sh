#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ccmapd_startup.sh - host test: ccmapd's startup never destroys data.
#
#   tests/unit/ccmapd_startup.sh [BUILD]      (run-tests: host-ccmapd-startup)
#
# Runs the real ccmapd on the host, where it cannot attach a policy (the
# host kernel has no ccmap): every check ccmapd makes before it loads the
# policy is reachable here.  Checks the file:line messages of --check and of
# a start (missing share directory, key file errors, foreign listen address,
# replica of another size), that a refused or failed start leaves every
# replica byte for byte as it was and creates none (listen address in use;
# policy load failing after every check passed, even with
# --resize-replicas), and what --check says a start would do.  The
# in-guest half (a start that resizes, the control socket of a running
# agent) is in tests/cluster/refuse.sh.  "membership corosync" with no
# corosync running fails with a clear message and creates nothing.  TAP
# output; exit 0 when all passed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${CCMAP_BUILD:-$top/build}}
ccmapd=$build/bin/ccmapd
pingpong=$build/bin/tcp_pingpong
n=0 failed=0 holder=

for b in "$ccmapd" "$pingpong"; do
	if [ ! -x "$b" ]; then
		echo "Bail out! $b is not built (make progs test-progs)"
		exit 2
	fi
done
tmp=$(mktemp -d /tmp/ccmapd-startup.XXXXXX) || exit 2
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

tap() {	# tap STATUS DESCRIPTION [DETAIL FILE]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		[ -n "${3:-}" ] && [ -f "$3" ] && sed 's/^/#   | /' "$3"
	fi
}
is() { [ "$1" = "$2" ] && echo 0 || { echo "#   expected '$2', got '$1'" >&2; echo 1; }; }
sum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
# pattern FILE SIZE: SIZE random bytes, mode 0600
pattern() { head -c "$2" /dev/urandom > "$1"; chmod 600 "$1"; }

# A free TCP port on 127.0.0.1.
port=$((20000 + $$ % 20000))
while ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; do port=$((port + 1)); done

key=$tmp/cluster.key
(umask 077; printf '%064d\n' 7 > "$key")
fake=$tmp/fake.bpf.o		# found by -p; never loaded on this kernel
: > "$fake"
sock=$tmp/ccmapd.sock

# conf FILE KEY LISTEN SHARE-LINE...: key on line 5, first share on line 6.
conf() {
	local f=$1 k=$2 l=$3
	shift 3
	{
		echo "# ccmapd_startup.sh"
		echo "node 1"
		echo "listen $l"
		echo "peer 2 127.0.0.2:$port"
		echo "key $k"
		printf '%s\n' "$@"
		echo "control $sock"
	} > "$f"
}
# run LOG ARGS...: ccmapd with the test's policy and pin dir; sets $rc.
run() {
	local log=$1
	shift
	timeout 60 "$ccmapd" -p "$fake" -P "$tmp/pin" "$@" > "$log.out" 2> "$log"
	rc=$?
}

c=$tmp/c.conf
data=$tmp/data
other=$tmp/other

# ---- --help ----------------------------------------------------------------
"$ccmapd" --help > "$tmp/help" 2>&1
grep -q -- '--resize-replicas\[=grow|any|no\]' "$tmp/help" && grep -q '^STARTUP' "$tmp/help" &&
	grep -q 'resize_replicas no|grow|any' "$tmp/help"
tap $? "ccmapd --help documents STARTUP, --resize-replicas and resize_replicas" "$tmp/help"

# ---- --check -----------------------------------------------------------------
conf "$c" "$key" "127.0.0.1:$port" "share data $data size 64K"
run "$tmp/l1" -c "$c" --check
tap $(is $rc 0) "--check passes a good configuration whose replica does not exist" "$tmp/l1"
grep -q "^resize_replicas no$" "$tmp/l1.out"
tap $? "--check prints the canonical configuration with resize_replicas no" "$tmp/l1.out"
grep -q "share data: replica $data does not exist yet: a start creates it (65536 bytes of zeros)" "$tmp/l1"
tap $? "--check says the missing replica would be created" "$tmp/l1"
[ ! -e "$data" ]
tap $? "--check created nothing"

conf "$c" "$key" "127.0.0.1:$port" "share data $tmp/nodir/data size 64K"
run "$tmp/l2" -c "$c" --check
tap $(is $rc 2) "--check fails (status 2) for a share whose directory is missing" "$tmp/l2"
tap $(is "$(cat "$tmp/l2")" "ccmapd: $c:6: share 'data': directory $tmp/nodir of replica $tmp/nodir/data does not exist") \
	"... with file:line, the directory and the replica"
[ ! -e "$tmp/nodir" ]
tap $? "... and does not create the directory"

conf "$c" "$tmp/nokey" "127.0.0.1:$port" "share data $data size 64K"
run "$tmp/l3" -c "$c" --check
tap $(is "$rc:$(cat "$tmp/l3")" "2:ccmapd: $c:5: key $tmp/nokey: cannot open key file: No such file or directory") \
	"missing key file: status 2, the config file and the line of 'key'"
(umask 022; printf '%064d\n' 7 > "$tmp/openkey"; chmod 644 "$tmp/openkey")
conf "$c" "$tmp/openkey" "127.0.0.1:$port" "share data $data size 64K"
run "$tmp/l4" -c "$c" --check
tap $(is "$rc:$(cat "$tmp/l4")" "2:ccmapd: $c:5: key $tmp/openkey: key file is accessible by group/others (mode 644); chmod 600 it") \
	"group-readable key file: status 2, file:line"
(umask 077; printf '%030d\n' 7 > "$tmp/shortkey")
conf "$c" "$tmp/shortkey" "127.0.0.1:$port" "share data $data size 64K"
run "$tmp/l5" -c "$c" --check
tap $(is "$rc:$(cat "$tmp/l5")" "2:ccmapd: $c:5: key $tmp/shortkey: key is 15 bytes, must be 32 to 128 bytes (64 to 256 hex digits)") \
	"key of the wrong length: status 2, file:line"
run "$tmp/l5b" -c "$c"
tap $(is "$rc:$(cat "$tmp/l5b")" "2:ccmapd: $c:5: key $tmp/shortkey: key is 15 bytes, must be 32 to 128 bytes (64 to 256 hex digits)") \
	"... the same error from a start"

conf "$c" "$key" "203.0.113.77:$port" "share data $data size 64K"
run "$tmp/l6" -c "$c" --check
tap $(is "$rc:$(cat "$tmp/l6")" "2:ccmapd: $c:3: listen 203.0.113.77:$port: Cannot assign requested address (it is not an address of this machine)") \
	"--check: a listen address of another machine, with file:line"

# ---- a replica of another size ------------------------------------------------
pattern "$data" 8192
before=$(sum "$data")
conf "$c" "$key" "127.0.0.1:$port" "share data $data size 64K"
run "$tmp/l7" -c "$c"
tap $(is "$rc:$(cat "$tmp/l7")" "2:ccmapd: $c:6: share 'data': replica $data is 8192 bytes but the share is 65536 bytes; not resizing it (growing adds 57344 zero bytes: allow it with --resize-replicas or 'resize_replicas grow')") \
	"a start refuses a smaller replica: share, path, both sizes, the option"
tap $(is "$(sum "$data")" "$before") "... and leaves its bytes as they were"
[ ! -e "$sock" ] && ! grep -q "listening\|control socket" "$tmp/l7"
tap $? "... before binding any socket"
run "$tmp/l7b" -c "$c" --check
tap $(is "$rc" 2) "--check refuses it too" "$tmp/l7b"
run "$tmp/l8" -c "$c" --check --resize-replicas
tap $(is "$rc" 0) "--check --resize-replicas accepts it" "$tmp/l8"
grep -q "share data: replica $data is 8192 bytes: a start grows it to 65536 bytes (resize_replicas grow)" "$tmp/l8"
tap $? "... and says a start would grow it" "$tmp/l8"
tap $(is "$(sum "$data")" "$before") "... without changing it"

pattern "$data" 131072
before=$(sum "$data")
run "$tmp/l9" -c "$c" --resize-replicas
tap $(is "$rc:$(cat "$tmp/l9")" "2:ccmapd: $c:6: share 'data': replica $data is 131072 bytes but the share is 65536 bytes; not shrinking it (that discards its last 65536 bytes: allow it with --resize-replicas=any or 'resize_replicas any')") \
	"--resize-replicas (grow) still refuses to shrink a replica"
tap $(is "$(sum "$data")" "$before") "... which keeps every byte"
run "$tmp/l9b" -c "$c" --check -o resize_replicas=any
grep -q "a start shrinks it to 65536 bytes (resize_replicas any)" "$tmp/l9b"
tap $? "--check -o resize_replicas=any says a start would shrink it" "$tmp/l9b"
tap $(is "$(sum "$data")" "$before") "... without changing it"
run "$tmp/l10" -c "$c" --resize-replicas=some
tap $(is "$rc:$(cat "$tmp/l10")" "2:ccmapd: --resize-replicas=some: expected grow, any or no") \
	"a bad --resize-replicas value is a usage error"
run "$tmp/l11" -c "$c" -o resize_replicas=yes
tap $(is "$rc:$(cat "$tmp/l11")" "2:ccmapd: override 'resize_replicas=yes': resize_replicas 'yes': expected no, grow or any") \
	"a bad resize_replicas value is a configuration error"

# ---- a start that fails after the checks touches nothing --------------------
pattern "$data" 8192
before=$(sum "$data")
conf "$c" "$key" "127.0.0.1:$port" "share data $data size 64K" "share other $other size 8K"
"$pingpong" server "$port" 1 > /dev/null 2>&1 &
holder=$!
for ((i = 0; i < 100; i++)); do
	ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
	sleep 0.05
done
run "$tmp/l12" -c "$c" --resize-replicas
tap $(is "$rc" 1) "a start whose listen address is in use fails (status 1)" "$tmp/l12"
grep -q "cannot listen on 127.0.0.1:$port: Address already in use" "$tmp/l12" &&
	grep -q "startup failed before any replica was created or resized" "$tmp/l12"
tap $? "... says so, and that no replica was created or resized" "$tmp/l12"
tap $(is "$(sum "$data")" "$before") "... the replica it was allowed to grow is unchanged"
[ ! -e "$other" ]
tap $? "... the missing replica was not created"
conf "$tmp/c2.conf" "$key" "127.0.0.1:$port" "share data $data size 8K" "share other $other size 8K"
run "$tmp/l12b" -c "$tmp/c2.conf"
tap $(is "$rc" 1) "the same without --resize-replicas (replica of the right size, one missing): fails" "$tmp/l12b"
[ ! -e "$other" ] && [ "$(sum "$data")" = "$before" ]
tap $? "... creating nothing and leaving the existing replica as it was" "$tmp/l12b"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=

if [ -e /sys/kernel/ccmap ]; then
	for t in "fails at the policy" "replica unchanged" "nothing created" "control socket removed"; do
		n=$((n + 1)); echo "ok $n - # SKIP this host kernel has ccmap: $t"
	done
else
	run "$tmp/l13" -c "$c" --resize-replicas
	grep -q "this kernel has no ccmap support" "$tmp/l13" &&
		grep -q "startup failed before any replica was created or resized" "$tmp/l13"
	tap $(is "$rc:$?" "1:0") "after every check passed, loading the policy fails (no ccmap here)" "$tmp/l13"
	tap $(is "$(sum "$data")" "$before") "... and the replica it was allowed to grow is unchanged"
	[ ! -e "$other" ]
	tap $? "... and the missing replica was not created"
	[ ! -e "$sock" ]
	tap $? "... and its control socket is gone again"
fi

# membership corosync without a corosync: a clear error, nothing touched.
if pidof corosync > /dev/null 2>&1; then
	for t in "fails without corosync" "nothing created"; do
		n=$((n + 1)); echo "ok $n - # SKIP corosync runs on this host: $t"
	done
else
	conf "$c" "$key" "127.0.0.1:$port" "share other $other size 8K" "membership corosync"
	run "$tmp/l14" -c "$c"
	grep -q 'corosync: cannot join process group "ccmap": cpg_model_initialize: CS_ERR_LIBRARY (is corosync running, with this node.s id 1 in its nodelist?)' "$tmp/l14" &&
		grep -q "startup failed before any replica was created or resized" "$tmp/l14"
	tap $(is "$rc:$?" "1:0") "membership corosync and no corosync: fails, saying why" "$tmp/l14"
	[ ! -e "$other" ] && [ ! -e "$sock" ]
	tap $? "... creating no replica and leaving no control socket"
fi

# A policy is found by its object file, not by a list of names.
conf "$c" "$key" "127.0.0.1:$port" "share other $other size 8K" "policy nosuch"
timeout 60 "$ccmapd" -B "$tmp" -P "$tmp/pin" -c "$c" --check > "$tmp/l15.out" 2> "$tmp/l15"
rc=$?
grep -q "policy object nosuch.bpf.o not found in $tmp (use --bpf-dir)" "$tmp/l15"
tap $(is "$rc:$?" "2:0") "--check fails for a policy whose object does not exist, naming it" "$tmp/l15"
cp "$fake" "$tmp/nosuch.bpf.o"
timeout 60 "$ccmapd" -B "$tmp" -P "$tmp/pin" -c "$c" --check > "$tmp/l16.out" 2> "$tmp/l16"
tap $(is "$?" 0) "... and passes once $tmp/nosuch.bpf.o exists (any name is a policy)" "$tmp/l16"

echo "1..$n"
[ $failed = 0 ]
