#!/usr/bin/env bash
# A/B of the CPU backend between this tree ("new") and another built tree ("base", e.g. main
# exported to a scratch directory), by single-thread CPU time, base and new alternating in
# separate JVMs round by round: usable on a machine shared with other work, where wall-clock
# benchmarks are not (see bench/results/2026-12-02-cpu-kernels.md).
#   usage: bench/cpu-ab.sh BASE_ROOT ROUNDS kernels SPEC...        e.g. convF:16,64,64,32,32,3,1,1 gnBwd:16,64,32,32
#          bench/cpu-ab.sh BASE_ROOT ROUNDS steps CONFIG [REPS]    e.g. small 3
# Specs: see ddpm.bench.ab.CpuTime. Both trees must be built (mvn -q -o -pl engine,kernels,nn,diffusion,bench -am
# package -DskipTests in each). Prints a Markdown table of medians over the rounds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
base="$(cd "$1" && pwd)"; rounds="$2"; mode="$3"; shift 3
java="${JAVA:-java}"
tmp="$(mktemp -d)"
src="$root/bench/src/main/java/ddpm/bench/ab"
for side in base new; do
    tree=$([ "$side" = base ] && echo "$base" || echo "$root")
    mkdir -p "$tmp/$side"
    "${JAVAC:-javac}" -nowarn -d "$tmp/$side" --add-modules jdk.incubator.vector \
        -cp "$tree/engine/target/classes:$tree/nn/target/classes:$tree/bench/target/classes" "$src/CpuTime.java" "$src/StepTime.java" 2>/dev/null
done
cls=$([ "$mode" = steps ] && echo ddpm.bench.ab.StepTime || echo ddpm.bench.ab.CpuTime)
run() {   # side args...
    local side=$1; shift
    local tree; tree=$([ "$side" = base ] && echo "$base" || echo "$root")
    "$java" --add-modules jdk.incubator.vector -Xmx6g -cp "$tmp/$side:$tree/engine/target/classes:$tree/nn/target/classes:$tree/bench/target/classes" \
        "$cls" "$@" 2>/dev/null | sed "s/^/$side /"
}
for r in $(seq 1 "$rounds"); do
    order="base new"; [ $((r % 2)) = 0 ] && order="new base"
    if [ "$mode" = steps ]; then
        for side in $order; do run "$side" "$1" "${2:-3}" 1; done
    else
        for spec in "$@"; do for side in $order; do run "$side" "$spec"; done; done
    fi
done | python3 -c '
import sys, collections, statistics
d = collections.defaultdict(lambda: collections.defaultdict(list))
for line in sys.stdin:
    f = line.split()
    d[(f[1], f[2])][f[0]].append(float(f[3]))
print("| what | shape / config | base ms | new ms | speed-up |")
print("|---|---|---:|---:|---:|")
for (what, shape), v in d.items():
    b, n = statistics.median(v["base"]), statistics.median(v["new"])
    print(f"| {what} | {shape} | {b:.3f} | {n:.3f} | {b / n:.2f}x |")
'
rm -rf "$tmp"
