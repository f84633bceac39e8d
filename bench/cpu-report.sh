#!/usr/bin/env bash
# The CPU report: short JMH runs over every benchmark at CPU-sized shapes (a few minutes on
# 2 cores), merged into one JSON, then Report. Writes bench/results/NAME.{json,md,png}.
#   bench/cpu-report.sh [NAME]     default NAME: $(date +%F)-cpu-kernels
# JMH_OPTS overrides the run length (default: -f 1 -wi 3 -i 3 -w 1s -r 1s).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
name=${1:-$(date +%F)-cpu-kernels}
out=bench/results/$name
tmp=$(mktemp -d)
mkdir -p bench/results
opts=${JMH_OPTS:--f 1 -wi 3 -i 3 -w 1s -r 1s}   # the first shape of a fork needs the Vector-API code compiled: >= 3 s warm-up
bench/jmh.sh -l >/dev/null   # build once
# One JMH call per class, since the parameter names (shape, size) differ in meaning between classes.
run() {
  local cls=$1; shift
  SKIP_BUILD=1 bench/jmh.sh "ddpm.bench.$cls\." -p backend=cpu "$@" $opts -rf json -rff "$tmp/$cls.json" 2>&1 \
    | grep -E '^(Benchmark|[A-Z][A-Za-z0-9]+Bench\.|skipped)' | tee -a "$log"
}
log=bench/target/$name.log
: > "$log"
run PeakBench
run DiffusionBench -p size=train,large
run GroupNormBench -p shape=128x32,256x8,512x16
run AttentionBench -p shape=64x256,256x256 -p precision=fp32
run SoftmaxBench -p rows=256
run UpsampleBench -p shape=256x8,256x16
run ElementwiseBench -p shape=128x32,256x8
run LayoutBench -p shape=128x32,256x8
run Conv1x1Bench -p shape=512x8x256,256x16x768 -p precision=fp32 -p algo=auto
run ConvBench -p shape=256x8x256x3x1,128x32x128x3x2 -p precision=fp32 -p algo=auto
run OptimBench
run RngBench -p size=noise,large
run StepBench -p config=tiny
# merge the per-class JSON arrays into one
python3 - "$out.json" "$tmp"/*.json <<'PY'
import json, sys
out, parts = sys.argv[1], sys.argv[2:]
res = []
for p in parts:
    with open(p) as f: res += json.load(f)
with open(out, "w") as f: json.dump(res, f, indent=1)
PY
rm -rf "$tmp"
load=$(cut -d' ' -f1-3 /proc/loadavg)
java -cp "bench/target/classes:$(cat bench/target/cp.txt)" ddpm.bench.Report --jmh "$out.json" --out "$out" \
  --title "jddpm on the CPU ($(nproc) cores): kernels, fusions, end to end" \
  --note "Machine: $(nproc) cores, load average at the end of the run $load; JMH $opts. On a shared machine expect ±30% noise: compare ratios within one run, not absolute figures across runs." \
  --note "F32 kernels: one file per op family under engine/.../cpu (Elementwise, Reduce, Layout, Gemm, Conv, GroupNorm, Softmax, Attention, Resample, Gather, RandomOps, DiffusionOps, Optim), GEMM and convolution on the packed Vector-API SGEMM (Sgemm/ConvPack). The GEMM limit is the same backend's matmul at the size PeakBench runs." \
  --note "The copy limit is Backend.copy of 256 MiB (DRAM-bound); kernels whose two input sets stay in the last-level cache (EMA, Adam over 2.2M floats) can exceed it." \
  --note "Shapes: 1/16 of the GPU batch (8 instead of 128 for the U-Net's activations, 64 instead of 1024 for the large diffusion batch, 2,234,144 instead of 35,746,307 Adam/EMA parameters). Attention runs at L=64 and L=256, conv1x1 at the skip (512->256 at 8x8) and qkv (256->768 at 16x16) shapes; end to end uses UNetConfig.tiny()."
