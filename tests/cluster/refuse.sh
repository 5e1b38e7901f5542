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
# that ccmapd still stops cleanly on SIGTERM.  TAP output; exit 0 when all
# checks passed.  Same environment variables as run.sh.
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

"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" > "$out/ccmapd.log" 2>&1 &
agent=$!
for ((i = 0; i < 600; i++)); do ctl raw ping > /dev/null 2>&1 && break; sleep 0.1; done
ctl raw ping > /dev/null 2>&1
tap $? "ccmapd is up"
sleep 20

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

cluster_stop $agent
rc=$stop_status
tap $([ "$rc" = 0 ] && echo 0 || echo 1) "ccmapd exits 0 on SIGTERM (status $rc)"
echo "1..$n"
[ $failed = 0 ]
