// Where the tests find llama.cpp's Gemma 4 test vocabulary (ggml-vocab-gemma-4.gguf and its
// .inp/.out vectors). It is not in the repository (15 MB): scripts/setup.sh extracts it from
// PyPI's llama-cpp-python sdist into .cache/gemma4-vocab, the compiled-in default;
// $GS_GEMMA4_VOCAB_DIR points elsewhere.
#pragma once

#include <cstdlib>
#include <string>

#ifndef GS_GEMMA4_VOCAB_DIR
#error "GS_GEMMA4_VOCAB_DIR must name the default vocabulary directory"
#endif

namespace gs {

inline std::string Gemma4VocabDir() {
  if (const char* env = std::getenv("GS_GEMMA4_VOCAB_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return GS_GEMMA4_VOCAB_DIR;
}

inline std::string Gemma4VocabPath() { return Gemma4VocabDir() + "/ggml-vocab-gemma-4.gguf"; }

// CI (scripts/test.sh sets GS_REQUIRE_MODEL) must not pass by skipping.
inline bool Gemma4VocabRequired() { return std::getenv("GS_REQUIRE_MODEL") != nullptr; }

inline std::string Gemma4VocabMissingMessage() {
  return "Gemma 4 test vocabulary not found at " + Gemma4VocabPath() +
         " (scripts/setup.sh fetches it; or set GS_GEMMA4_VOCAB_DIR)";
}

}  // namespace gs
