#include "api/chat_template.h"

namespace gs::api {
namespace {

// Jinja's `trim`: strips leading and trailing whitespace.
std::string Trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(ws);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

}  // namespace

RenderedPrompt RenderGemma3Chat(const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  RenderedPrompt out;
  out.text = "<bos>";
  size_t first = 0;
  std::string first_user_prefix;
  if (!messages.empty() && (messages[0].role == "system" || messages[0].role == "developer")) {
    first_user_prefix = messages[0].content + "\n\n";
    first = 1;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const bool expect_user = (i - first) % 2 == 0;
    if ((m.role == "user") != expect_user || (m.role != "user" && m.role != "assistant")) {
      out.error = "conversation roles must alternate user/assistant/user/assistant/... (message " +
                  std::to_string(i) + " has role '" + m.role + "')";
      return out;
    }
    const std::string role = m.role == "assistant" ? "model" : m.role;
    out.text += "<start_of_turn>" + role + "\n";
    if (i == first) out.text += first_user_prefix;
    out.text += Trim(m.content) + "<end_of_turn>\n";
  }
  if (add_generation_prompt) out.text += "<start_of_turn>model\n";
  return out;
}

}  // namespace gs::api
