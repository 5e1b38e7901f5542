#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check_unit.sh - tools/systemd/ccmapd.service is a valid unit: systemd's
# own checker accepts it once its binaries exist (pointed at the build),
# and it restarts the agent on failure.
#
# Usage: tests/unit/check_unit.sh BUILD-DIR
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
unit=$top/tools/systemd/ccmapd.service
n=0 fail=0
t() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

grep -q '^Restart=on-failure$' "$unit"
t $? "ccmapd.service restarts the agent on failure"
grep -q '^ExecStartPre=/usr/sbin/ccmapd --check ' "$unit"
t $? "ccmapd.service checks the configuration before it starts the agent"
if ! command -v systemd-analyze > /dev/null; then
	echo "ok $((n + 1)) - # SKIP systemd-analyze is not installed"
	exit $fail
fi
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
sed "s|/usr/sbin/ccmapd|$build/bin/ccmapd|g" "$unit" > "$d/ccmapd.service"
out=$(systemd-analyze verify "$d/ccmapd.service" 2>&1)
[ -z "$out" ]
t $? "systemd-analyze verify finds nothing${out:+: $out}"
exit $fail
