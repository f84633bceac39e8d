#!/usr/bin/env bash
# Builds the host driver's native libraries into OUTDIR (see kernels/README.md, "The host driver"):
# the runtime with its JNI entry points (libjddpm_host.so) and the .cu kernels compiled by g++
# (libjddpm_kernels.so). Incremental (make). The Maven build runs it for the checked variant.
#
# usage: kernels/build-host.sh OUTDIR [checked|asan] [JAVA_HOME] [CUDA_SOURCES] [OBJDIR]
# TARGET=kernels builds the kernel library only (tests build extra ones from other sources).
# Without g++ or make it says so in one line, writes the reason to OUTDIR/UNAVAILABLE and exits 0:
# the host-driver tests then skip with that reason.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
variant=${2:-checked}
jhome=${3:-${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac || command -v java)")")")}}
cuda=${4:-$here/src/main/cuda}
obj=${5:-$here/target/host-obj/$variant}
mkdir -p "$out"
rm -f "$out/UNAVAILABLE"
why=""
command -v "${CXX:-g++}" >/dev/null 2>&1 || why="no C++ compiler (${CXX:-g++}) on PATH"
[ -z "$why" ] && { command -v make >/dev/null 2>&1 || why="no make on PATH"; }
[ -z "$why" ] && { [ -f "$jhome/include/jni.h" ] || why="no jni.h under $jhome/include (set JAVA_HOME to a JDK)"; }
if [ -n "$why" ]; then
  echo "host driver not built: $why; the CUDA kernels' host tests will skip" | tee "$out/UNAVAILABLE"
  exit 0
fi
mkdir -p "$obj"
make -s -j"$(nproc 2>/dev/null || echo 2)" -C "$here/src/main/host" OUT="$(cd "$out" && pwd)" OBJ="$(cd "$obj" && pwd)" VARIANT="$variant" \
     JAVA_HOME="$jhome" CUDA="$(cd "$cuda" && pwd)" ${TARGET:+"$(cd "$out" && pwd)/libjddpm_$TARGET.so"}
