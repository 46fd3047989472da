#include "api/chat_template.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/jinja_text.h"

namespace gs::api {
namespace {

// One message's content as the template writes it inside its turn.
void AppendContent(const ChatMessage& m, std::string* out) {
  if (!m.content_is_list) {
    out->append(jinja::Trim(m.content));
    return;
  }
  for (const ContentPart& part : m.parts) {
    if (part.type == "image") {
      out->append("<start_of_image>");
    } else if (part.type == "text") {
      out->append(jinja::Trim(part.text));
    }
    // Any other part type: the template writes nothing for it.
  }
}

std::string RoleError(size_t index, const std::string& role, bool expect_user) {
  std::string error = "Conversation roles must alternate user/assistant/user/assistant/...: ";
  error += "message " + std::to_string(index) + " has role '" + role + "'";
  if (expect_user) {
    error += " where a 'user' message is expected";
    if (index == 0 && role == "developer") {
      error +=
          " (the Gemma 3 chat template folds only a leading 'system' message into the "
          "first user turn)";
    } else if (role == "system") {
      error += " (the Gemma 3 chat template accepts a 'system' message only first)";
    }
  } else {
    error += " right after another 'user' message";
  }
  return error;
}

}  // namespace

RenderedPrompt RenderGemma3Chat(const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  RenderedPrompt out;
  // The template reads messages[0] unconditionally, which jinja refuses for an empty list.
  if (messages.empty()) {
    out.error = "no messages: the Gemma 3 chat template needs at least one";
    return out;
  }
  std::string first_user_prefix;
  size_t first = 0;
  if (messages[0].role == "system") {
    const ChatMessage& system = messages[0];
    if (!system.content_is_list) {
      first_user_prefix = system.content;  // not trimmed, unlike every other content
    } else if (system.parts.empty() || system.parts[0].type != "text") {
      // The template takes content[0]['text'], undefined without a leading text part.
      out.error =
          "message 0 (system) must begin with a text part: the Gemma 3 chat template "
          "uses the first part's text as the system prompt";
      return out;
    } else {
      first_user_prefix = system.parts[0].text;  // only the first part, and not trimmed
    }
    first_user_prefix += "\n\n";
    first = 1;
  }
  out.text = "<bos>";
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    // Even slots must be user turns; odd slots may be any role but user (tool, a late system, a
    // developer message all render under their own name).
    const bool expect_user = (i - first) % 2 == 0;
    if ((m.role == "user") != expect_user) {
      out.text.clear();
      out.error = RoleError(i, m.role, expect_user);
      return out;
    }
    out.text += "<start_of_turn>";
    out.text += m.role == "assistant" ? "model" : m.role;
    out.text += "\n";
    if (i == first) out.text += first_user_prefix;
    AppendContent(m, &out.text);
    out.text += "<end_of_turn>\n";
  }
  if (add_generation_prompt) out.text += "<start_of_turn>model\n";
  return out;
}

namespace {

class Gemma3ChatTemplate final : public ChatTemplate {
 public:
  ChatFamily family() const override { return ChatFamily::kGemma3; }
  std::string_view name() const override { return "gemma3"; }
  RenderedPrompt Render(const std::vector<ChatMessage>& messages,
                        const ChatTemplateOptions& options) const override {
    // OpenAI's developer role is the system role under a newer name; Gemma 3's template knows
    // only the older one.
    // Tools, calls and results go in as text first: the template renders none of them.
    std::vector<ChatMessage> renamed = Gemma3ToolMessages(
        messages, options.tools, options.tool_choice, options.parallel_tool_calls);
    for (ChatMessage& m : renamed) {
      if (m.role == "developer") m.role = "system";
    }
    return RenderGemma3Chat(renamed, options.add_generation_prompt);
  }
  std::optional<ReasoningSyntax> reasoning_syntax() const override { return std::nullopt; }
  ToolCallFormat tool_call_format() const override { return ToolCallFormat::kFencedJson; }
  std::vector<std::string> end_of_turn_texts() const override { return {"<end_of_turn>", "<eos>"}; }
  std::vector<std::string> marker_texts() const override { return {}; }
};

class Gemma4ChatTemplate final : public ChatTemplate {
 public:
  ChatFamily family() const override { return ChatFamily::kGemma4; }
  std::string_view name() const override { return "gemma4"; }
  RenderedPrompt Render(const std::vector<ChatMessage>& messages,
                        const ChatTemplateOptions& options) const override {
    return RenderGemma4Chat(AttachToolResults(messages), options);
  }
  std::optional<ReasoningSyntax> reasoning_syntax() const override {
    return Gemma4ReasoningSyntax();
  }
  ToolCallFormat tool_call_format() const override { return ToolCallFormat::kGemma4; }
  // "<|tool_response>" too: the model opens a tool response to ask for a tool's result, and the
  // server must hand the turn back there.
  std::vector<std::string> end_of_turn_texts() const override {
    return {"<turn|>", "<|tool_response>", "<eos>"};
  }
  std::vector<std::string> marker_texts() const override {
    const ReasoningSyntax syntax = Gemma4ReasoningSyntax();
    return {syntax.open, syntax.close, "<|tool_call>", "<tool_call|>", "<|\"|>"};
  }
};

}  // namespace

ChatTemplateChoice ChooseChatTemplate(std::string_view architecture,
                                      std::string_view chat_template_text) {
  if (chat_template_text.find("<|turn>") != std::string_view::npos) {
    return {ChatFamily::kGemma4, "tokenizer.chat_template uses Gemma 4's <|turn> markers"};
  }
  if (chat_template_text.find("<start_of_turn>") != std::string_view::npos) {
    return {ChatFamily::kGemma3, "tokenizer.chat_template uses Gemma 3's <start_of_turn> markers"};
  }
  const std::string about_text = chat_template_text.empty()
                                     ? "no tokenizer.chat_template"
                                     : "a tokenizer.chat_template of no known family";
  if (architecture == "gemma4") {
    return {ChatFamily::kGemma4, "general.architecture is gemma4 (" + about_text + ")"};
  }
  return {ChatFamily::kGemma3, "general.architecture is '" + std::string(architecture) + "' (" +
                                   about_text + "): Gemma 3's format"};
}

std::unique_ptr<ChatTemplate> MakeChatTemplate(ChatFamily family) {
  switch (family) {
    case ChatFamily::kGemma4:
      return std::make_unique<Gemma4ChatTemplate>();
    case ChatFamily::kGemma3:
      break;
  }
  return std::make_unique<Gemma3ChatTemplate>();
}

}  // namespace gs::api
