// RenderGemma4Chat: tests/golden/gemma4_chat_template.jinja transcribed macro by macro. Each
// function below names the macro or block it reproduces; the comments note the template's quirks
// that are kept on purpose (the model was tuned on its output, and clients compare prompts with
// what transformers renders).
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/chat_template.h"
#include "api/jinja_text.h"

namespace gs::api {
namespace {

using json = nlohmann::json;
using jinja::Get;
using jinja::Str;
using jinja::Truthy;
using jinja::Upper;

constexpr std::string_view kQuote = "<|\"|>";  // Gemma 4's string delimiter token

// `{{ v }}` and `v | upper` on a value that may be undefined (nullptr): jinja prints "".
std::string StrOrEmpty(const json* v) { return v == nullptr ? std::string() : Str(*v); }
std::string UpperOf(const json* v) { return Upper(StrOrEmpty(v)); }
bool TruthyOf(const json* v) { return v != nullptr && Truthy(*v); }

class Gemma4Renderer {
 public:
  Gemma4Renderer(const std::vector<ChatMessage>& messages, const ChatTemplateOptions& options)
      : messages_(messages), options_(options) {}

  RenderedPrompt Run();

 private:
  // The first error sticks; the output is discarded then, so later steps need not stop early.
  void Fail(std::string error) {
    if (error_.empty()) error_ = std::move(error);
  }

  // `for x in v`: a list's items, a string's characters, a dict's keys; anything else is the
  // TypeError Python raises.
  std::vector<json> Iterate(const json& v, std::string_view what);

  void FormatParameters(const json& properties, std::string* out);
  void FormatFunctionDeclaration(const json& tool, std::string* out);
  void FormatArgument(const json& argument, bool escape_keys, std::string* out);
  void AppendQuotedList(const json& items, std::string_view what, std::string* out);
  void RenderSystemTurn();
  void RenderMessage(const ChatMessage& m);
  void RenderToolCalls(const ChatMessage& m);
  void RenderToolResponses(const ChatMessage& m);
  void RenderContent(const ChatMessage& m, bool is_model);

  const std::vector<ChatMessage>& messages_;
  const ChatTemplateOptions& options_;
  std::string out_;
  std::string error_;
  // ns.prev_message_type == 'tool_response' after the last message: the generation prompt then
  // does not open a new model turn.
  bool prev_is_tool_response_ = false;
};

std::vector<json> Gemma4Renderer::Iterate(const json& v, std::string_view what) {
  std::vector<json> items;
  if (v.is_array()) {
    items.assign(v.begin(), v.end());
  } else if (v.is_object()) {
    for (const auto& [key, value] : v.items()) items.emplace_back(key);
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    for (size_t i = 0; i < s.size();) {
      size_t len = 1;  // one UTF-8 sequence, as Python iterates code points
      while (i + len < s.size() && (static_cast<unsigned char>(s[i + len]) & 0xC0) == 0x80) ++len;
      items.emplace_back(s.substr(i, len));
      i += len;
    }
  } else {
    Fail(std::string(what) + " is not iterable (" + std::string(v.type_name()) + ")");
  }
  return items;
}

// `<|"|>item<|"|>` for each item, comma-separated (the `required` lists).
void Gemma4Renderer::AppendQuotedList(const json& items, std::string_view what, std::string* out) {
  const std::vector<json> list = Iterate(items, what);
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) *out += ',';
    *out += kQuote;
    *out += Str(list[i]);
    *out += kQuote;
  }
}

// Macro format_argument: a value in the template's syntax.
void Gemma4Renderer::FormatArgument(const json& argument, bool escape_keys, std::string* out) {
  if (argument.is_string()) {
    *out += kQuote;
    *out += argument.get_ref<const std::string&>();
    *out += kQuote;
  } else if (argument.is_boolean()) {
    *out += argument.get<bool>() ? "true" : "false";
  } else if (argument.is_object()) {
    *out += '{';
    bool first = true;
    for (const auto& [key, value] : jinja::DictSort(argument)) {
      if (!first) *out += ',';
      first = false;
      if (escape_keys) {
        *out += kQuote;
        *out += key;
        *out += kQuote;
      } else {
        *out += key;
      }
      *out += ':';
      FormatArgument(*value, escape_keys, out);
    }
    *out += '}';
  } else if (argument.is_array()) {
    *out += '[';
    for (size_t i = 0; i < argument.size(); ++i) {
      if (i > 0) *out += ',';
      FormatArgument(argument[i], escape_keys, out);
    }
    *out += ']';
  } else {
    *out += Str(argument);  // numbers as Python prints them, null as "None"
  }
}

// Macro format_parameters: the properties of an object schema. Kept quirks: the standard keys
// (description, type, properties, required, nullable) are skipped as property names; an object
// or array property writes ",properties:{" / ",items:{" with a leading comma even when nothing
// precedes it, and no comma before its "type:"; an object property without "properties"
// renders its own other keys as properties.
void Gemma4Renderer::FormatParameters(const json& properties, std::string* out) {
  if (!properties.is_object()) {
    // dictsort calls .items() on whatever it gets.
    return Fail("'" + std::string(properties.type_name()) + "' object has no attribute 'items'");
  }
  static constexpr std::string_view kStandardKeys[] = {"description", "type", "properties",
                                                       "required", "nullable"};
  bool found_first = false;
  for (const auto& [key, value_ptr] : jinja::DictSort(properties)) {
    const json& value = *value_ptr;
    bool is_standard = false;
    for (const std::string_view standard : kStandardKeys) is_standard |= key == standard;
    if (is_standard) continue;
    if (found_first) *out += ',';
    found_first = true;
    *out += key;
    *out += ":{";
    bool add_comma = false;
    if (const json* description = Get(&value, "description"); TruthyOf(description)) {
      *out += "description:";
      *out += kQuote;
      *out += Str(*description);
      *out += kQuote;
      add_comma = true;
    }
    if (TruthyOf(Get(&value, "nullable"))) {
      if (add_comma) *out += ',';
      add_comma = true;
      *out += "nullable:true";
    }
    const std::string type = UpperOf(Get(&value, "type"));
    if (type == "STRING") {
      if (const json* enum_values = Get(&value, "enum"); TruthyOf(enum_values)) {
        if (add_comma) *out += ',';
        add_comma = true;
        *out += "enum:";
        FormatArgument(*enum_values, /*escape_keys=*/true, out);
      }
    } else if (type == "OBJECT") {
      *out += ",properties:{";
      const json* nested = Get(&value, "properties");
      if (nested != nullptr && nested->is_object()) {
        FormatParameters(*nested, out);
      } else if (value.is_object()) {
        FormatParameters(value, out);
      }
      *out += '}';
      if (const json* required = Get(&value, "required"); TruthyOf(required)) {
        *out += ",required:[";
        AppendQuotedList(*required, "required", out);
        *out += ']';
      }
    } else if (type == "ARRAY") {
      const json* items = Get(&value, "items");
      if (items != nullptr && items->is_object() && !items->empty()) {
        *out += ",items:{";
        bool items_found_first = false;
        for (const auto& [item_key, item_value_ptr] : jinja::DictSort(*items)) {
          const json& item_value = *item_value_ptr;
          if (item_value.is_null()) continue;
          if (items_found_first) *out += ',';
          items_found_first = true;
          if (item_key == "properties") {
            *out += "properties:{";
            if (item_value.is_object()) FormatParameters(item_value, out);
            *out += '}';
          } else if (item_key == "required") {
            *out += "required:[";
            AppendQuotedList(item_value, "items.required", out);
            *out += ']';
          } else if (item_key == "type") {
            *out += "type:";
            if (item_value.is_string()) {
              FormatArgument(json(Upper(item_value.get_ref<const std::string&>())), true, out);
            } else {
              json upper = json::array();  // item_value | map('upper') | list
              for (const json& t : Iterate(item_value, "items.type"))
                upper.push_back(Upper(Str(t)));
              FormatArgument(upper, true, out);
            }
          } else {
            *out += item_key;
            *out += ':';
            FormatArgument(item_value, /*escape_keys=*/true, out);
          }
        }
        *out += '}';
      }
    }
    if (add_comma) *out += ',';
    *out += "type:";
    *out += kQuote;
    *out += type;
    *out += kQuote;
    *out += '}';
  }
}

// Macro format_function_declaration. Kept quirks: parameters without a truthy "type" lose their
// closing brace; a response declaration closes the declaration's brace with its own.
void Gemma4Renderer::FormatFunctionDeclaration(const json& tool, std::string* out) {
  const json* function = Get(&tool, "function");
  if (function == nullptr) {
    // tool_data['function']['name'] on an undefined value.
    return Fail("a tool has no 'function' (the Gemma 4 template reads tool['function']['name'])");
  }
  *out += "declaration:";
  *out += StrOrEmpty(Get(function, "name"));
  *out += "{description:";
  *out += kQuote;
  *out += StrOrEmpty(Get(function, "description"));
  *out += kQuote;
  if (const json* params = Get(function, "parameters"); TruthyOf(params)) {
    *out += ",parameters:{";
    if (const json* properties = Get(params, "properties"); TruthyOf(properties)) {
      *out += "properties:{";
      FormatParameters(*properties, out);
      *out += "},";
    }
    if (const json* required = Get(params, "required"); TruthyOf(required)) {
      *out += "required:[";
      AppendQuotedList(*required, "parameters.required", out);
      *out += "],";
    }
    if (const json* type = Get(params, "type"); TruthyOf(type)) {
      *out += "type:";
      *out += kQuote;
      *out += Upper(Str(*type));
      *out += kQuote;
      *out += '}';
    }
  }
  // 'response' in tool_data['function']: a key of a dict, a substring of a string, an item of a
  // list; Python refuses the test on anything else.
  bool has_response = false;
  if (function->is_object()) {
    has_response = function->contains("response");
  } else if (function->is_string()) {
    has_response = function->get_ref<const std::string&>().find("response") != std::string::npos;
  } else if (function->is_array()) {
    for (const json& item : *function) has_response |= item == "response";
  } else {
    return Fail("argument of type '" + std::string(function->type_name()) +
                "' is not iterable (tool['function'])");
  }
  if (has_response) {
    const json* response = Get(function, "response");
    *out += ",response:{";
    if (const json* description = Get(response, "description"); TruthyOf(description)) {
      *out += "description:";
      *out += kQuote;
      *out += Str(*description);
      *out += kQuote;
      *out += ',';
    }
    if (const std::string type = UpperOf(Get(response, "type")); type == "OBJECT") {
      *out += "type:";
      *out += kQuote;
      *out += type;
      *out += kQuote;
      *out += '}';
    }
  }
  *out += '}';
}

// Macro strip_thinking: drops every "<|channel>...<channel|>" span (and an unclosed
// "<|channel>..." at the end of each piece), then trims.
std::string StripThinking(std::string_view text) {
  constexpr std::string_view kOpen = "<|channel>";
  constexpr std::string_view kClose = "<channel|>";
  std::string result;
  size_t start = 0;
  while (true) {
    const size_t close = text.find(kClose, start);
    const std::string_view piece = text.substr(
        start, close == std::string_view::npos ? std::string_view::npos : close - start);
    result.append(piece.substr(0, piece.find(kOpen)));  // all of it when there is no open marker
    if (close == std::string_view::npos) break;
    start = close + kClose.size();
  }
  return std::string(jinja::Trim(result));
}

// The system turn's content: `messages[0]['content'] | trim`. A list prints as Python prints it.
std::string SystemContent(const ChatMessage& m) {
  if (!m.content_is_list) return std::string(jinja::Trim(m.content));
  std::string repr = "[";
  for (size_t i = 0; i < m.parts.size(); ++i) {
    const ContentPart& part = m.parts[i];
    if (i > 0) repr += ", ";
    // Each part as the client's dict would print, "type" first (the order clients send).
    repr += "{'type': " + jinja::ReprString(part.type);
    if (part.type == "text") repr += ", 'text': " + jinja::ReprString(part.text);
    repr += "}";
  }
  repr += "]";
  return std::string(jinja::Trim(repr));
}

void Gemma4Renderer::RenderSystemTurn() {
  const bool system_first = messages_[0].role == "system" || messages_[0].role == "developer";
  if (!options_.enable_thinking && options_.tools.empty() && !system_first) return;
  out_ += "<|turn>system\n";
  if (options_.enable_thinking) out_ += "<|think|>";
  if (system_first) out_ += SystemContent(messages_[0]);
  for (const json& tool : options_.tools) {
    std::string declaration;
    FormatFunctionDeclaration(tool, &declaration);
    out_ += "<|tool>";
    out_ += jinja::Trim(declaration);
    out_ += "<tool|>";
  }
  out_ += "<turn|>\n";
}

void Gemma4Renderer::RenderToolCalls(const ChatMessage& m) {
  for (const ToolCall& call : m.tool_calls) {
    out_ += "<|tool_call>call:" + call.name + "{";
    if (call.arguments.is_object()) {
      bool first = true;
      for (const auto& [key, value] : jinja::DictSort(call.arguments)) {
        if (!first) out_ += ',';
        first = false;
        out_ += key;
        out_ += ':';
        FormatArgument(*value, /*escape_keys=*/false, &out_);
      }
    } else if (call.arguments.is_string()) {
      out_ += call.arguments.get_ref<const std::string&>();
    }
    out_ += "}<tool_call|>";
  }
}

void Gemma4Renderer::RenderToolResponses(const ChatMessage& m) {
  for (const ToolResponse& r : m.tool_responses) {
    out_ += "<|tool_response>response:";
    out_ += r.name.value_or("unknown");
    out_ += '{';
    if (r.response.is_object()) {
      bool first = true;
      for (const auto& [key, value] : jinja::DictSort(r.response)) {
        if (!first) out_ += ',';
        first = false;
        out_ += key;
        out_ += ':';
        FormatArgument(*value, /*escape_keys=*/false, &out_);
      }
    } else {
      out_ += "value:";
      FormatArgument(r.response, /*escape_keys=*/false, &out_);
    }
    out_ += "}<tool_response|>";
  }
}

void Gemma4Renderer::RenderContent(const ChatMessage& m, bool is_model) {
  if (!m.content_is_list) {
    out_ += is_model ? StripThinking(m.content) : std::string(jinja::Trim(m.content));
    return;
  }
  for (const ContentPart& part : m.parts) {
    if (part.type == "text") {
      out_ += is_model ? StripThinking(part.text) : std::string(jinja::Trim(part.text));
    } else if (part.type == "image") {
      out_ += "\n\n<|image|>\n\n";
      prev_is_tool_response_ = false;
    } else if (part.type == "audio") {
      out_ += "<|audio|>";
      prev_is_tool_response_ = false;
    } else if (part.type == "video") {
      out_ += "\n\n<|video|>\n\n";
      prev_is_tool_response_ = false;
    }
    // Any other part type: the template writes nothing for it.
  }
}

void Gemma4Renderer::RenderMessage(const ChatMessage& m) {
  prev_is_tool_response_ = false;
  const bool is_model = m.role == "assistant";
  out_ += "<|turn>";
  out_ += is_model ? "model" : m.role;
  out_ += '\n';
  RenderToolCalls(m);
  if (!m.tool_responses.empty()) {
    RenderToolResponses(m);
    prev_is_tool_response_ = true;
  }
  RenderContent(m, is_model);
  const bool has_content = m.content_is_list ? !m.parts.empty() : !m.content.empty();
  // Results without content leave the turn open: the model continues after them.
  if (m.tool_responses.empty() || has_content) out_ += "<turn|>\n";
}

RenderedPrompt Gemma4Renderer::Run() {
  RenderedPrompt result;
  // The template reads messages[0]['role'] unconditionally, which jinja refuses for an empty list.
  if (messages_.empty()) {
    result.error = "no messages: the Gemma 4 chat template needs at least one";
    return result;
  }
  out_ = "<bos>";
  RenderSystemTurn();
  const bool system_first = messages_[0].role == "system" || messages_[0].role == "developer";
  for (size_t i = system_first ? 1 : 0; i < messages_.size(); ++i) RenderMessage(messages_[i]);
  if (options_.add_generation_prompt) {
    if (!prev_is_tool_response_) out_ += "<|turn>model\n";
    if (!options_.enable_thinking) out_ += "<|channel>thought\n<channel|>";
  }
  if (!error_.empty()) {
    result.error = "the Gemma 4 chat template cannot render these messages: " + error_;
    return result;
  }
  result.text = std::move(out_);
  return result;
}

}  // namespace

RenderedPrompt RenderGemma4Chat(const std::vector<ChatMessage>& messages,
                                const ChatTemplateOptions& options) {
  return Gemma4Renderer(messages, options).Run();
}

}  // namespace gs::api
