#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# race_smp.sh - the race and replace selftests on a guest with two CPUs
# (make test-race), first on /tmp, then on a tmpfs mounted huge=always so
# the shares' page cache holds large folios.
#
#   tools/vm/ccmap-vm -c 2 -t 1800 -- tests/vm/race_smp.sh build/bin/ccmap-selftests
set -u
st=${1:?usage: race_smp.sh CCMAP-SELFTESTS}
rc=0
ncpu=$(grep -c '^processor' /proc/cpuinfo)
echo "# race_smp: $ncpu CPU(s)"
if [ "$ncpu" -lt 2 ]; then
	echo "not ok 1 - the guest has $ncpu CPU, want 2 or more"
	exit 1
fi
mkdir -p /mnt/huge
if ! mount -t tmpfs -o huge=always,size=256m tmpfs /mnt/huge; then
	echo "not ok 1 - mount tmpfs huge=always"
	exit 1
fi
for dir in /tmp /mnt/huge; do
	for t in race replace; do
		echo "# $t on $dir with $ncpu CPUs"
		CCMAP_ST_DIR=$dir "$st" -t "=$t" || rc=1
	done
done
umount /mnt/huge
exit $rc
