#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# partition.sh - a node cut off from the others stops writing the pages they
# may give away, before they give them away.  Runs in EVERY guest at once
# (3 guests):
#
#   tools/vm/ccmap-vm -n 3 -t 600 -- tests/cluster/partition.sh
#
# Node 3 holds pages of share "part" homed on node 1 (cc_holder stores into
# them as fast as it can), then takes its own link down for CUT seconds and
# brings it up again.  Meanwhile node 2 starts storing into the same pages
# (it gets them once node 1 has recovered node 3's), and nodes 1 and 2 store
# into pages of share "maj" homed on them.  peer_dead_ms is 6000, so node 3's
# lease is 4 s (docs/protocol.md §5.5).
#
# Checks: node 3 stored until the cut and no store of it completed later
# than its lease after the cut (its own clock); node 2's first store on
# those pages completed after node 3's last one (both clocks brought to
# node 1's by cc_clock, its error bounds counted against the test; a store
# that waits in a fault executes just before it completes); node 3's
# agent revoked the pages when its leases lapsed; node 3's cc_holder waited
# and went on after the heal, no fault ended in SIGBUS; the totals node 1
# and node 2 stored into "maj" are exact; after the heal the cluster gives
# exact cc_counter totals, a final barrier, clean stops.  Stores of node 3
# after its home last fetched the pages are lost, as with a node loss
# (README, "what a fault can lose"): not checked.
#
# ENVIRONMENT
#   CCMAP_BIN, CCMAP_BPF_DIR, CCMAP_TEST_BIN, CCMAP_POLICY  as in run.sh
#   CCMAP_NODE, CCMAP_NODES, CCMAP_OUT                       set by ccmap-vm
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/vm/ccmap-cluster.sh"
cluster_env
work=/tmp/ccmap-part
sock=$work/ccmapd.sock
victim=3
cut=14
lease=4		# 2/3 of peer_dead_ms
size=65536
run=$(dirname "$out")	# every node's $CCMAP_OUT, for coordination only
n=0 failed=0

for f in "$bin/ccmapd" "$bin/ccmapctl" "$tbin/cc_holder" "$tbin/cc_counter" \
	 "$tbin/cc_barrier" "$tbin/cc_clock" "$bpfdir/$policy.bpf.o"; do
	if [ ! -e "$f" ]; then
		echo "Bail out! $f is missing (build it first)"
		exit 2
	fi
done
if [ "$nodes" != 3 ]; then
	echo "Bail out! partition.sh needs exactly 3 nodes"
	exit 2
fi

mkdir -p "$work"
cluster_key "$work/cluster.key" 7061
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"policy $policy" "timeout_ms 30000" "peer_dead_ms 6000" "idle_timeout_ms 2000" \
	"share part $work/part.data size $size" \
	"share maj $work/maj.data size $size" \
	"share after $work/after.data size $size" \
	"share sync1 $work/sync1.data size 8192" \
	"share sync2 $work/sync2.data size 8192" \
	"share sync3 $work/sync3.data size 8192"

ctl() { "$bin/ccmapctl" -s "$sock" "$@"; }
stat_of() { ctl stats | awk -v k="$1" '$1 == k { print $2 }'; }
holder_field() {	# FILE LINE FIELD: a field of a cc_holder report line
	sed -n "$2p" "$1" 2>/dev/null | awk -v f="$3" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }'
}

"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" >> "$out/ccmapd.log" 2>&1 &
agent=$!
ctl -t 120 wait > /dev/null
rc=$?
tap $rc "ccmapd started and both peers authenticated"
if [ $rc != 0 ]; then
	tail -20 "$out/ccmapd.log" | sed 's/^/#   /'
	cluster_stop "$agent"
	echo "1..$n"
	exit 1
fi

# Clocks: node 1's is the reference.
if [ "$node" = 1 ]; then
	"$tbin/cc_clock" -l 10.77.0.1:7071 -t 60 &
	echo "offset_ns 0 err_ns 0" > "$out/clock"
else
	sleep 2
	"$tbin/cc_clock" -q 10.77.0.1:7071 > "$out/clock"
	tap $? "clock offset to node 1: $(cat "$out/clock")"
fi

part_pages=$(cluster_pages_homed "$bin/ccmapctl -s $sock" part $size 1)
maj_pages=$(cluster_pages_homed "$bin/ccmapctl -s $sock" maj $size 1 2)
echo "# share part, pages homed on node 1: $part_pages; share maj, pages homed on 1 or 2: $maj_pages"
tap $([ -n "$part_pages" ] && [ -n "$maj_pages" ] && echo 0 || echo 1) "pages to work on found"
"$tbin/cc_barrier" -n "$node" -N "$nodes" -f "$work/sync1.data" -s 8192
tap $? "every node is ready (barrier 1)"

case $node in
$victim)
	res=$work/holder.out
	"$tbin/cc_holder" -f "$work/part.data" -s $size -l "$part_pages" -o "$res" &
	holder=$!
	cluster_wait_file "$res.ready" 30
	tap $? "cc_holder holds pages $part_pages of node 1"
	sleep 1
	t_cut=$(date +%s.%N)
	cluster_put "$out/cut" "$t_cut"
	ip link set dev eth0 down
	echo "# node $node: link down at $t_cut for $cut s"
	sleep $cut
	kill -USR1 "$holder"
	sleep 0.2
	t_heal=$(date +%s.%N)
	ip link set dev eth0 up
	cluster_put "$out/healed" "$t_heal"
	echo "# node $node: link up at $t_heal"
	stores1=$(holder_field "$res" 1 stores)
	end1=$(holder_field "$res" 1 last_end)
	echo "# cc_holder before the heal: ${stores1:-?} stores, the last one ended at ${end1:-?}"
	awk -v e="${end1:-0}" -v c="$t_cut" 'BEGIN { exit !(e > c - 1) }'
	tap $? "cc_holder stored until the cut (last store ended $(awk -v e="${end1:-0}" -v c="$t_cut" 'BEGIN { printf "%+.3f", e - c }') s after it)"
	awk -v e="${end1:-0}" -v c="$t_cut" -v l=$lease 'BEGIN { exit !(e < c + l + 1) }'
	tap $? "no store completed later than the lease ($lease s) + 1 s after the cut"
	lost=$(stat_of leases_lost)
	revoked=$(stat_of lease_revoked_pages)
	tap $(( ${lost:-0} >= 1 && ${revoked:-0} >= 1 ? 0 : 1 )) "leases lapsed and their pages were revoked (leases_lost ${lost:-?}, lease_revoked_pages ${revoked:-?})"
	ctl -t 90 wait > /dev/null
	tap $? "both peers authenticated again after the heal"
	# Until it stored again (its held faults ask node 1 anew), 60 s at most.
	for ((i = 0; i < 300; i++)); do
		kill -USR1 "$holder" 2>/dev/null
		sleep 0.2
		s2=$(tail -1 "$res" | awk '{ print $2 }')
		[ "${s2:-0}" -gt "${stores1:-0}" ] && break
	done
	kill -TERM "$holder" 2>/dev/null
	wait "$holder"
	cp "$res" "$out/holder.out"
	sig=$(tail -1 "$res" | awk '{ print $6 }')
	stores2=$(tail -1 "$res" | awk '{ print $2 }')
	tap $(( ${stores2:-0} > ${stores1:-0} ? 0 : 1 )) "cc_holder went on after the heal (${stores1:-?} -> ${stores2:-?} stores)"
	tap $([ "$sig" = SIGTERM ] && echo 0 || echo 1) "cc_holder ended by the test's SIGTERM, not SIGBUS (${sig:-none})"
	;;
*)
	cluster_wait_file "$run/node$victim/cut" 120
	tap $? "node $victim cut its link"
	holders=()
	mres=$work/maj.out
	"$tbin/cc_holder" -f "$work/maj.data" -s $size -l "$maj_pages" -o "$mres" &
	holders+=($!)
	if [ "$node" = 2 ]; then
		pres=$work/part.out
		"$tbin/cc_holder" -f "$work/part.data" -s $size -l "$part_pages" -o "$pres" &
		holders+=($!)
	fi
	cluster_wait_file "$run/node$victim/healed" 120
	tap $? "node $victim brought its link up again"
	sleep 2
	for h in "${holders[@]}"; do
		kill -USR2 "$h" 2>/dev/null	# after the store in progress: exact counts
		wait "$h"
	done
	msig=$(tail -1 "$mres" | awk '{ print $6 }')
	tap $([ "$msig" = SIGUSR2 ] && echo 0 || echo 1) "cc_holder on maj stopped by the test, no fault failed (${msig:-none}), $(holder_field "$mres" 1 stores) stores"
	cp "$mres" "$out/maj.out"
	if [ "$node" = 2 ]; then
		psig=$(tail -1 "$pres" | awk '{ print $6 }')
		pstores=$(holder_field "$pres" 1 stores)
		tap $([ "$psig" = SIGUSR2 ] && [ "${pstores:-0}" -gt 0 ] && echo 0 || echo 1) \
			"cc_holder on node $victim's pages stored during the cut (${pstores:-?} stores, ${psig:-none})"
		cp "$pres" "$out/part.out"
	fi
	;;
esac

echo "# --- after the heal ---"
ctl -t 90 wait > /dev/null
tap $? "both peers authenticated"
"$tbin/cc_barrier" -n "$node" -N "$nodes" -f "$work/sync2.data" -s 8192
tap $? "every node is back (barrier 2)"
if [ "$node" = 1 ]; then
	# Never two writers: node 3's last store ended before node 2's first did.
	o3=$(awk '{ print $2, $4 }' "$run/node3/clock")
	o2=$(awk '{ print $2, $4 }' "$run/node2/clock")
	end3=$(holder_field "$run/node3/holder.out" 1 last_end)
	first2=$(holder_field "$run/node2/part.out" 1 first_end)
	margin=$(awk -v e="${end3:-0}" -v f="${first2:-0}" -v o3="$o3" -v o2="$o2" 'BEGIN {
		split(o3, a, " "); split(o2, b, " ")
		# on node 1s clock, error bounds against us
		m = (f + b[1] / 1e9 - b[2] / 1e9) - (e + a[1] / 1e9 + a[2] / 1e9)
		printf "%.3f", m }')
	echo "# node 3 last store ended ${end3:-?} (offset ${o3:-?}), node 2 first store ended ${first2:-?} (offset ${o2:-?})"
	awk -v m="$margin" -v e="${end3:-0}" -v f="${first2:-0}" 'BEGIN { exit !(e > 0 && f > 0 && m > 0) }'
	tap $? "never two writers: node 2's first store on node 3's pages completed ${margin} s after node 3's last one"
	want=$(( $(holder_field "$out/maj.out" 1 stores) + $(holder_field "$run/node2/maj.out" 1 stores) ))
	have=$("$tbin/cc_holder" -f "$work/maj.data" -s $size -l "$maj_pages" -r | awk '{ print $2 }')
	tap $([ "$have" = "$want" ] && echo 0 || echo 1) "share maj: what nodes 1 and 2 stored during the cut is all there ($have of $want)"
fi
"$tbin/cc_counter" -n "$node" -N "$nodes" -f "$work/after.data" -s $size -i 100 \
	-c "$sock" -C "$bin/ccmapctl"
tap $? "cc_counter after the heal: exact totals"
"$tbin/cc_barrier" -n "$node" -N "$nodes" -f "$work/sync3.data" -s 8192
tap $? "every node finished (final barrier)"
{ ctl status; ctl stats; } > "$out/stats.txt" 2>&1
cluster_stop "$agent"
tap $([ "$stop_status" = 0 ] && echo 0 || echo 1) "ccmapd exits 0 on SIGTERM (status $stop_status)"
echo "1..$n"
echo "# node $node: $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
