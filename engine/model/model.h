// A loaded model: its config and a forward pass over a Backend's ops. One implementation per
// architecture family; LoadModel picks it from general.architecture.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/batch.h"
#include "engine/model/model_config.h"
#include "engine/status.h"

namespace gs {

class GgufFile;
struct GgufTensorInfo;

// Where a model's loader finds its weights by GGUF tensor name: a GGUF file, or tensors made up
// in memory (SyntheticModel). Returns null for a tensor that does not exist; what it returns must
// stay valid while the backend may read it (the CPU backend keeps pointing at the data).
using TensorLookup = std::function<const GgufTensorInfo*(const std::string& name)>;

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // Runs the batch (writing its K/V into the cache) and returns the logits of
  // batch.logits_rows, [rows, num_vocab] in backend memory, before the final softcap; with no
  // logits rows it skips the final norm and vocabulary projection and returns an empty Act.
  // host_logits (may be null) is where the caller will read them: LogitsBuffer's hint.
  virtual Act ForwardLogits(const Batch& batch, Backend& backend, float* host_logits) const = 0;
  // ForwardLogits, then the softcapped logits copied to logits ([rows, num_vocab] row-major).
  void Forward(const Batch& batch, Backend& backend, float* logits) const {
    const Act out = ForwardLogits(batch, backend, logits);
    if (out.num_rows > 0) backend.ReadLogits(out, config().final_softcap, logits);
  }
};

// Loads weights by GGUF name for a model's Load, each checked to have exactly the shape the
// config implies (never trust a kernel to cope with a shape the metadata did not promise), so
// that a file with a missing tensor or a wrong shape is a load error naming it.
class WeightLoader {
 public:
  WeightLoader(const TensorLookup& tensors, Backend& backend)
      : tensors_(tensors), backend_(backend) {}
  bool Has(const std::string& name) const { return tensors_(name) != nullptr; }
  // shape is ggml's ne: {num_cols}, {num_cols, num_rows} or {num_cols, num_rows, num_mats}.
  Status Load(const std::string& name, std::initializer_list<int64_t> shape, Weight* out);
  // The values of a small tensor of num_values elements, as f32 on the host.
  StatusOr<std::vector<float>> HostValues(const std::string& name, int64_t num_values);

 private:
  const GgufTensorInfo* Find(const std::string& name, std::initializer_list<int64_t> shape,
                             Status* status) const;
  const TensorLookup& tensors_;
  Backend& backend_;
};

// The output head both Gemma families share: the rows of h that batch.logits_rows names, through
// the final RMSNorm and the vocabulary projection, into the backend's logits buffer (an empty
// Act when no row wants logits). What a ForwardLogits returns.
Act OutputLogits(const Batch& batch, Backend& backend, Act h, const Weight& output_norm,
                 const Weight& output, float eps, int32_t num_vocab, float* host_logits);

// Reads the config and makes every weight usable by backend.
StatusOr<std::unique_ptr<Model>> LoadModel(const GgufFile& file, Backend& backend);
// The same with a config built elsewhere and tensors from any source (config.architecture picks
// the forward pass).
StatusOr<std::unique_ptr<Model>> LoadModel(ModelConfig config, const TensorLookup& tensors,
                                           Backend& backend);

}  // namespace gs
