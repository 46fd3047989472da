// Arbitrary bytes as a chat: the first byte's low bit is add_generation_prompt, its next bit
// enable_thinking; the rest is split at '\x1e' (ASCII record separator) into messages, each a role
// byte (an index into kRoles) and the content. Rendering must never crash, and the outcome must
// follow chat_template.h: for Gemma 3, <bos> first, an error exactly when the roles do not
// alternate, and the turn or generation prompt last; for Gemma 4, an error exactly when there are
// no messages, <bos> first, and the generation prompt last. The reasoning parser, fed the same
// bytes whole and in two pieces, must split them the same way.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/chat_template.h"
#include "api/reasoning_parser.h"

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

// Content and reasoning after pushing `text` in two pieces split at `split_idx`.
ReasoningDelta SplitReasoning(std::string_view text, size_t split_idx) {
  ReasoningParser parser(Gemma4ReasoningSyntax());
  ReasoningDelta total;
  for (const std::string_view piece : {text.substr(0, split_idx), text.substr(split_idx)}) {
    const ReasoningDelta d = parser.Push(piece);
    total.content += d.content;
    total.reasoning += d.reasoning;
  }
  const ReasoningDelta d = parser.Flush();
  total.content += d.content;
  total.reasoning += d.reasoning;
  return total;
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

  gs::api::ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.enable_thinking = (data[0] & 2) != 0;
  const gs::api::RenderedPrompt prompt4 = gs::api::RenderGemma4Chat(messages, options);
  Require(prompt4.error.empty() == !messages.empty(), "Gemma 4: an error exactly when empty");
  if (prompt4.error.empty()) {
    Require(prompt4.text.starts_with("<bos>"), "Gemma 4: the prompt starts with <bos>");
    if (add_generation_prompt && !options.enable_thinking) {
      Require(prompt4.text.ends_with("<|turn>model\n<|channel>thought\n<channel|>"),
              "Gemma 4: the prompt ends with the model's turn and an empty thought");
    }
  }

  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const gs::api::ReasoningDelta whole = gs::api::SplitReasoning(bytes, bytes.size());
  const gs::api::ReasoningDelta halves = gs::api::SplitReasoning(bytes, bytes.size() / 2);
  Require(whole.content == halves.content && whole.reasoning == halves.reasoning,
          "the reasoning split does not depend on where the text is cut");
  return 0;
}
