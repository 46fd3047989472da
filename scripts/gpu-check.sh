#!/usr/bin/env bash
# The one script for a lent GPU machine (H200 here; any sm_80+ GPU works). Two halves:
#
#   scripts/gpu-check.sh --prepare   here, before the call: builds gemma-serve with CUDA and
#                                    gathers what the GPU machine lacks into .gpu-carry/ (the
#                                    binary and its non-system libraries, GoogleTest's sources)
#   scripts/gpu-check.sh             there, with .gpu-carry carried: builds kernels, engine and
#                                    their tests with nvcc (no server libraries needed), runs
#                                    every CUDA test (CPU-vs-CUDA full-forward parity and the
#                                    transformers oracle among them) and compute-sanitizer, the
#                                    benchmarks, the server end to end with --device cuda
#                                    (tests/gpu/serve_smoke.py), and prints a short table.
#
# Everything it measures goes to $OUT (results.jsonl, log.txt, table.txt); it aims to finish in
# under 8 minutes. Without a GPU the run half still builds and reports the CUDA tests skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu-carry

if [[ "${1:-}" == "--prepare" ]]; then
  set -e
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DGS_CUDA=ON > /dev/null
  cmake --build build-cuda -j "$(nproc)" --target gemma-serve
  rm -rf "$CARRY" && mkdir -p "$CARRY/lib"
  cp build-cuda/server/gemma-serve "$CARRY/"
  # Shared libraries a CUDA image is unlikely to have (the HTTP stack); CUDA's own stay behind.
  ldd build-cuda/server/gemma-serve | awk '/=> \//{print $3}' |
    grep -E 'httplib|spdlog|fmt|brotli' | xargs -r cp -t "$CARRY/lib/"
  cp -r /usr/src/googletest "$CARRY/googletest"
  grep -qx "/$CARRY/" .git/info/exclude 2>/dev/null || echo "/$CARRY/" >> .git/info/exclude
  du -sh "$CARRY"
  exit 0
fi

OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
log() { echo "== $*" | tee -a "$LOG"; }

log "device"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv \
  2>&1 | tee -a "$LOG"
nvcc --version | tail -1 | tee -a "$LOG"

log "build (kernels, engine, tests; nvcc)"
GTEST_ARGS=()
[[ -d "$CARRY/googletest" ]] && GTEST_ARGS=(-DGS_GTEST_SOURCE_DIR="$PWD/$CARRY/googletest")
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DGS_CUDA=ON -DGS_BUILD_SERVER=OFF \
  -DGS_CUDA_PTXAS_VERBOSE=ON "${GTEST_ARGS[@]}" >> "$LOG" 2>&1 &&
  cmake --build build-gpu -j "$(nproc)" > "$OUT/build.txt" 2>&1
build_rc=$?
echo "{\"name\": \"build_seconds\", \"value\": $(( $(date +%s) - start )), \"unit\": \"s\"}" >> "$RESULTS"
grep -E "spill (stores|loads)" "$OUT/build.txt" | grep -v " 0 bytes spill stores, 0 bytes spill loads" \
  | sort | uniq -c > "$OUT/spills.txt" || true
if [[ $build_rc -ne 0 ]]; then
  tail -40 "$OUT/build.txt"
  log "BUILD FAILED"
  exit 1
fi

log "CUDA tests"
ctest --test-dir build-gpu -L cuda -j 8 --output-on-failure --timeout 300 > "$OUT/ctest.txt" 2>&1
tests_rc=$?
tail -5 "$OUT/ctest.txt" | tee -a "$LOG"
grep -E '\*\*\*(Failed|Exception|Timeout)|Not Run' "$OUT/ctest.txt" | head -20 | tee -a "$LOG"
echo "{\"name\": \"cuda_tests_rc\", \"value\": $tests_rc, \"unit\": \"\"}" >> "$RESULTS"

log "compute-sanitizer (memcheck) on the kernel tests' smaller cases"
if command -v compute-sanitizer > /dev/null; then
  {
    timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 build-gpu/tests/ops_cuda_test
    echo "ops rc=$?"
    timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 \
      build-gpu/tests/attention_cuda_test --gtest_filter='*Gqa*:*FixedSplits*'
    echo "attention rc=$?"
    timeout 60 compute-sanitizer --tool racecheck --error-exitcode 9 \
      build-gpu/tests/attention_cuda_test --gtest_filter='*FixedSplits*'
    echo "attention racecheck rc=$?"
    timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 build-gpu/tests/moe_cuda_test \
      --gtest_filter='*Routing*:*Grouping*'
    echo "moe rc=$?"
  } > "$OUT/sanitizer.txt" 2>&1
  grep -E "rc=|ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitizer.txt" | tee -a "$LOG"
fi

log "kernel benchmarks"
timeout 180 build-gpu/tests/bench/cuda_matmul_bench 2>>"$LOG" | grep '^{' >> "$RESULTS"
timeout 120 build-gpu/tests/bench/cuda_attention_bench 2>>"$LOG" | grep '^{' >> "$RESULTS"

if [[ -x "$CARRY/gemma-serve" ]]; then
  export LD_LIBRARY_PATH="$PWD/$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  GS="$CARRY/gemma-serve"
  if "$GS" --help > /dev/null 2>>"$LOG"; then
    log "synthetic Gemma 3 12B decode (single stream)"
    for type in bf16 q4_k; do
      timeout 150 "$GS" bench --synthetic configs/models/gemma3-12b.json --weight-type "$type" \
        --device cuda --n-prompt 0 --n-gen 64 --repetitions 3 --json 2>>"$LOG" |
        grep '^{' | sed "s/^{/{\"run\": \"decode_12b_$type\", /" >> "$RESULTS"
    done
    timeout 150 "$GS" bench --synthetic configs/models/gemma3-12b.json --weight-type q4_k \
      --device cuda --n-prompt 0 --n-gen 64 --repetitions 3 --json --no-cuda-graphs 2>>"$LOG" |
      grep '^{' | sed "s/^{/{\"run\": \"decode_12b_q4_k_eager\", /" >> "$RESULTS"
    log "synthetic Gemma 4 12B Unified decode (single stream)"
    for type in bf16 q4_k_m; do
      timeout 150 "$GS" bench --synthetic configs/models/gemma4-12b-unified.json \
        --weight-type "$type" --device cuda --n-prompt 0 --n-gen 64 --repetitions 3 --json \
        2>>"$LOG" | grep '^{' | sed "s/^{/{\"run\": \"decode_g4_12b_$type\", /" >> "$RESULTS"
    done
    log "synthetic Gemma 3 12B serving (q4_k, 128 in / 128 out)"
    for c in 1 64; do
      timeout 120 "$GS" bench --synthetic configs/models/gemma3-12b.json --weight-type q4_k \
        --device cuda --concurrency "$c" --n-prompt 128 --n-gen 128 --repetitions 2 --json 2>>"$LOG" |
        grep '^{' | sed "s/^{/{\"run\": \"serve_12b_c$c\", /" >> "$RESULTS"
    done
    log "the server end to end on the GPU (tiny head-dim-256 model, cuda against cpu)"
    timeout 180 python3 tests/gpu/serve_smoke.py "$GS" 2>>"$LOG" | grep '^{' >> "$RESULTS"
    echo "{\"name\": \"serve_smoke_rc\", \"value\": ${PIPESTATUS[0]}, \"unit\": \"\"}" \
      >> "$RESULTS"
  else
    log "the carried gemma-serve does not run here (see log.txt): no model-level rows"
  fi
fi

log "summary"
python3 - "$RESULTS" <<'PY' | tee "$OUT/table.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {r.get("run", r.get("name")): r for r in rows}
def val(name):
    r = by.get(name)
    return None if r is None else r.get("value")
bw = val("copy_d2d_4GiB")         # GB/s, bytes read + written
gemm = val("gemm_bf16_f32out_8192^3")  # TFLOP/s
def pct(x, ceiling):
    return "" if x is None or not ceiling else f"{100 * x / ceiling:.0f}%"
print(f"{'measure':34} {'value':>12}  {'of ceiling':>10}")
print(f"{'HBM copy bandwidth (GB/s)':34} {bw or 0:12.0f}")
print(f"{'bf16 GEMM 8192^3 (TFLOP/s)':34} {gemm or 0:12.1f}")
for r in rows:
    n = r.get("name", "")
    if n.startswith("matvec_"):
        print(f"{n + ' (GB/s)':34} {r['value']:12.0f}  {pct(r['value'], bw):>10}  target 80%")
for n, target in (("attn_prefill_d256", 60), ("attn_prefill_d512", 45)):
    print(f"{n + ' (TFLOP/s)':34} {val(n) or 0:12.1f}  {pct(val(n), gemm):>10}  target {target}%")
for n in ("attn_decode_d256", "attn_decode_d512"):
    print(f"{n + ' (GB/s)':34} {val(n) or 0:12.0f}  {pct(val(n), bw):>10}  target 80%")
for t in ("12b_bf16", "12b_q4_k", "12b_q4_k_eager", "g4_12b_bf16", "g4_12b_q4_k_m"):
    r = by.get(f"decode_{t}")
    if r and bw:
        # The floor: every weight byte read once per token at the measured bandwidth.
        floor_tps = bw * 1e9 / r["model_bytes"]
        print(f"{'decode ' + t + ' (tok/s)':34} {r['avg_ts']:12.1f}  "
              f"{pct(r['avg_ts'], floor_tps):>10}  target 85% of {floor_tps:.0f}")
for n in ("cuda_tests_rc", "serve_smoke_rc", "serve_smoke_greedy_agreement", "build_seconds"):
    r = by.get(n)
    if r:
        print(f"{n:34} {r['value']:>12}  {r.get('unit', '')}")
for c in (1, 64):
    r = by.get(f"serve_12b_c{c}")
    if r:
        print(f"{'12B q4_k serving c' + str(c) + ' (tok/s)':34} {r.get('output_ts', 0):12.1f}")
PY
exit $tests_rc
