// One message of a chat conversation as the client sent it, after validation: the role and the
// content either as one string or as a list of parts (kept apart because chat templates render
// the two shapes differently: Gemma 3 trims each text part on its own).
#pragma once

#include <string>
#include <vector>

namespace gs::api {

struct ContentPart {
  std::string type;  // "text" (media parts are refused until multimodal input lands)
  std::string text;
};

struct ChatMessage {
  std::string role;     // system, developer, user, assistant, tool
  std::string content;  // when !content_is_list; empty for null content
  bool content_is_list = false;
  std::vector<ContentPart> parts;  // when content_is_list
  std::string name;                // optional participant name (not rendered by Gemma 3)
  std::string tool_call_id;        // role "tool" only
};

}  // namespace gs::api
