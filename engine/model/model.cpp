#include "engine/model/model.h"

#include "engine/gguf/gguf_file.h"
#include "engine/model/gemma3.h"

namespace gs {

StatusOr<std::unique_ptr<Model>> LoadModel(const GgufFile& file, Backend& backend) {
  StatusOr<ModelConfig> config = ModelConfig::FromGguf(file);
  if (!config.ok()) return config.status();
  // FromGguf refuses every architecture without a forward pass here.
  return Gemma3Model::Load(file, std::move(config).value(), backend);
}

}  // namespace gs
