// A model ready to run: the mapped file, a backend holding its weights, the forward pass and the
// tokenizer. Shared by the commands that run a model.
#pragma once

#include <memory>
#include <string>

#include "engine/cpu/cpu_backend.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "engine/status.h"
#include "engine/tokenizer/tokenizer.h"

namespace gs {

struct LoadedModel {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<CpuBackend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  double load_seconds = 0;
};

StatusOr<LoadedModel> LoadModelForInference(const std::string& path, int num_threads);

}  // namespace gs
