// A loaded model: its config and a forward pass over a Backend's ops. One implementation per
// architecture family; LoadModel picks it from general.architecture.
#pragma once

#include <memory>

#include "engine/backend.h"
#include "engine/batch.h"
#include "engine/model/model_config.h"
#include "engine/status.h"

namespace gs {

class GgufFile;

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // Runs the batch (writing its K/V into the cache) and fills logits with
  // [batch.logits_rows.size(), num_vocab] row-major values; with no logits rows it skips the
  // final norm and vocabulary projection and logits may be null.
  virtual void Forward(const Batch& batch, Backend& backend, float* logits) const = 0;
};

// Reads the config and makes every weight usable by backend.
StatusOr<std::unique_ptr<Model>> LoadModel(const GgufFile& file, Backend& backend);

}  // namespace gs
