#!/usr/bin/env bash
# Builds the reactor (no install) and runs the JMH benchmarks of this module through
# ddpm.bench.Bench (JMH's Main, with backend=cpu only when no CUDA device opens).
#   bench/jmh.sh [JMH args]        e.g. bench/jmh.sh 'GroupNormBench' -p shape=256x8 -f 1 -wi 1 -i 2
# Set SKIP_BUILD=1 to reuse the last build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "${SKIP_BUILD:-0}" != 1 ] || [ ! -f bench/target/cp.txt ]; then
  mvn -q -pl engine,nn,kernels,diffusion,bench -am package dependency:build-classpath -DskipTests \
      -Dmdep.outputFile=target/cp.txt -Dmdep.includeScope=runtime >&2
fi
exec java --add-modules jdk.incubator.vector ${JAVA_OPTS:-} \
     -cp "bench/target/classes:$(cat bench/target/cp.txt)" ddpm.bench.Bench "$@"
