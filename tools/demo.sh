#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - the `make demo` job: boots three networked guests of the ccmap
# kernel and shows them talking.  Each node serves TCP echo on 10.77.0.<n>
# and checks 100 round trips to the next node of the ring.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$(realpath "$2"); shift 2 ;;
	-h|--help) echo "Usage: tools/demo.sh [--build DIR]   (run by 'make demo')"; exit 0 ;;
	*) echo "demo: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
export CCMAP_BUILD=$build
out=$build/demo
rm -rf "$out"
echo "demo: booting 3 guests on a private virtual switch (10.77.0.1-3)"
"$top/tools/vm/ccmap-vm" -n 3 -t 300 -o "$out" -- "$top/tests/vm/ring_tcp.sh" "$build/bin/tcp_pingpong"
rc=$?
echo
echo "demo: what each node reported:"
for i in 1 2 3; do
	tr -d '\r' < "$out/node$i.log" | grep -E '^(ring|tcp_pingpong):' | sed "s/^/  node$i: /"
done
exit $rc
