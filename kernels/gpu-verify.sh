#!/usr/bin/env bash
# The GPU verification run, as ONE device command (see ../shared/device/README.md):
#   here:   ../shared/device/bundle.sh
#   device: run  command="bash kernels/gpu-verify.sh"  carry=[".device"]  timeout_s=600
# It writes doctor.log, gpu-tests.log (JUnit tree of every test tagged gpu: the kernel parity
# suite, the U-Net CPU/GPU step, the paper-size U-Net smoke test) and timings.log into $OUT.
# Copy them into bench/results/<date>-<gpu>-verify.md afterwards with the command and the driver.
set -uo pipefail
out=${OUT:-/tmp/gpu-verify}
mkdir -p "$out"
bash .device/run.sh doctor 2>&1 | tee "$out/doctor.log"
# syncCheck: synchronise after every kernel so an asynchronous fault names its kernel and shapes
JAVA_OPTS="-Dddpm.cuda.syncCheck=${SYNC_CHECK:-true}" timeout "${TEST_TIMEOUT:-420}" \
  bash .device/run.sh test --include-tag gpu 2>&1 | tee "$out/gpu-tests.log"
echo "tests exit: ${PIPESTATUS[0]}" | tee -a "$out/gpu-tests.log"
timeout 120 bash .device/run.sh java ddpm.kernels.cuda.KernelTimings 20 2>&1 | tee "$out/timings.log"
