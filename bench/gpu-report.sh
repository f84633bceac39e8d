#!/usr/bin/env bash
# The GPU report, as ONE device command (the device tool's `run`, with carry [".device"]):
#
#     bash bench/gpu-report.sh [NAME]
#
# on the GPU machine, from the project root, inside the bundle made here by
# /work/shared/device/bundle.sh. It writes into $OUT (what comes back):
#   torch-*/torch_reference.json   PyTorch reference timings (torch_ddpm.py ops, train fp32/tf32, sample)
#   jmh-<Class>.json               the CUDA JMH results, one file per benchmark class
#   NAME.md                        the report (Report; no PNG there: the bundle's runtime has no java.desktop)
#   doctor.txt, run.log            the machine and the whole log
# Then, here:  bench/results/ <- $OUT files, and `bench/report-from.sh DIR NAME` adds the PNG.
#
# A device command may run 600 s at most. The script keeps to DEADLINE seconds (default 540):
# PyTorch first (about 1-2 min), then the JMH classes in order of importance, each given the
# time left, so that a slow class costs only itself, and Report over whatever finished.
# JMH_OPTS sets the run length (default -f 1 -wi 2 -i 3 -w 300ms -r 500ms).
set -uo pipefail
start=$(date +%s)
: "${OUT:?run this through the device tool: it sets OUT}"
DEADLINE=${DEADLINE:-540}
opts=${JMH_OPTS:--f 1 -wi 2 -i 3 -w 300ms -r 500ms}
left() { echo $(( DEADLINE - ($(date +%s) - start) )); }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9-')
name=${1:-$(date +%F)-${gpu:-gpu}-kernels}
exec > >(tee -a "$OUT/run.log") 2>&1
bash .device/run.sh doctor | tee "$OUT/doctor.txt"

# ---- PyTorch reference (separate calls, each with its own JSON, so one failure loses one figure)
torch_files=()
tq() {  # tq NAME SECONDS args...
  local n=$1 s=$2; shift 2
  [ "$(left)" -gt $((s + 60)) ] || { echo "torch $n: skipped, out of time"; return; }
  timeout "$s" python3 .device/torch_ddpm.py "$@" --out "$OUT/torch-$n" && torch_files+=(--torch "$OUT/torch-$n/torch_reference.json")
}
tq ops 150 ops
tq train-fp32 60 train --batch 128 --precision fp32
tq train-tf32 60 train --batch 128 --precision tf32
tq sample-tf32 60 sample --batch 256 --precision tf32

# ---- the CUDA benchmarks, one JMH call per class
jmh_files=()
# (the conv classes run at bf16; ConvBench, last, times both algorithms: 50 forks, about 3 min)
for cls in PeakBench GroupNormBench AttentionBench DiffusionBench OptimBench StepBench SoftmaxBench \
           Conv1x1Bench UpsampleBench RngBench ElementwiseBench LayoutBench ConvBench; do
  l=$(left)
  if [ "$l" -lt 45 ]; then echo "jmh $cls: skipped, out of time"; continue; fi
  case $cls in
    Conv1x1Bench) math="-p precision=bf16 -p algo=auto" ;;
    ConvBench) math="-p precision=bf16 -p algo=igemm,gemm" ;;
    *) math="" ;;
  esac
  timeout $((l - 25)) bash .device/run.sh jmh "ddpm\.bench\.$cls\." -p backend=cuda -p config=cifar10 $math $opts \
      -rf json -rff "$OUT/jmh-$cls.json" \
    && jmh_files+=(--jmh "$OUT/jmh-$cls.json") || echo "jmh $cls: failed or timed out"
done

# ---- the report (Markdown; the PNG is made afterwards on a machine with java.desktop)
if [ ${#jmh_files[@]} -gt 0 ]; then
  bash .device/run.sh java ddpm.bench.Report "${jmh_files[@]}" "${torch_files[@]}" --out "$OUT/$name" \
       --title "jddpm on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1): kernels, fusions, end to end"
else
  echo "no JMH results: no report"
fi
echo "done in $(( $(date +%s) - start )) s"
