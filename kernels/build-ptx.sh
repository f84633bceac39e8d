#!/usr/bin/env bash
# Regenerates src/main/resources/ddpm/kernels/ptx/<family>.ptx from src/main/cuda/<family>.cu.
# The PTX is committed, so machines without nvcc build the project unchanged.
#
# Target: -arch=compute_90 (PTX for sm_90: H100/H200). The driver JIT-compiles it on first load
# (and caches the result under ~/.nv/ComputeCache). PTX ISA 9.0 from nvcc 13 needs a driver
# >= 580, which the GPU machine has. compute_90 PTX does not load on older GPUs (A100 = sm_80);
# change ARCH to compute_80 for those (no sm_90-only features are used).
# No -use_fast_math: the parity tests compare against the CPU at float32 accuracy.
#
# usage: kernels/build-ptx.sh [outdir]     (default: the resources folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/src/main/cuda"
out="${1:-$here/src/main/resources/ddpm/kernels/ptx}"
ARCH="${ARCH:-compute_90}"
NVCC="${NVCC:-nvcc}"
mkdir -p "$out"
# one nvcc per family, JOBS (default 2) at a time (nvcc -ptx of one file takes ~1 s); the build is
# deterministic, so PtxInSyncTest can compare the committed PTX byte for byte
pids=()
for f in "$src"/*.cu; do
  b=$(basename "$f" .cu)
  "$NVCC" -arch="$ARCH" -ptx -std=c++17 -I"$src" "$f" -o "$out/$b.ptx" &
  pids+=($!)
  if [ ${#pids[@]} -ge "${JOBS:-2}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
echo "PTX files: $(ls "$out"/*.ptx | wc -l) in $out"
