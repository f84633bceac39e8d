#!/usr/bin/env bash
# The GPU check, as ONE device command (see ../shared/device/README.md), at most 8 minutes on an
# H200 from a cold start:
#   here:    ../shared/device/bundle.sh
#   device:  run command="bash kernels/gpu-verify.sh" carry=[".device"] timeout_s=540
# Stages, each time-boxed, all output in one raw log $OUT/<date>-<gpu>-verify.log (copy it to
# bench/results/ afterwards):
#   1. doctor: GPU, driver, CUDA libraries found, which JCuda natives apply (run.sh doctor), and
#      the backend's own line: device, CUDA driver API and cuBLAS versions, JCuda/JCublas versions;
#   2. every test tagged gpu (kernel parity, the tiny U-Net's train step and sampling, the paper
#      U-Net's train step at batch 2 against the CPU and its memory at batch 128, the coverage
#      tally) with -Dddpm.cuda.required=true, so a test that cannot open CUDA fails instead of
#      skipping, and syncCheck, so an asynchronous fault names its kernel;
#   3. the kernel timings at the U-Net's shapes (KernelTimings);
#   4. compute-sanitizer --tool memcheck and --tool racecheck over the small parity tests, where
#      the machine has compute-sanitizer (else one line saying so).
# Exits non-zero when any stage fails; the log ends with one line per stage. DEADLINE (default
# 470 s) bounds the whole: a stage gets at most the time left, and is skipped (saying so) below 20 s.
# Expected on an H200: doctor ~10 s, gpu tests ~2-3 min, timings ~40 s, each sanitizer ~1 min.
set -uo pipefail
start=$(date +%s)
DEADLINE=${DEADLINE:-470}
out=${OUT:-bench/results}
mkdir -p "$out"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9-')
gpu=${gpu#nvidia-}
log="$out/$(date +%F)-${gpu:-gpu}-verify.log"
: > "$log"
summary=()
status=0

stage() {  # stage NAME SECONDS command...: runs it time-boxed, logged, and records its exit
  local name=$1 limit=$2; shift 2
  local left=$(( DEADLINE - ($(date +%s) - start) - 5 ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 20 ]; then
    echo "=== $name: skipped, out of time" | tee -a "$log"
    summary+=("$name: skipped, out of time"); status=1; return
  fi
  echo "=== $name (limit ${limit} s): $*" | tee -a "$log"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  local line="$name: exit $rc after $(( $(date +%s) - t0 )) s"
  [ "$rc" = 124 ] && line="$line (timed out)"
  echo "=== $line" | tee -a "$log"
  summary+=("$line")
  [ "$rc" = 0 ] || status=1
}

echo "gpu-verify: $(date -u +%FT%TZ) on $(hostname)" | tee -a "$log"
stage "nvidia-smi" 20 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
stage "bundle doctor" 30 bash .device/run.sh doctor
stage "backend doctor" 45 bash .device/run.sh java ddpm.kernels.cuda.Doctor

JAVA_OPTS="-Dddpm.cuda.driver=jcuda -Dddpm.cuda.required=true -Dddpm.cuda.syncCheck=true ${JAVA_OPTS:-}" \
  stage "gpu tests" 240 bash .device/run.sh test --include-tag gpu
stage "kernel timings" 60 bash .device/run.sh java ddpm.kernels.cuda.KernelTimings 10

# compute-sanitizer over the parity tests at their small sizes (ddpm.cuda.small: the U-Net-sized
# ones would take minutes under it)
cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
small=(--include-tag gpu --include-classname '.*CudaParityTest')
if [ -n "$cs" ]; then
  for tool in memcheck racecheck; do
    JAVA_OPTS="-Dddpm.cuda.driver=jcuda -Dddpm.cuda.required=true -Dddpm.cuda.small=true ${JAVA_OPTS:-}" \
      stage "compute-sanitizer $tool" 60 "$cs" --tool "$tool" --target-processes all --error-exitcode 9 \
        --print-limit 20 bash .device/run.sh test "${small[@]}"
  done
else
  echo "compute-sanitizer: not on this machine (looked on PATH and under /usr/local/cuda*); memcheck and racecheck skipped" \
    | tee -a "$log"
  summary+=("compute-sanitizer: not on this machine, skipped")
fi

echo "=== summary ($(( $(date +%s) - start )) s in all)" | tee -a "$log"
printf '%s\n' "${summary[@]}" | tee -a "$log"
exit $status
