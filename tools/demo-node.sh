#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo-node.sh - one node of the `make demo` cluster (runs in every guest).
#
# Starts ccmapd with one 64 KiB share, waits for every peer, then all nodes
# increment counters in the same mapped file at once with
# tests/cluster/cc_counter: one word everybody adds to (its page moves at
# every increment), a word per node on one shared page, and words spread
# over four pages; each result is checked against the exact total.  Node 1
# traces ownership changes with tools/ccmap-watch.bt meanwhile.  Every node
# then prints its agent's counters and page states and stops its agent.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${CCMAP_BUILD:-$top/build}
bin=$build/bin
iters=${DEMO_ITERS:-60}
work=/tmp/ccmap-demo
sock=$work/ccmapd.sock
out=$CCMAP_OUT
n=0 failed=0
. "$top/tools/vm/ccmap-cluster.sh"

mkdir -p "$work"
cluster_key "$work/cluster.key" 64656d6f
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"share counters $work/counters size 64K"
"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$build/bpf" > "$out/ccmapd.log" 2>&1 &
agent=$!
if ! "$bin/ccmapctl" -s "$sock" -t 120 wait > /dev/null; then
	echo "demo: node $CCMAP_NODE: ccmapd did not come up; its log:"
	tail -20 "$out/ccmapd.log"
	exit 1
fi
echo "demo: node $CCMAP_NODE: agent up, $((CCMAP_NODES - 1)) peers authenticated"

tracer=
if [ "$CCMAP_NODE" = 1 ]; then
	bpftrace -B line "$top/tools/ccmap-watch.bt" > "$out/watch.txt" 2>&1 &
	tracer=$!
	# bpftrace compiles and attaches slowly under TCG: start the workload
	# (the others wait at its start barrier) once its banner is out.
	for ((i = 0; i < 600; i++)); do
		grep -q 'tracing ccmap' "$out/watch.txt" 2>/dev/null && break
		sleep 0.1
	done
fi

"$build/tests/cluster/cc_counter" -n "$CCMAP_NODE" -N "$CCMAP_NODES" -f "$work/counters" \
	-s 65536 -i "$iters" -c "$sock" -C "$bin/ccmapctl" | sed "s/^/demo: node $CCMAP_NODE: /"
rc=${PIPESTATUS[0]}

"$bin/ccmapctl" -s "$sock" stats > "$work/stats.txt"
"$bin/ccmapctl" -s "$sock" status > "$work/status.txt"
stat() { awk -v k="$1" '$1 == k { print $2 }' "$work/stats.txt"; }
echo "demo: node $CCMAP_NODE: coherency requests sent $(stat requests_sent)," \
	"served as home $(stat requests_served), invalidations $(stat invalidations_received)," \
	"page bytes moved $(stat page_bytes_sent)/$(stat page_bytes_received) out/in"
grep -E '^share [0-9]+ name counters ' "$work/status.txt" | sed "s/^/demo: node $CCMAP_NODE: /"

if [ -n "$tracer" ]; then
	cluster_stop "$tracer"		# bpftrace prints its summary on SIGTERM
	echo "demo: node 1: ownership changes traced by tools/ccmap-watch.bt (first 25 lines):"
	grep -E '^ *[0-9]+ +(state|wait|woken|zap|mkclean|attach)' "$out/watch.txt" |
		head -25 | sed 's/^/demo:   /'
	grep -E '^@transitions' "$out/watch.txt" | sed 's/^/demo:   /'
fi
cluster_stop $agent
st=$stop_status
echo "demo: node $CCMAP_NODE: ccmapd stopped (exit status $st)"
[ "$rc" = 0 ] && [ "$st" = 0 ]
