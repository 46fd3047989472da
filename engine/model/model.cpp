#include "engine/model/model.h"

#include <algorithm>

#include "engine/gguf/gguf_file.h"
#include "engine/model/gemma3.h"
#include "engine/model/gemma4.h"
#include "kernels/ref/quant_ref.h"

namespace gs {

const GgufTensorInfo* WeightLoader::Find(const std::string& name,
                                         std::initializer_list<int64_t> shape,
                                         Status* status) const {
  const GgufTensorInfo* t = tensors_(name);
  if (t == nullptr) {
    *status = Status::Error("missing tensor " + name);
    return nullptr;
  }
  int64_t want[4] = {1, 1, 1, 1};
  size_t i = 0;
  for (int64_t d : shape) want[i++] = d;
  bool same = true;
  for (int d = 0; d < 4; ++d) same = same && t->ne[d] == want[d];
  if (!same) {
    auto show = [](const int64_t* ne, size_t n) {
      std::string text = "[";
      for (size_t d = 0; d < n; ++d) text += (d ? ", " : "") + std::to_string(ne[d]);
      return text + "]";
    };
    *status = Status::Error("tensor " + name + " has shape " +
                            show(t->ne, std::max<size_t>(shape.size(), t->num_dims)) +
                            ", expected " + show(want, shape.size()));
    return nullptr;
  }
  return t;
}

Status WeightLoader::Load(const std::string& name, std::initializer_list<int64_t> shape,
                          Weight* out) {
  Status status = Status::Ok();
  const GgufTensorInfo* t = Find(name, shape, &status);
  if (t == nullptr) return status;
  StatusOr<Weight> w = backend_.LoadWeight(*t);
  if (!w.ok()) return w.status();
  *out = *w;
  return Status::Ok();
}

StatusOr<std::vector<float>> WeightLoader::HostValues(const std::string& name,
                                                      int64_t num_values) {
  Status status = Status::Ok();
  const GgufTensorInfo* t = Find(name, {num_values}, &status);
  if (t == nullptr) return status;
  if (!GetTypeTraits(t->type).computable) {
    return Status::Error("tensor " + name + " has a type this engine cannot read");
  }
  std::vector<float> values(num_values);
  ref::DequantizeRow(t->type, t->data, values.data(), num_values);
  return values;
}

Act OutputLogits(const Batch& batch, Backend& b, Act h, const Weight& output_norm,
                 const Weight& output, float eps, int32_t num_vocab, float* host_logits) {
  const int64_t num_out = static_cast<int64_t>(batch.logits_rows.size());
  if (num_out == 0) return Act{};
  Act last = b.Alloc(num_out, h.num_cols);
  b.GatherRows(h, batch.logits_rows, last);
  b.RmsNorm(last, output_norm, eps, last);
  Act out = b.LogitsBuffer(host_logits, num_out, num_vocab);
  b.MatMul(last, output, out);
  return out;
}

StatusOr<std::unique_ptr<Model>> LoadModel(const GgufFile& file, Backend& backend) {
  StatusOr<ModelConfig> config = ModelConfig::FromGguf(file);
  if (!config.ok()) return config.status();
  // FromGguf refuses every architecture without a forward pass here.
  return LoadModel(
      std::move(config).value(), [&file](const std::string& name) { return file.FindTensor(name); },
      backend);
}

StatusOr<std::unique_ptr<Model>> LoadModel(ModelConfig config, const TensorLookup& tensors,
                                           Backend& backend) {
  if (config.architecture == "gemma3") return Gemma3Model::Load(tensors, std::move(config), backend);
  if (config.architecture == "gemma4") return Gemma4Model::Load(tensors, std::move(config), backend);
  return Status::Error("no forward pass for architecture '" + config.architecture + "'");
}

}  // namespace gs
