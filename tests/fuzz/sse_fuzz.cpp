// Arbitrary bytes as generated text split into token pieces: the
// pieces go through a StopMatcher, as server/generation.cpp feeds it, and every emitted piece is
// framed as an SSE chunk (ChatChunkJson or TextChunkJson, then SseEvent), with each token's raw
// bytes (any bytes: a token may end inside a UTF-8 character) in its logprobs.
//
// Input: byte 0 is flags (below); byte 1 seeds the piece lengths; then per stop string two
// bytes, `where` and `spec`: spec & 0x1F is the length (0 too: empty stops must be ignored), and
// spec & 0x80 takes the stop from the bytes that follow (literal) rather than from the text at
// offset where * |text| / 256 (so that it occurs). The rest, up to kMaxText bytes, is the text.
//
// Properties (any failure aborts):
//   - StopMatcher: what it emits, joined (plus Flush()), is the text up to the stop string that
//     is complete first (on a tie, the one starting first), all of the text when none occurs,
//     whatever the pieces; matched() turns true in the piece where that stop string completes
//     and nothing comes out after it. Before a match it holds back exactly the longest tail of the
//     text so far that is a proper prefix of a stop string. When the stops and every piece are
//     valid UTF-8 (the detokenizer's output is, and so are parsed stop strings), so is every
//     emitted piece.
//   - SseEvent: starts with "data: ", ends with "\n\n", has no other line break (no "\n\n", no
//     "\r"), and the JSON between parses back; the text and logprob tokens in it are the text
//     and tokens given when those are valid UTF-8, `bytes` is always the raw bytes, and the
//     completions text_offset counts them. Token text in logprobs never makes serialization
//     throw, not even a strict dump(). The same holds for the non-streamed bodies, the usage
//     chunk and an error event.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/response.h"
#include "api/stop_matcher.h"
#include "tests/fuzz/utf8_check.h"

namespace gs::api {
namespace {

using json = nlohmann::json;
using fuzz::IsValidUtf8;

constexpr size_t kMaxText = 4096;  // keeps one run fast: each piece is a JSON round trip
constexpr uint8_t kSnapToCharacters = 1 << 0;
constexpr uint8_t kCompletions = 1 << 1;
constexpr uint8_t kIncludeUsage = 1 << 2;
constexpr uint8_t kLogprobs = 1 << 3;
constexpr int kStopCountShift = 4;  // bits 4-5: 0..3 stop strings
constexpr int kPieceShift = 6;      // bits 6-7: longest piece
constexpr size_t kMaxPiece[] = {1, 3, 8, 32};

void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "sse_fuzz: property violated: %s\n", what);
    std::abort();
  }
}

struct Input {
  uint8_t flags = 0;
  std::vector<std::string> stops;
  std::vector<std::string> pieces;
  std::string text;
};

// Splits the fuzzer's bytes as the header comment says; nullopt when too short.
std::optional<Input> Decode(std::string_view bytes) {
  if (bytes.size() < 2) return std::nullopt;
  Input in;
  in.flags = static_cast<uint8_t>(bytes[0]);
  uint32_t state = static_cast<uint8_t>(bytes[1]);
  bytes.remove_prefix(2);
  struct FromText {
    size_t stop_idx;
    uint8_t where;
    size_t length;
  };
  std::vector<FromText> from_text;
  const int num_stops = (in.flags >> kStopCountShift) & 3;
  for (int stop_idx = 0; stop_idx < num_stops; ++stop_idx) {
    if (bytes.size() < 2) return std::nullopt;
    const auto where = static_cast<uint8_t>(bytes[0]);
    const auto spec = static_cast<uint8_t>(bytes[1]);
    bytes.remove_prefix(2);
    const size_t length = spec & 0x1F;
    in.stops.emplace_back();
    if ((spec & 0x80) != 0) {
      if (bytes.size() < length) return std::nullopt;
      in.stops.back() = std::string(bytes.substr(0, length));
      bytes.remove_prefix(length);
    } else {
      from_text.push_back({in.stops.size() - 1, where, length});
    }
  }
  in.text = std::string(bytes.substr(0, kMaxText));
  for (const FromText& f : from_text) {
    const size_t offset = f.where * in.text.size() / 256;
    in.stops[f.stop_idx] = in.text.substr(offset, f.length);
  }
  // Piece lengths from a small LCG; zero-length pieces are allowed (a token with no text).
  const size_t max_piece = kMaxPiece[in.flags >> kPieceShift];
  const std::string_view text = in.text;
  size_t pos = 0;
  while (pos < text.size()) {
    state = state * 1103515245u + 12345u;
    size_t end = std::min(text.size(), pos + (state >> 16) % (max_piece + 1));
    if (in.pieces.size() >= 4 * text.size()) end = text.size();  // bound the zero-length ones
    if ((in.flags & kSnapToCharacters) != 0) {
      while (end < text.size() && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) ++end;
    }
    in.pieces.emplace_back(text.substr(pos, end - pos));
    pos = end;
  }
  return in;
}

// ---- The reference ---------------------------------------------------------------------------

struct Occurrence {
  size_t begin;
  size_t end;
};

std::vector<Occurrence> Occurrences(const std::string& text,
                                    const std::vector<std::string>& stops) {
  std::vector<Occurrence> found;
  for (const std::string& stop : stops) {
    if (stop.empty()) continue;
    for (size_t at = text.find(stop); at != std::string::npos; at = text.find(stop, at + 1)) {
      found.push_back({at, at + stop.size()});
    }
  }
  return found;
}

// The longest tail of `text` that is a proper prefix of a (non-empty) stop string.
size_t HeldBack(std::string_view text, const std::vector<std::string>& stops) {
  size_t held = 0;
  for (const std::string& stop : stops) {
    if (stop.empty()) continue;
    for (size_t len = std::min(stop.size() - 1, text.size()); len > held; --len) {
      if (text.substr(text.size() - len) == std::string_view(stop).substr(0, len)) {
        held = len;
        break;
      }
    }
  }
  return held;
}

// ---- SSE ---------------------------------------------------------------------------------------

json BytesArray(std::string_view s) {
  json bytes = json::array();
  for (const char c : s) bytes.push_back(static_cast<uint8_t>(c));
  return bytes;
}

// The event's JSON, after checking the framing.
json CheckFraming(const std::string& event) {
  constexpr std::string_view kPrefix = "data: ";
  constexpr std::string_view kEnd = "\n\n";
  Require(event.size() >= kPrefix.size() + kEnd.size(), "an event has a prefix and an end");
  Require(event.starts_with(kPrefix), "an event starts with \"data: \"");
  Require(event.ends_with(kEnd), "an event ends with a blank line");
  const std::string_view payload(event.data() + kPrefix.size(),
                                 event.size() - kPrefix.size() - kEnd.size());
  Require(
      payload.find('\n') == std::string_view::npos && payload.find('\r') == std::string_view::npos,
      "an event's data is one line (no other \"\\n\\n\")");
  json j = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
  Require(!j.is_discarded(), "an event's data parses back");
  return j;
}

// Serializes `j` as the server does and checks it; a strict dump() of `strict_part` (the
// logprobs, which hold raw token text) must not throw either.
json SendAndCheck(const json& j, const json& strict_part) {
  try {
    (void)strict_part.dump();
  } catch (...) {
    Require(false, "logprobs hold only valid UTF-8 (a strict dump() does not throw)");
  }
  std::string event;
  try {
    event = SseEvent(j);
  } catch (...) {
    Require(false, "no exception escapes SseEvent");
  }
  return CheckFraming(event);
}

// A sent string holds the given bytes when they are valid UTF-8 (else U+FFFD for the bad ones).
void CheckText(const json& sent, std::string_view given, const char* what) {
  Require(sent.is_string(), what);
  if (IsValidUtf8(given)) Require(sent == given, what);
}

void CheckChatLogprobs(const json& sent, const std::vector<TokenLogprobs>& given) {
  const json& content = sent.at("content");
  Require(content.size() == given.size(), "chat logprobs: one entry per token");
  for (size_t token_idx = 0; token_idx < given.size(); ++token_idx) {
    const json& entry = content[token_idx];
    CheckText(entry.at("token"), given[token_idx].token, "chat logprobs: the token text");
    Require(entry.at("bytes") == BytesArray(given[token_idx].token),
            "chat logprobs: bytes are the raw bytes");
    const json& top = entry.at("top_logprobs");
    Require(top.size() == given[token_idx].top.size(), "chat logprobs: every alternative");
    for (size_t alt_idx = 0; alt_idx < top.size(); ++alt_idx) {
      const std::string& alt = given[token_idx].top[alt_idx].token;
      CheckText(top[alt_idx].at("token"), alt, "chat logprobs: an alternative's text");
      Require(top[alt_idx].at("bytes") == BytesArray(alt),
              "chat logprobs: an alternative's bytes are the raw bytes");
    }
  }
}

void CheckTextLogprobs(const json& sent, const std::vector<TokenLogprobs>& given,
                       int64_t text_offset) {
  const json& tokens = sent.at("tokens");
  const json& offsets = sent.at("text_offset");
  Require(tokens.size() == given.size() && offsets.size() == given.size() &&
              sent.at("token_logprobs").size() == given.size() &&
              sent.at("top_logprobs").size() == given.size(),
          "completions logprobs: one entry per token in each array");
  for (size_t token_idx = 0; token_idx < given.size(); ++token_idx) {
    CheckText(tokens[token_idx], given[token_idx].token, "completions logprobs: the token");
    Require(offsets[token_idx] == text_offset, "completions logprobs: text_offset counts bytes");
    text_offset += static_cast<int64_t>(given[token_idx].token.size());
  }
}

struct Stream {
  ResponseHeader header;
  int32_t index = 0;  // the choice's
  bool chat = true;
  bool include_usage = false;
  bool logprobs = false;
};

// Sends one chunk and checks it against what was given.
void SendChunk(const Stream& s, const ChunkDelta& d) {
  const json j = s.chat ? ChatChunkJson(s.header, d, s.include_usage)
                        : TextChunkJson(s.header, d, s.include_usage);
  const json& built_choice = j.at("choices").at(0);
  const json sent = SendAndCheck(j, built_choice.at("logprobs"));
  Require(sent.at("object") == (s.chat ? "chat.completion.chunk" : "text_completion"),
          "a chunk's object");
  Require(sent.at("id") == s.header.id && sent.at("created") == s.header.created,
          "a chunk's id and created");
  if (IsValidUtf8(s.header.model)) Require(sent.at("model") == s.header.model, "a chunk's model");
  Require(sent.contains("usage") == s.include_usage, "usage: null exactly with include_usage");
  const json& choices = sent.at("choices");
  Require(choices.size() == 1 && choices[0].at("index") == d.index, "one choice, its index");
  const json& choice = choices[0];
  const json& finish = choice.at("finish_reason");
  Require(d.finish_reason.empty() ? finish.is_null() : finish == d.finish_reason,
          "finish_reason as given, null when none");
  const json& logprobs = choice.at("logprobs");
  Require(d.has_logprobs != logprobs.is_null(), "logprobs exactly when asked for");
  if (s.chat) {
    const json& delta = choice.at("delta");
    if (d.text) {
      CheckText(delta.at("content"), *d.text, "chat chunk: the content");
    } else if (d.role_delta) {
      Require(delta == json({{"role", "assistant"}, {"content", ""}}), "the role chunk");
    } else {
      Require(delta.empty(), "an empty delta");
    }
    if (d.has_logprobs) CheckChatLogprobs(logprobs, d.logprobs);
  } else {
    CheckText(choice.at("text"), d.text.value_or(""), "completions chunk: the text");
    if (d.has_logprobs) CheckTextLogprobs(logprobs, d.logprobs, d.text_offset);
  }
}

// The logprobs of one token: its own bytes, and as alternatives its neighbour and the stops.
TokenLogprobs MakeLogprobs(const Input& in, size_t piece_idx) {
  TokenLogprobs lp;
  lp.token = in.pieces[piece_idx];
  lp.logprob = -static_cast<float>(piece_idx % 7);
  if (piece_idx > 0) lp.top.push_back({in.pieces[piece_idx - 1], -1.5f});
  for (const std::string& stop : in.stops) lp.top.push_back({stop, -8.0f});
  return lp;
}

struct Streamed {
  std::string text;                  // everything emitted, Flush() included
  std::optional<size_t> matched_at;  // bytes fed when the StopMatcher matched
  std::vector<TokenLogprobs> logprobs;
};

// Feeds the pieces through a StopMatcher as server/generation.cpp does (and on after a match,
// which must give nothing), sending each emitted piece as a chunk as server/routes.cpp does.
Streamed StreamPieces(const Input& in, const Stream& s) {
  bool stops_valid = true;
  for (const std::string& stop : in.stops) stops_valid = stops_valid && IsValidUtf8(stop);
  bool pieces_valid = true;
  StopMatcher matcher(in.stops);
  Streamed streamed;
  std::string fed;
  for (size_t piece_idx = 0; piece_idx < in.pieces.size(); ++piece_idx) {
    const std::string& piece = in.pieces[piece_idx];
    pieces_valid = pieces_valid && IsValidUtf8(piece);
    const std::string out = matcher.Push(piece);
    fed += piece;
    if (streamed.matched_at) {
      Require(out.empty() && matcher.matched(), "nothing comes out after a match");
      continue;
    }
    if (stops_valid && pieces_valid) {
      Require(IsValidUtf8(out), "valid UTF-8 pieces and stops give valid UTF-8 out");
    }
    ChunkDelta d;
    d.index = s.index;
    d.text_offset = static_cast<int64_t>(streamed.text.size());
    streamed.text += out;
    if (matcher.matched()) {
      streamed.matched_at = fed.size();
    } else {
      Require(fed.size() - streamed.text.size() == HeldBack(fed, in.stops),
              "exactly the longest tail that may start a stop string is held back");
    }
    d.has_logprobs = s.logprobs;
    if (s.logprobs) {
      d.logprobs.push_back(MakeLogprobs(in, piece_idx));
      streamed.logprobs.push_back(d.logprobs.back());
    }
    if (!out.empty() || d.has_logprobs) d.text = out;
    if (streamed.matched_at && !s.chat) d.finish_reason = "stop";
    if (d.text || !d.finish_reason.empty()) SendChunk(s, d);
  }
  const std::string rest = matcher.Flush();
  Require(!streamed.matched_at || rest.empty(), "Flush gives nothing after a match");
  if (!rest.empty()) {
    if (stops_valid && pieces_valid) Require(IsValidUtf8(rest), "the flushed tail is valid UTF-8");
    ChunkDelta d;
    d.index = s.index;
    d.text = rest;
    d.text_offset = static_cast<int64_t>(streamed.text.size());
    SendChunk(s, d);
    streamed.text += rest;
  }
  return streamed;
}

// The stop string that is complete first ends the text (on a tie, the one starting first), so
// the output does not depend on how the text is cut into pieces; the match comes in the piece
// where that stop string completes.
void CheckAgainstReference(const Input& in, const Streamed& streamed) {
  const std::vector<Occurrence> occurrences = Occurrences(in.text, in.stops);
  Require(streamed.matched_at.has_value() == !occurrences.empty(),
          "a match exactly when a stop string occurs");
  if (occurrences.empty()) {
    Require(streamed.text == in.text, "without a stop string everything comes out");
    return;
  }
  size_t first_end = in.text.size();
  for (const Occurrence& o : occurrences) first_end = std::min(first_end, o.end);
  size_t begin = first_end;
  for (const Occurrence& o : occurrences) {
    if (o.end == first_end) begin = std::min(begin, o.begin);
  }
  Require(streamed.text == std::string_view(in.text).substr(0, begin),
          "the text up to the first stop string to complete comes out");
  size_t piece_end = 0;
  for (const std::string& piece : in.pieces) {
    piece_end += piece.size();
    if (piece_end >= first_end) break;
  }
  Require(*streamed.matched_at == piece_end,
          "the match is in the piece where the first stop string completes");
}

// What follows the chunks: the usage chunk, an error event (the text as its message, any
// bytes), and the same choice as a non-streamed body.
void CheckEnding(const Input& in, const Stream& s, const Streamed& streamed,
                 const std::string& finish_reason) {
  const Usage usage{.prompt_tokens = 7,
                    .completion_tokens = static_cast<int64_t>(in.pieces.size()),
                    .cached_tokens = std::nullopt};
  const char* object = s.chat ? "chat.completion.chunk" : "text_completion";
  const json usage_chunk = CheckFraming(SseEvent(UsageChunkJson(s.header, object, usage)));
  Require(usage_chunk.at("choices").empty() &&
              usage_chunk.at("usage").at("total_tokens") == 7 + in.pieces.size(),
          "the usage chunk");
  const json error = InternalError(streamed.text).ToJson();
  CheckText(CheckFraming(SseEvent(error)).at("error").at("message"), streamed.text,
            "an error event's message");

  ChoiceResult result;
  result.index = s.index;
  result.text = streamed.text;
  result.finish_reason = finish_reason;
  result.has_logprobs = s.logprobs;
  result.logprobs = streamed.logprobs;
  const json body = s.chat ? ChatCompletionJson(s.header, {result}, usage)
                           : TextCompletionJson(s.header, {result}, usage);
  // Framed as an event, the body goes through the same DumpJson as a plain one.
  const json sent = SendAndCheck(body, body.at("choices").at(0).at("logprobs"));
  const json& choice = sent.at("choices").at(0);
  Require(choice.at("finish_reason") == finish_reason, "the body's finish_reason");
  if (s.chat) {
    CheckText(choice.at("message").at("content"), streamed.text, "the body's content");
    if (s.logprobs) CheckChatLogprobs(choice.at("logprobs"), streamed.logprobs);
  } else {
    CheckText(choice.at("text"), streamed.text, "the body's text");
    if (s.logprobs) CheckTextLogprobs(choice.at("logprobs"), streamed.logprobs, 0);
  }
}

void CheckStream(const Input& in) {
  Stream s;
  s.header = {.id = "chatcmpl-fuzz", .created = 1700000000, .model = in.text.substr(0, 12)};
  s.chat = (in.flags & kCompletions) == 0;
  s.include_usage = (in.flags & kIncludeUsage) != 0;
  s.logprobs = (in.flags & kLogprobs) != 0;
  s.index = static_cast<int32_t>(in.pieces.size() % 3);
  if (s.chat) {
    ChunkDelta first;
    first.index = s.index;
    first.role_delta = true;
    SendChunk(s, first);
  }
  const Streamed streamed = StreamPieces(in, s);
  CheckAgainstReference(in, streamed);
  const std::string finish_reason = streamed.matched_at ? "stop" : "length";
  // Chat ends each choice with an empty delta and the reason; completions put "stop" on the
  // chunk that matched, so only "length" needs a chunk of its own.
  if (s.chat || !streamed.matched_at) {
    ChunkDelta fin;
    fin.index = s.index;
    fin.finish_reason = finish_reason;
    SendChunk(s, fin);
  }
  CheckEnding(in, s, streamed, finish_reason);
}

}  // namespace
}  // namespace gs::api

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::optional<gs::api::Input> in =
      gs::api::Decode(std::string_view(reinterpret_cast<const char*>(data), size));
  if (in) gs::api::CheckStream(*in);
  return 0;
}
