#include "engine/model/model.h"

#include "engine/gguf/gguf_file.h"
#include "engine/model/gemma3.h"

namespace gs {

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
  if (config.architecture != "gemma3") {
    return Status::Error("no forward pass for architecture '" + config.architecture + "'");
  }
  return Gemma3Model::Load(tensors, std::move(config), backend);
}

}  // namespace gs
