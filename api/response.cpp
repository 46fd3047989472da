#include "api/response.h"

#include "api/json_body.h"

namespace gs::api {
namespace {

using nlohmann::json;

// JSON strings must be valid UTF-8; token text need not be. Invalid bytes become U+FFFD.
std::string ValidUtf8(const std::string& bytes) {
  return json::parse(json(bytes).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

json BytesJson(const std::string& s) {
  json bytes = json::array();
  for (unsigned char c : s) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [...]}], "refusal": null}.
json ChatLogprobsJson(const std::vector<TokenLogprobs>& entries) {
  json content = json::array();
  for (const TokenLogprobs& e : entries) {
    json top = json::array();
    for (const TopLogprob& t : e.top) {
      top.push_back(
          {{"token", ValidUtf8(t.token)}, {"logprob", t.logprob}, {"bytes", BytesJson(t.token)}});
    }
    content.push_back({{"token", ValidUtf8(e.token)},
                       {"logprob", e.logprob},
                       {"bytes", BytesJson(e.token)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

// Legacy completions logprobs: parallel arrays plus text offsets.
json TextLogprobsJson(const std::vector<TokenLogprobs>& entries, int64_t text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(),
       offsets = json::array();
  for (const TokenLogprobs& e : entries) {
    tokens.push_back(ValidUtf8(e.token));
    token_logprobs.push_back(e.logprob);
    json top = json::object();
    for (const TopLogprob& t : e.top) top[ValidUtf8(t.token)] = t.logprob;
    top_logprobs.push_back(top);
    offsets.push_back(text_offset);
    text_offset += static_cast<int64_t>(e.token.size());
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_logprobs},
          {"top_logprobs", top_logprobs},
          {"text_offset", offsets}};
}

json FinishJson(const std::string& reason) { return reason.empty() ? json(nullptr) : json(reason); }

}  // namespace

json UsageJson(const Usage& u) {
  json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  if (u.cached_tokens) j["prompt_tokens_details"] = {{"cached_tokens", *u.cached_tokens}};
  return j;
}

json ChatCompletionJson(const ResponseHeader& h, const std::vector<ChoiceResult>& choices,
                        const Usage& usage) {
  json out_choices = json::array();
  for (const ChoiceResult& c : choices) {
    // With calls and no text, content is null (OpenAI's shape); without calls it stays a string.
    const json content = c.text.empty() && !c.tool_calls.empty() ? json(nullptr) : json(c.text);
    json message = {{"role", "assistant"}, {"content", content}, {"refusal", nullptr}};
    if (!c.reasoning.empty()) message["reasoning_content"] = c.reasoning;
    if (!c.tool_calls.empty()) {
      json calls = json::array();
      for (const ToolCallResult& call : c.tool_calls) {
        calls.push_back({{"id", call.id},
                         {"type", "function"},
                         {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
      }
      message["tool_calls"] = std::move(calls);
    }
    out_choices.push_back(
        {{"index", c.index},
         {"message", message},
         {"logprobs", c.has_logprobs ? ChatLogprobsJson(c.logprobs) : json(nullptr)},
         {"finish_reason", FinishJson(c.finish_reason)}});
  }
  return {{"id", h.id},
          {"object", "chat.completion"},
          {"created", h.created},
          {"model", h.model},
          {"choices", out_choices},
          {"usage", UsageJson(usage)},
          {"system_fingerprint", nullptr}};
}

json TextCompletionJson(const ResponseHeader& h, const std::vector<ChoiceResult>& choices,
                        const Usage& usage) {
  json out_choices = json::array();
  for (const ChoiceResult& c : choices) {
    out_choices.push_back(
        {{"index", c.index},
         {"text", c.text},
         {"logprobs", c.has_logprobs ? TextLogprobsJson(c.logprobs, 0) : json(nullptr)},
         {"finish_reason", FinishJson(c.finish_reason)}});
  }
  return {{"id", h.id},
          {"object", "text_completion"},
          {"created", h.created},
          {"model", h.model},
          {"choices", out_choices},
          {"usage", UsageJson(usage)},
          {"system_fingerprint", nullptr}};
}

json ChatChunkJson(const ResponseHeader& h, const ChunkDelta& d, bool include_usage) {
  json delta = json::object();
  if (d.role_delta) {
    delta["role"] = "assistant";
    delta["content"] = "";
  }
  if (d.reasoning) delta["reasoning_content"] = *d.reasoning;
  if (d.text) delta["content"] = *d.text;
  if (!d.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCallChunk& call : d.tool_calls) {
      if (call.opens) {
        calls.push_back({{"index", call.index},
                         {"id", call.id},
                         {"type", "function"},
                         {"function", {{"name", call.name}, {"arguments", ""}}}});
      } else {
        calls.push_back({{"index", call.index}, {"function", {{"arguments", call.arguments}}}});
      }
    }
    delta["tool_calls"] = std::move(calls);
  }
  json choice = {{"index", d.index},
                 {"delta", delta},
                 {"logprobs", d.has_logprobs ? ChatLogprobsJson(d.logprobs) : json(nullptr)},
                 {"finish_reason", FinishJson(d.finish_reason)}};
  json j = {
      {"id", h.id},       {"object", "chat.completion.chunk"}, {"created", h.created},
      {"model", h.model}, {"choices", json::array({choice})},  {"system_fingerprint", nullptr}};
  if (include_usage) j["usage"] = nullptr;
  return j;
}

json TextChunkJson(const ResponseHeader& h, const ChunkDelta& d, bool include_usage) {
  json choice = {
      {"index", d.index},
      {"text", d.text.value_or("")},
      {"logprobs", d.has_logprobs ? TextLogprobsJson(d.logprobs, d.text_offset) : json(nullptr)},
      {"finish_reason", FinishJson(d.finish_reason)}};
  json j = {
      {"id", h.id},       {"object", "text_completion"},      {"created", h.created},
      {"model", h.model}, {"choices", json::array({choice})}, {"system_fingerprint", nullptr}};
  if (include_usage) j["usage"] = nullptr;
  return j;
}

json UsageChunkJson(const ResponseHeader& h, const char* object, const Usage& usage) {
  return {{"id", h.id},
          {"object", object},
          {"created", h.created},
          {"model", h.model},
          {"choices", json::array()},
          {"usage", UsageJson(usage)},
          {"system_fingerprint", nullptr}};
}

json ModelJson(const std::string& id, int64_t created) {
  return {{"id", id}, {"object", "model"}, {"created", created}, {"owned_by", "gemma-serve"}};
}

std::string SseEvent(const json& j) { return "data: " + DumpJson(j) + "\n\n"; }

}  // namespace gs::api
