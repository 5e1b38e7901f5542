#!/usr/bin/env bash
# Model-check tests/model/ccmap.pml with spin.  Exits non-zero on any
# violation or on a search that did not complete; prints states explored.
#
#   tests/model/check.sh            safety + liveness of node 2 on page 0
#                                   (two runs in parallel, ~2.5 min, < 3.5 GB)
#   CHECK_ALL=1 tests/model/check.sh  also: node crash, all liveness formulas
#                                   (~20 min on 2 cores)
#
# Configurations (see README.md):
#   SAFETY   -DUSERS1=3                      all nodes on page 0, nodes 0,1 on page 1,
#                                            local stores, contents mod 4; exhaustive
#   REDUCED  -DNO_LOCAL_STORES -DVMOD=2 -DUSERS1=3   for liveness and crash runs
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ccmap-model.XXXXXX)
trap 'rm -rf "$work"' EXIT
MEM=${MEMLIM:-3000}           # MB per run
SAFETY_FLAGS="-DUSERS1=3"
REDUCED_FLAGS="-DNO_LOCAL_STORES -DVMOD=2 -DUSERS1=3"

# run NAME SPIN_DEFINES CC_DEFINES PAN_ARGS
run() {
	local name=$1 sdefs=$2 cdefs=$3 pargs=$4 d="$work/$1"
	mkdir -p "$d"
	cp "$here/ccmap.pml" "$d/"
	(
		cd "$d"
		# shellcheck disable=SC2086
		spin -a $sdefs ccmap.pml > spin.out 2>&1
		# shellcheck disable=SC2086
		gcc -O2 -w $cdefs -DMEMLIM="$MEM" -o pan pan.c
		# shellcheck disable=SC2086
		./pan $pargs > pan.out 2>&1 || true
	)
}

# verdict NAME: print the summary, return 1 on error / incomplete search
verdict() {
	local out="$work/$1/pan.out" ok=0
	local errs states depth secs
	errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" | head -1)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$out" | head -1)
	depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out" | head -1)
	secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\).*/\1/p' "$out" | head -1)
	if [ "${errs:-x}" != 0 ]; then
		ok=1
	fi
	if grep -q 'Search not completed\|max search depth too small\|reached -DMEMLIM' "$out"; then
		ok=1
	fi
	printf '%-12s %s  states=%s depth=%s time=%ss errors=%s\n' "$1" \
		"$([ $ok = 0 ] && echo PASS || echo FAIL)" "${states:-?}" "${depth:-?}" \
		"${secs:-?}" "${errs:-?}"
	if [ $ok != 0 ]; then
		grep -E 'assertion violated|invalid end state|acceptance cycle|error|Search not' "$out" |
			head -5 | sed 's/^/    /'
		echo "    (full output: keep with KEEP=1; trail replay: spin -t -p ccmap.pml)"
	fi
	return $ok
}

command -v spin > /dev/null || { echo "spin not installed (apt-get install spin)"; exit 2; }

fail=0
names=()
# exhaustive safety: assertions (SWMR with grants in flight, fresh data,
# directory preconditions) and invalid end states (deadlock)
run safety "$SAFETY_FLAGS" "-DSAFETY -DNOCLAIM -DCOLLAPSE" "-m10000000" &
names+=(safety)
# liveness: node 2 requesting page 0 (homed at node 0) is always granted
# eventually, under weak fairness (acceptance cycles)
run live20 "$REDUCED_FLAGS" "-DCOLLAPSE -DNFAIR=5" "-a -f -m10000000 -N live20" &
names+=(live20)
wait
if [ "${CHECK_ALL:-0}" = 1 ]; then
	# node 2 crashes at any point; homes notice after any prefix of its frames
	run crash "$REDUCED_FLAGS -DCRASH" "-DSAFETY -DNOCLAIM -DCOLLAPSE" "-m10000000" &
	names+=(crash)
	run live11 "$REDUCED_FLAGS" "-DCOLLAPSE -DNFAIR=5" "-a -f -m10000000 -N live11" &
	names+=(live11)
	wait
	for f in live01 live00 live10; do
		run $f "$REDUCED_FLAGS" "-DCOLLAPSE -DNFAIR=5" "-a -f -m10000000 -N $f" &
		names+=($f)
		[ $f = live00 ] && wait
	done
	wait
fi
for n in "${names[@]}"; do
	verdict "$n" || fail=1
done
if [ "${KEEP:-0}" = 1 ]; then
	trap - EXIT
	echo "outputs kept in $work"
fi
exit $fail
