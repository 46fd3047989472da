// Runs sequences through a model on a backend: owns the KV pool's bookkeeping, builds each step's
// ragged Batch from the sequences' block tables, and chunks long prompts into steps of at most
// max_batch_tokens tokens. The request scheduler (continuous batching) builds on these pieces.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "engine/backend.h"
#include "engine/batch.h"
#include "engine/kv/kv_plan.h"
#include "engine/kv/kv_pool.h"
#include "engine/model/model.h"
#include "engine/sampler.h"
#include "engine/status.h"

namespace gs {

struct GenerationStats {
  int64_t num_prompt_tokens = 0;
  double prompt_seconds = 0;
  int64_t num_generated = 0;
  double generate_seconds = 0;
};

class Generator {
 public:
  static StatusOr<std::unique_ptr<Generator>> Create(const Model& model, Backend& backend,
                                                     const KvBudget& options);

  // Longest sequence (prompt + output) the pool can hold, capped by the model's context.
  int64_t max_seq_len() const { return max_seq_len_; }
  const Model& model() const { return model_; }

  int32_t AddSequence();
  void RemoveSequence(int32_t seq_idx);
  int64_t SeqLen(int32_t seq_idx) const { return seq_lens_[seq_idx]; }
  // Appends tokens to the sequence (in steps of at most max_batch_tokens) and, when
  // last_logits is not null, writes the logits after the last one ([num_vocab]).
  Status Extend(int32_t seq_idx, std::span<const int32_t> tokens, float* last_logits);

  // One sequence end to end: prompt, then up to max_new_tokens sampled tokens, each passed to
  // on_token (which returns false to stop). Stops after an id in stop_ids (which is passed on).
  StatusOr<GenerationStats> Run(std::span<const int32_t> prompt, Sampler& sampler,
                                int64_t max_new_tokens, std::span<const int32_t> stop_ids,
                                const std::function<bool(int32_t)>& on_token);

 private:
  Generator(const Model& model, Backend& backend, const KvBudget& options, KvPoolConfig pool_config,
            int64_t max_seq_len);
  void BuildBatch(int32_t seq_idx, std::span<const int32_t> tokens, bool want_logits);

  const Model& model_;
  Backend& backend_;
  KvBudget options_;
  KvPool pool_;
  int64_t max_seq_len_;
  std::vector<int64_t> seq_lens_;  // by sequence id
  Batch batch_;
};

}  // namespace gs
