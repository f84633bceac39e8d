#!/usr/bin/env bash
# register.sh FILE.cu FAMILY: the translation unit that compiles FILE.cu for the host driver and
# registers each of its `extern "C" __global__` entry points (the name must stand on the line of
# `extern "C" __global__`, after an optional __launch_bounds__(N)).
set -euo pipefail
cu=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
family=$2
echo "#include \"$cu\""
echo '#include "host_abi.h"'
sed -nE 's/^[[:space:]]*extern "C" __global__ void[[:space:]]+(__launch_bounds__\(([^)]*)\)[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*/\3 \2/p' "$cu" |
while read -r name bound; do
  echo "JDDPM_KERNEL($family, $name, ${bound:-0})"
done
