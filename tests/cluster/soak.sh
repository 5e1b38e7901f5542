#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# soak.sh - random faults under a counting workload, for a long time, and
# the figures at the end.  Runs in EVERY guest at once (3 guests):
#
#   make soak                                   (30 minutes)
#   SOAK_SECONDS=300 tools/vm/ccmap-vm -n 3 -t 900 -- tests/cluster/soak.sh
#
# Every node increments its own word (word NODE) of pages 0..7 of share
# "soak" in a loop (cc_holder -w NODE), so all nodes write all pages and
# every completed increment is counted by the node that made it.  Node 1
# draws a schedule of faults (seed SOAK_SEED, printed): one every 12-20 s, on
# a random node, one of
#
#   kill9      kill -9 of its ccmapd, restarted 1-4 s later
#   restart    SIGTERM of its ccmapd (a clean stop), restarted 1-4 s later
#   drop       its connection to a random peer closed (ccmapctl raw debug drop)
#   badframe   a frame with a corrupted MAC to a random peer
#   partition  its link down for 3-10 s
#
# At the end the agents rejoin, the workloads stop, and node 1 compares
# each node's counted increments with its word in the pages.  Figures:
# faults injected by kind, peers declared down (recoveries), pages reverted
# to a home copy, pages reclaimed by restarted agents, increments lost per
# node, faults that ended in SIGBUS.  Checks: no word holds more than its
# node counted; no increment is lost unless a page reverted to its home
# copy (the documented cases of docs/faults.md: a node cut off or declared
# down while others needed its pages); no SIGBUS; clean stops.
#
# ENVIRONMENT
#   SOAK_SECONDS (1800), SOAK_SEED (random)
#   CCMAP_BIN, CCMAP_BPF_DIR, CCMAP_TEST_BIN, CCMAP_POLICY  as in run.sh
#   CCMAP_NODE, CCMAP_NODES, CCMAP_OUT                       set by ccmap-vm
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/vm/ccmap-cluster.sh"
cluster_env
work=/tmp/ccmap-soak
sock=$work/ccmapd.sock
size=65536
pages=8
seconds=${SOAK_SECONDS:-1800}
run=$(dirname "$out")
n=0 failed=0

for f in "$bin/ccmapd" "$bin/ccmapctl" "$tbin/cc_holder" "$bpfdir/$policy.bpf.o"; do
	if [ ! -e "$f" ]; then
		echo "Bail out! $f is missing (build it first)"
		exit 2
	fi
done
if [ "$nodes" != 3 ]; then
	echo "Bail out! soak.sh needs exactly 3 nodes"
	exit 2
fi

mkdir -p "$work"
cluster_key "$work/cluster.key" 7063
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"policy $policy" "timeout_ms 30000" "peer_dead_ms 6000" "idle_timeout_ms 2000" \
	"share soak $work/soak.data size $size"
ctl() { "$bin/ccmapctl" -s "$sock" "$@"; }
start_agent() {
	"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" >> "$out/ccmapd.log" 2>&1 &
	agent=$!
}
all_files() {	# all_files NAME SECONDS: every node wrote $out/NAME
	local i
	for ((i = 1; i <= nodes; i++)); do
		cluster_wait_file "$run/node$i/$1" "$2" || return 1
	done
}

start_agent
ctl -t 120 wait > /dev/null
tap $? "ccmapd started and both peers authenticated"
touch "$out/ready"
all_files ready 120
if [ "$node" = 1 ]; then
	seed=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
	awk -v seed="$seed" -v end=$((seconds - 30)) -v nodes="$nodes" 'BEGIN {
		srand(seed)
		split("kill9 restart drop badframe partition", kinds, " ")
		for (t = 10 + int(rand() * 8); t < end; t += 12 + int(rand() * 9)) {
			k = kinds[1 + int(rand() * 5)]
			nd = 1 + int(rand() * nodes)
			if (k == "kill9" || k == "restart")
				arg = 1 + int(rand() * 4)
			else if (k == "partition")
				arg = 3 + int(rand() * 8)
			else
				arg = 1 + (nd - 1 + 1 + int(rand() * (nodes - 1))) % nodes
			print t, nd, k, arg
		}
	}' > "$out/schedule"
	echo "# soak: $seconds s, seed $seed, $(wc -l < "$out/schedule") faults scheduled"
	touch "$out/go"
fi
cluster_wait_file "$run/node1/go" 60
schedule=$run/node1/schedule
t0=$(date +%s)

# The workload: restarted if a fault ends it (SIGBUS), each run's count kept.
(
	k=0
	trap 'kill -USR2 $h 2>/dev/null; wait $h; exit 0' TERM	# USR2: exact counts
	while :; do
		k=$((k + 1))
		"$tbin/cc_holder" -f "$work/soak.data" -s $size -i $pages -w "$node" \
			-o "$work/holder.$k" &
		h=$!
		wait $h
	done
) &
load=$!

while read -r at who kind arg; do
	now=$(date +%s)
	[ $((t0 + at)) -gt "$now" ] && sleep $((t0 + at - now))
	[ "$who" = "$node" ] || continue
	echo "# t=$at node $node: $kind $arg"
	echo "$kind" >> "$out/injected"
	case $kind in
	kill9)
		kill -KILL "$agent"; wait "$agent" 2>/dev/null
		sleep "$arg"; start_agent ;;
	restart)
		cluster_stop "$agent"
		[ "$stop_status" = 0 ] || echo "clean stop status $stop_status" >> "$out/problems"
		sleep "$arg"; start_agent ;;
	drop)
		ctl raw debug drop "$arg" > /dev/null 2>&1 ;;
	badframe)
		ctl raw debug bad-frame "$arg" mac > /dev/null 2>&1 ;;
	partition)
		ip link set dev eth0 down; sleep "$arg"; ip link set dev eth0 up ;;
	esac
done < "$schedule"
now=$(date +%s)
[ $((t0 + seconds)) -gt "$now" ] && sleep $((t0 + seconds - now))

echo "# --- the end: agents rejoin, workloads stop ---"
ctl -t 180 wait > /dev/null
tap $? "ccmapd up and both peers authenticated after the faults"
touch "$out/rejoined"
all_files rejoined 240
kill -TERM "$load"
wait "$load"
stores=0 runs=0 sigbus=0
for f in "$work"/holder.*; do
	[ -e "$f" ] || continue
	runs=$((runs + 1))
	s=$(tail -1 "$f" | awk '$1 == "stores" { print $2 }')
	stores=$((stores + ${s:-0}))
	tail -1 "$f" | grep -q "signal SIGBUS" && sigbus=$((sigbus + 1))
done
cluster_put "$out/stores" "$stores $runs $sigbus"
tap $(( sigbus == 0 ? 0 : 1 )) "no fault ended in SIGBUS ($sigbus of $runs workload runs)"
[ -e "$out/problems" ] && sed 's/^/# /' "$out/problems"
tap $([ ! -e "$out/problems" ] && echo 0 || echo 1) "every clean stop of the agent exited 0"
all_files stores 120

if [ "$node" = 1 ]; then
	lost_total=0 over=0
	for ((i = 1; i <= nodes; i++)); do
		read -r want _ _ < "$run/node$i/stores"
		have=$("$tbin/cc_holder" -f "$work/soak.data" -s $size -i $pages -w "$i" -r |
			awk '{ print $2 }')
		lost=$((want - ${have:-0}))
		echo "# node $i: $want increments counted, $have in the pages, $lost lost"
		[ "$lost" -lt 0 ] && over=1
		lost_total=$((lost_total + lost))
	done
	logs=("$run"/node*/ccmapd.log)
	reverted=$(cat "${logs[@]}" | grep -c "its owner is down; reverts to the home copy")
	reclaimed=$(cat "${logs[@]}" | grep -o "after a restart: [0-9]* stored" | awk '{ s += $4 } END { print s + 0 }')
	downs=$(cat "${logs[@]}" | grep -c "is declared down")
	echo "# faults injected: $(cat "$run"/node*/injected 2>/dev/null | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }')total $(cat "$run"/node*/injected 2>/dev/null | wc -l)"
	echo "# peers declared down (recoveries): $downs; pages reverted to a home copy: $reverted; copies sent back after restarts and stored: $reclaimed; increments lost: $lost_total"
	tap $over "no word holds more increments than its node counted"
	tap $(( lost_total == 0 || reverted > 0 ? 0 : 1 )) \
		"increments lost ($lost_total) only where pages reverted to a home copy ($reverted)"
	touch "$out/checked"
fi
cluster_wait_file "$run/node1/checked" 120
cluster_stop "$agent"
tap $([ "$stop_status" = 0 ] && echo 0 || echo 1) "ccmapd exits 0 on SIGTERM (status $stop_status)"
echo "1..$n"
echo "# node $node: $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
