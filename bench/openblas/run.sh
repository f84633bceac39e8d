#!/usr/bin/env bash
# Builds and runs the OpenBLAS SGEMM harness: run.sh THREADS ROUNDS [M N K TA TB]...
# Installs Debian's OpenBLAS first when it is missing (a fresh machine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
threads="${1:-1}"; shift || true
rounds="${1:-5}"; shift || true
if ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
    echo "installing libopenblas-dev ..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev) >&2
fi
out="${TMPDIR:-/tmp}/jddpm-sgemm-bench"
if [ ! -x "$out" ] || [ "$here/sgemm_bench.c" -nt "$out" ]; then
    gcc -O2 -o "$out" "$here/sgemm_bench.c" -lopenblas
fi
OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" "$out" "$rounds" "$@"
