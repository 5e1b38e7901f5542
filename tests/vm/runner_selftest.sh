#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# runner_selftest.sh - tests the guest runner itself, on the host: a failing
# guest command, a kernel WARNING in a guest log, and a timeout must each
# fail the run, SIGTERM stops it, and nothing (QEMU, network namespace) may be left behind.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
vm=$top/tools/vm/ccmap-vm
out=${CCMAP_SUITE_OUT:-$(mktemp -d)}
n=0 fail=0

check() {	# check DESCRIPTION EXPECTED-STATUS ACTUAL-STATUS
	n=$((n + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1 (exit status $3, expected $2)"
		fail=1
	fi
}

"$vm" -q -o "$out/exit7" -- sh -c 'exit 7'
check "a guest command's failure fails the run" 1 $?
st=$(cat "$out/exit7/node1/status" 2>/dev/null)
check "the guest's exit status reaches the host" 7 "$st"

"$vm" -q -o "$out/warn" -- sh -c 'echo "<2>WARNING: CPU: 0 PID: 1 at injected by runner_selftest" > /dev/kmsg'
check "a WARNING in the guest log fails the run" 1 $?

# Runs in the background only to learn its pid, which names its netns.
"$vm" -q -n 2 -t 25 -o "$out/timeout" -- sleep 600 &
pids=$!
wait $pids
check "a run past its timeout fails with status 3" 3 $?

"$vm" -q -n 2 -t 120 -o "$out/term" -- sleep 600 &
pid=$!
pids="$pids|$pid"
sleep 8
kill -TERM $pid
wait $pid
check "SIGTERM stops the run (status 130)" 130 $?

# Other runs may be going on: look only for the namespaces of ours.
left=$(ip netns list | grep -cE "^ccmapvm-($pids)( |$)" || true)
check "no network namespace is left behind" 0 "$left"
qemus=$(pgrep -f "qemu-system-x86_64.*$out" | wc -l)
check "no QEMU process is left behind" 0 "$qemus"
exit $fail
