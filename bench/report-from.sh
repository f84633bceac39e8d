#!/usr/bin/env bash
# Re-makes a report (Markdown + PNG) from result files fetched from the GPU machine:
#   bench/report-from.sh DIR NAME     DIR holds jmh-*.json and torch-*/torch_reference.json
# Writes bench/results/NAME.{json,md,png} (the JMH files merged into NAME.json; PyTorch's into
# NAME-torch.json).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "$1" && pwd); name=$2
cd "$root"
python3 - "bench/results/$name.json" "$dir"/jmh-*.json <<'PY'
import json, sys
res = []
for p in sys.argv[2:]:
    with open(p) as f: res += json.load(f)
with open(sys.argv[1], "w") as f: json.dump(res, f, indent=1)
PY
python3 - "bench/results/$name-torch.json" "$dir"/torch-*/torch_reference.json <<'PY'
import json, sys
out = {"results": []}
for p in sys.argv[2:]:
    with open(p) as f: d = json.load(f)
    out["torch"], out["device"] = d.get("torch"), d.get("device")
    out["results"] += d["results"]
with open(sys.argv[1], "w") as f: json.dump(out, f, indent=1)
PY
[ -f bench/target/cp.txt ] || bench/jmh.sh -l >/dev/null
java -cp "bench/target/classes:$(cat bench/target/cp.txt)" ddpm.bench.Report --jmh "bench/results/$name.json" \
  --torch "bench/results/$name-torch.json" --out "bench/results/$name" \
  --title "jddpm on $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["device"])' "bench/results/$name-torch.json"): kernels, fusions, end to end"
