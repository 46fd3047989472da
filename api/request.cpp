#include "api/request.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <utility>

#include "api/json_body.h"
#include "api/param_error.h"

namespace gs::api {
namespace {

using json = nlohmann::json;
// nullopt: fine; otherwise the first thing wrong with the request.
using MaybeError = std::optional<ApiError>;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// ---- Messages ------------------------------------------------------------------------------

// Counts from JSON are size_t and limits int32: compare without a negative limit wrapping.
bool Exceeds(size_t count, int32_t limit) {
  return limit < 0 || count > static_cast<size_t>(limit);
}

// ---- Numbers -------------------------------------------------------------------------------

// nlohmann keeps non-negative integers as uint64 and negative ones as int64; both become int64
// here, and a uint64 above INT64_MAX is refused rather than wrapped. Non-integers (1.5, and 5.0
// too, as OpenAI does) are not integers.
std::optional<int64_t> AsInt64(const json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kInt64Max)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

std::string IntRangeText(int64_t min, int64_t max) {
  return "an integer between " + std::to_string(min) + " and " + std::to_string(max);
}

// An integer in [min, max] or an error naming `path`.
MaybeError ReadIntValue(const json& v, const std::string& path, int64_t min, int64_t max,
                        int64_t* out) {
  const std::string expected = IntRangeText(min, max);
  if (!v.is_number_integer()) return WrongType(path, expected, v);
  const std::optional<int64_t> i = AsInt64(v);
  if (!i || *i < min || *i > max) return BadValue(path, expected, Describe(v));
  *out = *i;
  return std::nullopt;
}

// Token ids index the vocabulary; a bad one must never reach an embedding lookup
// (llama.cpp #12178).
MaybeError ReadTokenId(const json& v, const std::string& path, std::string_view what,
                       int32_t num_vocab, int32_t* out) {
  const std::string expected =
      "a token id between 0 and " + std::to_string(static_cast<int64_t>(num_vocab) - 1);
  if (!v.is_number_integer()) {
    return InvalidParam(path, "Invalid " + std::string(what) + " in '" + path + "': expected " +
                                  expected + ", but got " + Describe(v) + ".");
  }
  const std::optional<int64_t> id = AsInt64(v);
  if (!id || *id < 0 || *id >= num_vocab) {
    return InvalidParam(path, "Invalid " + std::string(what) + " in '" + path +
                                  "': " + Describe(v) + " is not " + expected + ".");
  }
  *out = static_cast<int32_t>(*id);
  return std::nullopt;
}

MaybeError ReadTokenIds(const json& v, const std::string& path, std::string_view what,
                        int32_t num_vocab, std::vector<int32_t>* out) {
  if (!v.is_array()) return WrongType(path, "an array of token ids", v);
  out->reserve(v.size());
  for (size_t token_idx = 0; token_idx < v.size(); ++token_idx) {
    int32_t id = 0;
    const std::string element = std::string(what) + " at index " + std::to_string(token_idx);
    if (MaybeError e = ReadTokenId(v[token_idx], path, element, num_vocab, &id)) return e;
    out->push_back(id);
  }
  return std::nullopt;
}

struct NumberRange {
  double min;
  double max;
  bool min_exclusive = false;  // (min, max] rather than [min, max]

  std::string Text() const {
    return std::string("a number in ") + (min_exclusive ? "(" : "[") + FormatNumber(min) + ", " +
           FormatNumber(max) + "]";
  }
  bool Contains(double v) const {
    return std::isfinite(v) && (min_exclusive ? v > min : v >= min) && v <= max;
  }
};

// ---- FieldReader ---------------------------------------------------------------------------

// Typed reads of one JSON object's fields, each named in errors by its path ("messages[2].role").
// The first error sticks and later reads do nothing, so a parser reads its fields in order and
// checks ok() once at the end. A field that is absent or null is "not given": the OpenAI SDKs
// send null for unset optional fields.
class FieldReader {
 public:
  // `obj` must be an object and outlive the reader; `prefix` is prepended to keys in params.
  FieldReader(const json& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  bool ok() const { return !error_.has_value(); }
  const ApiError& error() const { return *error_; }

  void Fail(ApiError error) {
    if (!error_) error_ = std::move(error);
  }
  void Check(MaybeError error) {
    if (error) Fail(std::move(*error));
  }

  std::string Path(std::string_view key) const { return prefix_ + std::string(key); }

  // The value of `key`; nullptr when absent, null, or after an error.
  const json* Find(std::string_view key) const {
    if (!ok()) return nullptr;
    const auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  void ReadBool(std::string_view key, bool* out) {
    const json* v = Find(key);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Fail(WrongType(Path(key), "a boolean", *v));
    *out = v->get<bool>();
  }

  void ReadString(std::string_view key, std::string* out) {
    const json* v = Find(key);
    if (v == nullptr) return;
    if (!v->is_string()) return Fail(WrongType(Path(key), "a string", *v));
    *out = v->get<std::string>();
  }

  // nullopt when not given or wrong (the error is then recorded).
  std::optional<int64_t> ReadInt(std::string_view key, int64_t min, int64_t max) {
    const json* v = Find(key);
    if (v == nullptr) return std::nullopt;
    int64_t i = 0;
    if (MaybeError e = ReadIntValue(*v, Path(key), min, max, &i)) {
      Fail(std::move(*e));
      return std::nullopt;
    }
    return i;
  }

  // Finite numbers in `range` (integers included); NaN and Inf never pass.
  void ReadFloat(std::string_view key, NumberRange range, float* out) {
    const json* v = Find(key);
    if (v == nullptr) return;
    if (!v->is_number()) return Fail(WrongType(Path(key), range.Text(), *v));
    const double d = v->get<double>();
    // The float is checked too: 1e-50 is in (0, 1] as a double but rounds to 0.0f (a top_p of
    // 0, a repetition_penalty that divides by 0).
    const float f = static_cast<float>(d);
    if (!range.Contains(d) || !range.Contains(f)) {
      return Fail(BadValue(Path(key), range.Text(), Describe(*v)));
    }
    *out = f;
  }

 private:
  const json& obj_;
  std::string prefix_;
  MaybeError error_;
};

// ---- Generation parameters -----------------------------------------------------------------

void ReadMaxTokens(FieldReader& r, const RequestLimits& limits, GenerationParams* p) {
  // Both are validated; the current name wins because clients that send both (LiteLLM and
  // friends fill in a default max_tokens) mean the explicit max_completion_tokens.
  const std::optional<int64_t> legacy = r.ReadInt("max_tokens", 1, limits.max_tokens_cap);
  const std::optional<int64_t> current =
      r.ReadInt("max_completion_tokens", 1, limits.max_tokens_cap);
  p->max_tokens = current ? current : legacy;
}

void ReadTopK(FieldReader& r, const RequestLimits& limits, GenerationParams* p) {
  const json* v = r.Find("top_k");
  if (v == nullptr) return;
  int64_t top_k = 0;
  const std::string expected = "-1 or 0 (off) or a positive integer";
  if (MaybeError e = ReadIntValue(*v, "top_k", -1, kInt32Max, &top_k)) {
    // Same check, with the message saying what -1 and 0 mean.
    return r.Fail(v->is_number_integer() ? BadValue("top_k", expected, Describe(*v))
                                         : WrongType("top_k", expected, *v));
  }
  if (top_k <= 0) top_k = 0;
  // Keeping more tokens than the vocabulary has is keeping all of them.
  if (limits.num_vocab > 0 && top_k > limits.num_vocab) top_k = limits.num_vocab;
  p->top_k = static_cast<int32_t>(top_k);
}

// OpenAI's seed is an int64; unsigned clients send up to 2^64 - 1. Negative values wrap to
// their two's complement so every accepted seed maps to one distinct uint64.
void ReadSeed(FieldReader& r, GenerationParams* p) {
  const json* v = r.Find("seed");
  if (v == nullptr) return;
  const std::string_view expected = "an integer between -2^63 and 2^64 - 1";
  if (!v->is_number_integer()) return r.Fail(WrongType("seed", expected, *v));
  p->seed = v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
}

// A decimal token id as logit_bias spells it: digits only (a leading '-' is read so that "-1"
// reports as out of range rather than as not a number).
std::optional<int64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  int64_t value = 0;
  const auto result = std::from_chars(s.data(), s.data() + s.size(), value);
  if (result.ec != std::errc() || result.ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

void ReadLogitBias(FieldReader& r, const RequestLimits& limits, GenerationParams* p) {
  const json* v = r.Find("logit_bias");
  if (v == nullptr) return;
  const std::string path = "logit_bias";
  if (!v->is_object()) return r.Fail(WrongType(path, "an object of token id -> bias", *v));
  if (Exceeds(v->size(), limits.max_logit_bias)) {
    return r.Fail(InvalidParam(path, "Too many 'logit_bias' entries: " + std::to_string(v->size()) +
                                         " (the limit is " + std::to_string(limits.max_logit_bias) +
                                         ")."));
  }
  const NumberRange bias_range{-100, 100};
  for (const auto& [key, bias] : v->items()) {
    const std::optional<int64_t> id = ParseDecimal(key);
    if (!id) {
      return r.Fail(InvalidParam(
          path, "Invalid key in 'logit_bias': \"" + Quote(key) +
                    "\" is not a token id (keys are token ids written as decimal strings)."));
    }
    if (*id < 0 || *id >= limits.num_vocab) {
      return r.Fail(InvalidParam(path, "Invalid key in 'logit_bias': token id " +
                                           std::to_string(*id) + " is not between 0 and " +
                                           std::to_string(limits.num_vocab - 1LL) + "."));
    }
    // The whole map is one parameter to clients; the message names the entry.
    if (!bias.is_number() || !bias_range.Contains(bias.get<double>())) {
      return r.Fail(InvalidParam(path, "Invalid bias for token " + std::to_string(*id) +
                                           " in 'logit_bias': expected " + bias_range.Text() +
                                           ", but got " + Describe(bias) + "."));
    }
    const double b = bias.get<double>();
    p->logit_bias[static_cast<int32_t>(*id)] = static_cast<float>(b);
  }
}

MaybeError CheckStopString(const std::string& s, const RequestLimits& limits) {
  if (s.empty())
    return InvalidParam("stop", "Invalid value for 'stop': stop strings must not be empty.");
  if (Exceeds(s.size(), limits.max_stop_bytes)) {
    return InvalidParam("stop", "Invalid value for 'stop': a stop string is " +
                                    std::to_string(s.size()) + " bytes long (the limit is " +
                                    std::to_string(limits.max_stop_bytes) + ").");
  }
  return std::nullopt;
}

void ReadStop(FieldReader& r, const RequestLimits& limits, GenerationParams* p) {
  const json* v = r.Find("stop");
  if (v == nullptr) return;
  const std::string_view expected = "a string or an array of strings";
  if (v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    if (MaybeError e = CheckStopString(s, limits)) return r.Fail(std::move(*e));
    p->stop.push_back(s);
    return;
  }
  if (!v->is_array()) return r.Fail(WrongType("stop", expected, *v));
  if (Exceeds(v->size(), limits.max_stop)) {
    return r.Fail(InvalidParam("stop", "Too many stop strings: " + std::to_string(v->size()) +
                                           " (the limit is " + std::to_string(limits.max_stop) +
                                           ")."));
  }
  for (const json& s : *v) {
    if (!s.is_string()) return r.Fail(WrongType("stop", expected, s));
    if (MaybeError e = CheckStopString(s.get_ref<const std::string&>(), limits)) {
      return r.Fail(std::move(*e));
    }
    p->stop.push_back(s.get<std::string>());
  }
}

void ReadStopTokenIds(FieldReader& r, const RequestLimits& limits, GenerationParams* p) {
  const json* v = r.Find("stop_token_ids");
  if (v == nullptr) return;
  if (v->is_array() && Exceeds(v->size(), limits.max_stop_token_ids)) {
    return r.Fail(
        InvalidParam("stop_token_ids", "Too many 'stop_token_ids': " + std::to_string(v->size()) +
                                           " (the limit is " +
                                           std::to_string(limits.max_stop_token_ids) + ")."));
  }
  r.Check(ReadTokenIds(*v, "stop_token_ids", "token id", limits.num_vocab, &p->stop_token_ids));
}

void ReadStream(FieldReader& r, GenerationParams* p) {
  r.ReadBool("stream", &p->stream);
  const json* options = r.Find("stream_options");
  if (options == nullptr) return;
  if (!options->is_object()) return r.Fail(WrongType("stream_options", "an object", *options));
  // As OpenAI does: the options describe a stream, so asking for them without one is a mistake.
  if (!p->stream) {
    return r.Fail(
        InvalidParam("stream_options", "'stream_options' is only allowed when 'stream' is true."));
  }
  FieldReader options_reader(*options, "stream_options.");
  options_reader.ReadBool("include_usage", &p->include_usage);
  if (!options_reader.ok()) r.Fail(options_reader.error());
}

// The fields chat and completions share; `logprobs` differs between them and is read apart.
void ReadGenerationParams(FieldReader& r, const RequestLimits& limits, GenerationParams* p) {
  ReadMaxTokens(r, limits, p);
  r.ReadFloat("temperature", {0, 2}, &p->temperature);
  r.ReadFloat("top_p", {0, 1, /*min_exclusive=*/true}, &p->top_p);
  ReadTopK(r, limits, p);
  r.ReadFloat("min_p", {0, 1}, &p->min_p);
  r.ReadFloat("presence_penalty", {-2, 2}, &p->presence_penalty);
  r.ReadFloat("frequency_penalty", {-2, 2}, &p->frequency_penalty);
  r.ReadFloat("repetition_penalty", {0, 2, /*min_exclusive=*/true}, &p->repetition_penalty);
  ReadLogitBias(r, limits, p);
  ReadSeed(r, p);
  if (const std::optional<int64_t> n = r.ReadInt("n", 1, limits.max_n)) {
    p->n = static_cast<int32_t>(*n);
  }
  ReadStop(r, limits, p);
  ReadStopTokenIds(r, limits, p);
  r.ReadBool("ignore_eos", &p->ignore_eos);
  ReadStream(r, p);
}

// ---- Chat messages -------------------------------------------------------------------------

bool IsMediaPartType(std::string_view type) {
  static constexpr std::string_view kMedia[] = {
      "image_url", "image",     "input_image", "image_embeds", "input_audio", "audio_url",
      "audio",     "video_url", "video",       "input_video",  "file",        "input_file"};
  for (const std::string_view media : kMedia) {
    if (type == media) return true;
  }
  return false;
}

MaybeError ParseContentPart(const json& part, const std::string& path, ContentPart* out) {
  if (!part.is_object()) return WrongType(path, "a content part object", part);
  FieldReader r(part, path + ".");
  const json* type = r.Find("type");
  if (type == nullptr) return Missing(path + ".type");
  if (!type->is_string()) return WrongType(path + ".type", "a string", *type);
  out->type = type->get<std::string>();
  if (IsMediaPartType(out->type)) {
    return InvalidParam(path,
                        "Image, audio, video and file input is not supported by this "
                        "server yet: '" +
                            path + "' has type '" + out->type + "'. Send text parts only.");
  }
  if (out->type != "text") {
    return InvalidParam(path + ".type", "Invalid value for '" + path +
                                            ".type': expected 'text', but got '" +
                                            Quote(out->type) + "'.");
  }
  const json* text = r.Find("text");
  if (text == nullptr) return Missing(path + ".text");
  if (!text->is_string()) return WrongType(path + ".text", "a string", *text);
  out->text = text->get<std::string>();
  return std::nullopt;
}

MaybeError ParseContent(const json& m, FieldReader& r, ChatMessage* out) {
  const json* content = r.Find("content");
  if (content == nullptr) {
    // Only an assistant turn may go without content (it would carry tool calls instead).
    if (out->role == "assistant") return std::nullopt;
    if (!m.contains("content")) return Missing(r.Path("content"));
    return InvalidParam(r.Path("content"), "Invalid value for '" + r.Path("content") +
                                               "': content may be null only in assistant "
                                               "messages.");
  }
  if (content->is_string()) {
    out->content = content->get<std::string>();
    return std::nullopt;
  }
  if (!content->is_array()) {
    return WrongType(r.Path("content"), "a string or an array of content parts", *content);
  }
  out->content_is_list = true;
  out->parts.resize(content->size());
  for (size_t part_idx = 0; part_idx < content->size(); ++part_idx) {
    const std::string part_path = Indexed(r.Path("content"), part_idx);
    if (MaybeError e = ParseContentPart((*content)[part_idx], part_path, &out->parts[part_idx])) {
      return e;
    }
  }
  return std::nullopt;
}

bool IsKnownRole(std::string_view role) {
  return role == "system" || role == "developer" || role == "user" || role == "assistant" ||
         role == "tool";
}

// OpenAI sends arguments as the JSON text of an object; the templates want the object.
MaybeError ParseToolCallArguments(const json* v, const std::string& path, json* out) {
  if (v == nullptr) {
    *out = json::object();
    return std::nullopt;
  }
  if (v->is_object()) {
    *out = *v;
    return std::nullopt;
  }
  if (!v->is_string()) return WrongType(path, "a string holding a JSON object", *v);
  const std::string& text = v->get_ref<const std::string&>();
  if (text.empty()) {  // what some clients send for a function without parameters
    *out = json::object();
    return std::nullopt;
  }
  std::variant<json, ApiError> parsed = ParseJsonBody(text);
  if (std::holds_alternative<ApiError>(parsed)) {
    return InvalidParam(path, "Invalid value for '" + path +
                                  "': expected the JSON text of an object, but got \"" +
                                  Quote(text) + "\".");
  }
  *out = std::move(std::get<json>(parsed));
  return std::nullopt;
}

MaybeError ParseToolCall(const json& v, const std::string& path, ToolCall* out) {
  if (!v.is_object()) return WrongType(path, "a tool call object", v);
  FieldReader r(v, path + ".");
  r.ReadString("id", &out->id);
  if (const json* type = r.Find("type"); type != nullptr && *type != "function") {
    return BadValue(r.Path("type"), "'function'", Describe(*type));
  }
  const json* function = r.Find("function");
  if (!r.ok()) return r.error();
  if (function == nullptr) return Missing(r.Path("function"));
  if (!function->is_object()) return WrongType(r.Path("function"), "an object", *function);
  FieldReader f(*function, r.Path("function."));
  if (f.Find("name") == nullptr) return Missing(f.Path("name"));
  f.ReadString("name", &out->name);
  if (!f.ok()) return f.error();
  return ParseToolCallArguments(f.Find("arguments"), f.Path("arguments"), &out->arguments);
}

// An assistant turn's calls. An empty or null list is what some clients send by default; the
// legacy function_call is refused like the legacy `functions`.
MaybeError ParseToolCalls(FieldReader& r, ChatMessage* out) {
  if (r.Find("function_call") != nullptr) {
    return NotSupported(r.Path("function_call"), "The legacy 'function_call' (use 'tool_calls')");
  }
  const json* calls = r.Find("tool_calls");
  if (calls == nullptr) return std::nullopt;
  if (!calls->is_array()) return WrongType(r.Path("tool_calls"), "an array of tool calls", *calls);
  out->tool_calls.resize(calls->size());
  for (size_t call_idx = 0; call_idx < calls->size(); ++call_idx) {
    if (MaybeError e = ParseToolCall((*calls)[call_idx], Indexed(r.Path("tool_calls"), call_idx),
                                     &out->tool_calls[call_idx])) {
      return e;
    }
  }
  return std::nullopt;
}

MaybeError ParseMessage(const json& m, size_t msg_idx, ChatMessage* out) {
  const std::string path = Indexed("messages", msg_idx);
  if (!m.is_object()) return WrongType(path, "a message object", m);
  FieldReader r(m, path + ".");
  const json* role = r.Find("role");
  if (role == nullptr) return Missing(r.Path("role"));
  if (!role->is_string()) return WrongType(r.Path("role"), "a string", *role);
  out->role = role->get<std::string>();
  if (!IsKnownRole(out->role)) {
    return InvalidParam(r.Path("role"),
                        "Invalid value for '" + r.Path("role") +
                            "': expected one of 'system', 'developer', 'user', 'assistant', "
                            "'tool', but got '" +
                            Quote(out->role) + "'.");
  }
  if (MaybeError e = ParseContent(m, r, out)) return e;
  r.ReadString("name", &out->name);
  if (out->role == "tool") {
    if (r.Find("tool_call_id") == nullptr) return Missing(r.Path("tool_call_id"));
    r.ReadString("tool_call_id", &out->tool_call_id);
  }
  if (out->role == "assistant") {
    r.Check(ParseToolCalls(r, out));
    // An earlier turn's reasoning, as this server returns it; the templates do not render it.
    r.ReadString("reasoning_content", &out->reasoning);
  }
  if (!r.ok()) return r.error();
  return std::nullopt;
}

MaybeError ParseMessages(const json* messages, const RequestLimits& limits,
                         std::vector<ChatMessage>* out) {
  if (messages == nullptr) return Missing("messages");
  if (!messages->is_array()) return WrongType("messages", "an array of messages", *messages);
  if (messages->empty()) {
    return InvalidParam("messages",
                        "Invalid value for 'messages': it must hold at least one "
                        "message.");
  }
  if (Exceeds(messages->size(), limits.max_messages)) {
    return InvalidParam("messages", "Too many messages: " + std::to_string(messages->size()) +
                                        " (the limit is " + std::to_string(limits.max_messages) +
                                        ").");
  }
  out->resize(messages->size());
  for (size_t msg_idx = 0; msg_idx < messages->size(); ++msg_idx) {
    if (MaybeError e = ParseMessage((*messages)[msg_idx], msg_idx, &(*out)[msg_idx])) return e;
  }
  return std::nullopt;
}

// ---- Chat-only fields ----------------------------------------------------------------------

// ---- Tools ---------------------------------------------------------------------------------

constexpr size_t kMaxTools = 128;
constexpr size_t kMaxToolNameBytes = 64;

bool IsToolName(std::string_view name) {
  if (name.empty() || name.size() > kMaxToolNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

MaybeError ParseTool(const json& tool, const std::string& path, std::string* name) {
  if (!tool.is_object()) return WrongType(path, "a tool object", tool);
  FieldReader r(tool, path + ".");
  const json* type = r.Find("type");
  if (type == nullptr) return Missing(r.Path("type"));
  if (*type != "function") {
    return BadValue(
        r.Path("type"), "'function'",
        type->is_string() ? "'" + Quote(type->get<std::string>()) + "'" : Describe(*type));
  }
  const json* function = r.Find("function");
  if (function == nullptr) return Missing(r.Path("function"));
  if (!function->is_object()) return WrongType(r.Path("function"), "an object", *function);
  FieldReader f(*function, r.Path("function."));
  if (f.Find("name") == nullptr) return Missing(f.Path("name"));
  f.ReadString("name", name);
  if (f.ok() && !IsToolName(*name)) {
    return BadValue(f.Path("name"), "a name matching ^[a-zA-Z0-9_-]{1,64}$",
                    "'" + Quote(*name) + "'");
  }
  std::string description;
  f.ReadString("description", &description);
  bool strict = false;
  f.ReadBool("strict", &strict);
  if (const json* params = f.Find("parameters")) {
    const std::string params_path = f.Path("parameters");
    if (!params->is_object()) return WrongType(params_path, "a JSON Schema object", *params);
    if (const auto t = params->find("type"); t != params->end() && *t != "object") {
      return InvalidParam(params_path + ".type", "Invalid value for '" + params_path +
                                                     ".type': function parameters must be a "
                                                     "JSON Schema of type 'object'.");
    }
    if (const auto p = params->find("properties"); p != params->end() && !p->is_object()) {
      return WrongType(params_path + ".properties", "an object", *p);
    }
  }
  if (!f.ok()) return f.error();
  return std::nullopt;
}

void ReadToolChoice(FieldReader& r, ToolConfig* out) {
  const json* v = r.Find("tool_choice");
  out->choice.mode = out->tools.empty() ? ToolChoiceMode::kNone : ToolChoiceMode::kAuto;
  if (v == nullptr) return;
  const std::string_view expected =
      "'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}";
  if (v->is_string()) {
    const std::string& mode = v->get_ref<const std::string&>();
    if (mode == "none") {
      out->choice.mode = ToolChoiceMode::kNone;
      return;
    }
    if (mode != "auto" && mode != "required") {
      return r.Fail(BadValue("tool_choice", expected, "'" + Quote(mode) + "'"));
    }
    if (out->tools.empty()) {
      return r.Fail(InvalidParam("tool_choice", "Invalid value for 'tool_choice': '" + mode +
                                                    "' is only allowed when 'tools' are given."));
    }
    out->choice.mode = mode == "auto" ? ToolChoiceMode::kAuto : ToolChoiceMode::kRequired;
    return;
  }
  if (!v->is_object()) return r.Fail(WrongType("tool_choice", expected, *v));
  FieldReader c(*v, "tool_choice.");
  const json* type = c.Find("type");
  if (type == nullptr) return r.Fail(Missing("tool_choice.type"));
  if (*type != "function") {
    return r.Fail(BadValue(
        "tool_choice.type", "'function'",
        type->is_string() ? "'" + Quote(type->get<std::string>()) + "'" : Describe(*type)));
  }
  const json* function = c.Find("function");
  if (function == nullptr) return r.Fail(Missing("tool_choice.function"));
  if (!function->is_object()) {
    return r.Fail(WrongType("tool_choice.function", "an object", *function));
  }
  FieldReader f(*function, "tool_choice.function.");
  if (f.Find("name") == nullptr) return r.Fail(Missing("tool_choice.function.name"));
  f.ReadString("name", &out->choice.function);
  if (!f.ok()) return r.Fail(f.error());
  if (std::find(out->names.begin(), out->names.end(), out->choice.function) == out->names.end()) {
    return r.Fail(InvalidParam("tool_choice.function.name",
                               "Invalid value for 'tool_choice.function.name': no function "
                               "named '" +
                                   Quote(out->choice.function) + "' is in 'tools'."));
  }
  out->choice.mode = ToolChoiceMode::kFunction;
}

void ReadTools(FieldReader& r, ToolConfig* out) {
  // The legacy pair, unless it asks for nothing (what some clients send by default).
  for (const std::string_view key : {"functions", "function_call"}) {
    const json* v = r.Find(key);
    if (v == nullptr || (v->is_array() && v->empty()) || (v->is_string() && *v == "none")) {
      continue;
    }
    return r.Fail(NotSupported(
        r.Path(key), "The legacy '" + std::string(key) + "' (use 'tools' and 'tool_choice')"));
  }
  if (const json* tools = r.Find("tools")) {
    if (!tools->is_array()) return r.Fail(WrongType("tools", "an array of tools", *tools));
    if (tools->size() > kMaxTools) {
      return r.Fail(InvalidParam("tools", "Too many tools: " + std::to_string(tools->size()) +
                                              " (the limit is " + std::to_string(kMaxTools) +
                                              ")."));
    }
    for (size_t tool_idx = 0; tool_idx < tools->size(); ++tool_idx) {
      const std::string path = Indexed("tools", tool_idx);
      std::string name;
      if (MaybeError e = ParseTool((*tools)[tool_idx], path, &name)) return r.Fail(std::move(*e));
      if (std::find(out->names.begin(), out->names.end(), name) != out->names.end()) {
        return r.Fail(InvalidParam(path + ".function.name",
                                   "Invalid value for '" + path + ".function.name': '" + name +
                                       "' names two tools; function names must be unique."));
      }
      out->names.push_back(std::move(name));
      out->tools.push_back((*tools)[tool_idx]);
    }
  }
  ReadToolChoice(r, out);
  r.ReadBool("parallel_tool_calls", &out->parallel_tool_calls);
}

// ---- Structured output ---------------------------------------------------------------------

// Records the constraint that `param` asks for; a second source is refused, as it is not
// clear which one the client means.
void SetConstraint(FieldReader& r, OutputConstraint c, OutputConstraint* out) {
  if (out->active()) {
    return r.Fail(InvalidParam(c.param, "Invalid value for '" + c.param + "': '" + out->param +
                                            "' already constrains the output; give one of them."));
  }
  *out = std::move(c);
}

// A JSON Schema given as an object (or, where `text_ok`, as its JSON text), kept as JSON text.
void ReadSchema(FieldReader& r, const json& v, const std::string& param, bool text_ok,
                OutputConstraint* out) {
  OutputConstraint c{.kind = OutputConstraintKind::kJsonSchema, .param = param};
  if (v.is_object() || v.is_boolean()) {
    c.text = v.dump();
  } else if (text_ok && v.is_string()) {
    c.text = v.get<std::string>();
  } else {
    return r.Fail(WrongType(
        param, text_ok ? "a JSON Schema (an object or its JSON text)" : "a JSON Schema object", v));
  }
  SetConstraint(r, std::move(c), out);
}

void ReadNonEmptyString(FieldReader& r, const json& v, const std::string& param,
                        OutputConstraintKind kind, OutputConstraint* out) {
  if (!v.is_string()) return r.Fail(WrongType(param, "a string", v));
  if (v.get_ref<const std::string&>().empty()) {
    return r.Fail(InvalidParam(param, "Invalid value for '" + param + "': must not be empty."));
  }
  SetConstraint(r, {.kind = kind, .text = v.get<std::string>(), .param = param}, out);
}

void ReadChoices(FieldReader& r, const json& v, const std::string& param, OutputConstraint* out) {
  if (!v.is_array() || v.empty()) {
    return r.Fail(WrongType(param, "a non-empty array of strings", v));
  }
  OutputConstraint c{.kind = OutputConstraintKind::kChoice, .param = param};
  for (size_t choice_idx = 0; choice_idx < v.size(); ++choice_idx) {
    if (!v[choice_idx].is_string()) {
      return r.Fail(WrongType(Indexed(param, choice_idx), "a string", v[choice_idx]));
    }
    c.choices.push_back(v[choice_idx].get<std::string>());
  }
  SetConstraint(r, std::move(c), out);
}

// OpenAI's response_format, with llama.cpp's {"type": "json_object", "schema": {...}} form.
void ReadResponseFormat(FieldReader& r, OutputConstraint* out) {
  const json* format = r.Find("response_format");
  if (format == nullptr) return;
  const std::string path = "response_format";
  const std::string_view expected = "{\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}";
  if (!format->is_object()) return r.Fail(WrongType(path, expected, *format));
  const auto type = format->find("type");
  if (type == format->end() || !type->is_string()) {
    return r.Fail(InvalidParam(path,
                               "Invalid value for 'response_format': 'type' must be one "
                               "of 'text', 'json_object', 'json_schema'."));
  }
  const std::string& type_name = type->get_ref<const std::string&>();
  FieldReader f(*format, path + ".");
  if (type_name == "text") return;
  if (type_name == "json_object") {
    if (const json* schema = f.Find("schema")) {
      return ReadSchema(r, *schema, f.Path("schema"), false, out);
    }
    return SetConstraint(r, {.kind = OutputConstraintKind::kJsonObject, .param = path}, out);
  }
  if (type_name == "json_schema") {
    const json* spec = f.Find("json_schema");
    if (spec == nullptr) return r.Fail(Missing(f.Path("json_schema")));
    if (!spec->is_object()) return r.Fail(WrongType(f.Path("json_schema"), "an object", *spec));
    FieldReader j(*spec, f.Path("json_schema."));
    std::string name;
    j.ReadString("name", &name);
    bool strict = false;
    j.ReadBool("strict", &strict);
    if (!j.ok()) return r.Fail(j.error());
    if (const json* schema = j.Find("schema")) {
      return ReadSchema(r, *schema, j.Path("schema"), false, out);
    }
    // No schema: any JSON object, as json_object.
    return SetConstraint(
        r, {.kind = OutputConstraintKind::kJsonObject, .param = f.Path("json_schema")}, out);
  }
  r.Fail(InvalidParam(path,
                      "Invalid value for 'response_format.type': expected 'text', "
                      "'json_object' or 'json_schema', but got '" +
                          Quote(type_name) + "'."));
}

// vLLM's structured_outputs object (one of its keys) and its older top-level guided_* fields.
void ReadVllmConstraint(FieldReader& r, OutputConstraint* out) {
  if (const json* so = r.Find("structured_outputs")) {
    if (!so->is_object()) return r.Fail(WrongType("structured_outputs", "an object", *so));
    FieldReader f(*so, "structured_outputs.");
    for (const std::string_view key : {"structural_tag", "whitespace_pattern"}) {
      if (f.Find(key) != nullptr) {
        return r.Fail(NotSupported(f.Path(key), "'" + f.Path(key) + "'"));
      }
    }
    if (const json* v = f.Find("json")) ReadSchema(r, *v, f.Path("json"), true, out);
    if (const json* v = f.Find("regex")) {
      ReadNonEmptyString(r, *v, f.Path("regex"), OutputConstraintKind::kRegex, out);
    }
    if (const json* v = f.Find("choice")) ReadChoices(r, *v, f.Path("choice"), out);
    if (const json* v = f.Find("grammar")) {
      ReadNonEmptyString(r, *v, f.Path("grammar"), OutputConstraintKind::kGrammar, out);
    }
    bool json_object = false;
    f.ReadBool("json_object", &json_object);
    if (!f.ok()) return r.Fail(f.error());
    if (json_object) {
      SetConstraint(r, {.kind = OutputConstraintKind::kJsonObject, .param = f.Path("json_object")},
                    out);
    }
  }
  if (const json* v = r.Find("guided_json")) ReadSchema(r, *v, "guided_json", true, out);
  if (const json* v = r.Find("guided_regex")) {
    ReadNonEmptyString(r, *v, "guided_regex", OutputConstraintKind::kRegex, out);
  }
  if (const json* v = r.Find("guided_choice")) ReadChoices(r, *v, "guided_choice", out);
  if (const json* v = r.Find("guided_grammar")) {
    ReadNonEmptyString(r, *v, "guided_grammar", OutputConstraintKind::kGrammar, out);
  }
}

// llama.cpp's server: `grammar` (GBNF text) and `json_schema` (an object).
void ReadLlamaCppConstraint(FieldReader& r, OutputConstraint* out) {
  if (const json* v = r.Find("grammar")) {
    ReadNonEmptyString(r, *v, "grammar", OutputConstraintKind::kGrammar, out);
  }
  if (const json* v = r.Find("json_schema")) ReadSchema(r, *v, "json_schema", false, out);
}

void ReadOutputConstraint(FieldReader& r, OutputConstraint* out) {
  ReadResponseFormat(r, out);
  ReadVllmConstraint(r, out);
  ReadLlamaCppConstraint(r, out);
}

// Thinking on or off (ChatRequest::enable_thinking). Other chat_template_kwargs keys are ignored:
// only enable_thinking means something to the templates served here.
void ReadThinking(FieldReader& r, std::optional<bool>* out) {
  std::optional<bool> from_effort;
  if (const json* effort = r.Find("reasoning_effort")) {
    const std::string_view expected = "one of 'none', 'minimal', 'low', 'medium', 'high', 'xhigh'";
    if (!effort->is_string()) return r.Fail(WrongType("reasoning_effort", expected, *effort));
    const std::string& e = effort->get_ref<const std::string&>();
    if (e == "none" || e == "minimal") {
      from_effort = false;
    } else if (e == "low" || e == "medium" || e == "high" || e == "xhigh") {
      from_effort = true;
    } else {
      return r.Fail(BadValue("reasoning_effort", expected, "'" + Quote(e) + "'"));
    }
  }
  std::optional<bool> from_kwargs;
  if (const json* kwargs = r.Find("chat_template_kwargs")) {
    if (!kwargs->is_object())
      return r.Fail(WrongType("chat_template_kwargs", "an object", *kwargs));
    FieldReader k(*kwargs, "chat_template_kwargs.");
    if (k.Find("enable_thinking") != nullptr) {
      bool enable = false;
      k.ReadBool("enable_thinking", &enable);
      if (!k.ok()) return r.Fail(k.error());
      from_kwargs = enable;
    }
  }
  *out = from_kwargs ? from_kwargs : from_effort;
}

void ReadChatLogprobs(FieldReader& r, const RequestLimits& limits, GenerationParams* p) {
  r.ReadBool("logprobs", &p->logprobs);
  const std::optional<int64_t> top = r.ReadInt("top_logprobs", 0, limits.max_top_logprobs);
  if (!top) return;
  if (!p->logprobs) {
    return r.Fail(InvalidParam("top_logprobs", "'top_logprobs' requires 'logprobs' to be true."));
  }
  p->top_logprobs = static_cast<int32_t>(*top);
}

// ---- Completion-only fields ----------------------------------------------------------------

// Classifies one element of a `prompt` array so that mixed arrays can be refused.
enum class PromptElement { kString, kTokenId, kTokenList, kOther };

PromptElement Classify(const json& v) {
  if (v.is_string()) return PromptElement::kString;
  if (v.is_number()) return PromptElement::kTokenId;  // a non-integer fails as a token id
  if (v.is_array()) return PromptElement::kTokenList;
  return PromptElement::kOther;
}

constexpr std::string_view kPromptShapes =
    "a string, an array of strings, an array of token ids or an array of arrays of token ids";

MaybeError ParsePromptList(const json& v, const RequestLimits& limits, std::vector<Prompt>* out) {
  const PromptElement kind = Classify(v.front());
  for (size_t prompt_idx = 0; prompt_idx < v.size(); ++prompt_idx) {
    if (Classify(v[prompt_idx]) != kind || kind == PromptElement::kOther) {
      return InvalidParam("prompt", "Invalid value for 'prompt': expected " +
                                        std::string(kPromptShapes) + ", but element " +
                                        std::to_string(prompt_idx) + " is " +
                                        Describe(v[prompt_idx]) + ".");
    }
  }
  if (kind == PromptElement::kTokenId) {
    Prompt& prompt = out->emplace_back();
    prompt.is_tokens = true;
    return ReadTokenIds(v, "prompt", "token id", limits.num_vocab, &prompt.tokens);
  }
  if (Exceeds(v.size(), limits.max_prompts)) {
    return InvalidParam("prompt", "Too many prompts: " + std::to_string(v.size()) +
                                      " (the limit is " + std::to_string(limits.max_prompts) +
                                      ").");
  }
  out->resize(v.size());
  for (size_t prompt_idx = 0; prompt_idx < v.size(); ++prompt_idx) {
    Prompt& prompt = (*out)[prompt_idx];
    if (kind == PromptElement::kString) {
      prompt.text = v[prompt_idx].get<std::string>();
      continue;
    }
    // Nothing to condition on: a token prompt cannot be empty (a text one gets <bos>).
    if (v[prompt_idx].empty()) {
      return InvalidParam("prompt", "Invalid value for 'prompt': token prompt " +
                                        std::to_string(prompt_idx) + " is empty.");
    }
    prompt.is_tokens = true;
    const std::string what = "token id of prompt " + std::to_string(prompt_idx);
    if (MaybeError e =
            ReadTokenIds(v[prompt_idx], "prompt", what, limits.num_vocab, &prompt.tokens)) {
      return e;
    }
  }
  return std::nullopt;
}

MaybeError ParsePrompts(const json* v, const RequestLimits& limits, std::vector<Prompt>* out) {
  if (v == nullptr) return Missing("prompt");
  if (v->is_string()) {
    out->push_back(Prompt{.is_tokens = false, .text = v->get<std::string>(), .tokens = {}});
    return std::nullopt;
  }
  if (!v->is_array()) return WrongType("prompt", kPromptShapes, *v);
  if (v->empty()) {
    return InvalidParam("prompt", "Invalid value for 'prompt': the array must not be empty.");
  }
  return ParsePromptList(*v, limits, out);
}

// The legacy completions `logprobs` is the number of alternatives per token (null: none).
void ReadCompletionLogprobs(FieldReader& r, const RequestLimits& limits, GenerationParams* p) {
  const std::optional<int64_t> k = r.ReadInt("logprobs", 0, limits.max_top_logprobs);
  if (!k) return;
  p->logprobs = true;
  p->top_logprobs = static_cast<int32_t>(*k);
}

void RefuseUnsupportedCompletionFeatures(FieldReader& r, const GenerationParams& p) {
  if (const json* suffix = r.Find("suffix")) {
    if (!suffix->is_string()) return r.Fail(WrongType("suffix", "a string", *suffix));
    if (!suffix->get_ref<const std::string&>().empty()) {
      return r.Fail(NotSupported("suffix", "Insertion with 'suffix'"));
    }
  }
  // best_of == n asks for no extra candidates, so it needs no support; neither does 1.
  if (const std::optional<int64_t> best_of = r.ReadInt("best_of", 1, kInt64Max)) {
    if (*best_of != p.n && *best_of != 1) {
      r.Fail(NotSupported("best_of", "'best_of' other than 1 or 'n'"));
    }
  }
}

ApiError NotAnObject() { return InvalidParam("", "The request body must be a JSON object."); }

}  // namespace

ParseResult<ChatRequest> ParseChatRequest(const nlohmann::json& body, const RequestLimits& limits) {
  if (!body.is_object()) return NotAnObject();
  ChatRequest req;
  FieldReader r(body, "");
  r.ReadString("model", &req.model);
  if (r.ok()) r.Check(ParseMessages(r.Find("messages"), limits, &req.messages));
  ReadTools(r, &req.tools);
  ReadGenerationParams(r, limits, &req.params);
  ReadOutputConstraint(r, &req.params.constraint);
  ReadChatLogprobs(r, limits, &req.params);
  r.ReadBool("add_generation_prompt", &req.add_generation_prompt);
  ReadThinking(r, &req.enable_thinking);
  if (!r.ok()) return r.error();
  return req;
}

ParseResult<CompletionRequest> ParseCompletionRequest(const nlohmann::json& body,
                                                      const RequestLimits& limits) {
  if (!body.is_object()) return NotAnObject();
  CompletionRequest req;
  FieldReader r(body, "");
  r.ReadString("model", &req.model);
  if (r.ok()) r.Check(ParsePrompts(r.Find("prompt"), limits, &req.prompts));
  ReadGenerationParams(r, limits, &req.params);
  ReadCompletionLogprobs(r, limits, &req.params);
  r.ReadBool("echo", &req.echo);
  ReadOutputConstraint(r, &req.params.constraint);
  RefuseUnsupportedCompletionFeatures(r, req.params);
  if (!r.ok()) return r.error();
  return req;
}

ParseResult<TokenizeRequest> ParseTokenizeRequest(const nlohmann::json& body,
                                                  const RequestLimits& limits) {
  if (!body.is_object()) return NotAnObject();
  TokenizeRequest req;
  FieldReader r(body, "");
  r.ReadString("model", &req.model);
  const json* messages = r.Find("messages");
  const json* prompt = r.Find("prompt");
  if (messages != nullptr && prompt != nullptr) {
    r.Fail(InvalidParam("prompt", "Give either 'prompt' or 'messages', not both."));
  } else if (messages != nullptr) {
    req.is_chat = true;
    r.Check(ParseMessages(messages, limits, &req.messages));
    r.ReadBool("add_generation_prompt", &req.add_generation_prompt);
    ReadThinking(r, &req.enable_thinking);
    ReadTools(r, &req.tools);
  } else if (prompt != nullptr) {
    r.ReadString("prompt", &req.prompt);
    r.ReadBool("add_special_tokens", &req.add_special_tokens);
  } else if (r.ok()) {
    r.Fail(InvalidParam("prompt", "Missing required parameter: 'prompt' (or 'messages')."));
  }
  if (!r.ok()) return r.error();
  return req;
}

ParseResult<DetokenizeRequest> ParseDetokenizeRequest(const nlohmann::json& body,
                                                      const RequestLimits& limits) {
  if (!body.is_object()) return NotAnObject();
  DetokenizeRequest req;
  FieldReader r(body, "");
  r.ReadString("model", &req.model);
  if (r.ok()) {
    const json* tokens = r.Find("tokens");
    if (tokens == nullptr) {
      r.Fail(Missing("tokens"));
    } else {
      r.Check(ReadTokenIds(*tokens, "tokens", "token id", limits.num_vocab, &req.tokens));
    }
  }
  if (!r.ok()) return r.error();
  return req;
}

}  // namespace gs::api
