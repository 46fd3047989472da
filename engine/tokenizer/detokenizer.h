// Streams text out of a token stream without ever splitting a UTF-8 character: a token that ends
// inside a character holds its bytes until the character completes. The output is always valid
// UTF-8: each ill-formed subsequence (a stray continuation byte, a lead byte followed by a
// non-continuation, an overlong or surrogate form) becomes one U+FFFD as soon as it is known to
// be broken, so bad bytes never stall the stream. Pieces are concatenated as they are; unlike
// Tokenizer::Decode, no leading space is stripped for add_space_prefix vocabularies.
#pragma once

#include <cstdint>
#include <string>

namespace gs {

class Tokenizer;

class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool render_special);

  // Appends one token; returns the text that is now complete (possibly empty).
  std::string Push(int32_t id);
  // End of stream: whatever is held back, with invalid bytes replaced by U+FFFD.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  bool render_special_;
  std::string pending_;  // an incomplete UTF-8 tail, at most 3 bytes
};

}  // namespace gs
