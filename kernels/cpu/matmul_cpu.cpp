#include "kernels/cpu/matmul_cpu.h"

#include <algorithm>

#include "kernels/cpu/quant_cpu.h"
#include "kernels/cpu/thread_pool.h"

namespace gs::cpu {
namespace {

// Weight rows per task: a tile that stays in L1/L2 while every activation row passes over it.
constexpr int64_t kRowTile = 16;

}  // namespace

void MatMul(const MatMulParams& p, ThreadPool& pool, std::vector<uint8_t>& scratch) {
  const GgmlType act_type = GetTypeTraits(p.w_type).vec_dot_type;
  const size_t act_row_bytes = RowBytes(act_type, p.k);
  if (scratch.size() < act_row_bytes * p.num_x_rows) scratch.resize(act_row_bytes * p.num_x_rows);
  uint8_t* act = scratch.data();
  const QuantizeRowFn quantize = GetQuantizeRow(act_type);
  pool.ParallelFor(p.num_x_rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) quantize(p.x + r * p.k, act + r * act_row_bytes, p.k);
  });

  const VecDotFn dot = GetVecDot(p.w_type);
  const auto* w = static_cast<const uint8_t*>(p.w);
  pool.ParallelFor(p.n, kRowTile, [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; tile += kRowTile) {
      const int64_t tile_end = std::min(end, tile + kRowTile);
      for (int64_t r = 0; r < p.num_x_rows; ++r) {
        const uint8_t* a = act + r * act_row_bytes;
        float* y = p.y + r * p.ldy;
        for (int64_t j = tile; j < tile_end; ++j) y[j] = dot(w + j * p.w_row_bytes, a, p.k);
      }
    }
  });
}

}  // namespace gs::cpu
