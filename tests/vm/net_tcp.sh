#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# net_tcp.sh - runs in two guests: node 1 echoes, node 2 sends 200 checked
# messages over TCP across the virtual switch.  Each node prints one TAP line.
set -u
pingpong=$1
case "$CCMAP_NODE" in
1)
	if out=$("$pingpong" server 7001 200 2>&1); then
		echo "ok 1 - node1: TCP server echoed 200 messages ($out)"
	else
		echo "not ok 1 - node1: TCP server failed: $out"
		exit 1
	fi ;;
2)
	if out=$("$pingpong" client 10.77.0.1 7001 200 2>&1); then
		echo "ok 1 - node2: TCP to node1 verified ($out)"
	else
		echo "not ok 1 - node2: TCP client failed: $out"
		exit 1
	fi ;;
*)
	echo "net_tcp.sh: unexpected node $CCMAP_NODE" >&2
	exit 1 ;;
esac
