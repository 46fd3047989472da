#include "server/loaded_model.h"

#include <chrono>
#include <cstdio>

#include "engine/cpu/cpu_backend.h"

namespace gs {

StatusOr<DeviceKind> ParseDeviceKind(const std::string& text) {
  if (text == "auto") return DeviceKind::kAuto;
  if (text == "cpu") return DeviceKind::kCpu;
  if (text == "cuda") return DeviceKind::kCuda;
  return Status::Error("unknown device '" + text + "' (expected auto, cpu or cuda)");
}

StatusOr<KvDtype> ParseKvDtype(const std::string& text) {
  if (text == "auto") return KvDtype::kAuto;
  if (text == "bf16") return KvDtype::kBf16;
  if (text == "fp8") return KvDtype::kFp8;
  if (text == "f16") return KvDtype::kF16;
  if (text == "f32") return KvDtype::kF32;
  return Status::Error("unknown KV cache type '" + text +
                       "' (expected auto, bf16 or fp8 on a GPU, f16 or f32 on the CPU)");
}

StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendChoice& choice) {
  const bool cpu_dtype = choice.kv_dtype == KvDtype::kF16 || choice.kv_dtype == KvDtype::kF32;
  const bool gpu_dtype = choice.kv_dtype == KvDtype::kBf16 || choice.kv_dtype == KvDtype::kFp8;
  if (choice.device != DeviceKind::kCpu) {
    StatusOr<std::string> gpu = DescribeCudaDevice(0);
    if (gpu.ok()) {
      if (cpu_dtype) {
        return Status::Error(
            "--kv-cache-dtype f16/f32 are CPU cache types; the GPU's are bf16 and fp8 (or run "
            "with --device cpu)");
      }
      const KvCacheType kv_type =
          choice.kv_dtype == KvDtype::kFp8 ? KvCacheType::kFp8 : KvCacheType::kBf16;
      return CreateCudaBackend(
          {.device_idx = 0, .kv_type = kv_type, .cuda_graphs = choice.cuda_graphs});
    }
    if (choice.device == DeviceKind::kCuda) {
      return Status::Error("--device cuda: no usable CUDA device: " + gpu.status().message());
    }
    std::fprintf(stderr, "no usable CUDA device (%s): running on the CPU\n",
                 gpu.status().message().c_str());
  }
  if (gpu_dtype) {
    return Status::Error(
        "--kv-cache-dtype bf16/fp8 are GPU cache types; the CPU's are f16 (default) and f32");
  }
  const cpu::KvCacheType kv_type =
      choice.kv_dtype == KvDtype::kF32 ? cpu::KvCacheType::kF32 : cpu::KvCacheType::kF16;
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(choice.num_threads, kv_type));
}

api::ChatTemplateChoice ChooseChatTemplate(const GgufFile& file) {
  return api::ChooseChatTemplate(file.GetString("general.architecture").value_or(""),
                                 file.GetString("tokenizer.chat_template").value_or(""));
}

StatusOr<LoadedModel> LoadModelForInference(const std::string& path, const BackendChoice& choice,
                                            VocabUse vocab_use) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel m;
  StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
  if (!file.ok()) return file.status();
  m.file = std::move(file).value();
  const std::string_view tokenizer_model = m.file->GetString("tokenizer.ggml.model").value_or("");
  const bool has_vocab = tokenizer_model != "none" && tokenizer_model != "no_vocab";
  if (has_vocab || vocab_use == VocabUse::kRequired) {
    StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromGguf(*m.file);
    if (!tokenizer.ok()) return Status::Error(path + ": " + tokenizer.status().message());
    m.tokenizer = std::move(tokenizer).value();
  }
  const api::ChatTemplateChoice chat = ChooseChatTemplate(*m.file);
  m.chat_template = api::MakeChatTemplate(chat.family);
  m.chat_template_reason = chat.reason;
  StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(choice);
  if (!backend.ok()) return backend.status();
  m.backend = std::move(backend).value();
  StatusOr<std::unique_ptr<Model>> model = LoadModel(*m.file, *m.backend);
  if (!model.ok()) return Status::Error(path + ": " + model.status().message());
  m.model = std::move(model).value();
  if (m.tokenizer != nullptr && m.model->config().num_vocab != m.tokenizer->num_vocab()) {
    return Status::Error(path + ": tokenizer and model disagree on the vocabulary size");
  }
  m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

}  // namespace gs
