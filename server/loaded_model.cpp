#include "server/loaded_model.h"

#include <chrono>

namespace gs {

StatusOr<LoadedModel> LoadModelForInference(const std::string& path, int num_threads) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel m;
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
  if (!file.ok()) return file.status();
  m.file = std::move(file).value();
  StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromGguf(*m.file);
  if (!tokenizer.ok()) return Status::Error(path + ": " + tokenizer.status().message());
  m.tokenizer = std::move(tokenizer).value();
  m.backend = std::make_unique<CpuBackend>(num_threads);
  StatusOr<std::unique_ptr<Model>> model = LoadModel(*m.file, *m.backend);
  if (!model.ok()) return Status::Error(path + ": " + model.status().message());
  m.model = std::move(model).value();
  if (m.model->config().num_vocab != m.tokenizer->num_vocab()) {
    return Status::Error(path + ": tokenizer and model disagree on the vocabulary size");
  }
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

}  // namespace gs
