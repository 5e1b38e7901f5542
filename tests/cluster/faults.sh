#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# faults.sh - connection faults between live agents.  Runs in EVERY guest
# at once (3 guests):
#
#   tools/vm/ccmap-vm -n 3 -t 600 -- tests/cluster/faults.sh
#
# Connections are not membership (docs/protocol.md §3.1, §3.2): a connection
# between two live agents that breaks is dialled again and the session
# resumes where it was.  Each case runs cc_counter (exact cluster-wide
# totals of atomic increments) on all nodes, on a share of its own, and
# breaks one connection while it runs:
#
#   mac    node 1 sends node 2 one frame with a corrupted MAC
#          (test hook: ccmapctl raw debug bad-frame 2 mac)
#   seq    node 2 sends node 3 one frame with a stale (replayed) sequence
#          number (ccmapctl raw debug bad-frame 3 seq)
#   kill   node 3 kills its TCP connection to node 1 from outside, with
#          ss -K dst 10.77.0.1 (needs CONFIG_INET_DIAG_DESTROY; without it
#          the case says so and uses ccmapctl raw debug drop 1 instead)
#   idle   every node's idle timeout is 300 ms while cc_counter runs (in
#          its first phase two nodes exchange nothing, so their connection
#          times out under load), then 15000 ms again
#
# Checks, on every node and for every case: cc_counter's totals are exact
# (and it was not killed by SIGBUS); the fault hit while the workload ran;
# the damaged frame was refused (bad_frames) where it arrived; the
# connection loss and the resumed session are counted where they happened;
# afterwards every peer is authenticated again.  At the end: no page
# reverted (reverts, dir.reverts 0), no peer declared down, the kernel sent
# no SIGBUS, ccmapd.log has no error line and no "declared down" or
# "reverts" line, and ccmapd stops cleanly.
#
# ENVIRONMENT
#   CCMAP_BIN, CCMAP_BPF_DIR, CCMAP_TEST_BIN, CCMAP_POLICY  as in run.sh
#   CC_ITERS_FAULTS  cc_counter increments per node and phase (default 300)
#   CC_VERBOSE=1     ccmapd -v
#   CCMAP_NODE, CCMAP_NODES, CCMAP_OUT  set by ccmap-vm
#
# FILES
#   $CCMAP_OUT/ccmapd.log, $CCMAP_OUT/stats.txt
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/vm/ccmap-cluster.sh"
cluster_env
work=/tmp/ccmap-faults
sock=$work/ccmapd.sock
iters=${CC_ITERS_FAULTS:-300}
size=65536

n=0 failed=0

if [ "$nodes" != 3 ]; then
	echo "Bail out! faults.sh needs 3 guests (ccmap-vm -n 3), not $nodes"
	exit 2
fi
for f in "$bin/ccmapd" "$bin/ccmapctl" "$tbin/cc_counter" "$tbin/cc_barrier" \
	 "$bpfdir/$policy.bpf.o"; do
	if [ ! -e "$f" ]; then
		echo "Bail out! $f is missing (build it first)"
		exit 2
	fi
done

cases=(mac seq kill idle)
mkdir -p "$work"
cluster_key "$work/cluster.key" 6464
shares=()
for c in "${cases[@]}"; do
	shares+=("share $c $work/$c.data size $size")
done
shares+=("share sync $work/sync.data size 8192")
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"policy $policy" "timeout_ms 20000" "${shares[@]}"

verbose=()
[ "${CC_VERBOSE:-0}" = 1 ] && verbose=(-v)
"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" "${verbose[@]}" > "$out/ccmapd.log" 2>&1 &
agent=$!

ctl() { "$bin/ccmapctl" -s "$sock" "$@"; }
cstat() { ctl stat "$1" 2>/dev/null || echo -1; }

ctl -t 120 wait > /dev/null
rc=$?
tap $rc "ccmapd started and both peers authenticated"
if [ $rc != 0 ]; then
	echo "# last lines of ccmapd.log:"
	tail -20 "$out/ccmapd.log" | sed 's/^/#   /'
	kill -TERM $agent 2>/dev/null
	wait $agent
	echo "1..$n"
	exit 1
fi
sigbus0=$(cstat kernel.sigbus)

counters=(bad_frames connections_lost sessions_resumed idle_timeouts messages_retransmitted
	  reverts peers_declared_down)
declare -A before after

snap() { # snap ARRAYNAME
	local k
	for k in "${counters[@]}"; do
		eval "$1[$k]=\$(cstat $k)"
	done
}
delta() { echo $(( ${after[$1]} - ${before[$1]} )); }

# wait_delta COUNTER MIN SECONDS: until COUNTER grew by MIN since "before".
wait_delta() {
	local i v
	for ((i = 0; i < $3 * 10; i++)); do
		v=$(cstat "$1")
		[ $((v - ${before[$1]})) -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# inject CASE: the fault of CASE, from the node that does it.
inject() {
	local ans
	case $1 in
	mac)
		[ "$node" = 1 ] || return 0
		ans=$(ctl raw debug bad-frame 2 mac 2>&1)
		tap $? "mac: next frame to node 2 gets a corrupted MAC ($ans)"
		;;
	seq)
		[ "$node" = 2 ] || return 0
		ans=$(ctl raw debug bad-frame 3 seq 2>&1)
		tap $? "seq: next frame to node 3 gets a stale sequence number ($ans)"
		;;
	kill)
		[ "$node" = 3 ] || return 0
		if ! command -v ss > /dev/null; then
			echo "# ss is not installed: using the debug drop hook"
		else
			ss -K dst 10.77.0.1 > /dev/null 2>&1
			if wait_delta connections_lost 1 3; then
				tap 0 "kill: ss -K dst 10.77.0.1 killed the connection to node 1"
				return 0
			fi
		fi
		echo "# ss -K did not kill the connection (CONFIG_INET_DIAG_DESTROY missing?)"
		ans=$(ctl raw debug drop 1 2>&1)
		tap $? "kill: ss -K unsupported here, connection to node 1 dropped with the test hook instead ($ans) # SKIP ss -K"
		;;
	esac
}

run_case() {
	local c=$1 pid rc alive ans
	echo "# --- $c ---"
	snap before
	if [ "$c" = idle ]; then
		ctl raw debug set idle_timeout_ms 300 > /dev/null
		tap $? "idle: idle timeout set to 300 ms"
	fi
	"$tbin/cc_counter" -n "$node" -N "$nodes" -f "$work/$c.data" -s $size -i "$iters" \
		-c "$sock" -C "$bin/ccmapctl" &
	pid=$!
	if [ "$c" != idle ]; then
		sleep 2
		kill -0 $pid 2>/dev/null
		alive=$?
		inject "$c"
		case "$c:$node" in mac:1 | seq:2 | kill:3)
			tap $alive "$c: the fault hit while cc_counter was running" ;;
		esac
	fi
	wait $pid
	rc=$?
	tap $rc "$c: cc_counter totals exact across the fault (exit status $rc$([ $rc -gt 128 ] && echo ", signal $((rc - 128))"))"
	if [ "$c" = idle ]; then
		sleep 1.5	# nothing to do: every connection times out at least once
		ctl raw debug set idle_timeout_ms 15000 > /dev/null
	fi
	ctl -t 60 wait > /dev/null
	tap $? "$c: every peer is authenticated again afterwards"
	sleep 0.5
	case "$c:$node" in
	mac:2 | seq:3)
		wait_delta sessions_resumed 1 5
		snap after
		tap $(( $(delta bad_frames) >= 1 ? 0 : 1 )) \
			"$c: the damaged frame was refused here (bad_frames +$(delta bad_frames))"
		;;
	mac:1 | seq:2 | kill:1 | kill:3)
		wait_delta sessions_resumed 1 5
		snap after
		;;
	*)
		snap after
		;;
	esac
	case "$c:$node" in
	mac:1 | mac:2 | seq:2 | seq:3 | kill:1 | kill:3 | idle:*)
		tap $(( $(delta connections_lost) >= 1 && $(delta sessions_resumed) >= 1 ? 0 : 1 )) \
			"$c: connection loss and resumed session counted (connections_lost +$(delta connections_lost), sessions_resumed +$(delta sessions_resumed))"
		;;
	esac
	echo "# $c: idle_timeouts +$(delta idle_timeouts), messages_retransmitted +$(delta messages_retransmitted), bad_frames +$(delta bad_frames)"
	tap $(( ${after[reverts]} == 0 && ${after[peers_declared_down]} == 0 ? 0 : 1 )) \
		"$c: no page reverted, no peer declared down (reverts ${after[reverts]}, peers_declared_down ${after[peers_declared_down]})"
}

for c in "${cases[@]}"; do
	run_case "$c"
done

{ ctl status; ctl stats; } > "$out/stats.txt" 2>&1
[ "$(cstat dir.reverts)" = 0 ] && [ "$(cstat reverts)" = 0 ]
tap $? "no page reverted in the whole run (reverts $(cstat reverts), dir.reverts $(cstat dir.reverts))"
sigbus1=$(cstat kernel.sigbus)
[ "$sigbus0" = "$sigbus1" ]
tap $? "the kernel sent no SIGBUS (kernel.sigbus $sigbus0 -> $sigbus1)"
[ "$(cstat faults_failed)" = 0 ]
tap $? "no fault failed (faults_failed $(cstat faults_failed))"
errs=$(grep -c " error: " "$out/ccmapd.log")
downs=$(grep -c "is declared down: \|reverts to the home copy" "$out/ccmapd.log")
[ "$errs" = 0 ] && [ "$downs" = 0 ]
tap $? "ccmapd.log: no error line, no peer declared down, no revert ($errs, $downs)"
[ "$errs" != 0 ] && grep " error: " "$out/ccmapd.log" | head -5 | sed 's/^/#   /'
[ "$downs" != 0 ] && grep "is declared down: \|reverts to the home copy" "$out/ccmapd.log" |
	head -5 | sed 's/^/#   /'

# Nobody stops (and says BYE) before every node has checked.
"$tbin/cc_barrier" -n "$node" -N "$nodes" -f "$work/sync.data" -s 8192
tap $? "every node finished (final barrier)"

cluster_stop $agent
rc=$stop_status
if [ "$rc" = timeout ]; then
	tap 1 "ccmapd stops within 30 s of SIGTERM"
else
	grep -q "stopped cleanly" "$out/ccmapd.log"
	tap $(( rc != 0 || $? != 0 )) "ccmapd exits 0 after a clean shutdown on SIGTERM (status $rc)"
fi
echo "# ccmapd.log: $(grep -c " warn: " "$out/ccmapd.log") warning(s)"
echo "1..$n"
echo "# node $node: $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
