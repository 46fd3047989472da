#include "kernels/cpu/matmul_cpu.h"

#include <algorithm>

#include "kernels/cpu/quant_cpu.h"
#include "kernels/cpu/thread_pool.h"

namespace gs::cpu {
namespace {

// Weight rows per task: a tile that stays in L1/L2 while every activation row passes over it
// (activations are read once per tile, weights once per call).
constexpr int64_t kRowTile = 16;

// A dot tile reads its weight rows as kDotTileMaxWeightRows interleaved streams, which the
// hardware prefetchers follow poorly: decode (1 activation row, every weight from DRAM) ran at
// 92 tokens/s without software prefetch and 180 with it (tg128, 2 threads, Zen 5). So the rows
// two tiles ahead are prefetched, one instruction per cache line (every other line: ~100
// tokens/s). Prefill finds the weights in cache after the first activation rows, so only those
// prefetch.
constexpr int64_t kPrefetchRows = 2 * kDotTileMaxWeightRows;

// Prefetches the weight rows [first, first + kDotTileMaxWeightRows) that exist (< num_rows).
void PrefetchRows(const uint8_t* w, size_t row_bytes, int64_t first, int64_t num_rows) {
  const int64_t end = std::min<int64_t>(first + kDotTileMaxWeightRows, num_rows);
  if (first >= end) return;
  const uint8_t* begin = w + first * row_bytes;
  for (size_t offset = 0; offset < (end - first) * row_bytes; offset += 64) {
    __builtin_prefetch(begin + offset);
  }
}

}  // namespace

void MatMul(const float* x, int64_t num_x_rows, int64_t k, std::span<const MatMulTarget> targets,
            ThreadPool& pool, std::vector<uint8_t>& scratch) {
  if (targets.empty()) return;
  const GgmlType act_type = GetTypeTraits(targets[0].w_type).vec_dot_type;
  const size_t act_row_bytes = RowBytes(act_type, k);
  if (scratch.size() < act_row_bytes * num_x_rows) scratch.resize(act_row_bytes * num_x_rows);
  uint8_t* act = scratch.data();
  const QuantizeRowFn quantize = GetQuantizeRow(act_type);
  pool.ParallelFor(num_x_rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) quantize(x + r * k, act + r * act_row_bytes, k);
  });

  // The targets' rows laid end to end: global row j belongs to the target whose range holds it.
  DotTileFn tiles[kMaxMatMulTargets];
  int64_t first_rows[kMaxMatMulTargets + 1] = {0};
  for (size_t t = 0; t < targets.size(); ++t) {
    tiles[t] = GetDotTile(targets[t].w_type);
    first_rows[t + 1] = first_rows[t] + targets[t].n;
  }
  pool.ParallelFor(first_rows[targets.size()], kRowTile, [&](int64_t begin, int64_t end) {
    size_t t = 0;
    for (int64_t tile = begin; tile < end; tile += kRowTile) {
      const int64_t tile_end = std::min(end, tile + kRowTile);
      // Dot tiles never straddle targets: each target's share of the tile, rows [lo, hi).
      for (int64_t j = tile; j < tile_end; j = first_rows[t + 1]) {
        while (j >= first_rows[t + 1]) ++t;
        const MatMulTarget& target = targets[t];
        const auto* w = static_cast<const uint8_t*>(target.w);
        const int64_t lo = j - first_rows[t],
                      hi = std::min(tile_end, first_rows[t + 1]) - first_rows[t];
        for (int64_t r = 0; r < num_x_rows; r += kDotTileMaxActRows) {
          const int num_act_rows =
              static_cast<int>(std::min<int64_t>(kDotTileMaxActRows, num_x_rows - r));
          for (int64_t row = lo; row < hi; row += kDotTileMaxWeightRows) {
            const int num_w_rows =
                static_cast<int>(std::min<int64_t>(kDotTileMaxWeightRows, hi - row));
            if (r == 0) PrefetchRows(w, target.w_row_bytes, row + kPrefetchRows, target.n);
            tiles[t](w + row * target.w_row_bytes, target.w_row_bytes, num_w_rows,
                     act + r * act_row_bytes, act_row_bytes, num_act_rows, k,
                     target.y + r * target.ldy + row, target.ldy);
          }
        }
      }
    }
  });
}

}  // namespace gs::cpu
