#!/usr/bin/env bash
# Decode and prefill speed of gemma-serve beside its same-run baselines: this machine's read
# bandwidth (tests/bench/membw) and, when LLAMA_BENCH names a llama-bench binary built outside
# this repository (BENCHMARKS.md says how), llama.cpp on the same file with the same settings.
#   tests/bench/bench.sh [threads] [repetitions]
# GS_MODEL picks the file (default: the installed default model); N_PROMPT and N_GEN the test
# sizes (default 512 and 128, llama-bench's; 0 skips a test).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
reps=${2:-5}
n_prompt=${N_PROMPT:-512}
n_gen=${N_GEN:-128}
model=${GS_MODEL:-$(cat .model-path)}
gs=./build/server/gemma-serve
[ -x "$gs" ] || ./scripts/build.sh

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F)"
bw=$(./build/tests/bench/membw "$threads")
echo "read bandwidth, $threads threads: $bw GB/s"
model_bytes=$(stat -L -c %s "$model")
echo "model: $model ($model_bytes bytes); decode floor = $(python3 -c "print(f'{$bw*1e9/$model_bytes:.1f}')") tokens/s"
echo
echo "gemma-serve:"
ours=$($gs bench --model "$model" --threads "$threads" --repetitions "$reps" \
  --n-prompt "$n_prompt" --n-gen "$n_gen" --json)
echo "$ours"
if [ -n "${LLAMA_BENCH:-}" ]; then
  echo
  echo "llama.cpp:"
  theirs=$("$LLAMA_BENCH" -m "$model" -t "$threads" -p "$n_prompt" -n "$n_gen" -r "$reps" \
    -o jsonl 2>/dev/null)
  echo "$theirs"
  python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours = {json.loads(l)["test"]: json.loads(l)["avg_ts"] for l in sys.argv[1].splitlines() if l.strip()}
theirs = {}
for l in sys.argv[2].splitlines():
    if not l.strip(): continue
    r = json.loads(l)
    name = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
    theirs[name] = r["avg_ts"]
print()
print("| test | gemma-serve t/s | llama.cpp t/s | ratio |")
print("| --- | ---: | ---: | ---: |")
for k in ours:
    if k in theirs:
        print(f"| {k} | {ours[k]:.1f} | {theirs[k]:.1f} | {ours[k]/theirs[k]:.2f}x |")
PY
fi
