#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - the `make demo` job: boots three guests of the ccmap kernel on a
# private virtual switch, starts ccmapd on each, and has all three increment
# counters in one coherently mapped file (tools/demo-node.sh), then prints
# what each node reported: final values, coherency traffic, page states, and
# a live trace of ownership moving on node 1.
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
echo "demo: booting 3 guests on a private virtual switch (10.77.0.1-3);"
echo "demo: each runs ccmapd and increments counters in one shared mapped file"
"$top/tools/vm/ccmap-vm" -n 3 -t 600 -o "$out" -- "$top/tools/demo-node.sh"
rc=$?
echo
for i in 1 2 3; do
	tr -d '\r' < "$out/node$i.log" | grep -E '^demo: ' | sed 's/^demo: //'
	echo
done
echo "demo: logs in $out (node<i>.log: console; node<i>/ccmapd.log: agent; node1/watch.txt: trace)"
exit $rc
