#!/usr/bin/env bash
# jddpm's CPU train and sample steps (JMH StepBench) against the same steps in PyTorch on the same
# CPU (bench/torch_cpu_steps.py: the same U-Net, batch and optimiser), both on the same number of
# threads, interleaved round by round; writes bench/results/<date>-cpu-vs-torch.md with the ratios.
#   usage: bench/cpu-vs-torch.sh [ROUNDS (default 3)] [CONFIGS (default "tiny small cifar10")]
#   env:   THREADS (default "2 1": one table per thread count), SKIP_BUILD=1 (reuse target/classes),
#          PYTHON (default /usr/bin/python3, Debian's python3-torch), DATE (default today), JAVA,
#          OMP_WAIT_POLICY (default PASSIVE: on a machine shared with other work, PyTorch's spinning
#          OpenMP threads wait for descheduled peers at every parallel region, 10-100x slower; on a
#          quiet machine rerun with OMP_WAIT_POLICY=ACTIVE to give it its best case there)
# Needs python3-torch (apt-get install python3-torch) and, for a fair PyTorch, an optimised BLAS
# (libopenblas0; the script installs libopenblas-dev when it can, as cpu-vs-openblas.sh does).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
configs="${2:-tiny small cifar10}"
threads="${THREADS:-2 1}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
py="${PYTHON:-/usr/bin/python3}"
java="${JAVA:-java}"
date="${DATE:-$(date +%F)}"
out="bench/results/${date}-cpu-vs-torch.md"
raw="$(mktemp -d)"

if ! "$py" -c 'import torch' 2>/dev/null; then
    echo "cpu-vs-torch: $py cannot import torch; install Debian's python3-torch (apt-get install python3-torch)" >&2
    exit 2
fi
if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
    echo "installing libopenblas-dev (PyTorch's BLAS; the reference BLAS would make it ~20x slower on matmuls) ..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev) >&2 \
        || echo "cpu-vs-torch: could not install libopenblas-dev; PyTorch runs on the BLAS it finds" >&2
fi
if [ -z "${SKIP_BUILD:-}" ]; then mvn -q -o -pl engine,kernels,nn,diffusion,bench -am package -DskipTests >&2; fi

m2="${M2_REPO:-$HOME/.m2/repository}"
cp="bench/target/classes:engine/target/classes:nn/target/classes:diffusion/target/classes:kernels/target/classes"
for j in org/openjdk/jmh/jmh-core/1.37/jmh-core-1.37.jar net/sf/jopt-simple/jopt-simple/5.0.4/jopt-simple-5.0.4.jar \
         org/apache/commons/commons-math3/3.6.1/commons-math3-3.6.1.jar \
         org/jcuda/jcuda/12.6.0/jcuda-12.6.0.jar org/jcuda/jcublas/12.6.0/jcublas-12.6.0.jar; do cp="$cp:$m2/$j"; done

# JMH: one fork per config, both steps; times per iteration long enough for a few cifar10 steps
jmh_opts() {
    case "$1" in
        cifar10) echo "-f 1 -wi 2 -i 3 -w 6s -r 8s" ;;
        small) echo "-f 1 -wi 3 -i 4 -w 3s -r 4s" ;;
        *) echo "-f 1 -wi 3 -i 5 -w 2s -r 2s" ;;
    esac
}
torch_opts() {
    case "$1" in
        cifar10) echo "--warmup 10 --seconds 24" ;;
        small) echo "--warmup 8 --seconds 16" ;;
        *) echo "--warmup 5 --seconds 10" ;;
    esac
}
run_jddpm() {   # config round threads
    # shellcheck disable=SC2046
    "$java" --add-modules jdk.incubator.vector -cp "$cp" ddpm.bench.Bench 'StepBench' -p backend=cpu -p "config=$1" \
        $(jmh_opts "$1") -jvmArgsAppend "-Dddpm.threads=$3" -rf json -rff "$raw/jddpm-$1-$2-$3.json" \
        >"$raw/jddpm-$1-$2-$3.log" 2>&1
    grep -E '^StepBench\.' "$raw/jddpm-$1-$2-$3.log" >&2 || { tail -20 "$raw/jddpm-$1-$2-$3.log" >&2; exit 1; }
}
run_torch() {   # config round threads
    # shellcheck disable=SC2046
    OMP_NUM_THREADS="$3" OPENBLAS_NUM_THREADS="$3" "$py" bench/torch_cpu_steps.py --config "$1" \
        --threads "$3" $(torch_opts "$1") --json "$raw/torch-$1-$2-$3.json" >&2
}

start_load="$(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
    for t in $threads; do
        for c in $configs; do
            echo "round $r/$rounds, $c, $t threads (load $(cut -d' ' -f1 /proc/loadavg))" >&2
            if [ $((r % 2)) = 1 ]; then run_jddpm "$c" "$r" "$t"; run_torch "$c" "$r" "$t"
            else run_torch "$c" "$r" "$t"; run_jddpm "$c" "$r" "$t"; fi
            echo "$r $c $t: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw/load.txt"
        done
    done
done

"$py" - "$raw" "$rounds" "$configs" "$threads" "$start_load" >"$out" <<'EOF'
import json, os, platform, statistics, subprocess, sys
raw, rounds, configs, threads, start_load = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4], sys.argv[5]
import torch
def jddpm(c, r, t):
    res = {}
    for b in json.load(open(f"{raw}/jddpm-{c}-{r}-{t}.json")):
        res[b["benchmark"].rsplit(".", 1)[1]] = b["primaryMetric"]["score"]
    return res
def pt(c, r, t):
    d = json.load(open(f"{raw}/torch-{c}-{r}-{t}.json"))
    return {k: d[k]["ms"] for k in ("train", "sample")}
batch = {"tiny": (4, 8), "small": (16, 32), "cifar10": (8, 16)}
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p' | head -1"], capture_output=True, text=True).stdout.strip()
jv = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
blas = subprocess.run(["sh", "-c", "readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3"], capture_output=True, text=True).stdout.strip()
print("# jddpm vs PyTorch on the same CPU: train and sample steps\n")
print(f"Generated by `bench/cpu-vs-torch.sh` ({rounds} rounds, interleaved: jddpm first in odd rounds, PyTorch first in even ones).")
print(f"CPU: {cpu}, {os.cpu_count()} cores; the same thread count on both sides (one table each). JDK: {jv}. "
      f"PyTorch {torch.__version__} (Debian python3-torch) with BLAS {blas}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}. "
      f"Load average at the start: {start_load}; after each pair (round, config, threads):")
print("`" + " | ".join(l.strip() for l in open(f'{raw}/load.txt')) + "`.\n")
print("Both sides run the DDPM U-Net built from the same description (nn/.../UNet.java; PyTorch's in "
      "bench/torch_cpu_steps.py), at the same batch, in float32: the training step is q_sample, U-Net forward, "
      "L_simple, backward, gradient clipping at 1, Adam (lr 2e-4) and EMA 0.9999; the sampling step is the U-Net "
      "forward without autograd and the DDPM posterior step with fresh noise. jddpm: JMH StepBench (average time "
      "per step); PyTorch: mean time per step after a warm-up. **Ratio = PyTorch time / jddpm time** (above 1: jddpm is faster).\n")
for th in threads.split():
    print(f"\n## {th} thread{'s' if th != '1' else ''} each\n")
    print("| config | step | batch | jddpm (median) | PyTorch (median) | ratio | per round (PyTorch/jddpm) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for c in configs:
        for step, bi in (("train", 0), ("sample", 1)):
            j = [jddpm(c, r, th)[step] for r in range(1, rounds + 1)]
            t = [pt(c, r, th)[step] for r in range(1, rounds + 1)]
            per = " ".join(f"{b / a:.2f}" for a, b in zip(j, t))
            jm, tm = statistics.median(j), statistics.median(t)
            print(f"| {c} | {step} | {batch[c][bi]} | {jm:.1f} ms | {tm:.1f} ms | **{tm / jm:.2f}×** | {per} |")
print("\n## Raw per-round times (ms/step)\n")
print("| threads | config | step | jddpm | PyTorch |")
print("|---|---|---|---|---|")
for th in threads.split():
    for c in configs:
        for step in ("train", "sample"):
            print(f"| {th} | {c} | {step} | " + ", ".join(f"{jddpm(c, r, th)[step]:.1f}" for r in range(1, rounds + 1)) + " | "
                  + ", ".join(f"{pt(c, r, th)[step]:.1f}" for r in range(1, rounds + 1)) + " |")
EOF
rm -rf "$raw"
echo "$out"
