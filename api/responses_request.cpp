#include "api/responses_request.h"

#include <string_view>
#include <utility>

#include "api/json_body.h"
#include "api/param_error.h"

namespace gs::api {
namespace {

using json = nlohmann::json;
using MaybeError = std::optional<ApiError>;

// The value of `key`, nullptr when absent or null (the SDKs send null for unset fields).
const json* Find(const json& obj, std::string_view key) {
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// A required string field.
MaybeError ReadString(const json& obj, const std::string& path, std::string_view key,
                      std::string* out) {
  const json* v = Find(obj, key);
  const std::string field = path + "." + std::string(key);
  if (v == nullptr) return Missing(field);
  if (!v->is_string()) return WrongType(field, "a string", *v);
  *out = v->get<std::string>();
  return std::nullopt;
}

// ---- Input items ---------------------------------------------------------------------------

bool IsMediaPart(std::string_view type) {
  return type == "input_image" || type == "input_file" || type == "input_audio";
}

// A message's content: a string, or parts of type input_text / output_text (refusal parts, which
// an assistant turn may carry back, count as text).
MaybeError NormalizeContent(const json& content, const std::string& path, json* out) {
  if (content.is_string()) {
    *out = content;
    return std::nullopt;
  }
  if (!content.is_array()) return WrongType(path, "a string or an array of content parts", content);
  *out = json::array();
  for (size_t part_idx = 0; part_idx < content.size(); ++part_idx) {
    const json& part = content[part_idx];
    const std::string part_path = Indexed(path, part_idx);
    if (!part.is_object()) return WrongType(part_path, "a content part object", part);
    std::string type;
    if (MaybeError e = ReadString(part, part_path, "type", &type)) return e;
    if (IsMediaPart(type)) {
      return InvalidParam(part_path,
                          "Image, audio and file input is not supported by this server "
                          "yet: '" +
                              part_path + "' has type '" + type + "'. Send text parts only.");
    }
    std::string text;
    if (type == "input_text" || type == "output_text") {
      if (MaybeError e = ReadString(part, part_path, "text", &text)) return e;
    } else if (type == "refusal") {
      if (MaybeError e = ReadString(part, part_path, "refusal", &text)) return e;
    } else {
      return BadJsonValue(part_path + ".type", "'input_text' or 'output_text'", part["type"]);
    }
    out->push_back({{"type", type == "input_text" ? "input_text" : "output_text"}, {"text", text}});
  }
  return std::nullopt;
}

MaybeError NormalizeMessage(const json& item, const std::string& path, json* out) {
  std::string role;
  if (MaybeError e = ReadString(item, path, "role", &role)) return e;
  if (role != "user" && role != "system" && role != "developer" && role != "assistant") {
    return BadJsonValue(path + ".role", "one of 'user', 'system', 'developer', 'assistant'",
                        item["role"]);
  }
  const json* content = Find(item, "content");
  if (content == nullptr) return Missing(path + ".content");
  json normalized;
  if (MaybeError e = NormalizeContent(*content, path + ".content", &normalized)) return e;
  *out = {{"type", "message"}, {"role", role}, {"content", std::move(normalized)}};
  return std::nullopt;
}

// Arguments are the JSON text of an object ("" reads as {}), as the model's own calls carry them.
MaybeError NormalizeFunctionCall(const json& item, const std::string& path, json* out) {
  std::string call_id, name, arguments;
  if (MaybeError e = ReadString(item, path, "call_id", &call_id)) return e;
  if (MaybeError e = ReadString(item, path, "name", &name)) return e;
  if (MaybeError e = ReadString(item, path, "arguments", &arguments)) return e;
  if (!arguments.empty()) {
    std::variant<json, ApiError> parsed = ParseJsonBody(arguments);
    if (std::holds_alternative<ApiError>(parsed)) {
      return InvalidParam(path + ".arguments", "Invalid value for '" + path +
                                                   ".arguments': expected the JSON text of an "
                                                   "object, but got \"" +
                                                   Quote(arguments) + "\".");
    }
  }
  *out = {
      {"type", "function_call"}, {"call_id", call_id}, {"name", name}, {"arguments", arguments}};
  return std::nullopt;
}

// The output is a string or a list of input_text parts (joined); media outputs are refused.
MaybeError NormalizeFunctionCallOutput(const json& item, const std::string& path, json* out) {
  std::string call_id;
  if (MaybeError e = ReadString(item, path, "call_id", &call_id)) return e;
  const json* output = Find(item, "output");
  if (output == nullptr) return Missing(path + ".output");
  std::string text;
  if (output->is_string()) {
    text = output->get<std::string>();
  } else {
    json parts;
    if (MaybeError e = NormalizeContent(*output, path + ".output", &parts)) return e;
    for (const json& part : parts) text += part["text"].get<std::string>();
  }
  *out = {{"type", "function_call_output"}, {"call_id", call_id}, {"output", text}};
  return std::nullopt;
}

// One item as this server keeps it (only the fields it renders); nullopt-free `out` stays null
// for items that render nothing (reasoning).
MaybeError NormalizeItem(const json& item, const std::string& path, json* out) {
  if (!item.is_object()) return WrongType(path, "an input item object", item);
  const json* type = Find(item, "type");
  // An item with a role and no type is a message (the SDK's EasyInputMessage).
  if (type == nullptr) {
    if (Find(item, "role") != nullptr) return NormalizeMessage(item, path, out);
    return Missing(path + ".type");
  }
  if (!type->is_string()) return WrongType(path + ".type", "a string", *type);
  const std::string& name = type->get_ref<const std::string&>();
  if (name == "message") return NormalizeMessage(item, path, out);
  if (name == "function_call") return NormalizeFunctionCall(item, path, out);
  if (name == "function_call_output") return NormalizeFunctionCallOutput(item, path, out);
  if (name == "reasoning") return std::nullopt;
  if (name == "item_reference") return NotSupported(path, "Input items of type 'item_reference'");
  return BadJsonValue(path + ".type",
                      "one of 'message', 'function_call', 'function_call_output', 'reasoning'",
                      *type);
}

MaybeError NormalizeInput(const json* input, std::vector<json>* out) {
  if (input == nullptr) return Missing("input");
  if (input->is_string()) {
    out->push_back({{"type", "message"}, {"role", "user"}, {"content", *input}});
    return std::nullopt;
  }
  if (!input->is_array()) return WrongType("input", "a string or an array of input items", *input);
  for (size_t item_idx = 0; item_idx < input->size(); ++item_idx) {
    json item;
    if (MaybeError e = NormalizeItem((*input)[item_idx], Indexed("input", item_idx), &item)) {
      return e;
    }
    if (!item.is_null()) out->push_back(std::move(item));
  }
  return std::nullopt;
}

// ---- Items -> chat messages ----------------------------------------------------------------

json ChatContent(const json& content) {
  if (content.is_string()) return content;
  json parts = json::array();
  for (const json& part : content) parts.push_back({{"type", "text"}, {"text", part["text"]}});
  return parts;
}

// Normalized items -> chat messages. Calls right after an assistant turn (or another call) join
// that turn's tool_calls: one model turn, as the model produced it.
json ChatMessages(const std::vector<json>& items) {
  json messages = json::array();
  for (const json& item : items) {
    const std::string& type = item["type"].get_ref<const std::string&>();
    if (type == "message") {
      messages.push_back({{"role", item["role"]}, {"content", ChatContent(item["content"])}});
    } else if (type == "function_call") {
      if (messages.empty() || messages.back()["role"] != "assistant") {
        messages.push_back({{"role", "assistant"}, {"content", nullptr}});
      }
      json& turn = messages.back();
      if (!turn.contains("tool_calls")) turn["tool_calls"] = json::array();
      turn["tool_calls"].push_back(
          {{"id", item["call_id"]},
           {"type", "function"},
           {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}});
    } else {
      messages.push_back(
          {{"role", "tool"}, {"tool_call_id", item["call_id"]}, {"content", item["output"]}});
    }
  }
  return messages;
}

// ---- Other fields --------------------------------------------------------------------------

// Flat function tools -> chat's nested form; chat validates names, parameters and duplicates.
MaybeError MapTools(const json* tools, json* chat) {
  if (tools == nullptr) return std::nullopt;
  if (!tools->is_array()) return WrongType("tools", "an array of tools", *tools);
  json out = json::array();
  for (size_t tool_idx = 0; tool_idx < tools->size(); ++tool_idx) {
    const json& tool = (*tools)[tool_idx];
    const std::string path = Indexed("tools", tool_idx);
    if (!tool.is_object()) return WrongType(path, "a tool object", tool);
    const json* type = Find(tool, "type");
    if (type == nullptr) return Missing(path + ".type");
    if (*type != "function") {
      if (!type->is_string()) return WrongType(path + ".type", "a string", *type);
      return NotSupported(path + ".type", "Tools of type '" + Quote(type->get<std::string>()) +
                                              "' (only 'function' tools are)");
    }
    if (Find(tool, "name") == nullptr) return Missing(path + ".name");
    json function = json::object();
    for (const char* key : {"name", "description", "parameters", "strict"}) {
      if (const json* v = Find(tool, key)) function[key] = *v;
    }
    out.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  (*chat)["tools"] = std::move(out);
  return std::nullopt;
}

MaybeError MapToolChoice(const json* choice, json* chat) {
  if (choice == nullptr) return std::nullopt;
  if (choice->is_string()) {
    (*chat)["tool_choice"] = *choice;  // chat checks the mode
    return std::nullopt;
  }
  const std::string_view expected =
      "'none', 'auto', 'required' or {\"type\": \"function\", "
      "\"name\": ...}";
  if (!choice->is_object()) return WrongType("tool_choice", expected, *choice);
  const json* type = Find(*choice, "type");
  if (type == nullptr) return Missing("tool_choice.type");
  if (*type != "function") return BadJsonValue("tool_choice.type", "'function'", *type);
  const json* name = Find(*choice, "name");
  if (name == nullptr) return Missing("tool_choice.name");
  (*chat)["tool_choice"] = {{"type", "function"}, {"function", {{"name", *name}}}};
  return std::nullopt;
}

// text.format -> response_format.
MaybeError MapText(const json* text, json* chat) {
  if (text == nullptr) return std::nullopt;
  if (!text->is_object()) return WrongType("text", "an object", *text);
  const json* format = Find(*text, "format");
  if (format == nullptr) return std::nullopt;
  if (!format->is_object()) return WrongType("text.format", "an object", *format);
  const json* type = Find(*format, "type");
  if (type == nullptr) return Missing("text.format.type");
  if (*type == "text" || *type == "json_object") {
    (*chat)["response_format"] = {{"type", *type}};
    return std::nullopt;
  }
  if (*type != "json_schema") {
    return BadJsonValue("text.format.type", "'text', 'json_object' or 'json_schema'", *type);
  }
  json schema = json::object();
  for (const char* key : {"name", "schema", "strict", "description"}) {
    if (const json* v = Find(*format, key)) schema[key] = *v;
  }
  (*chat)["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(schema)}};
  return std::nullopt;
}

MaybeError MapReasoning(const json* reasoning, json* chat) {
  if (reasoning == nullptr) return std::nullopt;
  if (!reasoning->is_object()) return WrongType("reasoning", "an object", *reasoning);
  if (const json* effort = Find(*reasoning, "effort")) (*chat)["reasoning_effort"] = *effort;
  return std::nullopt;
}

// What chat calls a field, in an error, becomes what the Responses request called it.
ApiError RenameChatFields(ApiError e) {
  static const std::pair<std::string_view, std::string_view> kRenames[] = {
      {".function.", "."},
      {"tool_choice.function.name", "tool_choice.name"},
      {"max_completion_tokens", "max_output_tokens"},
      {"response_format", "text.format"},
      {"reasoning_effort", "reasoning.effort"},
      {"'messages'", "'input'"},
  };
  auto rename = [](std::string* s) {
    for (const auto& [from, to] : kRenames) {
      for (size_t pos = s->find(from); pos != std::string::npos; pos = s->find(from, pos)) {
        s->replace(pos, from.size(), to);
        pos += to.size();
      }
    }
  };
  if (e.param.rfind("messages", 0) == 0) e.param = "input";
  rename(&e.param);
  rename(&e.message);
  return e;
}

// The request fields a response echoes, with OpenAI's defaults where absent.
json EchoFields(const json& body) {
  auto or_default = [&](const char* key, json fallback) {
    const json* v = Find(body, key);
    return v != nullptr ? *v : fallback;
  };
  return {{"instructions", or_default("instructions", nullptr)},
          {"tools", or_default("tools", json::array())},
          {"tool_choice", or_default("tool_choice", "auto")},
          {"temperature", or_default("temperature", 1.0)},
          {"top_p", or_default("top_p", 1.0)},
          {"parallel_tool_calls", or_default("parallel_tool_calls", true)},
          {"text", or_default("text", {{"format", {{"type", "text"}}}})},
          {"reasoning", or_default("reasoning", {{"effort", nullptr}, {"summary", nullptr}})},
          {"max_output_tokens", or_default("max_output_tokens", nullptr)},
          {"previous_response_id", or_default("previous_response_id", nullptr)},
          {"store", or_default("store", true)},
          {"metadata", or_default("metadata", json::object())},
          {"truncation", or_default("truncation", "disabled")},
          {"background", false},
          {"user", or_default("user", nullptr)}};
}

MaybeError RefuseUnsupported(const json& body) {
  if (const json* v = Find(body, "background"); v != nullptr && *v != false) {
    return NotSupported("background", "Background responses");
  }
  if (Find(body, "conversation") != nullptr) {
    return NotSupported("conversation", "Conversations (use 'previous_response_id')");
  }
  if (Find(body, "prompt") != nullptr) return NotSupported("prompt", "Prompt templates");
  return std::nullopt;
}

// The chat body the Responses body stands for, and the items of its conversation.
MaybeError MapBody(const json& body, const StoredItemsLookup& lookup, ResponsesRequest* req,
                   json* chat) {
  if (MaybeError e = RefuseUnsupported(body)) return e;
  (*chat)["model"] = body.contains("model") ? body["model"] : json(nullptr);
  json messages = json::array();
  if (const json* instructions = Find(body, "instructions")) {
    if (!instructions->is_string()) return WrongType("instructions", "a string", *instructions);
    messages.push_back({{"role", "system"}, {"content", *instructions}});
  }
  if (const json* id = Find(body, "previous_response_id")) {
    if (!id->is_string()) return WrongType("previous_response_id", "a string", *id);
    req->previous_response_id = id->get<std::string>();
    std::optional<std::vector<json>> history = lookup(req->previous_response_id);
    if (!history) return ResponseNotFound(req->previous_response_id, "previous_response_id");
    // Stored items are output items as this server wrote them: normalized like input, they
    // render alike (and reasoning items drop out).
    for (const json& item : *history) {
      json normalized;
      if (MaybeError e = NormalizeItem(item, "previous_response_id", &normalized)) return e;
      if (!normalized.is_null()) req->input_items.push_back(std::move(normalized));
    }
    req->num_previous_items = req->input_items.size();
  }
  if (const json* store = Find(body, "store")) {
    if (!store->is_boolean()) return WrongType("store", "a boolean", *store);
    req->store = store->get<bool>();
  }
  if (MaybeError e = NormalizeInput(Find(body, "input"), &req->input_items)) return e;
  for (json& m : ChatMessages(req->input_items)) messages.push_back(std::move(m));
  (*chat)["messages"] = std::move(messages);
  if (MaybeError e = MapTools(Find(body, "tools"), chat)) return e;
  if (MaybeError e = MapToolChoice(Find(body, "tool_choice"), chat)) return e;
  if (MaybeError e = MapText(Find(body, "text"), chat)) return e;
  if (MaybeError e = MapReasoning(Find(body, "reasoning"), chat)) return e;
  static constexpr std::pair<const char*, const char*> kSameMeaning[] = {
      {"temperature", "temperature"},
      {"top_p", "top_p"},
      {"parallel_tool_calls", "parallel_tool_calls"},
      {"max_output_tokens", "max_completion_tokens"},
      {"stream", "stream"},
      // Sampling extensions chat takes too (vLLM's Responses API takes them likewise).
      {"top_k", "top_k"},
      {"min_p", "min_p"},
      {"seed", "seed"},
      {"stop", "stop"},
      {"presence_penalty", "presence_penalty"},
      {"frequency_penalty", "frequency_penalty"},
      {"repetition_penalty", "repetition_penalty"},
  };
  for (const auto& [from, to] : kSameMeaning) {
    if (const json* v = Find(body, from)) (*chat)[to] = *v;
  }
  if (const json* metadata = Find(body, "metadata"); metadata && !metadata->is_object()) {
    return WrongType("metadata", "an object", *metadata);
  }
  return std::nullopt;
}

}  // namespace

ApiError ResponseNotFound(const std::string& id, std::string param) {
  ApiError e = InvalidParam(std::move(param), "Response with id '" + Quote(id) + "' not found.");
  e.status = 404;
  return e;
}

ParseResult<ResponsesRequest> ParseResponsesRequest(const json& body, const RequestLimits& limits,
                                                    const StoredItemsLookup& lookup) {
  if (!body.is_object()) return InvalidParam("", "The request body must be a JSON object.");
  ResponsesRequest req;
  json chat = json::object();
  if (MaybeError e = MapBody(body, lookup, &req, &chat)) return *e;
  ParseResult<ChatRequest> parsed = ParseChatRequest(chat, limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return RenameChatFields(std::move(*e));
  req.chat = std::move(std::get<ChatRequest>(parsed));
  req.echo = EchoFields(body);
  return req;
}

}  // namespace gs::api
