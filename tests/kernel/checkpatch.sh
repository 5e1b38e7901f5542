#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# checkpatch.sh - every patch of kernel-patch/series must be clean under the
# tree's own scripts/checkpatch.pl --strict (0 errors, warnings and checks).
#
# Usage: tests/kernel/checkpatch.sh BUILD-DIR
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
ksrc=$1/linux
[ -x "$ksrc/scripts/checkpatch.pl" ] || { echo "checkpatch.sh: no kernel tree in $1 (make kernel)" >&2; exit 2; }
# The SPDX check needs Debian's python3 with python3-ply, not another one
# that may come first on PATH.
export PATH=/usr/bin:$PATH
n=0 fail=0
while read -r p; do
	case "$p" in ''|'#'*) continue ;; esac
	n=$((n + 1))
	out=$(cd "$ksrc" && scripts/checkpatch.pl --strict --show-types \
		"$top/kernel-patch/$p" 2>&1)
	if echo "$out" | grep -q 'total: 0 errors, 0 warnings, 0 checks'; then
		echo "ok $n - checkpatch --strict: $p"
	else
		echo "not ok $n - checkpatch --strict: $p"
		echo "$out" | sed 's/^/#   /'
		fail=1
	fi
done < "$top/kernel-patch/series"
exit $fail
