#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kernel.sh - prepare and build the ccmap test kernel.
#
# Usage: tools/build/kernel.sh <top> <build-dir> [prepare|build]
#
#   prepare  unpack Debian's linux-source-6.12 into <build-dir>/linux (once),
#            keep the pristine tree as a git commit so that a changed
#            kernel-patch/series is re-applied on top of it without touching
#            unchanged files (their timestamps and objects survive), and
#            merge the config fragment onto tinyconfig + kvm_guest.config.
#   build    prepare, then build bzImage and vmlinux with ccache, printing a
#            progress line now and then instead of every compiler call.
#
# The kernel source tree under <build-dir> is disposable; the patches in
# kernel-patch/ are the source of truth.
set -euo pipefail

top=$(cd "$1" && pwd)
build=$2
what=${3:-build}
mkdir -p "$build"
build=$(cd "$build" && pwd)
ksrc=$build/linux
tarball=${CCMAP_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
patchdir=$top/kernel-patch
logdir=$build/logs
mkdir -p "$logdir"

say() { printf 'kernel: %s\n' "$*"; }
die() { printf 'kernel: error: %s\n' "$*" >&2; exit 1; }

kgit() {
	git -C "$ksrc" -c user.name=ccmap-build -c user.email=build@ccmap.invalid \
		-c advice.detachedHead=false -c gc.auto=0 "$@"
}

unpack() {
	[ -f "$tarball" ] || die "$tarball is missing (run 'make deps')"
	say "unpacking $(basename "$tarball") into $ksrc"
	rm -rf "$ksrc" "$build/linux-source-6.12"
	tar xf "$tarball" -C "$build"
	mv "$build/linux-source-6.12" "$ksrc"
	say "recording the pristine tree (git) so patches can be re-applied"
	kgit init -q
	kgit config gc.auto 0
	kgit add -A -f .
	kgit commit -q -m "pristine $(make -s -C "$ksrc" kernelversion)"
	kgit tag ccmap-pristine
	touch "$ksrc/.ccmap-unpacked"
}

# Hash of everything that decides the patched source: series and patches.
series_hash() {
	{
		cat "$patchdir/series"
		while read -r p; do
			case "$p" in ''|'#'*) continue ;; esac
			cat "$patchdir/$p"
		done < "$patchdir/series"
	} | sha256sum | cut -d' ' -f1
}

apply_series() {
	local want have base ver p n=0
	want=$(series_hash)
	have=$(cat "$ksrc/.ccmap-series" 2>/dev/null || true)
	[ "$want" = "$have" ] && return 0

	ver=$(make -s -C "$ksrc" kernelversion)
	base=$(cat "$patchdir/BASE")
	if [ "$ver" != "$base" ]; then
		say "NOTE: linux-source is $ver, the patches were made on $base;" \
		    "applying anyway"
	fi
	kgit reset -q --hard ccmap-pristine
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		[ -f "$patchdir/$p" ] || die "series names $p, which is not in kernel-patch/"
		if ! kgit am -q --keep-cr "$patchdir/$p" >"$logdir/git-am.log" 2>&1; then
			kgit am --abort >/dev/null 2>&1 || true
			cat "$logdir/git-am.log" >&2
			die "patch $p does not apply to linux $ver (made on $base)"
		fi
		n=$((n + 1))
	done < "$patchdir/series"
	echo "$want" > "$ksrc/.ccmap-series"
	say "applied $n patch(es) from kernel-patch/series to linux $ver"
}

configure() {
	local frag=$patchdir/ccmap.config want have line key val got bad=0
	want=$( (cat "$frag"; cat "$ksrc/kernel/configs/kvm_guest.config") |
		sha256sum | cut -d' ' -f1)
	have=$(cat "$ksrc/.ccmap-config" 2>/dev/null || true)
	if [ "$want" = "$have" ] && [ -f "$ksrc/.config" ]; then
		return 0
	fi
	say "configuring: tinyconfig + kvm_guest.config + kernel-patch/ccmap.config"
	(
		cd "$ksrc"
		make -s tinyconfig >"$logdir/config.log" 2>&1
		scripts/kconfig/merge_config.sh -m .config \
			kernel/configs/kvm_guest.config "$frag" >>"$logdir/config.log" 2>&1
		make -s olddefconfig >>"$logdir/config.log" 2>&1
	) || { cat "$logdir/config.log" >&2; die "configuration failed"; }

	# merge_config only warns; a silently dropped option is an error here.
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		key=${line%%=*}
		val=${line#*=}
		got=$(grep -E "^$key=|^# $key is not set" "$ksrc/.config" || true)
		if [ "$val" = n ]; then
			case "$got" in ''|"# $key is not set") continue ;; esac
		elif [ "$got" = "$key=$val" ]; then
			continue
		fi
		echo "kernel: config: wanted $key=$val, got '${got:-unset}'" >&2
		bad=1
	done < "$frag"
	[ $bad = 0 ] || die "kernel-patch/ccmap.config does not apply cleanly (see above)"
	echo "$want" > "$ksrc/.ccmap-config"
}

# Prints one line per 250 build steps and the final link steps, so a cold
# build shows progress without ten thousand lines.
progress() {
	local start=$SECONDS n=0 line
	while IFS= read -r line; do
		case "$line" in
		"  LD      vmlinux"*|"  BTF     .btf.vmlinux"*|"  BUILD   arch/x86/boot/bzImage"*)
			printf 'kernel:   %s (%ds)\n' "${line#  }" $((SECONDS - start)) ;;
		"  CC "*|"  AS "*|"  AR "*|"  LD "*|"  GEN "*|"  HOSTCC "*)
			n=$((n + 1))
			[ $((n % 250)) = 0 ] &&
				printf 'kernel:   %d build steps, %ds\n' $n $((SECONDS - start)) ;;
		esac
	done
}

build_kernel() {
	local jobs rc t0
	jobs=$(nproc)
	export CCACHE_BASEDIR=$ksrc CCACHE_NOHASHDIR=1 CCACHE_COMPILERCHECK=content
	export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccmap-ccache}
	ccache -M 8G >/dev/null
	t0=$(date +%s)
	say "building bzImage with $jobs jobs and ccache (log: $logdir/kernel-build.log)"
	set +e
	make -C "$ksrc" -j"$jobs" CC="ccache gcc" HOSTCC="ccache gcc" \
		KBUILD_BUILD_TIMESTAMP=ccmap KBUILD_BUILD_USER=ccmap KBUILD_BUILD_HOST=ccmap \
		bzImage 2>&1 | tee "$logdir/kernel-build.log" | progress
	rc=${PIPESTATUS[0]}
	set -e
	if [ "$rc" != 0 ]; then
		grep -E 'error|Error' "$logdir/kernel-build.log" | head -30 >&2
		die "kernel build failed (full log: $logdir/kernel-build.log)"
	fi
	say "built $(make -s -C "$ksrc" kernelrelease) in $(( $(date +%s) - t0 ))s"
}

[ -f "$ksrc/.ccmap-unpacked" ] || unpack
apply_series
configure
case "$what" in
prepare) ;;
build) build_kernel ;;
*) die "unknown step '$what' (prepare|build)" ;;
esac
