// Arbitrary bytes as text to tokenize and as a stream of token ids to detokenize, against a fixed
// toy vocabulary, read as SentencePiece (with and without a space prefix) and as Gemma 4's BPE.
// Besides crashes and sanitizer reports it checks the properties the tokenizer and the
// incremental detokenizer guarantee for this vocabulary (see Properties below).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/tokenizer/detokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace gs {
namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "tokenizer_fuzz: property violated: %s\n", what);
    std::abort();
  }
}

// The vocabulary, Gemma-like in the parts that matter: SentencePiece pieces with U+2581 for the
// space and varied scores (equal ones and a NaN too), multi-byte characters, all 256 byte
// tokens, control, unknown, unused and user-defined tokens, end markers that Init turns into
// control tokens, and specials that overlap each other (@@x / x@@ / @@, the newline runs) so
// that the special-token partition has precedence to resolve.
//
// Invariant the round-trip property relies on: every text containing '<' or '>' is either that
// single character or "<...>" with no other '<' or '>' inside. A merge joins two symbols, each a
// single character or an earlier merge (a vocabulary text), and no two of those concatenate to
// a "<...>" text, so merging never produces a byte token ("<0x41>" decodes to "A", not to its
// text) or an unused token (decodes to nothing).
Vocab MakeVocab(bool add_space_prefix) {
  Vocab vocab;
  const auto add = [&vocab](std::string text, float score, TokenType type) {
    vocab.tokens.push_back(std::move(text));
    vocab.scores.push_back(score);
    vocab.types.push_back(type);
  };
  add("<pad>", 0, TokenType::kControl);
  add("<eos>", 0, TokenType::kControl);
  add("<bos>", 0, TokenType::kControl);
  add("<unk>", 0, TokenType::kUnknown);
  add("<start_of_turn>", 0, TokenType::kControl);
  add("<end_of_turn>", 0, TokenType::kNormal);  // an end marker: Init makes it control
  add("</s>", 0, TokenType::kUserDefined);      // likewise, as in Gemma 3
  add("<unused0>", 0, TokenType::kUnused);
  add("<start_of_image>", 0, TokenType::kUserDefined);
  add("@@x", 0, TokenType::kControl);
  add("x@@", 0, TokenType::kUserDefined);
  add("@@", 0, TokenType::kUserDefined);
  add("\n\n", 0, TokenType::kUserDefined);
  add("\n\n\n", 0, TokenType::kControl);
  for (int byte = 0; byte < 256; ++byte) {
    char text[7];
    std::snprintf(text, sizeof(text), "<0x%02X>", byte);
    add(text, 0, TokenType::kByte);
  }
  // Single characters, then merges with scores that make the merge order matter.
  for (char c = 'a'; c <= 'z'; ++c) add(std::string(1, c), -100, TokenType::kNormal);
  for (const char* c : {"0", "1", " ", "\n", "\t", "<", ">", "@", ".", ",", "!"}) {
    add(c, -100, TokenType::kNormal);
  }
  for (const char* c :
       {"\xC3\xA9", "\xC3\xBC", "\xE4\xB8\xAD", "\xE6\x96\x87", "\xF0\x9F\x98\x80"}) {
    add(c, -100, TokenType::kNormal);  // é ü 中 文 😀
  }
  add("\xE2\x96\x81", -1, TokenType::kNormal);
  add("\xE2\x96\x81\xE2\x96\x81", -2, TokenType::kNormal);
  add("\xE2\x96\x81t", -3, TokenType::kNormal);
  add("th", -3, TokenType::kNormal);  // ties with ▁t: leftmost first
  add("he", -4, TokenType::kNormal);
  add("\xE2\x96\x81th", -5, TokenType::kNormal);
  add("the", -6, TokenType::kNormal);
  add("\xE2\x96\x81the", -7, TokenType::kNormal);
  add("\xE2\x96\x81the\xE2\x96\x81", -8, TokenType::kNormal);
  add("ll", -2, TokenType::kNormal);
  add("llo", -5, TokenType::kNormal);
  add("hello", -9, TokenType::kNormal);
  add("\xE2\x96\x81hello", -10, TokenType::kNormal);
  add("x@", -3, TokenType::kNormal);
  add("@x", std::numeric_limits<float>::quiet_NaN(), TokenType::kNormal);
  add("\xE4\xB8\xAD\xE6\x96\x87", -1, TokenType::kNormal);  // 中文
  add("\xC3\xA9t\xC3\xA9", -4, TokenType::kNormal);         // été
  add("\xC3\xA9t", -4, TokenType::kNormal);
  vocab.bos_id = 2;
  vocab.eos_id = 1;
  vocab.unk_id = 3;
  vocab.pad_id = 0;
  vocab.add_bos = true;
  vocab.add_space_prefix = add_space_prefix;
  return vocab;
}

std::unique_ptr<Tokenizer> Build(bool add_space_prefix) {
  StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      Tokenizer::FromVocab(MakeVocab(add_space_prefix));
  Require(tokenizer.ok(), "the toy vocabulary loads");
  return std::move(tokenizer).value();
}

// Gemma 4's BPE over the same tokens. The merges are listed (earliest first) so that they only
// ever produce the multi-character texts above, keeping MakeVocab's invariant; two more yield
// texts that are no token ("oo", and "ooo" through it), whose symbols fall back to bytes.
Vocab MakeBpeVocab() {
  Vocab vocab = MakeVocab(false);
  vocab.model = TokenizerModel::kGemma4Bpe;
  const std::string space(kEscapedSpace);
  vocab.merges = {space + " " + space,
                  space + " t",
                  "t h",
                  "h e",
                  "l l",
                  space + "t h",
                  "th e",
                  "ll o",
                  space + "th e",
                  "he llo",
                  space + " hello",
                  space + "the " + space,
                  "x @",
                  "@ x",
                  "\xE4\xB8\xAD \xE6\x96\x87",
                  "\xC3\xA9 t",
                  "\xC3\xA9t \xC3\xA9",
                  "o o",
                  "oo o",
                  "\n \n"};  // "\n\n" is a user-defined token: always split out first
  return vocab;
}

// Gemma's configuration (no space prefix), and llama.cpp's SPM default, which has its own path.
const Tokenizer& Plain() {
  static const std::unique_ptr<Tokenizer> tokenizer = Build(false);
  return *tokenizer;
}
const Tokenizer& SpacePrefixed() {
  static const std::unique_ptr<Tokenizer> tokenizer = Build(true);
  return *tokenizer;
}
const Tokenizer& Bpe() {
  static const std::unique_ptr<Tokenizer> tokenizer = [] {
    StatusOr<std::unique_ptr<Tokenizer>> built = Tokenizer::FromVocab(MakeBpeVocab());
    Require(built.ok(), "the toy BPE vocabulary loads");
    return std::move(built).value();
  }();
  return *tokenizer;
}

// Written from the Unicode definition (Table 3-7 by code point, not by byte ranges) so that it
// does not share the detokenizer's reasoning.
bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const uint8_t lead = static_cast<uint8_t>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t num_bytes = 0;
    uint32_t code_point = 0;
    if ((lead & 0xE0) == 0xC0) {
      num_bytes = 2;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      num_bytes = 3;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      num_bytes = 4;
      code_point = lead & 0x07;
    } else {
      return false;
    }
    if (i + num_bytes > text.size()) return false;
    for (size_t k = 1; k < num_bytes; ++k) {
      const uint8_t b = static_cast<uint8_t>(text[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (b & 0x3F);
    }
    constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[num_bytes] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += num_bytes;
  }
  return true;
}

std::string ReplaceEscapedSpaces(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i, kEscapedSpace.size()) == kEscapedSpace) {
      out += ' ';
      i += kEscapedSpace.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string Stream(const Tokenizer& tokenizer, std::span<const int32_t> ids, bool render_special) {
  IncrementalDetokenizer detokenizer(tokenizer, render_special);
  std::string text;
  for (int32_t id : ids) text += detokenizer.Push(id);
  return text + detokenizer.Flush();
}

// Properties of streaming `ids` (any ids, out-of-range ones included; detokenizer.h):
//  - the output is valid UTF-8;
//  - it is the concatenated pieces whenever those are valid UTF-8;
//  - it does not depend on how the bytes arrive: streaming the same bytes one byte token at a
//    time gives the same text.
void CheckStream(const Tokenizer& tokenizer, std::span<const int32_t> ids, bool render_special) {
  std::string pieces;
  for (int32_t id : ids) pieces += tokenizer.TokenToPiece(id, render_special);
  const std::string streamed = Stream(tokenizer, ids, render_special);
  Require(IsValidUtf8(streamed), "streamed text is valid UTF-8");
  if (IsValidUtf8(pieces)) Require(streamed == pieces, "valid UTF-8 streams unchanged");
  const int32_t byte0_id = *tokenizer.FindToken("<0x00>");  // <0x01>.. follow in order
  std::vector<int32_t> byte_ids;
  for (char c : pieces) byte_ids.push_back(byte0_id + static_cast<uint8_t>(c));
  Require(Stream(tokenizer, byte_ids, false) == streamed, "streaming is chunking-independent");
}

// Properties of Encode then Decode (tokenizer.h), for any bytes `text`:
//  - ids are in range, and add_special only adds BOS in front (add_bos, no add_eos);
//  - with every special rendered, Decode gives the text back up to U+2581 versus ' ': both are
//    the same once escaped, and byte fallback may hand back U+2581's bytes where an invalid
//    lead byte swallowed an escaped space;
//  - exactly the text when it has no U+2581 and is valid UTF-8 or has no space;
//  - without a space prefix, Decode is the concatenated pieces (so the streaming checks above
//    cover "streamed == Decode for valid UTF-8").
// A space-prefixed vocabulary adds a space after each special split out, which Decode keeps; the
// round trip is only promised when nothing was split out.
void CheckRoundTrip(const Tokenizer& tokenizer, bool space_prefix, std::string_view text,
                    bool parse_special) {
  const std::vector<int32_t> ids = tokenizer.Encode(text, false, parse_special);
  std::vector<int32_t> with_bos = {tokenizer.bos_id()};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  Require(tokenizer.Encode(text, true, parse_special) == with_bos, "add_special adds BOS only");

  bool split_special = false;
  for (int32_t id : ids) {
    Require(id >= 0 && id < tokenizer.num_vocab(), "ids are in range");
    const TokenType type = tokenizer.Type(id);
    split_special |= type == TokenType::kControl || type == TokenType::kUserDefined ||
                     type == TokenType::kUnknown;
  }
  const std::string decoded = tokenizer.Decode(ids, true);
  if (!space_prefix || !split_special) {
    Require(ReplaceEscapedSpaces(decoded) == ReplaceEscapedSpaces(text),
            "Decode(Encode(text)) is the text up to U+2581 vs ' '");
    const bool has_escaped_space = text.find(kEscapedSpace) != std::string_view::npos;
    const bool has_space = text.find(' ') != std::string_view::npos;
    if (!has_escaped_space && (!has_space || IsValidUtf8(text))) {
      Require(decoded == text, "Decode(Encode(text)) is the text");
    }
  }
  for (bool render_special : {false, true}) {
    if (!space_prefix) {
      std::string pieces;
      for (int32_t id : ids) pieces += tokenizer.TokenToPiece(id, render_special);
      Require(tokenizer.Decode(ids, render_special) == pieces, "Decode concatenates the pieces");
    }
    CheckStream(tokenizer, ids, render_special);
  }
}

// Properties of the BPE's Encode then Decode, for any bytes `text`: ids are in range;
// add_special adds only BOS; with every special rendered, Decode gives back the text as
// llama.cpp's decoder reads it (ValidateLikeLlamaCpp: ill-formed bytes as U+FFFD), exactly when
// that has no U+2581 and up to U+2581 versus ' ' otherwise. Specials are split out of the raw
// bytes first, but every special text here is ASCII, so no byte sequence straddles a split and
// validating the fragments one by one equals validating the whole text. Decode is the
// concatenated pieces, and the streaming properties hold.
void CheckBpeRoundTrip(const Tokenizer& tokenizer, std::string_view text, bool parse_special) {
  const std::vector<int32_t> ids = tokenizer.Encode(text, false, parse_special);
  std::vector<int32_t> with_bos = {tokenizer.bos_id()};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  Require(tokenizer.Encode(text, true, parse_special) == with_bos, "BPE: add_special adds BOS");
  for (int32_t id : ids) Require(id >= 0 && id < tokenizer.num_vocab(), "BPE: ids are in range");

  std::string validated;
  ValidateLikeLlamaCpp(text, /*escape_spaces=*/false, validated);
  const std::string decoded = tokenizer.Decode(ids, true);
  Require(ReplaceEscapedSpaces(decoded) == ReplaceEscapedSpaces(validated),
          "BPE: Decode(Encode(text)) is the validated text up to U+2581 vs ' '");
  if (validated.find(kEscapedSpace) == std::string::npos) {
    Require(decoded == validated, "BPE: Decode(Encode(text)) is the validated text");
  }
  for (bool render_special : {false, true}) {
    std::string pieces;
    for (int32_t id : ids) pieces += tokenizer.TokenToPiece(id, render_special);
    Require(tokenizer.Decode(ids, render_special) == pieces, "BPE: Decode concatenates pieces");
    CheckStream(tokenizer, ids, render_special);
  }
}

}  // namespace
}  // namespace gs

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool parse_special : {false, true}) {
    gs::CheckRoundTrip(gs::Plain(), false, text, parse_special);
    gs::CheckRoundTrip(gs::SpacePrefixed(), true, text, parse_special);
    gs::CheckBpeRoundTrip(gs::Bpe(), text, parse_special);
  }
  // The same bytes as little-endian 16-bit ids, a few past each end of the vocabulary, with
  // every special rendered and without.
  const gs::Tokenizer& tokenizer = gs::Plain();
  const int32_t num_ids = tokenizer.num_vocab() + 8;
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < size; i += 2) {
    ids.push_back(static_cast<int32_t>((data[i] | data[i + 1] << 8) % num_ids) - 4);
  }
  for (bool render_special : {false, true}) gs::CheckStream(tokenizer, ids, render_special);
  return 0;
}
