#!/usr/bin/env bash
# The GPU report, as ONE device command (the device tool's `run`, with carry [".device"]):
#
#     bash bench/gpu-report.sh [NAME]
#
# on the GPU machine, from the project root, inside the bundle made here by
# /work/shared/device/bundle.sh. It writes into $OUT (what comes back):
#   torch-*/torch_reference.json   PyTorch reference timings (torch_ddpm.py: train and sample at bf16 autocast
#                                  and TF32 eager, bf16 with torch.compile, and the ops), as its users run it
#   jmh-<Class>.json               the CUDA JMH results, one file per benchmark class
#   NAME.md                        the report (Report; no PNG there: the bundle's runtime has no java.desktop)
#   <date>-<gpu>-summary.json      train/sample img/s of both sides at each precision, the ratios, every kernel
#   doctor.txt, run.log            the machine and the whole log
# Then, here:  bench/results/ <- $OUT files, and `bench/report-from.sh DIR NAME` adds the PNG.
#
# A device command may run 600 s at most. The script keeps to DEADLINE seconds (default 540), in
# order of importance, each step given the time left (a step out of time is skipped, saying so):
# the bf16 training and sampling steps of both sides (fused and not), the halo-tile convolutions
# against the gathering ones, the replayed steps, torch.compile, the TF32 steps, then the kernel
# benchmarks, and Report over whatever finished.
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
jmh_files=()
jb() {  # jb NAME SECONDS jmh-args...: one JMH run into jmh-NAME.json, within the time left
  local n=$1 s=$2; shift 2
  local l=$(left)
  if [ "$l" -lt 45 ]; then echo "jmh $n: skipped, out of time"; return; fi
  [ "$s" -gt $((l - 25)) ] && s=$((l - 25))
  timeout "$s" bash .device/run.sh jmh "$@" -rf json -rff "$OUT/jmh-$n.json" \
    && jmh_files+=(--jmh "$OUT/jmh-$n.json") || echo "jmh $n: failed or timed out"
}
steps="-p backend=cuda -p config=cifar10 -f 1 -wi 2 -i 3 -w 1s -r 1s"
tq train-bf16 75 train --batch 128 --precision bf16
tq sample-bf16 45 sample --batch 256 --precision bf16
jb StepBench-bf16 150 'ddpm\.bench\.StepBench\.' $steps -p precision=bf16 -p fusion=on,off
# bf16 activation storage (the default at bf16) against float32 activations, same math
jb StepBench-bf16-f32act 75 'ddpm\.bench\.StepBench\.' $steps -p precision=bf16 -p activations=f32
# the halo-tile convolutions against the gathering kernel, and the norm applied on load, at the
# two U-Net shapes they take (3×3 128→128 at 32², 256→256 at 16²)
jb ConvBench-halo 150 'ddpm\.bench\.ConvBench\.(forward|backwardInput|backwardWeight|normFused|normUnfused)$' -p backend=cuda \
   -p precision=bf16 -p algo=igemm,gather -p shape=128x32x128x3x1,256x16x256x3x1 $opts
jb StepBench-graph 90 'ddpm\.bench\.StepBench\.' $steps -p precision=bf16 -p graph=on
tq train-bf16-compile 150 train --batch 128 --precision bf16 --compile
tq train-tf32 60 train --batch 128 --precision tf32
tq sample-tf32 45 sample --batch 256 --precision tf32
jb StepBench-tf32 120 'ddpm\.bench\.StepBench\.' $steps -p precision=tf32
tq sample-bf16-compile 120 sample --batch 256 --precision bf16 --compile
tq ops 120 ops

# ---- the CUDA kernel benchmarks, one JMH call per class (the limits first: the report's percentages)
# (the conv classes run at bf16; ConvBench, last, times both algorithms: 50 forks, about 3 min)
for cls in PeakBench GroupNormBench AttentionBench DiffusionBench OptimBench SoftmaxBench \
           Conv1x1Bench UpsampleBench RngBench ElementwiseBench LayoutBench ConvBench; do
  case $cls in
    AttentionBench) math="-p precision=bf16,tf32,fp32 -p shape=256x256,64x256" ;;
    Conv1x1Bench) math="-p precision=bf16 -p algo=auto" ;;
    ConvBench) math="-p precision=bf16 -p algo=igemm,gemm" ;;   # without normFused/normUnfused (ConvBench-halo has them)
    ElementwiseBench) math="-p activations=f32,bf16" ;;
    *) math="" ;;
  esac
  pattern="ddpm\.bench\.$cls\."
  [ "$cls" = ConvBench ] && pattern='ddpm\.bench\.ConvBench\.(forward|backwardInput|backwardWeight|addFused|addUnfused)$'
  jb "$cls" 9999 "$pattern" -p backend=cuda -p config=cifar10 $math $opts
done

# ---- the report (Markdown; the PNG is made afterwards on a machine with java.desktop)
if [ ${#jmh_files[@]} -gt 0 ]; then
  gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
  bash .device/run.sh java ddpm.bench.Report "${jmh_files[@]}" "${torch_files[@]}" --out "$OUT/$name" \
       --title "jddpm on ${gpu_name:-the GPU}: kernels, fusions, end to end" \
       --summary "$OUT/$(date +%F)-${gpu:-gpu}-summary.json" --gpu "${gpu_name:-unknown}" --driver "${driver:-unknown}"
else
  echo "no JMH results: no report"
fi
echo "done in $(( $(date +%s) - start )) s"
