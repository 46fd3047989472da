// Prefill-sized products: GGUF weights dequantized to bf16, activations converted to bf16, and a
// cuBLASLt bf16 x bf16 -> f32 product; plus the embedding gather (dequantized rows times a scale).
// bf16 values cross this header as uint16_t bit patterns so that g++ can include it.
// Twins: ref::DequantizeRow (+ Fp32ToBf16) and an f64 dot product
// (tests/cuda/matmul_cuda_test.cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/quant_types.h"

namespace gs::cuda {

// Types DequantizeToBf16 and DequantizeRows accept (those of MatVecSupports).
bool DequantSupports(GgmlType type);

struct DequantizeToBf16Params {
  const void* w;     // [num_rows, row_bytes] GGUF blocks, 16-byte aligned
  GgmlType type;     // DequantSupports(type)
  size_t row_bytes;  // RowBytes(type, num_cols)
  int64_t num_rows;
  int64_t num_cols;  // multiple of the block size, and of 8
  uint16_t* out;     // [num_rows, num_cols] bf16 bits, 16-byte aligned
};
// out = bf16(dequant(w)), rounded to nearest even (ref: Fp32ToBf16(DequantizeRow)).
void DequantizeToBf16(const DequantizeToBf16Params& p, cudaStream_t stream);

struct F32ToBf16Params {
  const float* in;  // [num_elems]
  uint16_t* out;    // [num_elems] bf16 bits
  int64_t num_elems;
};
// Round to nearest even; any alignment (16-byte aligned pointers take the vector path).
void F32ToBf16(const F32ToBf16Params& p, cudaStream_t stream);

struct DequantizeRowsParams {
  const void* table;       // [num_table_rows, row_bytes] GGUF blocks, 16-byte aligned
  GgmlType type;           // DequantSupports(type)
  size_t row_bytes;        // RowBytes(type, num_cols)
  int64_t num_table_rows;  // ids outside [0, num_table_rows) give a row of NaN
  const int32_t* row_ids;  // [num_rows] device memory
  int64_t num_rows;
  int64_t num_cols;  // multiple of the block size, and of 8
  float scale;
  float* out;  // [num_rows, num_cols] f32, 16-byte aligned
};
// out[i, :] = dequant(table[row_ids[i], :]) * scale (the embedding gather).
void DequantizeRows(const DequantizeRowsParams& p, cudaStream_t stream);

// out = x · wᵀ through cuBLASLt: bf16 operands, f32 accumulation and output. Create once (it owns
// a cuBLASLt handle, a 32 MiB workspace and a per-shape algorithm cache); Run is not thread-safe
// and may be captured into a CUDA graph once a shape has been run outside capture.
class GemmBf16 {
 public:
  GemmBf16();
  ~GemmBf16();
  GemmBf16(const GemmBf16&) = delete;
  GemmBf16& operator=(const GemmBf16&) = delete;

  // x: [m, k] bf16 row-major; w: [n, k] bf16 row-major; out: [m, ldo] f32 row-major, ldo >= n
  // (columns [n, ldo) untouched). All pointers 16-byte aligned; k % 8 == 0.
  void Run(const uint16_t* x, const uint16_t* w, float* out, int64_t m, int64_t n, int64_t k,
           int64_t ldo, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gs::cuda
