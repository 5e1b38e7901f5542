#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# agent_death.sh - an agent that dies takes its node's rights with it.  Runs
# in EVERY guest at once (3 guests):
#
#   tools/vm/ccmap-vm -n 3 -t 600 -- tests/cluster/agent_death.sh
#
# Node 2 runs cc_holder, which stores into 8 pages of a share (Exclusive on
# node 2 once it wrote them) as fast as it can, and kills its own ccmapd
# with SIGKILL.  When the agent is gone (reaped, so its files are closed and
# its policy link released), the kernel must have revoked every mapping of
# the share on node 2: a store that begins after that cannot complete.
# Checks on node 2: cc_holder was storing up to the kill; no store that
# began after the agent's death completed while no agent ran; cc_holder is
# blocked in a fault meanwhile (nr_waiting), not killed; stats/revokes
# moved and the kernel shows no policy; then a restarted ccmapd attaches,
# takes the shares over ("managed already"), rejoins its peers.  On every
# node: after node 2's restart, cc_counter on another share gives exact
# totals, a final barrier, and every ccmapd stops cleanly.  The restart
# loses no store: the restarted agent sends the data of the pages its
# predecessor held Exclusive back to their homes (RECLAIM), so the 8 pages
# hold exactly what cc_holder stored -- although node 1 starts storing into
# the same pages (word 1) while node 2 has no agent: the homes wait for the
# RECLAIMs instead of serving older copies, and node 1's stores are all
# there too.  A clean stop loses nothing either:
# node 2 stores into pages homed on node 1, stops its agent (SIGTERM), and
# node 1 then finds every one of those stores in the pages (the agent wrote
# its Exclusive pages back before its BYE).
#
# ENVIRONMENT
#   CCMAP_BIN, CCMAP_BPF_DIR, CCMAP_TEST_BIN, CCMAP_POLICY  as in run.sh
#   CCMAP_NODE, CCMAP_NODES, CCMAP_OUT                       set by ccmap-vm
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/vm/ccmap-cluster.sh"
cluster_env
work=/tmp/ccmap-death
sock=$work/ccmapd.sock
victim=2
pages=8

n=0 failed=0

for f in "$bin/ccmapd" "$bin/ccmapctl" "$tbin/cc_holder" "$tbin/cc_counter" \
	 "$tbin/cc_barrier" "$bpfdir/$policy.bpf.o"; do
	if [ ! -e "$f" ]; then
		echo "Bail out! $f is missing (build it first)"
		exit 2
	fi
done
if [ "$nodes" -lt 3 ]; then
	echo "Bail out! agent_death.sh needs 3 nodes"
	exit 2
fi

mkdir -p "$work"
cluster_key "$work/cluster.key" 6465
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"policy $policy" "timeout_ms 20000" \
	"share death $work/death.data size 65536" \
	"share after $work/after.data size 65536" \
	"share handoff $work/handoff.data size 65536" \
	"share homed2 $work/homed2.data size 65536" \
	"share sync $work/sync.data size 8192"

ctl() { "$bin/ccmapctl" -s "$sock" "$@"; }
kstat() { cat "/sys/kernel/ccmap/stats/$1"; }
start_agent() {
	"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" >> "$out/ccmapd.log" 2>&1 &
	agent=$!
}

start_agent
ctl -t 120 wait > /dev/null
rc=$?
tap $rc "ccmapd started and all $((nodes - 1)) peer(s) authenticated"
if [ $rc != 0 ]; then
	tail -20 "$out/ccmapd.log" | sed 's/^/#   /'
	kill -TERM "$agent" 2>/dev/null
	wait "$agent"
	echo "1..$n"
	exit 1
fi

run=$(dirname "$out")
if [ "$node" = 3 ]; then
	# Node 3 holds pages homed at node 2 when node 2's agent dies: the new
	# agent must take node 3's copies back (its directory starts empty).
	h2pages=$(cluster_pages_homed "$bin/ccmapctl -s $sock" homed2 65536 "$victim")
	h2res=$work/homed2.out
	"$tbin/cc_holder" -f "$work/homed2.data" -s 65536 -l "$h2pages" -o "$h2res" &
	h2pid=$!
	cluster_wait_file "$h2res.ready" 60
	tap $? "node 3 holds pages $h2pages homed at node $victim"
	cluster_put "$out/h2ready" 1
fi
if [ "$node" = "$victim" ]; then
	cluster_wait_file "$run/node3/h2ready" 60
	echo "# --- node $node kills its agent under load ---"
	res=$work/holder.out
	"$tbin/cc_holder" -f "$work/death.data" -s 65536 -i $pages -o "$res" &
	holder=$!
	for ((i = 0; i < 300; i++)); do
		[ -e "$res.ready" ] && break
		sleep 0.1
	done
	tap $([ -e "$res.ready" ] && echo 0 || echo 1) "cc_holder stored to its $pages pages"
	sleep 1
	revokes0=$(kstat revokes)
	t_kill=$(date +%s.%N)
	kill -KILL "$agent"
	wait "$agent"
	t_dead=$(date +%s.%N)
	echo "# ccmapd killed at $t_kill, reaped at $t_dead"
	cluster_put "$out/killed" "$t_dead"
	sleep 2
	waiting=$(cat /sys/kernel/ccmap/nr_waiting)
	alive=0
	kill -0 "$holder" 2>/dev/null && alive=1
	kill -TERM "$holder" 2>/dev/null
	wait "$holder"
	read -r _ stores _ last _ sig _ < "$res" 2>/dev/null
	echo "# cc_holder: ${stores:-?} stores, the last one began at ${last:-?}, ended by ${sig:-?}"
	tap $(( alive == 1 ? 0 : 1 )) "cc_holder is not killed while its agent is gone"
	tap $([ "${sig:-}" = SIGTERM ] && echo 0 || echo 1) "cc_holder ended by the test's SIGTERM, not a SIGBUS (${sig:-none})"
	tap $(( ${waiting:-0} >= 1 ? 0 : 1 )) "cc_holder waits in a fault while no agent runs (nr_waiting $waiting)"
	awk -v l="${last:-0}" -v k="$t_kill" 'BEGIN { exit !(l > k - 1.5) }'
	tap $? "cc_holder was storing until the kill (its last store began at kill $(awk -v l="${last:-0}" -v k="$t_kill" 'BEGIN { printf "%+.3f", l - k }') s)"
	awk -v l="${last:-0}" -v d="$t_dead" 'BEGIN { exit !(l < d) }'
	tap $? "no store that began after the agent died completed (last began $(awk -v l="${last:-0}" -v d="$t_dead" 'BEGIN { printf "%.6f", d - l }') s before the death)"
	revokes1=$(kstat revokes)
	tap $(( revokes1 > revokes0 ? 0 : 1 )) "the kernel revoked the shares' mappings (revokes $revokes0 -> $revokes1)"
	tap $([ "$(cat /sys/kernel/ccmap/state)" = disabled ] && echo 0 || echo 1) "no policy attached while the agent is dead"

	echo "# --- node $node restarts its agent ---"
	start_agent
	ctl -t 120 wait > /dev/null
	tap $? "the restarted ccmapd rejoined all $((nodes - 1)) peer(s)"
	grep -q "managed already" "$out/ccmapd.log"
	tap $? "the restarted ccmapd took the shares over (managed already)"
	tap $([ "$(cat /sys/kernel/ccmap/state)" = enabled ] && echo 0 || echo 1) "a policy is attached again"
	have=$("$tbin/cc_holder" -f "$work/death.data" -s 65536 -i $pages -r | awk '{ print $2 }')
	tap $([ -n "$have" ] && [ "$have" = "${stores:-x}" ] && echo 0 || echo 1) \
		"the restart lost no store: the $pages pages hold ${have:-?} of cc_holder's ${stores:-?} ($(grep -o "copies sent back to their homes after a restart: .*" "$out/ccmapd.log" | tail -1))"
	# Node 1 wanted the same pages while no agent ran here (word 1).
	cluster_wait_file "$(dirname "$out")/node1/w1" 120
	want1=$(cat "$(dirname "$out")/node1/w1")
	have1=$("$tbin/cc_holder" -f "$work/death.data" -s 65536 -i $pages -w 1 -r | awk '{ print $2 }')
	tap $([ -n "$have1" ] && [ "$have1" = "$want1" ] && echo 0 || echo 1) \
		"node 1's stores into the same pages, begun while this agent was dead, are all there too (${have1:-?} of $want1)"
else
	if [ "$node" = 1 ]; then
		# Contend for the dead agent's pages: the homes must wait for its
		# RECLAIMs rather than serve their older copies.
		cluster_wait_file "$(dirname "$out")/node$victim/killed" 120
		w1=$work/w1.out
		"$tbin/cc_holder" -f "$work/death.data" -s 65536 -i $pages -w 1 -o "$w1" &
		w1pid=$!
	fi
	echo "# --- node $node waits for node $victim's agent to restart ---"
	for ((i = 0; i < 1200; i++)); do
		grep -q "peer $victim is declared down: it restarted" "$out/ccmapd.log" && break
		sleep 0.1
	done
	grep -q "peer $victim is declared down: it restarted" "$out/ccmapd.log"
	tap $? "node $victim's agent came back as a new incarnation"
	ctl -t 120 wait > /dev/null
	tap $? "all $((nodes - 1)) peer(s) authenticated again"
	if [ "$node" = 1 ]; then
		cluster_wait_file "$w1.ready" 60
		tap $? "node 1 got node $victim's pages after its restart"
		sleep 1
		kill -USR2 "$w1pid"
		wait "$w1pid"
		read -r _ w1stores _ _ _ w1sig _ < "$w1"
		tap $([ "$w1sig" = SIGUSR2 ] && echo 0 || echo 1) "... and no fault of it failed (${w1sig:-none})"
		cluster_put "$out/w1" "${w1stores:-0}"
	fi
	if [ "$node" = 3 ]; then
		sleep 1
		kill -USR2 "$h2pid"
		wait "$h2pid"
		read -r _ h2stores _ _ _ h2sig _ < "$h2res"
		have2=$("$tbin/cc_holder" -f "$work/homed2.data" -s 65536 -l "$h2pages" -r | awk '{ print $2 }')
		tap $([ "$h2sig" = SIGUSR2 ] && [ -n "$have2" ] && [ "$have2" = "${h2stores:-x}" ] && echo 0 || echo 1) \
			"node $victim's new agent took node 3's copies of its pages back: ${have2:-?} of ${h2stores:-?} stores there (${h2sig:-none})"
	fi
fi

echo "# --- the cluster works after the restart ---"
"$tbin/cc_counter" -n "$node" -N "$nodes" -f "$work/after.data" -s 65536 -i 100 \
	-c "$sock" -C "$bin/ccmapctl"
tap $? "cc_counter after node $victim's restart: exact totals"

hpages=$(cluster_pages_homed "$bin/ccmapctl -s $sock" handoff 65536 1)
if [ "$node" = "$victim" ]; then
	hres=$work/handoff.out
	"$tbin/cc_holder" -f "$work/handoff.data" -s 65536 -l "$hpages" -o "$hres" &
	h=$!
	cluster_wait_file "$hres.ready" 30
	sleep 1
	kill -USR2 "$h"		# stops after the store in progress: an exact count
	wait "$h"
	hstores=$(awk '{ print $2 }' "$hres")
	echo "# cc_holder stored $hstores times into pages $hpages of node 1; node $node stops its agent"
fi

"$tbin/cc_barrier" -n "$node" -N "$nodes" -f "$work/sync.data" -s 8192
tap $? "every node finished (final barrier)"
{ ctl status; ctl stats; } > "$out/stats.txt" 2>&1
if [ "$node" = "$victim" ]; then
	cluster_stop "$agent"
	cluster_put "$out/handoff" "${hstores:-0}"
	grep -q "stopping: [1-9][0-9]* page(s) handed over, 0 stale" "$out/ccmapd.log"
	tap $? "the clean stop wrote its Exclusive pages back ($(grep -o 'stopping: [0-9]* page(s) handed over.*' "$out/ccmapd.log" | tail -1))"
else
	cluster_wait_file "$run/node$victim/handoff" 60
	tap $? "node $victim stopped its agent"
	if [ "$node" = 1 ]; then
		want=$(cat "$run/node$victim/handoff")
		have=$("$tbin/cc_holder" -f "$work/handoff.data" -s 65536 -l "$hpages" -r | awk '{ print $2 }')
		tap $([ -n "$have" ] && [ "$have" = "$want" ] && echo 0 || echo 1) \
			"node $victim's clean stop lost no store: pages $hpages hold ${have:-?} of its $want"
	fi
	cluster_stop "$agent"
fi
tap $([ "$stop_status" = 0 ] && echo 0 || echo 1) "ccmapd exits 0 on SIGTERM (status $stop_status)"
echo "1..$n"
echo "# node $node: $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
