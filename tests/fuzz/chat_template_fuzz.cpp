// Arbitrary bytes as a chat: the first byte's low bit is add_generation_prompt; the rest is split
// at '\x1e' (ASCII record separator) into messages, each a role byte (an index into kRoles) and
// the content. Rendering must never crash, and the outcome must follow chat_template.h: <bos>
// first, an error exactly when the roles do not alternate, and the turn or generation prompt
// last.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat_template.h"

namespace gs::api {
namespace {

// The roles the renderer knows, and a few it must refuse.
constexpr std::string_view kRoles[] = {"system", "developer", "user", "assistant",
                                       "tool",   "User",      ""};
constexpr char kSeparator = '\x1e';

void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "chat_template_fuzz: property violated: %s\n", what);
    std::abort();
  }
}

std::vector<ChatMessage> SplitMessages(std::string_view bytes) {
  std::vector<ChatMessage> messages;
  while (!bytes.empty()) {
    const size_t end = bytes.find(kSeparator);
    const std::string_view record = bytes.substr(0, end);
    ChatMessage& message = messages.emplace_back();
    if (!record.empty()) {
      message.role = kRoles[static_cast<uint8_t>(record[0]) % std::size(kRoles)];
      message.content = record.substr(1);
    }
    if (end == std::string_view::npos) break;
    bytes.remove_prefix(end + 1);
  }
  return messages;
}

// The official template's rule (tests/golden/gemma3_chat_template.jinja): an optional system
// message first (developer is not special to it), then user in every even slot and any other
// role in the odd ones; an empty conversation is an error.
bool RolesAlternate(const std::vector<ChatMessage>& messages) {
  if (messages.empty()) return false;
  const size_t first = messages[0].role == "system" ? 1 : 0;
  for (size_t i = first; i < messages.size(); ++i) {
    if ((messages[i].role == "user") != ((i - first) % 2 == 0)) return false;
  }
  return true;
}

}  // namespace
}  // namespace gs::api

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using gs::api::Require;
  if (size == 0) return 0;
  const bool add_generation_prompt = (data[0] & 1) != 0;
  const std::vector<gs::api::ChatMessage> messages =
      gs::api::SplitMessages(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  const gs::api::RenderedPrompt prompt = gs::api::RenderGemma3Chat(messages, add_generation_prompt);
  Require(prompt.error.empty() == gs::api::RolesAlternate(messages),
          "an error exactly when the roles do not alternate");
  if (!prompt.error.empty()) return 0;
  const std::string_view text = prompt.text;
  Require(text.starts_with("<bos>"), "the prompt starts with <bos>");
  if (add_generation_prompt) {
    Require(text.ends_with("<start_of_turn>model\n"), "the prompt ends with the model's turn");
  } else if (text != "<bos>") {
    Require(text.ends_with("<end_of_turn>\n"), "the prompt ends with the last turn");
  }
  return 0;
}
