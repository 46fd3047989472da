// StopMatcher: stop strings over text that arrives in arbitrary pieces. The output must not
// depend on how the text was cut into pieces (tokens), must never include a stop string or
// anything after it, and must never split a UTF-8 character that arrived whole.
#include "api/stop_matcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace gs::api {
namespace {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Everything the matcher returns for `pieces`, Flush included.
std::string RunPieces(const std::vector<std::string>& stops, const std::vector<std::string>& pieces,
                      bool* matched = nullptr) {
  StopMatcher m(stops);
  std::string out;
  for (const std::string& p : pieces) out += m.Push(p);
  out += m.Flush();
  if (matched != nullptr) *matched = m.matched();
  return out;
}

// The reference: the text up to the stop string that is complete first as the text arrives
// (on a tie, the one that starts first), or all of it when no stop string occurs. "First
// complete" rather than "starts first" because generation ends the moment a stop string has
// been produced: with stops {"abcd", "bc"} and text "abcd", "bc" ends the output before "abcd"
// could ever be finished, however the text was cut into tokens.
std::string Reference(const std::string& text, const std::vector<std::string>& stops, bool* found) {
  for (size_t end = 1; end <= text.size(); ++end) {
    size_t best = std::string::npos;
    for (const std::string& stop : stops) {
      if (stop.empty() || stop.size() > end) continue;
      if (text.compare(end - stop.size(), stop.size(), stop) == 0) {
        best = std::min(best, end - stop.size());
      }
    }
    if (best != std::string::npos) {
      *found = true;
      return text.substr(0, best);
    }
  }
  *found = false;
  return text;
}

std::vector<std::string> Bytes(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) out.emplace_back(1, c);
  return out;
}

TEST(StopMatcherTest, EmptyStopListPassesTextStraightThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.Push("Hello"), "Hello");
  EXPECT_EQ(m.Push(", wor"), ", wor");
  EXPECT_EQ(m.Push("ld"), "ld");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_FALSE(m.matched());
}

TEST(StopMatcherTest, EmptyStopStringsAreIgnored) {
  // An empty stop string would match at offset 0 and swallow the whole reply.
  StopMatcher m({"", ""});
  EXPECT_EQ(m.Push("abc"), "abc");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_FALSE(m.matched());
}

TEST(StopMatcherTest, StopInsideOnePiece) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.Push("Hello END world"), "Hello ");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, StopAcrossTwoPieces) {
  StopMatcher m({"END"});
  // "E" could start the stop string, so it is held back.
  EXPECT_EQ(m.Push("Hello E"), "Hello ");
  EXPECT_FALSE(m.matched());
  EXPECT_EQ(m.Push("ND and more"), "");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, StopAcrossThreePieces) {
  StopMatcher m({"<|end|>"});
  EXPECT_EQ(m.Push("text<|"), "text");
  EXPECT_EQ(m.Push("en"), "");
  EXPECT_FALSE(m.matched());
  EXPECT_EQ(m.Push("d|>tail"), "");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, TextBeforeStopInTheSamePieceIsEmitted) {
  StopMatcher m({"<|end|>"});
  EXPECT_EQ(m.Push("ab<"), "ab");
  EXPECT_EQ(m.Push("|en"), "");
  EXPECT_EQ(m.Push("d|"), "");
  EXPECT_EQ(m.Push(">"), "");
  EXPECT_TRUE(m.matched());
}

TEST(StopMatcherTest, HeldBackTextIsReleasedWhenItStopsMatching) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.Push("abEN"), "ab");
  EXPECT_EQ(m.Push("x"), "ENx");
  EXPECT_FALSE(m.matched());
}

TEST(StopMatcherTest, HeldBackTextIsReleasedByFlush) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.Push("abcEN"), "abc");
  EXPECT_EQ(m.Flush(), "EN");
  EXPECT_FALSE(m.matched());
}

TEST(StopMatcherTest, NothingIsEmittedAfterAMatch) {
  StopMatcher m({"stop"});
  EXPECT_EQ(m.Push("go stop go"), "go ");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.Push("more text"), "");
  EXPECT_EQ(m.Push("stop"), "");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_EQ(m.Flush(), "");
  EXPECT_TRUE(m.matched());
}

TEST(StopMatcherTest, OverlappingStops) {
  const std::vector<std::string> stops = {"abc", "bc"};
  // Both end at the same place; the output ends where the longer one starts.
  EXPECT_EQ(RunPieces(stops, {"xabc"}), "x");
  EXPECT_EQ(RunPieces(stops, {"xa", "bc"}), "x");
  EXPECT_EQ(RunPieces(stops, Bytes("xabcy")), "x");
  // Only the shorter one occurs.
  EXPECT_EQ(RunPieces(stops, {"xbc"}), "x");
  EXPECT_EQ(RunPieces(stops, Bytes("xbcy")), "x");
  EXPECT_EQ(RunPieces(stops, Bytes("xacbc")), "xac");
}

TEST(StopMatcherTest, StopThatIsAPrefixOfAnother) {
  // "ab" completes first, so "abc" can never win, in either order of the list.
  for (const std::vector<std::string>& stops :
       {std::vector<std::string>{"ab", "abc"}, std::vector<std::string>{"abc", "ab"}}) {
    bool matched = false;
    EXPECT_EQ(RunPieces(stops, {"zabc"}, &matched), "z");
    EXPECT_TRUE(matched);
    EXPECT_EQ(RunPieces(stops, Bytes("zabc"), &matched), "z");
    EXPECT_TRUE(matched);
    EXPECT_EQ(RunPieces(stops, Bytes("zaz"), &matched), "zaz");
    EXPECT_FALSE(matched);
  }
}

TEST(StopMatcherTest, StopInsideALongerStopGivesTheSameOutputForAnySplit) {
  // "bc" lies inside "abcd": streamed, "bc" completes while "abcd" is still unfinished. The
  // whole text in one piece must give the same answer, or the output would depend on how the
  // model's tokens happen to cut the text.
  const std::vector<std::string> stops = {"abcd", "bc"};
  EXPECT_EQ(RunPieces(stops, Bytes("xabcd")), "xa");
  EXPECT_EQ(RunPieces(stops, {"xabcd"}), "xa");
  EXPECT_EQ(RunPieces(stops, {"xab", "cd"}), "xa");
}

TEST(StopMatcherTest, MultibyteStopStrings) {
  const std::vector<std::string> stops = {"。", "終わり"};
  {
    StopMatcher m(stops);
    std::string out;
    for (const char* ch : {"こ", "ん", "に", "ち", "は", "。", "世", "界"}) {
      const std::string piece = m.Push(ch);
      EXPECT_TRUE(IsValidUtf8(piece)) << piece;
      out += piece;
    }
    EXPECT_TRUE(m.matched());
    EXPECT_EQ(out, "こんにちは");
  }
  {
    // A held-back prefix of a multibyte stop string comes out whole when it does not match.
    StopMatcher m(stops);
    EXPECT_EQ(m.Push("話は"), "話は");
    EXPECT_EQ(m.Push("終"), "");
    EXPECT_EQ(m.Push("わ"), "");
    EXPECT_EQ(m.Push("る"), "終わる");
    EXPECT_FALSE(m.matched());
  }
  {
    // "é" and "ê" share their first byte; a piece ending in one is not a prefix of the other.
    StopMatcher m({"é!"});
    EXPECT_EQ(m.Push("ê"), "ê");
    EXPECT_EQ(m.Push("é"), "");
    EXPECT_EQ(m.Push("!"), "");
    EXPECT_TRUE(m.matched());
  }
}

// Random texts and random stop sets over a small alphabet (so stops actually occur, overlap
// and nest), mixing 1-, 2-, 3- and 4-byte characters.
TEST(StopMatcherTest, AnySplitMatchesTheReference) {
  const std::vector<std::string> alphabet = {"a", "b", "c", "é", "中", "😀"};
  std::mt19937 rng(20240611);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int num_matched = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<std::string> chars;
    const int num_chars = pick(0, 24);
    for (int i = 0; i < num_chars; ++i) chars.push_back(alphabet[pick(0, 2 + iter % 4)]);
    std::string text;
    for (const std::string& c : chars) text += c;
    std::vector<std::string> stops;
    const int num_stops = pick(0, 3);
    for (int s = 0; s < num_stops; ++s) {
      std::string stop;
      const int len = pick(1, 4);
      for (int i = 0; i < len; ++i) stop += alphabet[pick(0, 2 + iter % 4)];
      stops.push_back(stop);
    }
    bool found = false;
    const std::string expected = Reference(text, stops, &found);
    num_matched += found;
    std::string context = "text '" + text + "' stops";
    for (const std::string& s : stops) context += " '" + s + "'";
    SCOPED_TRACE(context);

    bool matched = false;
    EXPECT_EQ(RunPieces(stops, {text}, &matched), expected);
    EXPECT_EQ(matched, found);
    EXPECT_EQ(RunPieces(stops, Bytes(text), &matched), expected);
    EXPECT_EQ(matched, found);

    // Random pieces of whole characters: every returned piece must be valid UTF-8.
    StopMatcher m(stops);
    std::string out;
    for (size_t i = 0; i < chars.size();) {
      const size_t n = std::min<size_t>(chars.size() - i, pick(1, 4));
      std::string piece;
      for (size_t k = 0; k < n; ++k) piece += chars[i + k];
      i += n;
      const std::string emitted = m.Push(piece);
      EXPECT_TRUE(IsValidUtf8(emitted)) << "emitted '" << emitted << "'";
      out += emitted;
    }
    const std::string rest = m.Flush();
    EXPECT_TRUE(IsValidUtf8(rest));
    out += rest;
    EXPECT_EQ(out, expected);
    EXPECT_EQ(m.matched(), found);
    if (HasFailure()) break;  // one counterexample is enough to read
  }
  // The generator must exercise both outcomes, or the property says little.
  if (HasFailure()) return;
  EXPECT_GT(num_matched, 300);
  EXPECT_LT(num_matched, 2700);
}

}  // namespace
}  // namespace gs::api
