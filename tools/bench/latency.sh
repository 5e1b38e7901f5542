#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# latency.sh - remote fault latency against the TCP round trip (runs on the host).
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${CCMAP_BUILD:-$top/build}
out=$build/bench/latency
json=$build/bench/latency.json
timeout=600
report_only=0

usage() {
	cat <<EOF2
usage: latency.sh [-o DIR] [-j FILE] [-t SEC] [-r] [-h]

Boots two ccmap guests (tools/vm/ccmap-vm -n 2) that run
tools/bench/latency-node.sh: the median TCP round trip between them
(tcp_pingpong, 200 rounds), then, with ccmapd on both, node 2 times single
loads and stores (tests/cluster/cc_latency): read faults on pages no node
holds, then on pages node 1 holds E: remote read faults (I->S), remote
write faults (I->E) and upgrades (S->E), each split by the home of the
page, plus local faults on a tmpfs file and a 4 KiB memcpy in the same
guest.  Prints every median next to the RTT and
the limit model RTT + 4 KiB copy + local fault, and writes a JSON summary.
Guests under TCG are noisy: compare numbers within one run only.

  -o DIR    run directory (default build/bench/latency; emptied first)
  -j FILE   JSON summary (default build/bench/latency.json)
  -t SEC    limit for the guest run (default 600)
  -r        report only: summarise an existing run directory, boot nothing
  -h        this text

Exit status: 0 when the run passed and the summary was written.
EOF2
}

while getopts "o:j:t:rh" opt; do
	case $opt in
	o) out=$OPTARG ;;
	j) json=$OPTARG ;;
	t) timeout=$OPTARG ;;
	r) report_only=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }

if [ $report_only = 0 ]; then
	if pgrep qemu-system > /dev/null; then
		echo "latency.sh: note: other guests are running; the numbers will be noisier" >&2
	fi
	rm -rf "$out"
	mkdir -p "$out" "$(dirname "$json")"
	"$top/tools/vm/ccmap-vm" -n 2 -t "$timeout" -o "$out" -- \
		"$top/tools/bench/latency-node.sh"
	rc=$?
	if [ $rc != 0 ]; then
		echo "latency.sh: the guest run failed (ccmap-vm exit $rc); see $out" >&2
		exit 1
	fi
fi

for f in "$out/node2/rtt_before.txt" "$out/node2/latency.txt"; do
	[ -r "$f" ] || { echo "latency.sh: $f missing (run failed?)" >&2; exit 1; }
done

python3 - "$out" "$json" <<'PY'
import json, re, sys

out, jpath = sys.argv[1], sys.argv[2]

def rtt(name):
    try:
        m = re.search(r"median (\d+(?:\.\d+)?) us", open(f"{out}/node2/{name}").read())
    except OSError:
        return None
    return float(m.group(1)) if m else None

res = {}
for line in open(f"{out}/node2/latency.txt"):
    m = re.search(r"result (\w+)(?: home=(\d+))? n=(\d+) median_us=([\d.]+) p90_us=([\d.]+)", line)
    if m:
        key = m.group(1) + (f"_home{m.group(2)}" if m.group(2) else "")
        res[key] = {"n": int(m.group(3)), "median_us": float(m.group(4)),
                    "p90_us": float(m.group(5))}

r0, r1 = rtt("rtt_before.txt"), rtt("rtt_after.txt")
if r0 is None or "remote_read_home1" not in res:
    sys.exit("latency.sh: incomplete results in " + out)
copy = res["copy_4k"]["median_us"]
model = {"read": r0 + copy + res["local_read"]["median_us"],
         "write": r0 + copy + res["local_write"]["median_us"]}
summary = {"rtt_median_us": r0, "rtt_idle_agent_median_us": r1, "results": res,
           "model_read_us": round(model["read"], 1), "model_write_us": round(model["write"], 1),
           "ratios": {}}

print(f"TCP round trip node 2 -> node 1, median: {r0:.0f} us"
      + (f" (again with ccmapd idle: {r1:.0f} us)" if r1 is not None else ""))
for k in ("local_read", "local_write", "hot_load", "copy_4k"):
    v = res[k]
    print(f"  {k:<22} median {v['median_us']:8.1f} us  p90 {v['p90_us']:8.1f} us")
print(f"limit model (RTT + 4 KiB copy + local fault): read {model['read']:.1f} us, "
      f"write {model['write']:.1f} us")
print(f"{'fault (node 2)':<22} {'home':>5} {'n':>4} {'median us':>10} {'p90 us':>9} "
      f"{'/RTT':>6} {'/model':>7}")
for kind, mk in (("untouched_read", "read"), ("remote_read", "read"), ("remote_write", "write"),
                 ("remote_upgrade", "write")):
    for home in (1, 2):
        k = f"{kind}_home{home}"
        if k not in res:
            continue
        v = res[k]
        a, b = v["median_us"] / r0, v["median_us"] / model[mk]
        summary["ratios"][k] = {"per_rtt": round(a, 2), "per_model": round(b, 2)}
        print(f"{kind:<22} {home:>5} {v['n']:>4} {v['median_us']:>10.1f} {v['p90_us']:>9.1f} "
              f"{a:>6.2f} {b:>7.2f}")
print("home 1 = the holder (node 1) is the home: READ/WRITE_REQ to node 1, answered there;")
print("home 2 = the measurer is the home: its agent sends DOWNGRADE/FETCH/INVALIDATE to node 1.")
print("untouched_read: no node holds the page (home 2: no network at all; home 1: one request).")
with open(jpath, "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
print(f"written: {jpath}")
PY
