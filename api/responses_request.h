// OpenAI's Responses API request (POST /v1/responses) as data, mapped onto a chat request so that
// generation, tools, reasoning and validation are the chat path's own:
//   - `input` a string is one user message; a list holds items: messages (role user, system,
//     developer or assistant; content a string or input_text / output_text parts),
//     function_call items (an assistant turn's tool_calls; consecutive calls share one turn) and
//     function_call_output items (tool messages); reasoning items are dropped (no Gemma template
//     renders an earlier turn's thoughts);
//   - `instructions` is a system message placed first; it is not part of the conversation a
//     later previous_response_id carries on (OpenAI's rule: instructions do not carry over);
//   - `previous_response_id`: the stored response's conversation (its input items, history
//     included, then its output items) goes before this request's input;
//   - tools are flat ({type:"function", name, description?, parameters?, strict?}) and become
//     chat tools; tool_choice "none" | "auto" | "required" | {type:"function", name};
//     max_output_tokens, temperature, top_p, parallel_tool_calls as in chat (and chat's
//     sampling extensions top_k, min_p, seed, stop and the penalties);
//     text.format {type: text | json_object | json_schema{name, schema, strict?}} becomes
//     response_format (refused there while structured output is not served);
//     reasoning.effort becomes reasoning_effort (thinking on for Gemma 4).
// Errors name the Responses field (input[2].role, tools[0].name, max_output_tokens), never the
// chat field it was mapped to. Fields this server cannot honour (background, conversation,
// non-function tools, media parts, item_reference items) are refused by name.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/api_error.h"
#include "api/request.h"

namespace gs::api {

struct ResponsesRequest {
  ChatRequest chat;  // what is generated: instructions, history and input as chat messages
  // This request's conversation as normalized items (the previous response's first, then the
  // input): what a stored response hands to the next one. Instructions are not among them.
  std::vector<nlohmann::json> input_items;
  // How many of input_items came from previous_response_id (they lead); the rest are this
  // request's own input, which is all a stored response adds to its parent's conversation.
  size_t num_previous_items = 0;
  std::string previous_response_id;  // empty: none
  bool store = true;
  // The request fields a response object echoes (instructions, tools, tool_choice, temperature,
  // top_p, parallel_tool_calls, text, reasoning, max_output_tokens, previous_response_id, store,
  // metadata, truncation), with OpenAI's defaults filled in.
  nlohmann::json echo;
};

// The conversation of a stored response (its input items, then its output items), or nullopt
// when there is none by that id.
using StoredItemsLookup =
    std::function<std::optional<std::vector<nlohmann::json>>(const std::string& id)>;

// Parses and maps a body; an unknown previous_response_id is a 404 naming it.
ParseResult<ResponsesRequest> ParseResponsesRequest(const nlohmann::json& body,
                                                    const RequestLimits& limits,
                                                    const StoredItemsLookup& lookup);

// 404 invalid_request_error for a response id the store does not hold, naming `param`.
ApiError ResponseNotFound(const std::string& id, std::string param);

}  // namespace gs::api
