#include "kernels/cpu/matmul_cpu.h"

#include <algorithm>

#include "kernels/cpu/quant_cpu.h"
#include "kernels/cpu/thread_pool.h"

namespace gs::cpu {
namespace {

// Weight rows per task: a tile that stays in L1/L2 while every activation row passes over it
// (activations are read once per tile, weights once per call).
constexpr int64_t kRowTile = 16;

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
  struct Range {
    const uint8_t* w;
    VecDotFn dot;
    int64_t first_row;
  } ranges[kMaxMatMulTargets];
  int64_t total_rows = 0;
  for (size_t t = 0; t < targets.size(); ++t) {
    ranges[t] = {static_cast<const uint8_t*>(targets[t].w), GetVecDot(targets[t].w_type),
                 total_rows};
    total_rows += targets[t].n;
  }
  pool.ParallelFor(total_rows, kRowTile, [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; tile += kRowTile) {
      const int64_t tile_end = std::min(end, tile + kRowTile);
      for (int64_t r = 0; r < num_x_rows; ++r) {
        const uint8_t* a = act + r * act_row_bytes;
        size_t t = 0;
        for (int64_t j = tile; j < tile_end; ++j) {
          while (j >= ranges[t].first_row + targets[t].n) ++t;
          const MatMulTarget& target = targets[t];
          const int64_t row = j - ranges[t].first_row;
          target.y[r * target.ldy + row] =
              ranges[t].dot(ranges[t].w + row * target.w_row_bytes, a, k);
        }
      }
    }
  });
}

}  // namespace gs::cpu
