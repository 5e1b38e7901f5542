#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# deps.sh - install the Debian packages ccmap needs (idempotent).
#
# Quick when everything is present: one dpkg-query call.  Installs only what
# is missing, and says plainly why when it cannot (not root, no package
# source reachable).
set -eu

pkgs="build-essential bc bison flex libssl-dev libelf-dev zlib1g-dev
dwarves linux-source-6.12 clang-19 llvm-19 lld-19 libclang-rt-19-dev
qemu-system-x86 busybox-static iproute2 ccache bpftrace spin cpio kmod
libcap-dev rsync xz-utils e2fsprogs git python3 python3-ply
corosync libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev
libcorosync-common-dev"

missing=
for p in $pkgs; do
	st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: error: installing packages needs root; run 'sudo make deps'" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends $missing >/tmp/ccmap-deps.log 2>&1; then
	echo "deps: apt-get install failed; refreshing the package lists and retrying"
	if ! apt-get update -q >>/tmp/ccmap-deps.log 2>&1 ||
	   ! apt-get install -y -q --no-install-recommends $missing >>/tmp/ccmap-deps.log 2>&1; then
		tail -n 15 /tmp/ccmap-deps.log >&2
		echo "deps: error: cannot install:$missing (no package source reachable?" \
			"full log: /tmp/ccmap-deps.log)" >&2
		exit 1
	fi
fi
# corosync is for the guests only (tools/vm/ccmap-corosync.sh starts it there
# on the private bridge); the package enables and starts it on the host.
case "$missing" in *" corosync"*)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now corosync.service >>/tmp/ccmap-deps.log 2>&1 || true
	elif [ -x /etc/init.d/corosync ]; then
		/etc/init.d/corosync stop >>/tmp/ccmap-deps.log 2>&1 || true
		update-rc.d corosync disable >>/tmp/ccmap-deps.log 2>&1 || true
	fi
	echo "deps: corosync installed for the test guests; its host service is disabled"
esac
echo "deps: done"
