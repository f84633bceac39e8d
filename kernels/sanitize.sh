#!/usr/bin/env bash
# The CUDA kernels on the host driver once more, with the runtime and the kernels built under
# AddressSanitizer and UndefinedBehaviorSanitizer (build-host.sh asan): every parity test of the
# kernels module, in a JVM with libasan preloaded. Any report fails the run and is printed.
# .ci/run runs it after `mvn verify` (which has built and tested everything else).
#
# usage: bash kernels/sanitize.sh          (from the project root, after a build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=kernels/target/host-asan
bash kernels/build-host.sh "$out" asan
if [ -f "$out/UNAVAILABLE" ]; then echo "sanitizer run skipped: $(cat "$out/UNAVAILABLE")"; exit 0; fi
asan=$("${CXX:-g++}" -print-file-name=libasan.so)
logs=$PWD/$out/logs
rm -rf "$logs" && mkdir -p "$logs"
# the JVM uses SIGSEGV itself and its heap is not ASan's business: leave both alone
export ASAN_OPTIONS="detect_leaks=0:handle_segv=0:allow_user_segv_handler=1:detect_odr_violation=0:halt_on_error=1:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
status=0
mvn -B -ntp -q -pl engine,kernels test \
    -Dddpm.cuda.host.lib="$PWD/$out/libjddpm_host.so" -Dddpm.cuda.host.kernels="$PWD/$out/libjddpm_kernels.so" \
    -Dddpm.cuda.host.preload="$asan" -Dddpm.cuda.host.required=true \
    -Dtest='*CudaParityTest,CudaAllocatorTest,HostKernelCoverageTest' -Dsurefire.failIfNoSpecifiedTests=false || status=$?
if ls "$logs"/* >/dev/null 2>&1; then
  cat "$logs"/*
  echo "sanitize.sh: AddressSanitizer / UndefinedBehaviorSanitizer reported the errors above"
  exit 1
fi
[ "$status" = 0 ] && echo "sanitize.sh: the CUDA kernels ran clean under AddressSanitizer and UndefinedBehaviorSanitizer"
exit "$status"
