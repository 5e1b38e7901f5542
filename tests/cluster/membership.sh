#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# membership.sh - ccmapd with "membership corosync": a powered-off node is
# declared down by corosync, not by a connection timeout, and its pages go
# to the survivors once its lease has run out.  Runs in EVERY guest at once
# (3 guests; corosync starts slowly under TCG, allow 420 s):
#
#   tools/vm/ccmap-vm -n 3 -t 420 -- tests/cluster/membership.sh
#
# corosync runs in every guest (tools/vm/ccmap-corosync.sh).  Node 3 holds
# pages of share "part" homed on node 1 (cc_holder stores into them), then
# powers itself off (reboot(2) at once through busybox: no BYE, no FIN, no
# corosync leave).  Node 2
# starts storing into the same pages.  peer_dead_ms is 3000 (lease 2 s).
#
# Checks on nodes 1 and 2: corosync is quorate with 3 nodes before and
# with 2 after; ccmapd declares node 3 down because corosync says its agent
# left the process group (never by the interim detector, which is off);
# node 2's stores on node 3's pages complete (no SIGBUS), and the time from
# the power-off to the first of them (clocks related by cc_clock) is
# printed; both agents stop cleanly.  Node 3's stores since its home last
# fetched the pages are lost with it, as documented.
#
# Re-homing (docs/faults.md): before the power-off node 2 stores into the
# pages of share "lostw" homed on node 3 (it holds them Exclusive at the
# loss), node 1 into those of "losts", which node 2 then reads (both hold
# them Shared).  Once corosync has declared node 3's node gone and its
# lease has run out, its pages get new homes among nodes 1 and 2, built
# from the survivors' copies: node 1 reads node 2's exact count from
# "lostw", node 2 reads node 1's from "losts", node 1 stores into "losts"
# again and node 2 reads that count too -- no fault fails.  The lost set is
# kept in <replica>.lost: node 2's agent, restarted, keeps the new homes
# and reads the same counts.
#
# ENVIRONMENT
#   CCMAP_BIN, CCMAP_BPF_DIR, CCMAP_TEST_BIN, CCMAP_POLICY  as in run.sh
#   CCMAP_NODE, CCMAP_NODES, CCMAP_OUT                       set by ccmap-vm
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/vm/ccmap-cluster.sh"
. "$top/tools/vm/ccmap-corosync.sh"
cluster_env
work=/tmp/ccmap-member
sock=$work/ccmapd.sock
victim=3
size=65536
run=$(dirname "$out")	# every node's $CCMAP_OUT, for coordination only
n=0 failed=0

for f in "$bin/ccmapd" "$bin/ccmapctl" "$tbin/cc_holder" "$tbin/cc_barrier" \
	 "$tbin/cc_clock" "$bpfdir/$policy.bpf.o"; do
	if [ ! -e "$f" ]; then
		echo "Bail out! $f is missing (build it first)"
		exit 2
	fi
done
if [ "$nodes" != 3 ]; then
	echo "Bail out! membership.sh needs exactly 3 nodes"
	exit 2
fi
ctl() { "$bin/ccmapctl" -s "$sock" "$@"; }
finish() {
	echo "1..$n"
	echo "# node $node: $((n - failed)) passed, $failed failed"
	[ $failed = 0 ]
	exit
}

corosync_start
corosync_wait 3 200
tap $? "corosync: quorate membership of 3 nodes"

mkdir -p "$work"
cluster_key "$work/cluster.key" 7062
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"policy $policy" "timeout_ms 30000" "peer_dead_ms 3000" "idle_timeout_ms 2000" \
	"membership corosync" \
	"share part $work/part.data size $size" \
	"share sync1 $work/sync1.data size 8192" \
	"share lostw $work/lostw.data size $size" \
	"share losts $work/losts.data size $size"
"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" >> "$out/ccmapd.log" 2>&1 &
agent=$!
ctl -t 120 wait > /dev/null
rc=$?
tap $rc "ccmapd started and both peers authenticated"
grep -q 'corosync: joined process group "ccmap" as node' "$out/ccmapd.log" &&
	ctl status | grep -q "^membership corosync joined quorate 1 "
tap $? "ccmapd joined corosync's process group (and its status says so, quorate)"
if [ $rc != 0 ]; then
	tail -20 "$out/ccmapd.log" | sed 's/^/#   /'
	cluster_stop "$agent"
	finish
fi

if [ "$node" = 1 ]; then
	"$tbin/cc_clock" -l 10.77.0.1:7071 -t 60 &
	echo "offset_ns 0 err_ns 0" > "$out/clock"
else
	sleep 2
	"$tbin/cc_clock" -q 10.77.0.1:7071 > "$out/clock"
	tap $? "clock offset to node 1: $(cat "$out/clock")"
fi
pages=$(cluster_pages_homed "$bin/ccmapctl -s $sock" part $size 1)
echo "# share part, pages homed on node 1: $pages"
"$tbin/cc_barrier" -n "$node" -N "$nodes" -f "$work/sync1.data" -s 8192
tap $? "every node is ready (barrier)"

# holder_count SHARE PAGES WORD OUT: store for 1 s, stop exactly; prints the count
holder_count() {
	local res=$work/$1.$3.out h st sig
	"$tbin/cc_holder" -f "$work/$1.data" -s $size -l "$2" -w "$3" -o "$res" &
	h=$!
	cluster_wait_file "$res.ready" 40 || { kill -TERM $h; wait $h; return 1; }
	sleep 1
	kill -USR2 $h
	wait $h
	read -r _ st _ _ _ sig _ < "$res"
	[ "$sig" = SIGUSR2 ] && echo "$st"
}
holder_sum() {
	"$tbin/cc_holder" -f "$work/$1.data" -s $size -l "$2" -w "$3" -r | awk '{ print $2 }'
}
lw=$(cluster_pages_homed "$bin/ccmapctl -s $sock" lostw $size $victim)
lsp=$(cluster_pages_homed "$bin/ccmapctl -s $sock" losts $size $victim)
echo "# pages homed on node $victim: lostw $lw, losts $lsp"
if [ "$node" = 2 ]; then
	c2=$(holder_count lostw "$lw" 0)
	tap $? "node 2 stored ${c2:-?} times into node $victim's pages of lostw (it holds them E)"
	cluster_put "$out/lostw" "${c2:-x}"
	cluster_wait_file "$run/node1/losts" 60
	s1=$(holder_sum losts "$lsp" 0)
	tap $([ -n "$s1" ] && [ "$s1" = "$(cat "$run/node1/losts")" ] && echo 0 || echo 1) \
		"node 2 reads node 1's ${s1:-?} stores in losts (both hold them S)"
	touch "$out/lost_ready"
elif [ "$node" = 1 ]; then
	c1=$(holder_count losts "$lsp" 0)
	tap $? "node 1 stored ${c1:-?} times into node $victim's pages of losts"
	cluster_put "$out/losts" "${c1:-x}"
fi

if [ "$node" = "$victim" ]; then
	res=$work/holder.out
	"$tbin/cc_holder" -f "$work/part.data" -s $size -l "$pages" -o "$res" &
	cluster_wait_file "$res.ready" 30
	tap $? "cc_holder holds pages $pages of node 1"
	cluster_wait_file "$run/node2/lost_ready" 120
	tap $? "nodes 1 and 2 hold copies of this node's pages"
	sleep 1
	echo "1..$n"
	echo "# node $node: $((n - failed)) passed, $failed failed; powering off"
	echo $(( failed ? 1 : 0 )) > "$out/status"	# ccmap-vm reads it after the power-off
	cluster_put "$out/poweroff" "$(date +%s.%N)"
	sync
	busybox reboot -f	# -no-reboot: QEMU exits, as a power-off
	sleep 60
	exit 1
fi

cluster_wait_file "$run/node$victim/poweroff" 120
tap $? "node $victim powered off"
t_off=$(cat "$run/node$victim/poweroff")
if [ "$node" = 2 ]; then
	pres=$work/part.out
	"$tbin/cc_holder" -f "$work/part.data" -s $size -l "$pages" -o "$pres" &
	holder=$!
	cluster_wait_file "$pres.ready" 40
	tap $? "cc_holder got node $victim's pages"
	kill -TERM "$holder" 2>/dev/null
	wait "$holder"
	sig=$(tail -1 "$pres" | awk '{ print $6 }')
	tap $([ "$sig" = SIGTERM ] && echo 0 || echo 1) "no fault on them failed (${sig:-none})"
	first=$(tail -1 "$pres" | awk '{ for (i = 1; i < NF; i++) if ($i == "first_end") print $(i + 1) }')
	delay=$(awk -v f="${first:-0}" -v t="$t_off" -v o2="$(cat "$out/clock")" \
		-v o3="$(cat "$run/node$victim/clock")" 'BEGIN {
		split(o2, a, " "); split(o3, b, " ")
		printf "%.2f", (f + a[2] / 1e9) - (t + b[2] / 1e9) }')
	echo "# first store on node $victim's pages completed ${delay} s after its power-off"
	touch "$out/done"
else
	cluster_wait_file "$run/node2/done" 120
	tap $? "node 2 got the pages"
fi
for ((i = 0; i < 100; i++)); do
	grep -q "peer $victim is declared down: corosync" "$out/ccmapd.log" && break
	sleep 0.1
done
grep -q "peer $victim is declared down: corosync: its agent left the process group (nodedown)" "$out/ccmapd.log"
tap $? "node $victim declared down by corosync (nodedown)"
! grep -q "interim failure detector" "$out/ccmapd.log"
tap $? "the interim detector declared nobody down"

echo "# --- node $victim's pages, re-homed on the survivors ---"
if [ "$node" = 1 ]; then
	s2=$(holder_sum lostw "$lw" 0)
	tap $([ -n "$s2" ] && [ "$s2" = "$(cat "$run/node2/lostw")" ] && echo 0 || echo 1) \
		"node 1 reads node 2's stores in lostw after the re-homing: ${s2:-?} of $(cat "$run/node2/lostw")"
	c1b=$(holder_count losts "$lsp" 1)
	tap $? "node 1 stores ${c1b:-?} times into re-homed pages of losts, no fault fails"
	cluster_put "$out/losts1" "${c1b:-x}"
else
	s1=$(holder_sum losts "$lsp" 0)
	tap $([ -n "$s1" ] && [ "$s1" = "$(cat "$run/node1/losts")" ] && echo 0 || echo 1) \
		"node 2 reads node 1's stores in losts after the re-homing: ${s1:-?} of $(cat "$run/node1/losts")"
	cluster_wait_file "$run/node1/losts1" 120
	s1b=$(holder_sum losts "$lsp" 1)
	tap $([ -n "$s1b" ] && [ "$s1b" = "$(cat "$run/node1/losts1")" ] && echo 0 || echo 1) \
		"node 2 reads node 1's ${s1b:-?} later stores in losts"
fi
grep -q "lost for good: their pages are re-homed on the survivors" "$out/ccmapd.log" &&
	ctl status | grep -q "^membership corosync joined quorate 1 .* lost 0x8$"
tap $? "ccmapd re-homed node $victim's pages (log, status: lost 0x8)"
ctl stats | grep -E "^(rehome|rehomed|quorum)" | sed 's/^/# /'
[ "$(cat "$work/lostw.data.lost" 2>/dev/null)" = 0x8 ]
tap $? "the lost set is kept next to the replicas ($work/lostw.data.lost: $(cat "$work/lostw.data.lost" 2>/dev/null))"

# The lost set outlives the agent: node 2's restarted agent keeps the homes.
if [ "$node" = 2 ]; then
	cluster_wait_file "$run/node1/losts1" 120
	cluster_stop "$agent"
	"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" >> "$out/ccmapd.log" 2>&1 &
	agent=$!
	ctl -t 120 wait > /dev/null
	tap $? "node 2's agent restarted after the re-homing (ccmapctl wait skips the lost node)"
	grep -q "nodes lost for good before this start (0x8: 3)" "$out/ccmapd.log"
	tap $? "... and it read the lost set back"
	s2=$(holder_sum lostw "$lw" 0)
	s1b=$(holder_sum losts "$lsp" 1)
	tap $([ -n "$s2" ] && [ "$s2" = "$(cat "$out/lostw")" ] && [ -n "$s1b" ] &&
	      [ "$s1b" = "$(cat "$run/node1/losts1")" ] && echo 0 || echo 1) \
		"after the restart the re-homed pages still hold every store (${s2:-?}, ${s1b:-?})"
	touch "$out/restarted"
else
	cluster_wait_file "$run/node2/restarted" 240
	tap $? "node 2's agent came back"
fi

corosync_state
tap $([ "$corosync_is_quorate" = 1 ] && [ "$corosync_members" = 2 ] && echo 0 || echo 1) \
	"corosync: quorate with 2 nodes after the power-off ($corosync_members members)"
ctl stats > "$out/stats.txt" 2>&1
[ "$node" = 1 ] && cluster_wait_file "$run/node2/stopped" 60
cluster_stop "$agent"
tap $([ "$stop_status" = 0 ] && echo 0 || echo 1) "ccmapd exits 0 on SIGTERM (status $stop_status)"
touch "$out/stopped"
corosync_stop
finish
