#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# refuse.sh - peers that must be refused.  Runs in three guests at once:
#
#   tools/vm/ccmap-vm -n 3 -t 300 -- tests/cluster/refuse.sh
#
# Node 1 is configured correctly.  Node 2 has the same key but its share
# "data" is twice as large; node 3 has the right share list but another
# cluster key.  Every node starts ccmapd, waits 20 s, and checks that no
# connection was authenticated, that the refusals are counted and logged
# with a clear reason (share size mismatch; failed authentication), and
# that ccmapd still stops cleanly on SIGTERM.
#
# Startup never destroys data (every node): the replica of "data" exists
# with random bytes before the agent starts, and the refused handshakes
# (share list mismatch included) leave it byte for byte as it was.  While
# the agent runs, a second ccmapd whose listen address is in use, one whose
# control socket is in use, and one with a replica of another size all fail
# and leave their replicas unchanged and create none.  After it stopped, a
# single-node ccmapd with --resize-replicas grows a smaller replica (old
# bytes kept, zeros after), and with --resize-replicas=any shrinks a larger
# one.  (tests/unit/ccmapd_startup.sh checks the rest on the host.)
#
# TAP output; exit 0 when all checks passed.  Same environment variables as
# run.sh.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CCMAP_BIN:-$top/build/bin}
bpfdir=${CCMAP_BPF_DIR:-$top/build/bpf}
node=${CCMAP_NODE:?run me in a ccmap guest (tools/vm/ccmap-vm)}
nodes=${CCMAP_NODES:-1}
out=${CCMAP_OUT:-/tmp}
work=/tmp/ccmap-refuse
sock=$work/ccmapd.sock

if [ "$nodes" != 3 ]; then
	echo "Bail out! refuse.sh needs exactly 3 nodes (ccmap-vm -n 3)"
	exit 2
fi
n=0 failed=0
. "$top/tools/vm/ccmap-cluster.sh"
ctl() { "$bin/ccmapctl" -s "$sock" "$@"; }

mkdir -p "$work"
key=6363 size=65536
[ "$node" = 3 ] && key=ffff		# another cluster key
[ "$node" = 2 ] && size=131072		# another share size
cluster_key "$work/cluster.key" "$key"
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"share data $work/data size $size"
sum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
same() { [ "$1" = "$2" ] && echo 0 || echo 1; }
# fill FILE SIZE: a replica with SIZE random bytes
fill() { head -c "$2" /dev/urandom > "$1" && chmod 600 "$1"; }
# up SOCKET [PID]: wait up to 60 s until the agent behind SOCKET answers
# (not when process PID has exited)
up() {
	local i
	for ((i = 0; i < 600; i++)); do
		"$bin/ccmapctl" -s "$1" raw ping > /dev/null 2>&1 && return 0
		[ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}
# second NAME CONF ARGS...: a second ccmapd that must not start; sets $rc
second() {
	local name=$1 conf=$2
	shift 2
	timeout 60 "$bin/ccmapd" -c "$conf" -B "$bpfdir" "$@" > "$out/$name.log" 2>&1
	rc=$?
}

fill "$work/data" "$size"
data_sum=$(sum "$work/data")

"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" > "$out/ccmapd.log" 2>&1 &
agent=$!
up "$sock" $agent
tap $? "ccmapd is up"
t0=$SECONDS

# ---- second agents that must fail without touching their replicas ------
fill "$work/extra" 16384
extra_sum=$(sum "$work/extra")
cluster_config "$work/inuse.conf" "$work/cluster.key" "$work/inuse.sock" \
	"share data $work/extra size 64K" "share more $work/missing size 64K"
second inuse "$work/inuse.conf" --resize-replicas
grep -q "cannot listen on 10.77.0.$node:7070: Address already in use" "$out/inuse.log" &&
	grep -q "startup failed before any replica was created or resized" "$out/inuse.log"
g=$?
tap $([ $rc = 1 ] && [ $g = 0 ] && echo 0 || echo 1) "a second ccmapd on the listen address in use fails (status $rc) before touching replicas"
tap $(same "$(sum "$work/extra")" "$extra_sum") "... its replica (allowed to grow) is unchanged"
tap $([ ! -e "$work/missing" ] && echo 0 || echo 1) "... its missing replica was not created"

sed "s|^control .*|control $sock|; s|^listen .*|listen 10.77.0.$node:7071|" \
	"$work/inuse.conf" > "$work/ctl.conf"
second ctlinuse "$work/ctl.conf" --resize-replicas
grep -q "control socket $sock is in use" "$out/ctlinuse.log" &&
	grep -q "startup failed before any replica was created or resized" "$out/ctlinuse.log"
g=$?
tap $([ $rc = 1 ] && [ $g = 0 ] && echo 0 || echo 1) "a second ccmapd on the control socket in use fails (status $rc) before touching replicas"
tap $(same "$(sum "$work/extra")" "$extra_sum") "... its replica is unchanged"
tap $([ ! -e "$work/missing" ] && echo 0 || echo 1) "... its missing replica was not created"

cluster_config "$work/size.conf" "$work/cluster.key" "$work/size.sock" \
	"share data $work/extra size 64K"
second size "$work/size.conf"
grep -q "size.conf:[0-9]*: share 'data': replica $work/extra is 16384 bytes but the share is 65536 bytes; not resizing it" "$out/size.log"
g=$?
tap $([ $rc = 2 ] && [ $g = 0 ] && echo 0 || echo 1) "a replica of another size is refused (status $rc) with file:line and both sizes"
tap $(same "$(sum "$work/extra")" "$extra_sum") "... and is unchanged"
ctl raw ping > /dev/null 2>&1
tap $? "the running agent is not disturbed"
sleep $((20 - (SECONDS - t0) > 0 ? 20 - (SECONDS - t0) : 0))

ctl status > "$out/status.txt" 2>&1
ctl stats > "$out/stats.txt" 2>&1
auth=$(awk '$1 == "peers_authenticated" { print $2 }' "$out/status.txt")
tap $([ "$auth" = 0 ] && echo 0 || echo 1) "no peer authenticated (peers_authenticated ${auth:-?})"
fails=$(awk '$1 == "auth_failures" { print $2 }' "$out/stats.txt")
tap $([ "${fails:-0}" -gt 0 ] && echo 0 || echo 1) "refused handshakes are counted (auth_failures ${fails:-?})"
case $node in
1)	grep -q "share list mismatch: share 'data' is 65536 bytes on node 1 but 131072 bytes on node 2" \
		"$out/ccmapd.log"
	tap $? "node 2's share size mismatch is refused with a clear reason"
	# (no <(...): the guests have no /dev/fd)
	grep "10.77.0.3" "$out/ccmapd.log" | grep -q "cluster key\|authentication failed"
	tap $? "node 3's wrong key is refused as an authentication failure" ;;
2)	grep -q "share list mismatch" "$out/status.txt"
	tap $? "ccmapctl status shows why peer 1 refused us (share list mismatch)" ;;
3)	grep "^peer 1 " "$out/status.txt" | grep -q "cluster key"
	tap $? "ccmapctl status shows the failed authentication with peer 1" ;;
esac

# Nodes 2 and 3 read peer 1's last error from their status at the end of
# their own 20 s; node 1 boots first, so it keeps running a little longer
# (its last_error would otherwise turn into "connect: Connection refused").
[ "$node" = 1 ] && sleep 10
cluster_stop $agent
rc=$stop_status
tap $([ "$rc" = 0 ] && echo 0 || echo 1) "ccmapd exits 0 on SIGTERM (status $rc)"
tap $(same "$(sum "$work/data")" "$data_sum") "the refused handshakes left the replica of 'data' ($size bytes) byte for byte as it was"

# ---- --resize-replicas on a single-node agent -----------------------------
# solo NAME SHARE-LINE ARGS...: a one-node ccmapd on port 7071 until it is
# up, then SIGTERM; sets $rc (its exit status) and $was_up (0 or 1)
solo() {
	local name=$1 share=$2 pid
	shift 2
	{
		echo "node $node"
		echo "listen 10.77.0.$node:7071"
		echo "key $work/cluster.key"
		echo "control $work/solo.sock"
		echo "$share"
	} > "$work/$name.conf"
	"$bin/ccmapd" -c "$work/$name.conf" -B "$bpfdir" --clean "$@" > "$out/$name.log" 2>&1 &
	pid=$!
	was_up=0
	up "$work/solo.sock" $pid && was_up=1
	cluster_stop $pid
	rc=$stop_status
}
fill "$work/grow" 16384
cp "$work/grow" "$work/grow.orig"
solo grow "share g $work/grow size 64K" --resize-replicas
tap $([ "$rc" = 0 ] && [ $was_up = 1 ] && echo 0 || echo 1) "ccmapd --resize-replicas runs with a smaller replica (status $rc)"
grep -q "share g: replica $work/grow grown from 16384 to 65536 bytes (resize_replicas grow)" "$out/grow.log"
tap $? "... and logs the growth with both sizes"
tap $([ "$(stat -c %s "$work/grow")" = 65536 ] && echo 0 || echo 1) "... the replica is now 65536 bytes"
cmp -s -n 16384 "$work/grow" "$work/grow.orig" &&
	cmp -s -n 49152 -i 16384:0 "$work/grow" /dev/zero
tap $? "... its first 16384 bytes are unchanged and zeros follow"

fill "$work/shrink" 131072
cp "$work/shrink" "$work/shrink.orig"
solo shrink "share s $work/shrink size 64K" --resize-replicas
grep -q "replica $work/shrink is 131072 bytes but the share is 65536 bytes; not shrinking it" "$out/shrink.log"
g=$?
tap $([ "$rc" = 2 ] && [ $was_up = 0 ] && [ $g = 0 ] && [ "$(sum "$work/shrink")" = "$(sum "$work/shrink.orig")" ] && echo 0 || echo 1) \
	"--resize-replicas (grow) refuses to shrink a larger replica (status $rc, bytes unchanged)"
solo shrink-any "share s $work/shrink size 64K" --resize-replicas=any
tap $([ "$rc" = 0 ] && [ $was_up = 1 ] && [ "$(stat -c %s "$work/shrink")" = 65536 ] && echo 0 || echo 1) \
	"--resize-replicas=any shrinks it to 65536 bytes (status $rc)"
cmp -s -n 65536 "$work/shrink" "$work/shrink.orig" &&
	grep -q "shrunk from 131072 to 65536 bytes, its last 65536 bytes discarded" "$out/shrink-any.log"
tap $? "... keeping its first 65536 bytes, with a warning that names what was discarded"
echo "1..$n"
[ $failed = 0 ]
