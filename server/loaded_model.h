// A model ready to run: the mapped file, a backend holding its weights, the forward pass and the
// tokenizer. Shared by the commands that run a model.
#pragma once

#include <memory>
#include <string>

#include "api/chat_template.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/model.h"
#include "engine/status.h"
#include "engine/tokenizer/tokenizer.h"

namespace gs {

// --device: auto takes the GPU when one is usable and falls back to the CPU with one log line.
enum class DeviceKind { kAuto, kCpu, kCuda };
StatusOr<DeviceKind> ParseDeviceKind(const std::string& text);  // "auto", "cpu", "cuda"

// --kv-cache-dtype: each device has cache types of its own (the GPU bf16 and fp8, the CPU f16
// and f32); kAuto is the chosen device's default (bf16 on the GPU, f16 on the CPU).
enum class KvDtype { kAuto, kBf16, kFp8, kF16, kF32 };
StatusOr<KvDtype> ParseKvDtype(const std::string& text);  // "auto", "bf16", "fp8", "f16", "f32"

struct BackendChoice {
  DeviceKind device = DeviceKind::kAuto;
  int num_threads = 0;  // CPU compute threads, 0: all cores
  KvDtype kv_dtype = KvDtype::kAuto;
  bool cuda_graphs = true;  // --no-cuda-graphs turns decode-step graphs off
};
// The backend the choice names; for kAuto without a usable GPU, the CPU backend and a line on
// stderr saying why. A KV dtype the chosen device does not have is an error naming both.
StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendChoice& choice);

struct LoadedModel {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null only for VocabUse::kOptional without one
  // The chat format, chosen from the file's general.architecture and tokenizer.chat_template.
  std::unique_ptr<api::ChatTemplate> chat_template;
  std::string chat_template_reason;  // why that one, for the startup log
  double load_seconds = 0;
};

// The chat template a GGUF's metadata calls for (api::ChooseChatTemplate over its strings).
api::ChatTemplateChoice ChooseChatTemplate(const GgufFile& file);

enum class VocabUse {
  kRequired,
  // A file without a vocabulary (`gemma-serve synth`'s) loads with a null tokenizer: bench only.
  kOptional,
};

StatusOr<LoadedModel> LoadModelForInference(const std::string& path, const BackendChoice& choice,
                                            VocabUse vocab_use = VocabUse::kRequired);

}  // namespace gs
