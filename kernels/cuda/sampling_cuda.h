// Batched token sampling on the device: one thread block per row of logits. Semantics are
// exactly those written at the top of kernels/ref/sampling_ref.h (processing, greedy, top-k /
// top-p / min-p thresholds with ties kept, the Philox draw in ascending id order, log-softmax of
// the raw logits); the device differs from gs::ref::SampleRow only by the rounding of exp and of
// sums, i.e. only on decisions within a few 1e-7 (relative) of flipping.
//
// Per-row penalty and bias inputs are CSR lists. Invariants the caller keeps: within a row each
// token id appears at most once among the penalty entries and at most once among the bias
// entries (they are applied in parallel); ids outside [0, num_vocab) are ignored.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/ref/sampling_ref.h"

namespace gs {

struct SampleParams {
  const float* logits;  // [num_rows, num_vocab] raw logits; only read
  float* scratch;       // [num_rows, num_vocab] processed logits; a row is written only when it
                        // has bias entries, or penalty entries and a penalty that is on
  const SampleRowParams* row_params;  // [num_rows]
  // Penalties: row r's entries are [penalty_indptr[r], penalty_indptr[r + 1]). All four may be
  // null together (no penalties anywhere).
  const int32_t* penalty_indptr;     // [num_rows + 1]
  const int32_t* penalty_ids;        // [penalty_indptr[num_rows]] token ids
  const int32_t* penalty_counts;     // [penalty_indptr[num_rows]] occurrences in the output
  const uint8_t* penalty_in_prompt;  // [penalty_indptr[num_rows]] 1: in the prompt
  // Logit bias: row r's entries are [bias_indptr[r], bias_indptr[r + 1]); all null: none.
  const int32_t* bias_indptr;  // [num_rows + 1]
  const int32_t* bias_ids;     // [bias_indptr[num_rows]] token ids
  const float* bias_values;    // [bias_indptr[num_rows]] added to the logit
  // Outputs.
  int32_t* out_ids;         // [num_rows] sampled token ids
  float* out_logprobs;      // [num_rows] log_softmax(raw logits)[id]
  int32_t* out_top_ids;     // [num_rows, kMaxTopLogprobs] descending; unused slots -1
  float* out_top_logprobs;  // [num_rows, kMaxTopLogprobs]; unused slots -inf
  int32_t num_rows;
  int32_t num_vocab;  // 1 .. 2^30 (262144 for Gemma 3)
};

// Samples every row; asynchronous on stream. Scratch rows may be reused after the kernel.
void SampleRows(const SampleParams& p, cudaStream_t stream);

}  // namespace gs
