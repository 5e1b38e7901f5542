#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bpftrace_ccmap.sh - runs in a guest: bpftrace attaches to the ccmap:*
# tracepoints and sees what a selftest does.
#
#   1. bpftrace lists the ten ccmap:* tracepoints;
#   2. a count of ccmap_fault by access around the mkclean_zap selftest has
#      READ and WRITE faults and nothing else, and adds up to the increase of
#      /sys/kernel/ccmap/stats/faults (every fault fires the event once);
#   3. around the verdict_wait selftest, ccmap_attach and ccmap_exit print
#      the policy's name (a __string field), the exit kind 64 (detached by
#      user space), and ccmap_wait_end shows one wait that was woken.
#
# Usage: bpftrace_ccmap.sh BUILD/bin/ccmap-selftests
set -u
selftests=$1
bt=${BPFTRACE:-bpftrace}
stats=/sys/kernel/ccmap/stats/faults
n=0 fail=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {	# not_ok DESCRIPTION OUTPUT
	n=$((n + 1))
	echo "not ok $n - $1"
	sed 's/^/#   /' <<<"$2"
	fail=1
}

if ! command -v "$bt" >/dev/null; then
	echo "ok 1 - bpftrace_ccmap # SKIP no bpftrace in this guest"
	exit 0
fi

# 1. The tracepoints are there.
want="ccmap_attach ccmap_exit ccmap_fault ccmap_manage ccmap_mkclean ccmap_state ccmap_wait_begin ccmap_wait_end ccmap_wake ccmap_zap"
out=$("$bt" -l 'tracepoint:ccmap:*' 2>&1)
got=$(sed -n 's/^tracepoint:ccmap://p' <<<"$out" | sort | tr '\n' ' ')
if [ "$got" = "$want " ]; then
	ok "bpftrace lists the ten ccmap:* tracepoints"
else
	not_ok "bpftrace lists the ccmap:* tracepoints (got: $got)" "$out"
fi

# 2. Faults by access around a selftest, checked against the kernel's count.
f0=$(cat "$stats")
out=$(timeout 240 "$bt" -e 'tracepoint:ccmap:ccmap_fault { @[args->access] = count(); }' \
	-c "$selftests -t mkclean_zap" 2>&1)
rc=$?
f1=$(cat "$stats")
reads=$(sed -n 's/^@\[1\]: \([0-9]*\)$/\1/p' <<<"$out")
writes=$(sed -n 's/^@\[3\]: \([0-9]*\)$/\1/p' <<<"$out")
keys=$(grep -c '^@\[' <<<"$out")
total=0
for v in $(sed -n 's/^@\[[0-9]*\]: \([0-9]*\)$/\1/p' <<<"$out"); do
	total=$((total + v))
done
if [ $rc = 0 ] && grep -q '^ok 1 - mkclean_zap' <<<"$out" &&
   [ "${reads:-0}" -gt 0 ] && [ "${writes:-0}" -gt 0 ] && [ "$keys" = 2 ] &&
   [ "$total" = $((f1 - f0)) ]; then
	ok "ccmap_fault by access: $reads read, $writes write, as stats/faults (+$((f1 - f0)))"
else
	not_ok "ccmap_fault by access (status $rc, read ${reads:-none}, write ${writes:-none}, stats/faults +$((f1 - f0)))" "$out"
fi

# 3. Policy events with string fields, and a woken wait.
prog='
tracepoint:ccmap:ccmap_attach { printf("attach %s timeout_ms=%u\n", str(args->name), args->timeout_ms); }
tracepoint:ccmap:ccmap_exit { printf("exit %s kind=%d reason=%s\n", str(args->name), args->kind, str(args->reason)); }
tracepoint:ccmap:ccmap_wait_end { printf("wait_end outcome=%u\n", args->outcome); }'
out=$(timeout 240 "$bt" -e "$prog" -c "$selftests -t verdict_wait" 2>&1)
rc=$?
if [ $rc = 0 ] && grep -q '^ok 1 - verdict_wait' <<<"$out" &&
   grep -qx 'attach st_verdict_wait timeout_ms=[0-9]*' <<<"$out" &&
   grep -qx 'exit st_verdict_wait kind=64 reason=detached from user space' <<<"$out" &&
   [ "$(grep -c '^wait_end ' <<<"$out")" = 1 ] &&
   grep -qx 'wait_end outcome=0' <<<"$out"; then
	ok "ccmap_attach, ccmap_exit (strings) and one woken ccmap_wait_end around verdict_wait"
else
	not_ok "ccmap_attach, ccmap_exit, ccmap_wait_end around verdict_wait (status $rc)" "$out"
fi
exit $fail
