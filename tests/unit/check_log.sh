#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check_log.sh - unit test of tools/vm/check-log: clean logs pass, every kind
# of kernel problem the guest runner must catch is caught.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
check=$top/tools/vm/check-log
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 fail=0

expect() {	# expect clean|dirty LINE
	n=$((n + 1))
	printf '[    1.000000] Linux version 6.12.117-ccmap\n%s\n[    2.0] done\n' "$2" > "$tmp/log"
	"$check" "$tmp/log" >/dev/null
	local rc=$?
	if { [ "$1" = clean ] && [ $rc = 0 ]; } || { [ "$1" = dirty ] && [ $rc = 1 ]; }; then
		echo "ok $n - $1: $2"
	else
		echo "not ok $n - expected $1 (rc $rc): $2"
		fail=1
	fi
}

expect clean "[    1.5] ccmap: policy msi attached"
expect clean "[    1.5] 9pnet: Installing 9P2000 support"
expect clean "ok 3 - zap keeps private COW pages"
expect dirty "[    3.1] BUG: kernel NULL pointer dereference, address: 0000000000000008"
expect dirty "[    3.1] BUG: sleeping function called from invalid context at mm/ccmap.c:120"
expect dirty "[    3.1] WARNING: CPU: 0 PID: 1 at mm/memory.c:5000 do_fault+0x1/0x2"
expect dirty "[    3.1] WARNING: possible circular locking dependency detected"
expect dirty "[    3.1] WARNING: possible recursive locking detected"
expect dirty "[    3.1] WARNING: inconsistent lock state"
expect dirty "[    3.1] WARNING: suspicious RCU usage"
expect dirty "[   40.0] INFO: task ccmap-selftest:99 blocked for more than 30 seconds."
expect dirty "[   40.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [x:1]"
expect dirty "[   40.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
expect dirty "[    3.1] Oops: general protection fault, probably for non-canonical address"
expect dirty "[    3.1] Kernel panic - not syncing: Attempted to kill init!"
expect dirty "[    3.1] kernel BUG at mm/filemap.c:1500!"

n=$((n + 1))
if "$check" "$tmp/missing-file" 2>/dev/null; then
	echo "not ok $n - an unreadable log must not pass"
	fail=1
else
	echo "ok $n - an unreadable log does not pass"
fi
exit $fail
