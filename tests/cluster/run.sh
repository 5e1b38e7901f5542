#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh - ccmap cluster test driver.  Runs in EVERY guest at once:
#
#   tools/vm/ccmap-vm -n 3 -t 900 -- tests/cluster/run.sh [TEST...]
#
# On each node it writes a configuration for all $CCMAP_NODES nodes
# (10.77.0.<n>:7070, one share per test under /tmp), starts ccmapd, waits
# until every peer is authenticated (ccmapctl wait), runs the tests, waits
# for every node at a final barrier, stops ccmapd with SIGTERM and checks
# that it exits 0 after a clean shutdown.  Every step prints TAP ("ok N -
# ..." / "not ok N - ..."); each test program prints its own TAP block.
# Exit status 0 when everything passed.
#
# TESTS (default: all, in this order)
#   counter    cluster-wide atomics on one word, words of one page, many pages
#   msgpass    data then flag on other pages: whoever sees the flag sees the data
#   mix        random read/write mix with a stale-read checker
#   private    MAP_PRIVATE copies survive remote writes; untouched pages follow
#   readshare  warm Shared copies cost no coherency request until a write
#   swap       cc_counter runs on every node (its own share) while node 1
#              replaces its policy 3 times (ccmapctl policy $CCMAP_POLICY):
#              every swap answers OK, the totals stay exact, the policy stays
#              attached; an unknown policy gets ERR and changes nothing
#   robust     garbage on the peer port and bad control requests are refused,
#              counted and logged; the agent keeps serving; a policy error
#              exit is logged and the policy attached again (always run last;
#              the final barrier then runs on the re-attached policy)
#
# ENVIRONMENT
#   CCMAP_BIN        ccmapd and ccmapctl         (default build/bin)
#   CCMAP_BPF_DIR    policy objects              (default build/bpf)
#   CCMAP_TEST_BIN   cc_* test programs          (default build/tests/cluster)
#   CCMAP_POLICY     policy to load              (default msi)
#   CC_ITERS_<TEST>  work per node, e.g. CC_ITERS_COUNTER=200
#   CC_VERBOSE=1     run ccmapd with -v (per-page tracing in ccmapd.log)
#   CCMAP_NODE, CCMAP_NODES, CCMAP_OUT  set by ccmap-vm
#
# FILES
#   $CCMAP_OUT/ccmapd.log     the agent's log
#   $CCMAP_OUT/stats.txt      ccmapctl stats and status at the end
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tools/vm/ccmap-cluster.sh"
cluster_env
work=/tmp/ccmap-cluster
sock=$work/ccmapd.sock
port=7070

tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(counter msgpass mix private readshare swap robust)
robust=0

n=0 failed=0

# share name, size (bytes), test program
declare -A size=([counter]=65536 [msgpass]=32768 [mix]=135168 [private]=65536
		 [readshare]=69632 [swap]=65536 [sync]=8192)
declare -A iters=([counter]=${CC_ITERS_COUNTER:-100} [msgpass]=${CC_ITERS_MSGPASS:-30}
		  [mix]=${CC_ITERS_MIX:-400} [private]=1 [readshare]=${CC_ITERS_READSHARE:-50}
		  [swap]=${CC_ITERS_SWAP:-400})

for t in "${tests[@]}"; do
	if [ "$t" = robust ]; then
		robust=1
	elif [ -z "${iters[$t]:-}" ]; then
		echo "Bail out! unknown test '$t' (counter msgpass mix private readshare swap robust)"
		exit 2
	fi
done
for f in "$bin/ccmapd" "$bin/ccmapctl" "$tbin/cc_barrier" "$bpfdir/$policy.bpf.o"; do
	if [ ! -e "$f" ]; then
		echo "Bail out! $f is missing (build it first)"
		exit 2
	fi
done

mkdir -p "$work"
cluster_key "$work/cluster.key" 6363
shares=()
for s in counter msgpass mix private readshare swap sync; do
	shares+=("share $s $work/$s.data size ${size[$s]}")
done
cluster_config "$work/ccmapd.conf" "$work/cluster.key" "$sock" \
	"policy $policy" "timeout_ms 20000" "${shares[@]}"

verbose=()
[ "${CC_VERBOSE:-0}" = 1 ] && verbose=(-v)
"$bin/ccmapd" -c "$work/ccmapd.conf" -B "$bpfdir" "${verbose[@]}" > "$out/ccmapd.log" 2>&1 &
agent=$!

"$bin/ccmapctl" -s "$sock" -t 120 wait > /dev/null
rc=$?
tap $rc "ccmapd started and all $((nodes - 1)) peer(s) authenticated"
if [ $rc != 0 ]; then
	echo "# last lines of ccmapd.log:"
	tail -20 "$out/ccmapd.log" | sed 's/^/#   /'
	kill -TERM $agent 2>/dev/null
	wait $agent
	echo "1..$n"
	exit 1
fi

ctl() { "$bin/ccmapctl" -s "$sock" "$@"; }

# Send bytes to the control socket and print the answer (python3 is on the
# host root that the guest mounts).
ctl_bytes() {
	python3 - "$sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(bytes.fromhex(sys.argv[2]))
data = b""
try:
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(data.decode(errors="replace").strip())
PY
}

run_robust() {
	local before after ans
	echo "# --- robust ---"
	before=$(ctl stat bad_frames)
	# not a ccmap frame at all
	exec 3<>"/dev/tcp/10.77.0.$node/$port" && printf 'GET / HTTP/1.0\r\n\r\n' >&3
	sleep 1
	exec 3>&-
	# right magic, wrong version, then a frame cut short
	exec 3<>"/dev/tcp/10.77.0.$node/$port" && printf 'CCMP\x63\x01\x00\x00' >&3
	sleep 1
	exec 3>&-
	# 64 KiB of zeroes
	exec 3<>"/dev/tcp/10.77.0.$node/$port" && head -c 65536 /dev/zero >&3 2>/dev/null
	sleep 1
	exec 3>&-
	sleep 1
	after=$(ctl stat bad_frames)
	tap $(( ${after:-0} >= ${before:-0} + 2 ? 0 : 1 )) \
		"garbage on the peer port is rejected and counted (bad_frames $before -> $after)"
	grep -q "bad magic\|bad version" "$out/ccmapd.log"
	tap $? "the rejections are logged with their reason"
	ctl raw frobnicate > /dev/null 2>&1
	tap $(( $? == 1 ? 0 : 1 )) "unknown control request gets ERR"
	ctl raw pages nosuchshare > /dev/null 2>&1
	tap $(( $? == 1 ? 0 : 1 )) "pages of an unknown share gets ERR"
	ctl raw pages counter 999999 > /dev/null 2>&1
	tap $(( $? == 1 ? 0 : 1 )) "pages beyond the share gets ERR"
	ans=$(ctl_bytes "$(head -c 2000 /dev/zero | tr '\0' a | od -v -An -tx1 | tr -d ' \n')0a")
	case "$ans" in ERR*) tap 0 "a 2000-byte request line gets ERR ($ans)" ;;
	*) tap 1 "a 2000-byte request line gets ERR (got '$ans')" ;; esac
	ans=$(ctl_bytes "0001ff7374617475730a")
	case "$ans" in ERR*) tap 0 "a binary request gets ERR ($ans)" ;;
	*) tap 1 "a binary request gets ERR (got '$ans')" ;; esac
	ctl status > /dev/null && ctl raw ping > /dev/null
	tap $? "the agent still answers after all that"
	[ "$(ctl status | awk '$1 == "peers_authenticated" { print $2 }')" = $((nodes - 1)) ]
	tap $? "and its peers are still authenticated"
	# policy error exit: the kernel detaches it, ccmapd attaches it again
	ctl raw test-error-exit > /dev/null
	tap $? "the policy raises an error exit (test hook)"
	for ((i = 0; i < 100; i++)); do
		grep -q "attached again" "$out/ccmapd.log" && break
		sleep 0.1
	done
	grep -q "detached by the kernel: error_bpf" "$out/ccmapd.log"
	tap $? "ccmapd logs the error exit with its reason"
	ctl status > "$work/status.txt"
	grep -q "^policy_attached yes" "$work/status.txt" &&
		grep -q "^kernel_exit_kind error_bpf" "$work/status.txt" &&
		grep -q "^kernel_state enabled" "$work/status.txt"
	tap $? "the policy is attached again (status: policy_attached yes, kernel_exit_kind error_bpf)"
}

# cc_counter on the swap share; every node swaps its policy through the
# policies of policy/ meanwhile, at different moments, so that the cluster
# runs mixes of them (any mix is allowed: policy/README.md).
run_swap() {
	local pid rc i ans before after p
	local -a cycle=(mirage exclusive "$policy")
	echo "# --- swap ---"
	"$tbin/cc_counter" -n "$node" -N "$nodes" -f "$work/swap.data" -s "${size[swap]}" \
		-i "${iters[swap]}" -c "$sock" -C "$bin/ccmapctl" &
	pid=$!
	before=$(grep -c "replaced by policy" "$out/ccmapd.log")
	sleep $((1 + node % 3))
	for ((i = 0; i < 3; i++)); do
		p=${cycle[i]}
		ans=$(ctl -t 60 policy "$p" 2>&1)
		rc=$?
		tap $rc "policy swap $((i + 1)) to $p while cc_counter runs (${ans//$'\n'/ })"
		ctl status > "$work/status.txt"
		grep -q "^policy $p\$" "$work/status.txt"
		tap $? "status names policy $p after the swap"
		sleep 1
	done
	if [ "$node" = 1 ]; then
		ans=$(ctl policy no-such-policy 2>&1)
		rc=$?
		case "$ans" in *"unknown policy"*) ;; *) rc=0 ;; esac
		tap $(( rc == 1 ? 0 : 1 )) "swapping to an unknown policy gets ERR (${ans//$'\n'/ })"
	fi
	wait $pid
	tap $? "test swap (cc_counter totals exact across the policy swaps)"
	after=$(grep -c "replaced by policy" "$out/ccmapd.log")
	tap $(( after == before + 3 ? 0 : 1 )) "one log line per swap ($before -> $after)"
	ctl status > "$work/status.txt"
	grep -q "^policy_attached yes" "$work/status.txt" &&
		grep -q "^kernel_state enabled" "$work/status.txt"
	tap $? "the policy is still attached after the swaps (status: policy_attached yes)"
}

for t in "${tests[@]}"; do
	[ "$t" = robust ] && continue
	if [ "$t" = swap ]; then
		run_swap
		continue
	fi
	echo "# --- $t ---"
	"$tbin/cc_$t" -n "$node" -N "$nodes" -f "$work/$t.data" -s "${size[$t]}" \
		-i "${iters[$t]}" -c "$sock" -C "$bin/ccmapctl"
	tap $? "test $t"
done

bad=$(ctl stat bad_frames)
tap $([ "${bad:-x}" = 0 ] && echo 0 || echo 1) "no bad frames between the nodes (bad_frames ${bad:-?})"
[ $robust = 1 ] && run_robust

"$tbin/cc_barrier" -n "$node" -N "$nodes" -f "$work/sync.data" -s "${size[sync]}"
tap $? "every node finished (final barrier)"
{ ctl status; ctl stats; } > "$out/stats.txt" 2>&1

cluster_stop $agent
rc=$stop_status
if [ "$rc" = timeout ]; then
	tap 1 "ccmapd stops within 30 s of SIGTERM"
else
	grep -q "stopped cleanly" "$out/ccmapd.log"
	tap $(( rc != 0 || $? != 0 )) "ccmapd exits 0 after a clean shutdown on SIGTERM (status $rc)"
fi
errs=$(grep -c " error: " "$out/ccmapd.log")
echo "# ccmapd.log: $errs error line(s), $(grep -c " warn: " "$out/ccmapd.log") warning(s)"
[ "$errs" != 0 ] && grep " error: " "$out/ccmapd.log" | head -5 | sed 's/^/#   /'
echo "1..$n"
echo "# node $node: $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
