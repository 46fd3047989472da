#include "api/chat_template.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gs::api {
namespace {

// Python's str.isspace(), which jinja's `trim` (str.strip()) uses: ASCII whitespace and the
// information separators, NEL, and the Unicode space separators and line/paragraph separators.
bool IsPythonSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// The code point encoded by exactly the bytes of `s`, or -1 when they are not one well-formed
// UTF-8 sequence. Only the whitespace test needs it, and no whitespace code point is encoded in
// more than 3 bytes, so ill-formed bytes simply count as content and are kept.
int64_t DecodeOne(std::string_view s) {
  if (s.empty()) return -1;
  const auto b0 = static_cast<uint8_t>(s[0]);
  size_t len = 0;
  uint32_t cp = 0;
  if (b0 < 0x80) {
    len = 1;
    cp = b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return -1;
  }
  if (s.size() != len) return -1;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len]) return -1;  // overlong
  return cp;
}

// Length of the UTF-8 sequence that starts with lead byte `b` (1 for a stray byte).
size_t SequenceLength(uint8_t b) {
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

// Jinja's `trim` filter: strips leading and trailing whitespace as Python does, so "\u00a0" or
// "\u3000" at the edges of a message goes too, where an ASCII-only trim would keep it.
std::string_view Trim(std::string_view s) {
  while (!s.empty()) {
    const size_t len = std::min(SequenceLength(static_cast<uint8_t>(s[0])), s.size());
    const int64_t cp = DecodeOne(s.substr(0, len));
    if (cp < 0 || !IsPythonSpace(static_cast<uint32_t>(cp))) break;
    s.remove_prefix(len);
  }
  while (!s.empty()) {
    // Back up over at most 3 continuation bytes to the sequence's lead byte.
    size_t start = s.size() - 1;
    while (start > 0 && s.size() - start < 4 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) {
      --start;
    }
    const int64_t cp = DecodeOne(s.substr(start));
    if (cp < 0 || !IsPythonSpace(static_cast<uint32_t>(cp))) break;
    s.remove_suffix(s.size() - start);
  }
  return s;
}

// One message's content as the template writes it inside its turn.
void AppendContent(const ChatMessage& m, std::string* out) {
  if (!m.content_is_list) {
    out->append(Trim(m.content));
    return;
  }
  for (const ContentPart& part : m.parts) {
    if (part.type == "image") {
      out->append("<start_of_image>");
    } else if (part.type == "text") {
      out->append(Trim(part.text));
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

}  // namespace gs::api
