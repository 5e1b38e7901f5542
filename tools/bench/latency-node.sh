#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# latency-node.sh - one node of tools/bench/latency.sh (runs in every guest,
# needs at least 2; node 1 holds the pages, node 2 measures):
#
#   1. TCP round trip node 2 -> node 1 with tcp_pingpong (port 7001, before
#      ccmapd starts)
#   2. ccmapd on every node with one share "lat" (index 0), then
#      tests/cluster/cc_latency: read faults on untouched pages, remote
#      read, write and upgrade faults timed on node 2, and a local
#      baseline on a tmpfs file
#   3. the TCP round trip again (port 7002) with ccmapd idle
#
# Results go to $CCMAP_OUT: rtt_before.txt, rtt_after.txt (node 2),
# latency.txt (cc_latency's TAP), ccmapd.log, stats.txt.
#
# ENVIRONMENT
#   LAT_PAGES      pages per phase (default 128: 64 per home node with 2 nodes)
#   LAT_ROUNDS     TCP round trips per measurement (default 200)
#   CCMAP_POLICY   policy to load (default msi)
#   LAT_VERBOSE=1  run ccmapd with -v (per-page tracing in ccmapd.log; slows it)
#   CCMAP_NODE, CCMAP_NODES, CCMAP_OUT  set by ccmap-vm
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${CCMAP_BUILD:-$top/build}
bin=$build/bin
node=${CCMAP_NODE:?run me in a ccmap guest (tools/vm/ccmap-vm), CCMAP_NODE is not set}
nodes=${CCMAP_NODES:-1}
out=${CCMAP_OUT:-/tmp}
pages=${LAT_PAGES:-128}
rounds=${LAT_ROUNDS:-200}
policy=${CCMAP_POLICY:-msi}
work=/tmp/ccmap-lat
sock=$work/ccmapd.sock
size=$(( (3 * pages + 1) * 4096 ))
n=0 failed=0
. "$top/tools/vm/ccmap-cluster.sh"

if [ "$nodes" -lt 2 ]; then
	echo "Bail out! latency-node.sh needs at least 2 guests"
	exit 2
fi
for f in "$bin/ccmapd" "$bin/ccmapctl" "$bin/tcp_pingpong" "$build/tests/cluster/cc_latency" \
	 "$build/bpf/$policy.bpf.o"; do
	if [ ! -e "$f" ]; then
		echo "Bail out! $f is missing (make test-progs)"
		exit 2
	fi
done

# pingpong PORT FILE: node 1 echoes, node 2 measures; others do nothing.
pingpong() {
	case "$node" in
	1) "$bin/tcp_pingpong" server "$1" "$rounds" > /dev/null 2>&1 ;;
	2) "$bin/tcp_pingpong" client 10.77.0.1 "$1" "$rounds" > "$out/$2" 2>&1 ;;
	*) true ;;
	esac
}

pingpong 7001 rtt_before.txt
tap $? "TCP round trips before ccmapd (port 7001, $rounds rounds)"
[ "$node" = 2 ] && sed 's/^/# /' "$out/rtt_before.txt"

mkdir -p "$work"
cluster_key "$work/cluster.key" 6c6174
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"policy $policy" "timeout_ms 20000" "share lat $work/lat.data size $size"
verbose=()
[ "${LAT_VERBOSE:-0}" = 1 ] && verbose=(-v)
"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$build/bpf" "${verbose[@]}" > "$out/ccmapd.log" 2>&1 &
agent=$!
"$bin/ccmapctl" -s "$sock" -t 120 wait > /dev/null
rc=$?
tap $rc "ccmapd started and all $((nodes - 1)) peer(s) authenticated"
if [ $rc != 0 ]; then
	tail -20 "$out/ccmapd.log" | sed 's/^/#   /'
	kill -TERM $agent 2>/dev/null
	wait $agent
	echo "1..$n"
	exit 1
fi

CC_LAT_SHARE=0 CC_LAT_DIR=/tmp "$build/tests/cluster/cc_latency" -n "$node" -N "$nodes" \
	-f "$work/lat.data" -s "$size" -i "$pages" -c "$sock" -C "$bin/ccmapctl" \
	> "$out/latency.txt" 2>&1
tap $? "cc_latency ($pages pages per phase)"
cat "$out/latency.txt"

pingpong 7002 rtt_after.txt
tap $? "TCP round trips with ccmapd idle (port 7002, $rounds rounds)"
[ "$node" = 2 ] && sed 's/^/# /' "$out/rtt_after.txt"

"$bin/ccmapctl" -s "$sock" stats > "$out/stats.txt" 2>&1
cluster_stop $agent
tap $([ "$stop_status" = 0 ] && echo 0 || echo 1) "ccmapd stopped (status $stop_status)"
echo "1..$n"
echo "# node $node: $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
