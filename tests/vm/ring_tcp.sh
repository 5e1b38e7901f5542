#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ring_tcp.sh - every node of N echoes TCP on port 7000 and checks 100 round
# trips to the next node of the ring (used by the demo).
set -u
pingpong=$1
next=$(( CCMAP_NODE % CCMAP_NODES + 1 ))
"$pingpong" server 7000 100 &
srv=$!
echo "ring: node$CCMAP_NODE ($CCMAP_IP) -> node$next (10.77.0.$next)"
"$pingpong" client "10.77.0.$next" 7000 100
rc=$?
wait $srv || rc=1
exit $rc
