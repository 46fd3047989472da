#include "api/tools.h"

#include <optional>
#include <string_view>
#include <utility>
#include <variant>

#include "api/json_body.h"

namespace gs::api {
namespace {

using json = nlohmann::json;

// A tool message's text: its string, or its text parts joined.
std::string ContentText(const ChatMessage& m) {
  if (!m.content_is_list) return m.content;
  std::string text;
  for (const ContentPart& part : m.parts) {
    if (part.type == "text") text += part.text;
  }
  return text;
}

// A result as JSON when it is JSON, else as the string it is. Parsed as the value of a wrapper
// object so that ParseJsonBody's checks (nesting depth above all: the templates recurse into
// values) apply to any JSON value, not only objects.
json ResultValue(const std::string& text) {
  std::variant<json, ApiError> parsed = ParseJsonBody("{\"value\":" + text + "}");
  if (json* wrapper = std::get_if<json>(&parsed); wrapper != nullptr && wrapper->size() == 1) {
    return std::move((*wrapper)["value"]);
  }
  return json(text);
}

// The function a tool message answers: found by tool_call_id among `calls`.
std::optional<std::string> ResultName(const ChatMessage& tool, const std::vector<ToolCall>& calls) {
  for (const ToolCall& call : calls) {
    if (!tool.tool_call_id.empty() && call.id == tool.tool_call_id) return call.name;
  }
  if (!tool.name.empty()) return tool.name;
  return std::nullopt;
}

std::string Dump(const json& j) { return DumpJson(j); }

// Text put before (or after) a message's own content; list content gets it in its first text
// part so that the template's per-part trim does not eat the separating blank line.
void Prepend(std::string_view text, ChatMessage* m) {
  if (!m->content_is_list) {
    m->content = std::string(text) + m->content;
    return;
  }
  for (ContentPart& part : m->parts) {
    if (part.type == "text") {
      part.text = std::string(text) + part.text;
      return;
    }
  }
  m->parts.insert(m->parts.begin(), ContentPart{.type = "text", .text = std::string(text)});
}

void Append(std::string_view text, ChatMessage* m) {
  if (!m->content_is_list) {
    m->content += text;
    return;
  }
  m->parts.push_back(ContentPart{.type = "text", .text = std::string(text)});
}

std::string Gemma3Instruction(const std::vector<json>& tools, const ToolChoice& choice,
                              bool parallel_tool_calls) {
  json functions = json::array();
  for (const json& tool : tools) functions.push_back(tool["function"]);
  std::string text =
      "You can call functions. To call one, answer with only this block, one block per call:\n"
      "```tool_call\n"
      "{\"name\": \"function_name\", \"arguments\": {\"parameter\": \"value\"}}\n"
      "```\n";
  switch (choice.mode) {
    case ToolChoiceMode::kFunction:
      text += "You must call the function " + choice.function + ".\n";
      break;
    case ToolChoiceMode::kRequired:
      text += "You must call at least one function.\n";
      break;
    default:
      text += "When no function helps, answer in plain text instead.\n";
  }
  if (!parallel_tool_calls) text += "Call at most one function.\n";
  text += "\nThe functions, as JSON:\n" + Dump(functions) + "\n\n";
  return text;
}

std::string Gemma3CallText(const ToolCall& call) {
  return "```tool_call\n" + Dump(json{{"name", call.name}, {"arguments", call.arguments}}) +
         "\n```";
}

}  // namespace

std::vector<ChatMessage> AttachToolResults(const std::vector<ChatMessage>& messages) {
  std::vector<ChatMessage> out;
  out.reserve(messages.size());
  for (size_t msg_idx = 0; msg_idx < messages.size(); ++msg_idx) {
    out.push_back(messages[msg_idx]);
    ChatMessage& m = out.back();
    if (m.role != "assistant" || m.tool_calls.empty()) continue;
    while (msg_idx + 1 < messages.size() && messages[msg_idx + 1].role == "tool") {
      const ChatMessage& tool = messages[++msg_idx];
      m.tool_responses.push_back(
          {.name = ResultName(tool, m.tool_calls), .response = ResultValue(ContentText(tool))});
    }
  }
  return out;
}

std::vector<ChatMessage> Gemma3ToolMessages(const std::vector<ChatMessage>& messages,
                                            const std::vector<json>& tools,
                                            const ToolChoice& choice, bool parallel_tool_calls) {
  std::vector<ChatMessage> out;
  out.reserve(messages.size());
  bool instructed = tools.empty();
  const std::vector<ToolCall>* last_calls = nullptr;
  for (size_t msg_idx = 0; msg_idx < messages.size(); ++msg_idx) {
    const ChatMessage& m = messages[msg_idx];
    if (m.role == "tool") {
      // A run of results is one user turn, joined with the user message right after it.
      ChatMessage results;
      results.role = "user";
      for (; msg_idx < messages.size() && messages[msg_idx].role == "tool"; ++msg_idx) {
        const ChatMessage& tool = messages[msg_idx];
        json result = {{"name", nullptr}, {"content", ResultValue(ContentText(tool))}};
        if (last_calls != nullptr) {
          if (std::optional<std::string> name = ResultName(tool, *last_calls)) {
            result["name"] = *name;
          }
        } else if (!tool.name.empty()) {
          result["name"] = tool.name;
        }
        if (!results.content.empty()) results.content += "\n";
        results.content += "```tool_result\n" + Dump(result) + "\n```";
      }
      if (msg_idx < messages.size() && messages[msg_idx].role == "user") {
        ChatMessage merged = messages[msg_idx];
        Prepend(results.content + "\n\n", &merged);
        out.push_back(std::move(merged));
      } else {
        out.push_back(std::move(results));
        --msg_idx;  // the loop's increment steps onto the message after the run
      }
      continue;
    }
    out.push_back(m);
    ChatMessage& copy = out.back();
    if (copy.role == "user" && !instructed) {
      Prepend(Gemma3Instruction(tools, choice, parallel_tool_calls), &copy);
      instructed = true;
    }
    if (copy.role == "assistant" && !copy.tool_calls.empty()) {
      last_calls = &m.tool_calls;
      std::string calls;
      for (const ToolCall& call : copy.tool_calls) {
        calls += (calls.empty() ? "" : "\n") + Gemma3CallText(call);
      }
      const bool has_content = copy.content_is_list ? !copy.parts.empty() : !copy.content.empty();
      Append((has_content ? "\n" : "") + calls, &copy);
      copy.tool_calls.clear();
    }
  }
  return out;
}

}  // namespace gs::api
