// Function calling as a request asks for it: the tools offered, how the model may use them
// (OpenAI's tool_choice and parallel_tool_calls), and how each model family is shown them.
//
// Gemma 4 has tool tokens and its chat template renders tools, calls and results natively; the
// OpenAI shape of a conversation is mapped onto the template's: `tool` messages become the
// preceding assistant message's `tool_responses` (AttachToolResults), as Google's Gemma 4
// function-calling guide shows them.
//
// Gemma 3 has no tool tokens and its template renders no tools. This server prompts it with a
// convention (docs/tools.md; Google's function-calling guide for Gemma recommends the same
// shape): the functions as JSON in the first user turn with the instruction to answer with a
// fenced block per call,
//   ```tool_call
//   {"name": "NAME", "arguments": {...}}
//   ```
// earlier calls replayed in that form in their model turns, and tool results given back as user
// turns, each result in a ```tool_result fence (Gemma3ToolMessages).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/chat_message.h"

namespace gs::api {

enum class ToolChoiceMode {
  kNone,      // the model is not offered the tools, and its output is not read for calls
  kAuto,      // it may answer or call
  kRequired,  // it must call at least one (a grammar enforces it on Gemma 3)
  kFunction,  // it must call `function` (likewise)
};

struct ToolChoice {
  ToolChoiceMode mode = ToolChoiceMode::kNone;
  std::string function;  // kFunction only
};

// The tools of one request, validated (request.h lists the rules).
struct ToolConfig {
  // As the client sent them ({"type": "function", "function": {name, description?,
  // parameters?, strict?}}): the Gemma 4 template renders this JSON.
  std::vector<nlohmann::json> tools;
  std::vector<std::string> names;  // tools[i].function.name, in order
  // Default: "auto" with tools, "none" without (OpenAI's defaults).
  ToolChoice choice;
  bool parallel_tool_calls = true;  // false: at most one call comes back

  // Whether the model is shown the tools and its output read for calls.
  bool active() const { return !tools.empty() && choice.mode != ToolChoiceMode::kNone; }
};

// Gemma 4: every run of `tool` messages right after an assistant message with tool calls is
// moved into that message's tool_responses: the function's name found by tool_call_id among its
// calls (the message's `name` when no call matches, else "unknown"), the content parsed as JSON
// when it is JSON (so an object result renders key by key) and kept as a string otherwise, as
// llama.cpp does. Other `tool` messages are left as they are (the template renders them as
// turns of role "tool").
std::vector<ChatMessage> AttachToolResults(const std::vector<ChatMessage>& messages);

// Gemma 3: the messages rewritten to the convention above, for the Gemma 3 template to render.
// `tools` may be empty (a conversation with calls in its history whose request offers no tools
// now): the calls and results are still rewritten, the instruction is not added. Tool results
// merge with each other and with a user message right after them into one user turn, so the
// template's alternation holds for the OpenAI shape user, assistant+calls, tool..., assistant.
// `tools` are rendered only when non-empty (the caller passes none for tool_choice "none").
std::vector<ChatMessage> Gemma3ToolMessages(const std::vector<ChatMessage>& messages,
                                            const std::vector<nlohmann::json>& tools,
                                            const ToolChoice& choice, bool parallel_tool_calls);

}  // namespace gs::api
