#include "api/reasoning_parser.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace gs::api {
namespace {

struct Split {
  std::string content;
  std::string reasoning;
  bool operator==(const Split&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Split& s) {
  return os << "{content: \"" << s.content << "\", reasoning: \"" << s.reasoning << "\"}";
}

void Add(Split* total, const ReasoningDelta& d) {
  total->content += d.content;
  total->reasoning += d.reasoning;
}

// The text pushed in the given pieces, then flushed.
Split Parse(const std::vector<std::string_view>& pieces) {
  ReasoningParser parser(Gemma4ReasoningSyntax());
  Split total;
  for (const std::string_view piece : pieces) Add(&total, parser.Push(piece));
  Add(&total, parser.Flush());
  return total;
}

Split ParseWhole(std::string_view text) { return Parse({text}); }

// An independent reference: the same rules, applied to the whole text with plain searches.
Split Reference(std::string_view text) {
  constexpr std::string_view kOpen = "<|channel>", kClose = "<channel|>", kLabel = "thought\n";
  Split out;
  bool in_channel = false;
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, kOpen.size()) == kOpen) {
      i += kOpen.size();
      in_channel = true;
      if (text.substr(i, kLabel.size()) == kLabel) i += kLabel.size();
    } else if (text.substr(i, kClose.size()) == kClose) {
      i += kClose.size();
      in_channel = false;
    } else {
      (in_channel ? out.reasoning : out.content) += text[i++];
    }
  }
  return out;
}

TEST(ReasoningParserTest, ThoughtThenAnswer) {
  EXPECT_EQ(ParseWhole("<|channel>thought\nAdd 2 and 2.<channel|>The answer is 4."),
            (Split{"The answer is 4.", "Add 2 and 2."}));
}

TEST(ReasoningParserTest, NoMarkersIsAllContent) {
  EXPECT_EQ(ParseWhole("Just an answer, with < and | and > in it <|chan"),
            (Split{"Just an answer, with < and | and > in it <|chan", ""}));
}

TEST(ReasoningParserTest, AThoughtThatNeverClosesIsAllReasoning) {
  // max_tokens ran out mid-thought.
  EXPECT_EQ(ParseWhole("<|channel>thought\nStill thinking about it <chan"),
            (Split{"", "Still thinking about it <chan"}));
  EXPECT_EQ(ParseWhole("<|channel>thou"), (Split{"", "thou"}));
  EXPECT_EQ(ParseWhole("<|channel>"), (Split{"", ""}));
}

TEST(ReasoningParserTest, TheLabelIsDroppedOnlyRightAfterTheOpenMarker) {
  EXPECT_EQ(ParseWhole("<|channel>no label here<channel|>x"), (Split{"x", "no label here"}));
  EXPECT_EQ(ParseWhole("<|channel>thought\nthought\nagain<channel|>"),
            (Split{"", "thought\nagain"}));
  EXPECT_EQ(ParseWhole("thought\n<|channel>thought<channel|>"), (Split{"thought\n", "thought"}));
}

TEST(ReasoningParserTest, StrayAndRepeatedMarkersNeverReachTheOutput) {
  EXPECT_EQ(ParseWhole("a<channel|>b"), (Split{"ab", ""}));
  EXPECT_EQ(ParseWhole("<|channel>thought\nA<|channel>thought\nB<channel|>C"), (Split{"C", "AB"}));
  EXPECT_EQ(ParseWhole("<|channel>thought\nA<channel|>B<|channel>thought\nC<channel|>D"),
            (Split{"BD", "AC"}));
  EXPECT_EQ(ParseWhole("<|channel><channel|>"), (Split{"", ""}));
}

TEST(ReasoningParserTest, ContentBeforeTheThoughtStaysContent) {
  EXPECT_EQ(ParseWhole("Hi <|channel>thought\nhm<channel|>there"), (Split{"Hi there", "hm"}));
}

TEST(ReasoningParserTest, HeldBackTextIsReleasedAsSoonAsItCannotBeAMarker) {
  ReasoningParser parser(Gemma4ReasoningSyntax());
  ReasoningDelta d = parser.Push("Hello <|chan");
  EXPECT_EQ(d.content, "Hello ");
  d = parser.Push("nel");
  EXPECT_EQ(d.content, "");
  d = parser.Push("s");  // "<|channels": not the marker
  EXPECT_EQ(d.content, "<|channels");
  d = parser.Push("<|channel>thought");
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_TRUE(parser.in_channel());
  d = parser.Push("\nplan<channel");
  EXPECT_EQ(d.reasoning, "plan");
  d = parser.Push("|>done");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "done");
  EXPECT_FALSE(parser.in_channel());
}

const char* const kSamples[] = {
    "<|channel>thought\nLet me think: 2+2=4.<channel|>The answer is 4.",
    "Preamble <|channel>thought\nx<channel|> and <|channel>thought\ny<channel|>end",
    "<|channel>thought\nunfinished <channel",
    "<|channel>thought<channel|>",
    "<|channel>thought\n<|channel>thought\n<channel|><channel|>",
    "a<channel|>b<|channel|>c<|channel><|channel>",
    "<<|channel>>thought\n<<channel|>>",
    "no markers at all <| |> <channel| <|channel",
    "thought\n<|channel>thoughtful\n<channel|>x",
    "\xe4\xbd\xa0<|channel>thought\n\xe5\xa5\xbd<channel|>\xf0\x9f\x91\x8b",
};

// The property the server relies on: streamed and non-streamed agree. Every sample split at
// every byte boundary (and at every pair of boundaries) gives what the whole text gives, and that
// is what the reference gives.
TEST(ReasoningParserTest, MarkersSplitAtEveryByteBoundary) {
  for (const std::string_view text : kSamples) {
    SCOPED_TRACE(std::string(text));
    const Split whole = ParseWhole(text);
    EXPECT_EQ(whole, Reference(text));
    for (size_t i = 0; i <= text.size(); ++i) {
      EXPECT_EQ(Parse({text.substr(0, i), text.substr(i)}), whole) << "split at " << i;
      for (size_t j = i; j <= text.size(); ++j) {
        ASSERT_EQ(Parse({text.substr(0, i), text.substr(i, j - i), text.substr(j)}), whole)
            << "split at " << i << " and " << j;
      }
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
    EXPECT_EQ(Parse(bytes), whole) << "one byte at a time";
  }
}

// Random texts over an alphabet of marker pieces: any chunking agrees with the reference.
TEST(ReasoningParserTest, RandomTextsAndChunkings) {
  const std::string_view kAtoms[] = {"<|channel>", "<channel|>", "thought\n", "thought",
                                     "<|",         "|>",         "<",         "channel",
                                     "\n",         "x",          "<|chan",    "nel|>"};
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const int num_atoms = static_cast<int>(rng() % 12);
    for (int a = 0; a < num_atoms; ++a) text += kAtoms[rng() % std::size(kAtoms)];
    std::vector<std::string_view> pieces;
    for (size_t pos = 0; pos < text.size();) {
      const size_t len = std::min<size_t>(1 + rng() % 6, text.size() - pos);
      pieces.push_back(std::string_view(text).substr(pos, len));
      pos += len;
    }
    ASSERT_EQ(Parse(pieces), Reference(text)) << text;
  }
}

}  // namespace
}  // namespace gs::api
