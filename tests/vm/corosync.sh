#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# corosync.sh - corosync membership and quorum on three guests.  Runs in
# EVERY guest at once:
#
#   tools/vm/ccmap-vm -n 3 -t 420 -- tests/vm/corosync.sh build/tests/vm/cc_member
#
# Each guest runs corosync (tools/vm/ccmap-corosync.sh: knet over UDP on the
# private bridge, votequorum) and cc_member, which joins the closed process
# group "ccmap" and logs every group and quorum event with a CLOCK_REALTIME
# timestamp.  The cases, in order:
#
#   form       all three are in one quorate membership and every node's
#              cc_member sees the other two (by node id and pid); no
#              membership change while the cluster idles for $IDLE s
#   procdown   node 3's cc_member is killed (kill -9): nodes 1 and 2 see it
#              leave with reason procdown while node 3's corosync stays in
#              the 3-node quorate membership; it rejoins when restarted
#   nodedown   node 3's corosync is killed (kill -9): nodes 1 and 2 see node
#              3 leave (nodedown) within $BOUND_MS ms and stay quorate; node
#              3's cc_member sees its connection lost; node 3 rejoins
#   partition  node 3's interface goes down: node 3 loses quorum, nodes 1
#              and 2 see it leave and keep quorum
#   heal       the interface comes back: node 3 rejoins and all three are
#              quorate again with three group members
#
# The guests coordinate through marker files in the run directory, which
# every guest mounts (the parent of $CCMAP_OUT): mark NAME writes
# $CCMAP_OUT/sync.NAME, await NODE NAME waits for node NODE's marker.  The
# detection time of the nodedown case is measured on node 1's clock from
# the moment node 1 tells node 3 to kill corosync (node 3 polls for that
# marker every 20 ms) to node 1's cc_member event, so it is an upper bound;
# node 2 measures from the moment it saw the same marker.
#
# FILES
#   $CCMAP_OUT/corosync.log        corosync's log
#   $CCMAP_OUT/member.<k>.log      output of the k-th cc_member of this node
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
member=${1:-$top/build/tests/vm/cc_member}
node=${CCMAP_NODE:?run me in ccmap guests (tools/vm/ccmap-vm -n 3)}
nodes=${CCMAP_NODES:-1}
out=${CCMAP_OUT:?}
run=$(dirname "$out")
IDLE=${CC_COROSYNC_IDLE:-20}
BOUND_MS=${CC_COROSYNC_BOUND_MS:-3000}

. "$top/tools/vm/ccmap-cluster.sh"
. "$top/tools/vm/ccmap-corosync.sh"
n=0 failed=0

if [ "$nodes" != 3 ]; then
	echo "not ok 1 - node $node: corosync.sh needs exactly 3 guests (got $nodes)"
	exit 1
fi
if [ ! -x "$member" ]; then
	echo "not ok 1 - node $node: $member is missing (make test-progs)"
	exit 1
fi

# The polling below avoids forks: a guest busy with fork/exec under TCG
# slows corosync down (docs/membership.md).  nap SECONDS sleeps in bash.
mkfifo /run/corosync-test.nap && exec 8<>/run/corosync-test.nap
nap() { read -r -t "$1" -u 8 _ 2>/dev/null; }

now() { echo "$EPOCHREALTIME"; }
# ms A B: milliseconds from timestamp A to timestamp B.
ms() {
	local a=${1/./} b=${2/./}
	[ -n "$1" ] && [ -n "$2" ] || { echo -1; return; }
	echo $(( (10#$b - 10#$a) / 1000 ))
}

mark() { echo "${2:-$(now)}" > "$out/sync.$1"; }
# await NODE NAME TIMEOUT [INTERVAL]: wait for node NODE's marker NAME.
await() {
	local f=$run/node$1/sync.$2 end=$((SECONDS + $3))
	while [ ! -e "$f" ]; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "# node $node: timed out waiting for node $1's marker $2"
			return 1
		fi
		nap "${4:-0.1}"
	done
	return 0
}
# barrier NAME TIMEOUT: every node reaches NAME.
barrier() {
	local i rc=0
	mark "$1"
	for ((i = 1; i <= nodes; i++)); do
		await "$i" "$1" "$2" || rc=1
	done
	return $rc
}

# cc_member instances: member_start runs the k-th one with its output in
# member.<k>.log and sets $mpid; follow() reads that log as it grows into
# the array ev (one line per event), without forking.
k=0 mpid= mlog= ev=() partial=
member_start() {
	k=$((k + 1))
	mlog=$out/member.$k.log
	: > "$mlog"
	"$member" -w 30 >> "$mlog" 2>&1 &
	mpid=$!
	exec 7< "$mlog"
	ev=() partial=
}
follow() {
	local l
	while IFS= read -r -u 7 l; do
		ev+=("$partial$l")
		partial=
	done
	partial+=$l
}
# (Never call these in $(...): the subshell would consume the log's lines.)
# here: sets $from to the number of events read so far (an AFTER below).
here() { follow; from=${#ev[@]}; }
# wait_event AFTER REGEX TIMEOUT: the first event with index >= AFTER that
# matches REGEX (bash ERE), within TIMEOUT seconds.  Sets $wl_line (empty
# if none) and $wl_no (its index + 1).
wait_event() {
	local i=$1 end=$((SECONDS + $3))
	wl_line= wl_no=
	for (( ; ; )); do
		follow
		for (( ; i < ${#ev[@]}; i++)); do
			if [[ ${ev[i]} =~ $2 ]]; then
				wl_line=${ev[i]} wl_no=$((i + 1))
				return 0
			fi
		done
		[ "$SECONDS" -ge "$end" ] && return 1
		nap 0.1
	done
}
# count_events AFTER REGEX: sets $c to how many events from index AFTER on
# match.
count_events() {
	local i
	c=0
	follow
	for ((i = $1; i < ${#ev[@]}; i++)); do
		[[ ${ev[i]} =~ $2 ]] && c=$((c + 1))
	done
}
stamp_of() { echo "${1%% *}"; }

echo "# node $node: corosync $(corosync -v 2>/dev/null | head -1), token ${COROSYNC_TOKEN} ms"
mark boot
for ((i = 1; i <= nodes; i++)); do
	await "$i" boot 120 || { tap 1 "node $i booted (shared run directory)"; exit 1; }
done

# ---- form -------------------------------------------------------------------
t0=$(now)
corosync_start
corosync_wait 3 150
tap $? "corosync: quorate membership of 3 nodes ($(ms "$t0" "$(now)") ms after start)"

member_start
mark pid "$mpid"
barrier member 120
ok=0
wait_event 0 '^[0-9.]+ members n=3 ' 60 || ok=1
members=$wl_line
IFS=, read -r -a list <<< "${members##*list=}"
for ((i = 1; i <= nodes; i++)); do
	p=$(< "$run/node$i/sync.pid")
	[[ " ${list[*]} " == *" $i:$p "* ]] || ok=1
done
tap $ok "CPG group ccmap holds the three cc_member processes (${members#* })"
wait_event 0 '^[0-9.]+ quorum quorate=1 .* n=3 ' 30
tap $? "cc_member sees quorum with 3 nodes (${wl_line#* })"

here
barrier idle 60
nap "$IDLE"
count_events "$from" ' (left|joined|totem|quorum) '
tap $((c != 0)) "no membership change while idle for $IDLE s ($c events)"

# ---- procdown ---------------------------------------------------------------
here
barrier procdown 60
pid3=$(< "$run/node3/sync.pid")
if [ "$node" = 3 ]; then
	kill -KILL "$mpid"
	wait "$mpid" 2>/dev/null
	await 1 procdown-seen 40
	await 2 procdown-seen 40
	corosync_state
	[ "$corosync_is_quorate" = 1 ] && [ "$corosync_members" = 3 ]
	tap $? "corosync stays in the quorate membership ($corosync_members nodes) after cc_member was killed"
	member_start
	mark pid2 "$mpid"
	wait_event 0 '^[0-9.]+ members n=3 ' 60
	tap $? "restarted cc_member is back in the group (${wl_line#* })"
else
	wait_event "$from" "^[0-9.]+ left nodeid=3 pid=$pid3 " 30
	left=$wl_line
	[[ "$left" == *"reason=procdown"* ]]
	tap $? "node 3's cc_member (pid $pid3) left with reason procdown (${left#* })"
	mark procdown-seen
	await 3 pid2 60
	pid3=$(< "$run/node3/sync.pid2")
	wait_event "$from" "^[0-9.]+ joined nodeid=3 pid=$pid3 reason=join" 60
	tap $? "node 3's new cc_member (pid $pid3) joined"
	count_events "$from" ' (totem|quorum) '
	tap $((c != 0)) "no totem or quorum change meanwhile ($c events)"
fi

# ---- nodedown ---------------------------------------------------------------
here
barrier nodedown 60
case "$node" in
1)
	nap 1
	t0=$(now)
	mark kill-corosync "$t0"
	;;
2)
	await 1 kill-corosync 30 0.02
	t0=$(now)
	;;
3)
	await 1 kill-corosync 30 0.02
	tk=$(now)
	corosync_kill
	echo "# node 3: killed corosync at $tk (node 3's clock)"
	end=$((SECONDS + 10))
	while kill -0 "$mpid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do
		nap 0.1
	done
	kill -KILL "$mpid" 2>/dev/null	# still running: it missed the loss
	wait "$mpid"
	st=$?
	wait_event 0 '^[0-9.]+ lost error=' 10
	[ "$st" = 1 ] && [ -n "$wl_line" ]
	tap $? "cc_member noticed corosync's death (${wl_line#* }; exit status $st)"
	;;
esac
if [ "$node" != 3 ]; then
	wait_event "$from" '^[0-9.]+ left nodeid=3 ' 30
	left=$wl_line
	d=$(ms "$t0" "$(stamp_of "$left")")
	[[ "$left" == *"reason=nodedown"* ]]
	tap $? "node 3 left the group with reason nodedown (${left#* })"
	echo "# node $node: node 3 declared down ${d} ms after the kill was ordered (token ${COROSYNC_TOKEN} ms)"
	echo "$d" > "$out/detect_nodedown_ms"
	[ -n "$left" ] && [ "$d" -ge 0 ] && [ "$d" -lt "$BOUND_MS" ]
	tap $? "failure detected in ${d} ms (bound ${BOUND_MS} ms)"
	wait_event "$from" '^[0-9.]+ quorum quorate=1 .* n=2 nodes=1,2$' 15
	tap $? "nodes 1 and 2 stay quorate without node 3 (${wl_line#* })"
	mark nodedown-seen
	await 3 pid3 150
	pid3=$(< "$run/node3/sync.pid3")
	wait_event "$from" "^[0-9.]+ joined nodeid=3 pid=$pid3 " 60
	tap $? "node 3's cc_member (pid $pid3) is back in the group"
else
	await 1 nodedown-seen 40
	await 2 nodedown-seen 40
	t0=$(now)
	corosync_start
	corosync_wait 3 120
	tap $? "restarted corosync rejoins the quorate 3-node membership ($(ms "$t0" "$(now)") ms)"
	member_start
	mark pid3 "$mpid"
	wait_event 0 '^[0-9.]+ members n=3 ' 60
	tap $? "node 3's cc_member sees all three members again (${wl_line#* })"
fi

# ---- partition and heal -----------------------------------------------------
here
barrier partition 60
if [ "$node" = 3 ]; then
	nap 2
	t0=$(now)
	ip link set dev eth0 down
	mark cut "$t0"
	wait_event "$from" '^[0-9.]+ quorum quorate=0 ' 30
	ok=$?
	d=$(ms "$t0" "$(stamp_of "$wl_line")")
	tap $ok "cut off, node 3 loses quorum in ${d} ms (${wl_line#* })"
	echo "$d" > "$out/partition_quorum_lost_ms"
	wait_event "$from" '^[0-9.]+ members n=1 ' 10
	tap $? "cut off, node 3's group view shrinks to itself (${wl_line#* })"
	await 1 partition-seen 40
	await 2 partition-seen 40
	here
	t0=$(now)
	ip link set dev eth0 up
	mark heal "$t0"
	wait_event "$from" '^[0-9.]+ quorum quorate=1 .* n=3 ' 60
	ok=$?
	d=$(ms "$t0" "$(stamp_of "$wl_line")")
	tap $ok "healed, node 3 is quorate with 3 nodes again in ${d} ms"
	echo "$d" > "$out/heal_ms"
else
	await 3 cut 60
	wait_event "$from" '^[0-9.]+ left nodeid=3 .*reason=nodedown' 30
	tap $? "node 3 left the group when cut off (${wl_line#* })"
	hfrom=${wl_no:-$from}
	wait_event "$from" '^[0-9.]+ quorum quorate=1 .* n=2 nodes=1,2$' 15
	tap $? "nodes 1 and 2 keep quorum during the partition (${wl_line#* })"
	nap 3
	corosync_state
	[ "$corosync_is_quorate" = 1 ]
	tap $? "corosync-quorumtool agrees: quorate with $corosync_members nodes"
	mark partition-seen
	await 3 heal 60
	wait_event "$hfrom" '^[0-9.]+ joined nodeid=3 ' 60
	tap $? "healed, node 3's cc_member is back in the group (${wl_line#* })"
	wait_event "$hfrom" '^[0-9.]+ quorum quorate=1 .* n=3 ' 30
	tap $? "healed, quorate with 3 nodes again"
fi
barrier healed 90
nap 3
follow
last=
for ((i = ${#ev[@]} - 1; i >= 0; i--)); do
	[[ ${ev[i]} == *" members n="* ]] && { last=${ev[i]}; break; }
done
corosync_state
[ "$corosync_is_quorate" = 1 ] && [ "$corosync_members" = 3 ] &&
	[[ "$last" == *" members n=3 "* ]]
tap $? "after healing: quorate, $corosync_members nodes, group ${last#* }"

# ---- stop -------------------------------------------------------------------
barrier stop 90
kill -TERM "$mpid"
wait "$mpid"
st=$?
follow
[ "$st" = 0 ] && [[ "${ev[-1]}" == *" exit status=0 why=SIGTERM" ]]
tap $? "cc_member leaves and exits cleanly on SIGTERM (status $st)"
barrier stopped 60
corosync_stop
tap $? "corosync stops cleanly (status $corosync_status)"
p=$(grep -c 'not scheduled' "$out/corosync.log")
t=$(grep -c 'Token has not been received' "$out/corosync.log")
echo "# node $node: corosync.log: $p scheduling pauses over 0.8 token, $t late-token notices"
echo "# node $node: $n tests, $failed failed"
[ "$failed" = 0 ]
