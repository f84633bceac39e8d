#!/usr/bin/env bash
# Fashion-MNIST on the CPU, end to end: the numbers of bench/results/2026-12-02-fashion-mnist.md.
# Trains the 'fashion' preset, draws the sample grid, trains the two classifiers, and measures
# FD-fashion, bits/dim, classifier guidance (s = 0, 1, 3, 10) and an interpolation strip.
# Needs Debian's dataset-fashion-mnist. Each step prints its wall and CPU time.
#
# usage: bench/fashion-mnist.sh [step...]   steps: train grid classifier noisy fd nll guidance interpolate
#        (default: all, in that order). JDDPM_CP=<class path> runs the mains with java instead of mvn;
#        CKPT=<file> measures that checkpoint instead of the run directory's latest.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results/2026-12-02-fashion-mnist
run=runs/fashion-mnist-fashion
ckpt=${CKPT:-$run}   # the run directory's latest checkpoint, or the one given
clean=runs/fashion-mnist-classifier.safetensors
noisy=runs/fashion-mnist-classifier-noised.safetensors
mkdir -p bench/results runs

main() {
  local cls=$1; shift
  echo "== $cls $*"
  if [ -n "${JDDPM_CP:-}" ]; then
    /usr/bin/time -f "== %e s wall, %U s user + %S s sys CPU, load before: $(cut -d' ' -f1-3 /proc/loadavg)" \
      java --add-modules jdk.incubator.vector -Xmx6g -cp "$JDDPM_CP" "ddpm.diffusion.cli.$cls" "$@"
  else
    /usr/bin/time -f "== %e s wall, %U s user + %S s sys CPU, load before: $(cut -d' ' -f1-3 /proc/loadavg)" \
      mvn -q exec:java -Dmain="$cls" -Dexec.args="$*"
  fi
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(train grid classifier noisy fd nll guidance interpolate)
for s in "${steps[@]}"; do
  case $s in
    train)       main TrainCifar --dataset fashion-mnist --device cpu ;;
    grid)        main Sample --ckpt $ckpt --steps 250 --n 100 --cols 10 --seed 0 --device cpu --out $out-samples.png ;;
    classifier)  main TrainClassifier --device cpu --out $clean ;;
    noisy)       main TrainClassifier --noised --steps 2000 --dropout 0.1 --device cpu --out $noisy ;;
    fd)          main Sample --ckpt $ckpt --steps 100 --n 500 --batch 100 --seed 1 --device cpu --out none --eval $clean ;;
    nll)         main EvalNll --ckpt $ckpt --dataset fashion-mnist --n 50 --batch 50 --device cpu ;;
    guidance)    for scale in 0 1 3 10; do
                   main Sample --ckpt $ckpt --steps 50 --n 100 --cols 10 --seed 2 --device cpu --classifier $noisy \
                     --classifier-scale $scale --eval $clean --out $out-guidance-s$scale.png
                 done ;;
    interpolate) main Sample --ckpt $ckpt --interpolate 0,1 --encode --frames 8 --steps 100 --device cpu --out $out-interpolation.png ;;
    *) echo "unknown step $s"; exit 2 ;;
  esac
done
