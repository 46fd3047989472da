// One API request's choices as the HTTP thread sees them while the engine runs them: submits one
// engine request per choice, turns their token events into text (UTF-8 safe; stop strings
// matched across token boundaries and held back until they cannot match; for chat, the model's
// thought channel split out of the content as reasoning), and cancels them when a stop string
// matches or the client goes away. Chat and completions, streamed or not, all read a request
// through this, so a streamed answer is the non-streamed one cut into pieces.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/reasoning_parser.h"
#include "api/response.h"
#include "api/stop_matcher.h"
#include "api/tool_call_parser.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "engine/tokenizer/detokenizer.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/metrics.h"

namespace gs {

struct ChoiceSpec {
  int32_t index = 0;
  std::vector<int32_t> prompt;
  int64_t max_new_tokens = 1;
  uint64_t seed = 0;
};

struct GenerationSpec {
  std::vector<ChoiceSpec> choices;
  SamplingParams sampling;        // seed is per choice
  std::vector<int32_t> stop_ids;  // end of generation ids (finish "stop", not in the text)
  std::vector<std::string> stop;  // stop strings (matched on the text before any reasoning split)
  // Tokens rendered as their text even when the vocabulary makes them control tokens (which are
  // otherwise dropped): the markers the reasoning split reads.
  std::vector<int32_t> marker_ids;
  // Set: the text is split into content and reasoning by this syntax (chat on a model that
  // thinks in a channel).
  std::optional<api::ReasoningSyntax> reasoning;
  // Set: tool calls are parsed out of the content (after the reasoning split) by this syntax
  // (chat with tools offered).
  std::optional<api::ToolCallSyntax> tool_calls;
  // A choice that made calls and stopped finishes with "tool_calls" (OpenAI's answer for "auto"
  // and "required"); false keeps "stop" (its answer for a named tool_choice).
  bool finish_as_tool_calls = true;
  bool logprobs = false;
  int32_t top_logprobs = 0;
  // Set: every choice's output is held to this grammar (EngineRequest::grammar).
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  std::shared_ptr<const grammar::TokenTrie> token_trie;
};

// What one choice produced since the last Poll.
struct ChoiceDelta {
  int32_t index = 0;
  std::string text;       // content (all the text when there is no reasoning split)
  std::string reasoning;  // the thought channel's text (only with GenerationSpec::reasoning)
  std::vector<api::ParsedToolCall> tool_calls;  // calls completed since the last Poll, in order
  std::vector<api::TokenLogprobs> logprobs;
  std::string finish_reason;  // set on the choice's last delta
};

class Generation {
 public:
  Generation(const Tokenizer& tokenizer, GenerationSpec spec);
  ~Generation();  // cancels whatever still runs

  // All choices or none: false when the engine's queue is full.
  bool Submit(Engine& engine);
  // Waits up to `timeout` for news and returns it, one delta per choice that has some.
  std::vector<ChoiceDelta> Poll(std::chrono::milliseconds timeout);
  bool done() const { return num_unfinished_ == 0; }
  int32_t num_choices() const { return static_cast<int32_t>(spec_.choices.size()); }
  bool wants_logprobs() const { return spec_.logprobs; }
  // The client is gone: the engine drops the choices at its next step.
  void Cancel();
  // Non-empty when the engine failed a choice (the response becomes an error).
  const std::string& error() const { return error_; }

  int64_t num_prompt_tokens() const { return num_prompt_tokens_; }
  int64_t num_completion_tokens() const { return num_completion_tokens_; }
  int64_t num_cached_tokens() const { return num_cached_tokens_; }
  double ttft_seconds() const;  // < 0 before the first token
  // The request's contribution to /metrics, once done (or cancelled).
  RequestRecord Record(const std::string& finished_reason) const;

 private:
  struct Choice {
    int32_t index = 0;
    std::shared_ptr<RequestStream> stream;
    std::unique_ptr<IncrementalDetokenizer> detokenizer;
    std::unique_ptr<api::StopMatcher> stop;
    std::unique_ptr<api::ReasoningParser> reasoning;  // when the spec asks for the split
    std::unique_ptr<api::ToolCallParser> tool_calls;  // when the spec asks for calls
    bool finished = false;
    std::optional<std::chrono::steady_clock::time_point> last_token_at;
  };
  void Consume(Choice& c, const RequestUpdate& u, ChoiceDelta* d);
  // The text of one sampled token (markers rendered as text).
  std::string TokenText(Choice& c, int32_t id) const;
  // Text past the stop matcher, split into content and reasoning when the spec asks.
  static void Emit(Choice& c, std::string_view text, ChoiceDelta* d);
  // Content past the reasoning split, with tool calls taken out when the spec asks.
  static void EmitContent(Choice& c, std::string_view content, ChoiceDelta* d);

  const Tokenizer& tokenizer_;
  GenerationSpec spec_;
  std::shared_ptr<StreamSignal> signal_;
  std::vector<Choice> choices_;
  int32_t num_unfinished_ = 0;
  std::string error_;
  int64_t num_prompt_tokens_ = 0;
  int64_t num_completion_tokens_ = 0;
  int64_t num_cached_tokens_ = 0;
  std::chrono::steady_clock::time_point created_at_;
  std::optional<std::chrono::steady_clock::time_point> scheduled_at_;
  std::optional<std::chrono::steady_clock::time_point> first_token_at_;
  std::vector<double> inter_token_seconds_;
};

}  // namespace gs
