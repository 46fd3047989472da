// Chat messages -> prompt text, per model family. Gemma 3's renderer reproduces the template that
// Gemma 3 checkpoints ship (gemma-arch.md §5.3): <bos>, a system message folded into the first
// user turn, "assistant" rendered as "model", content trimmed, roles alternating.
#pragma once

#include <string>
#include <vector>

namespace gs::api {

struct ChatMessage {
  std::string role;  // system, developer, user, assistant
  std::string content;
};

struct RenderedPrompt {
  std::string text;
  std::string error;  // non-empty: the messages cannot be rendered (and why)
};

RenderedPrompt RenderGemma3Chat(const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt);

}  // namespace gs::api
