// One message of a chat conversation as the client sent it, after validation: the role and the
// content either as one string or as a list of parts (kept apart because chat templates render
// the two shapes differently: Gemma 3 trims each text part on its own), and what an assistant
// turn may carry besides content (tool calls, tool results, its reasoning).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gs::api {

struct ContentPart {
  // "text"; "image", "audio" and "video" are the media placeholders the templates render (the
  // request parser still refuses media parts until multimodal input lands).
  std::string type;
  std::string text;  // type "text" only
};

// A call the assistant made, as OpenAI's `tool_calls[i]` carries it.
struct ToolCall {
  // The client's call id: "tool" messages refer to it; the templates never render it.
  std::string id;
  std::string name;
  // An object, rendered key by key in the template's own syntax; a string (OpenAI's wire form) is
  // pasted verbatim, as the template does, so callers that want the object form parse it first.
  nlohmann::json arguments;
};

// One result in Gemma's own shape for tool results on an assistant message (`tool_responses`):
// the Gemma 4 template renders these inside the model turn.
struct ToolResponse {
  std::optional<std::string> name;  // absent: the template writes "unknown"
  nlohmann::json response;          // an object renders key by key, anything else as {value:...}
};

struct ChatMessage {
  std::string role;     // system, developer, user, assistant, tool
  std::string content;  // when !content_is_list; empty for null content
  bool content_is_list = false;
  std::vector<ContentPart> parts;    // when content_is_list
  std::string name;                  // optional participant name (rendered by no Gemma template)
  std::string tool_call_id;          // role "tool" only
  std::vector<ToolCall> tool_calls;  // assistant only
  std::vector<ToolResponse> tool_responses;  // assistant only
  // An earlier assistant turn's reasoning (`reasoning_content`). Neither Gemma template renders
  // it: Gemma 4's drops thoughts from earlier turns (and strips any left inside the content).
  std::string reasoning;
};

}  // namespace gs::api
