#include "server/generation.h"

#include <algorithm>

namespace gs {
namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

Generation::Generation(const Tokenizer& tokenizer, GenerationSpec spec)
    : tokenizer_(tokenizer),
      spec_(std::move(spec)),
      signal_(std::make_shared<StreamSignal>()),
      created_at_(std::chrono::steady_clock::now()) {}

Generation::~Generation() { Cancel(); }

bool Generation::Submit(Engine& engine) {
  std::vector<EngineRequest> requests;
  // Prompts are counted once per distinct prompt, as OpenAI does for n > 1.
  const std::vector<int32_t>* last_prompt = nullptr;
  for (const ChoiceSpec& cs : spec_.choices) {
    Choice c;
    c.index = cs.index;
    c.stream = std::make_shared<RequestStream>(signal_);
    c.detokenizer = std::make_unique<IncrementalDetokenizer>(tokenizer_, false);
    c.stop = std::make_unique<api::StopMatcher>(spec_.stop);
    if (spec_.reasoning) c.reasoning = std::make_unique<api::ReasoningParser>(*spec_.reasoning);
    if (spec_.tool_calls) c.tool_calls = std::make_unique<api::ToolCallParser>(*spec_.tool_calls);
    EngineRequest r;
    r.prompt = cs.prompt;
    r.sampling = spec_.sampling;
    r.sampling.seed = cs.seed;
    r.max_new_tokens = cs.max_new_tokens;
    r.stop_ids = spec_.stop_ids;
    r.want_logprobs = spec_.logprobs;
    r.num_top_logprobs = spec_.top_logprobs;
    r.grammar = spec_.grammar;
    r.token_trie = spec_.token_trie;
    r.stream = c.stream;
    requests.push_back(std::move(r));
    if (!last_prompt || *last_prompt != cs.prompt) {
      num_prompt_tokens_ += static_cast<int64_t>(cs.prompt.size());
    }
    last_prompt = &cs.prompt;
    choices_.push_back(std::move(c));
  }
  if (!engine.Submit(std::move(requests))) {
    choices_.clear();
    return false;
  }
  num_unfinished_ = static_cast<int32_t>(choices_.size());
  return true;
}

void Generation::Cancel() {
  for (Choice& c : choices_) {
    if (!c.finished) c.stream->Cancel();
  }
}

std::vector<ChoiceDelta> Generation::Poll(std::chrono::milliseconds timeout) {
  std::vector<ChoiceDelta> deltas;
  if (done()) return deltas;
  signal_->Wait(timeout);
  for (Choice& c : choices_) {
    RequestUpdate u;
    if (c.finished || !c.stream->Take(&u)) continue;
    ChoiceDelta d;
    d.index = c.index;
    Consume(c, u, &d);
    if (!d.text.empty() || !d.reasoning.empty() || !d.tool_calls.empty() || !d.logprobs.empty() ||
        !d.finish_reason.empty()) {
      deltas.push_back(std::move(d));
    }
  }
  return deltas;
}

std::string Generation::TokenText(Choice& c, int32_t id) const {
  if (std::find(spec_.marker_ids.begin(), spec_.marker_ids.end(), id) == spec_.marker_ids.end()) {
    return c.detokenizer->Push(id);
  }
  // A marker's text is ASCII, so bytes held for an unfinished UTF-8 character before it can never
  // complete: flushing them (as U+FFFD) is what the detokenizer would do on the next byte anyway.
  return c.detokenizer->Flush() + tokenizer_.TokenToPiece(id, /*render_special=*/true);
}

void Generation::Emit(Choice& c, std::string_view text, ChoiceDelta* d) {
  if (!c.reasoning) return EmitContent(c, text, d);
  const api::ReasoningDelta r = c.reasoning->Push(text);
  d->reasoning += r.reasoning;
  EmitContent(c, r.content, d);
}

void Generation::EmitContent(Choice& c, std::string_view content, ChoiceDelta* d) {
  if (!c.tool_calls) {
    d->text += content;
    return;
  }
  api::ToolCallDelta t = c.tool_calls->Push(content);
  d->text += t.content;
  for (api::ParsedToolCall& call : t.calls) d->tool_calls.push_back(std::move(call));
}

void Generation::Consume(Choice& c, const RequestUpdate& u, ChoiceDelta* d) {
  const auto now = std::chrono::steady_clock::now();
  if (u.scheduled_at != std::chrono::steady_clock::time_point{}) {
    if (!scheduled_at_ || u.scheduled_at < *scheduled_at_) scheduled_at_ = u.scheduled_at;
    num_cached_tokens_ = std::max(num_cached_tokens_, u.num_cached_tokens);
  }
  for (const SampledToken& t : u.tokens) {
    if (c.finished) break;  // tokens after a stop string belong to nobody
    ++num_completion_tokens_;
    if (!first_token_at_) first_token_at_ = now;
    if (c.last_token_at) inter_token_seconds_.push_back(Seconds(now - *c.last_token_at));
    c.last_token_at = now;
    if (std::find(spec_.stop_ids.begin(), spec_.stop_ids.end(), t.id) != spec_.stop_ids.end()) {
      continue;  // end of turn: finishes the choice, never part of the text
    }
    Emit(c, c.stop->Push(TokenText(c, t.id)), d);
    if (spec_.logprobs) {
      api::TokenLogprobs lp;
      lp.token = tokenizer_.TokenToPiece(t.id, false);
      lp.logprob = t.logprob;
      for (const TokenLogprob& alt : t.top) {
        lp.top.push_back({tokenizer_.TokenToPiece(alt.id, false), alt.logprob});
      }
      d->logprobs.push_back(std::move(lp));
    }
    if (c.stop->matched()) {
      c.stream->Cancel();
      c.finished = true;
      d->finish_reason = "stop";
    }
  }
  if (u.finish != FinishReason::kNone && !c.finished) {
    c.finished = true;
    Emit(c, c.stop->Push(c.detokenizer->Flush()), d);
    Emit(c, c.stop->Flush(), d);
    switch (u.finish) {
      case FinishReason::kStop:
        d->finish_reason = "stop";
        break;
      case FinishReason::kLength:
        d->finish_reason = "length";
        break;
      case FinishReason::kAbort:
        d->finish_reason = "abort";
        if (error_.empty()) error_ = "the request was aborted (the server is shutting down)";
        break;
      default:
        d->finish_reason = "error";
        if (error_.empty()) error_ = u.error.empty() ? "generation failed" : u.error;
    }
  }
  if (c.finished) {
    // Whatever the splits held back (a partial marker) is text of the part it was in; a thought
    // cut off by max_tokens or a stop string stays reasoning.
    if (c.reasoning) {
      const api::ReasoningDelta r = c.reasoning->Flush();
      d->reasoning += r.reasoning;
      EmitContent(c, r.content, d);
    }
    // A call that had not closed is not a call: its text is content. "length" stays "length":
    // a truncated reply is not a finished call.
    if (c.tool_calls) {
      d->text += c.tool_calls->Flush().content;
      if (d->finish_reason == "stop" && c.tool_calls->num_calls() > 0 &&
          spec_.finish_as_tool_calls) {
        d->finish_reason = "tool_calls";
      }
    }
    --num_unfinished_;
  }
}

double Generation::ttft_seconds() const {
  return first_token_at_ ? Seconds(*first_token_at_ - created_at_) : -1;
}

RequestRecord Generation::Record(const std::string& finished_reason) const {
  RequestRecord r;
  r.finished_reason = finished_reason;
  r.queue_seconds = scheduled_at_ ? Seconds(*scheduled_at_ - created_at_) : -1;
  r.ttft_seconds = ttft_seconds();
  r.inter_token_seconds = inter_token_seconds_;
  r.e2e_seconds = Seconds(std::chrono::steady_clock::now() - created_at_);
  r.num_prompt_tokens = num_prompt_tokens_;
  r.num_generation_tokens = num_completion_tokens_;
  return r;
}

}  // namespace gs
