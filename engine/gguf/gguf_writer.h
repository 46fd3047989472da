// Writing GGUF files: a builder for metadata and tensor records, and a writer that lays them out
// as llama.cpp's gguf library does (version 3, little-endian, tensor data aligned to
// general.alignment or 32 bytes), so that llama.cpp and this engine read the very same file.
// `gemma-serve synth` writes synthetic models with it; tests write small files with it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/status.h"

namespace gs {

class GgufBuilder {
 public:
  void SetString(std::string key, std::string value);
  void SetUint32(std::string key, uint32_t value);
  void SetFloat32(std::string key, float value);
  void SetInt32Array(std::string key, const std::vector<int32_t>& values);
  void SetBoolArray(std::string key, const std::vector<bool>& values);
  // The record's data must stay valid as long as the built file (or until it is written).
  void AddTensor(GgufTensorInfo info);

  // The records as a GgufFile (GgufFile::FromParts), named `name` in its errors; the builder is
  // left empty.
  StatusOr<std::unique_ptr<GgufFile>> Build(std::string name);

 private:
  GgufValue& Add(std::string key, GgufValueType type);
  std::vector<GgufKv> kvs_;
  std::deque<std::string> strings_;  // what string values view; a deque never moves them
  std::vector<GgufTensorInfo> tensors_;
};

// Writes the file's metadata and tensors (each from its `data`) to path, through a temporary
// file renamed into place, so a failed write never leaves a truncated model behind.
Status WriteGguf(const GgufFile& file, const std::string& path);

}  // namespace gs
