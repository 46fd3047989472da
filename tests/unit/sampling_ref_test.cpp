// The reference row sampler (the oracle of the device sampler) against its generator's known
// answers and against the host sampler engine/sampler.h where their semantics coincide.
#include "kernels/ref/sampling_ref.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "engine/sampler.h"
#include "kernels/cuda/philox.h"

namespace gs {
namespace {

SampleRowResult Sample(const std::vector<float>& logits, const SampleRowParams& p,
                       const std::vector<PenaltyToken>& penalties = {},
                       const std::vector<LogitBiasEntry>& biases = {}) {
  return ref::SampleRow(logits.data(), static_cast<int32_t>(logits.size()), p, penalties.data(),
                        static_cast<int32_t>(penalties.size()), biases.data(),
                        static_cast<int32_t>(biases.size()));
}

std::vector<float> NormalLogits(int32_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(PhiloxTest, KnownAnswers) {
  // Random123's kat_vectors for philox4x32_R(10).
  const Philox4x32 zero = Philox4x32x10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  const Philox4x32 ones = Philox4x32x10({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
                                        0xffffffffu, 0xffffffffu);
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  const Philox4x32 pi = Philox4x32x10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                      0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(PhiloxTest, UniformIsInRangeAndBalancedAndKeyedBySeed) {
  double sum = 0;
  int num_low = 0;
  constexpr int kNum = 100000;
  for (uint64_t c = 0; c < kNum; ++c) {
    const double u = PhiloxUniform(42, c);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    num_low += u < 0.1;
  }
  EXPECT_NEAR(sum / kNum, 0.5, 0.005);
  EXPECT_NEAR(num_low / double{kNum}, 0.1, 0.005);
  EXPECT_EQ(PhiloxUniform(7, 3), PhiloxUniform(7, 3));
  EXPECT_NE(PhiloxUniform(7, 3), PhiloxUniform(8, 3));
  EXPECT_NE(PhiloxUniform(7, 3), PhiloxUniform(7, 4));
  EXPECT_NE(PhiloxUniform(uint64_t{1} << 32, 0), PhiloxUniform(0, 0));  // the seed's high word
}

TEST(SamplingRefTest, GreedyIsArgMaxAndTopK1IsGreedyAtAnyTemperature) {
  std::mt19937 rng(5);
  for (int32_t n : {1, 7, 1000, 262144}) {
    for (int trial = 0; trial < 5; ++trial) {
      std::vector<float> l(n);
      for (float& x : l) x = static_cast<float>(rng() % 7);  // many ties at the maximum
      const int32_t want = ArgMax(l.data(), n);
      EXPECT_EQ(Sample(l, {.temperature = 0}).id, want) << n;
      for (float t : {0.3f, 1.0f, 5.0f}) {
        EXPECT_EQ(Sample(l, {.temperature = t, .top_k = 1, .seed = 9, .counter = 4}).id, want);
      }
    }
  }
  std::vector<float> no_valid = {NAN, -INFINITY, NAN};
  EXPECT_EQ(Sample(no_valid, {.temperature = 1.0f}).id, 0);  // as gs::ArgMax
  std::vector<float> with_inf = {1.0f, INFINITY, 2.0f, INFINITY};
  EXPECT_EQ(Sample(with_inf, {.temperature = 1.0f}).id, 1);
}

TEST(SamplingRefTest, FiltersKeepTiesAtTheirBoundary) {
  const std::vector<float> l = {3.0f, 1.0f, 3.0f, 2.0f, 3.0f, 0.0f};
  const int32_t n = static_cast<int32_t>(l.size());
  EXPECT_EQ(ref::KeptSet(l.data(), n, {.temperature = 1, .top_k = 2}),
            (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(ref::KeptSet(l.data(), n, {.temperature = 1, .top_k = 4}),
            (std::vector<int32_t>{0, 2, 3, 4}));
  // The three 3.0s hold 0.84 of the mass, more than 0.2: top-p keeps all of them, not one.
  EXPECT_EQ(ref::KeptSet(l.data(), n, {.temperature = 1, .top_p = 0.2f}),
            (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(ref::KeptSet(l.data(), n, {.temperature = 1, .top_p = 0.0f}),
            (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(ref::KeptSet(l.data(), n, {.temperature = 1, .min_p = 2.0f}),
            (std::vector<int32_t>{0, 2, 4}));
  EXPECT_EQ(ref::KeptSet(l.data(), n, {.temperature = 1}),
            (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  std::vector<float> with_invalid = {1.0f, NAN, -INFINITY, 0.5f};
  EXPECT_EQ(ref::KeptSet(with_invalid.data(), 4, {.temperature = 1}), (std::vector<int32_t>{0, 3}));
}

// The set of tokens the host sampler draws over many tries.
std::set<int32_t> HostSupport(const std::vector<float>& l, SamplingParams p, int num_draws) {
  std::set<int32_t> seen;
  Sampler s(p);
  for (int i = 0; i < num_draws; ++i)
    seen.insert(s.Sample(l.data(), static_cast<int32_t>(l.size())));
  return seen;
}
std::set<int32_t> RefSupport(const std::vector<float>& l, SampleRowParams p, int num_draws) {
  std::set<int32_t> seen;
  for (int i = 0; i < num_draws; ++i) {
    p.counter = static_cast<uint64_t>(i);
    seen.insert(Sample(l, p).id);
  }
  return seen;
}

TEST(SamplingRefTest, KeptSetsMatchTheHostSamplerWithoutTies) {
  // Distinct logits within a few nats, so every kept token is drawn within a few thousand tries
  // and the host's exact-k / exact-prefix rules coincide with ties-kept ones.
  const std::vector<float> l = {0.1f, 1.3f, -0.4f, 2.2f, 0.9f, 1.7f, -1.1f, 0.5f, 2.0f, -0.2f};
  struct Case {
    float top_p, min_p;
    int32_t top_k;
  };
  for (const Case& c : {Case{1.0f, 0.0f, 0}, Case{1.0f, 0.0f, 4}, Case{0.6f, 0.0f, 0},
                        Case{0.8f, 0.0f, 5}, Case{1.0f, 0.3f, 0}, Case{0.9f, 0.2f, 6}}) {
    const SampleRowParams rp{
        .temperature = 0.9f, .top_k = c.top_k, .top_p = c.top_p, .min_p = c.min_p, .seed = 11};
    const std::vector<int32_t> kept = ref::KeptSet(l.data(), 10, rp);
    const std::set<int32_t> kept_set(kept.begin(), kept.end());
    const SamplingParams hp{.temperature = 0.9f,
                            .top_k = c.top_k,
                            .top_p = c.top_p,
                            .min_p = c.min_p,
                            .seed = 11,
                            .logit_bias = {}};
    EXPECT_EQ(HostSupport(l, hp, 5000), kept_set) << c.top_k << " " << c.top_p << " " << c.min_p;
    EXPECT_EQ(RefSupport(l, rp, 5000), kept_set) << c.top_k << " " << c.top_p << " " << c.min_p;
  }
}

TEST(SamplingRefTest, LogprobsMatchComputeLogprobsOfTheRawLogits) {
  for (int32_t n : {5, 1000, 262144}) {
    const std::vector<float> l = NormalLogits(n, 3.0f, static_cast<uint32_t>(n));
    const SampleRowParams rp{.temperature = 0.8f,
                             .top_k = 40,
                             .presence_penalty = 0.5f,
                             .repetition_penalty = 1.3f,
                             .num_top_logprobs = 20,
                             .seed = 3,
                             .counter = 17};
    const std::vector<PenaltyToken> pen = {{1, 2, true}, {3, 0, true}};
    const std::vector<LogitBiasEntry> bias = {{0, 2.0f}, {4, -1.0f}};
    const SampleRowResult r = Sample(l, rp, pen, bias);
    const SampledToken want = ComputeLogprobs(l.data(), n, r.id, 20);
    EXPECT_NEAR(r.logprob, want.logprob, 1e-5);
    ASSERT_EQ(r.num_top, std::min(n, 20));
    ASSERT_EQ(static_cast<int32_t>(want.top.size()), r.num_top);
    for (int32_t j = 0; j < r.num_top; ++j) {
      EXPECT_EQ(r.top[j].id, want.top[j].id) << j;
      EXPECT_NEAR(r.top[j].logprob, want.top[j].logprob, 1e-5) << j;
    }
  }
  // Ties in the top list go to the lower id, as ComputeLogprobs.
  const std::vector<float> tied = {1.0f, 2.0f, 2.0f, 0.0f, 2.0f};
  const SampleRowResult r = Sample(tied, {.num_top_logprobs = 4});
  EXPECT_EQ(r.top[0].id, 1);
  EXPECT_EQ(r.top[1].id, 2);
  EXPECT_EQ(r.top[2].id, 4);
  EXPECT_EQ(r.top[3].id, 0);
}

TEST(SamplingRefTest, ProcessingEqualsTheHostSamplersBitForBit) {
  const int32_t n = 1000;
  const std::vector<float> l = NormalLogits(n, 4.0f, 21);
  SamplingParams hp{.temperature = 1.0f,
                    .presence_penalty = 0.7f,
                    .frequency_penalty = 0.3f,
                    .repetition_penalty = 1.7f,
                    .logit_bias = {{5, 3.0f}, {9, -2.5f}, {5000, 1.0f}}};
  Sampler host(hp);
  const std::vector<int32_t> prompt = {9, 10, 11, 12};
  host.AddPromptTokens(prompt);
  for (int32_t id : {11, 20, 20, 20, 5, 7}) host.Accept(id);
  std::vector<float> want = l;
  host.ProcessLogits(want.data(), n);

  const std::vector<PenaltyToken> pen = {{9, 0, true},  {10, 0, true},  {11, 1, true},
                                         {12, 0, true}, {20, 3, false}, {5, 1, false},
                                         {7, 1, false}};
  const std::vector<LogitBiasEntry> bias = {{5, 3.0f}, {9, -2.5f}, {5000, 1.0f}};
  const SampleRowParams rp{.temperature = 1.0f,
                           .presence_penalty = 0.7f,
                           .frequency_penalty = 0.3f,
                           .repetition_penalty = 1.7f};
  std::vector<float> got(n);
  ref::ProcessRowLogits(l.data(), n, rp, pen.data(), static_cast<int32_t>(pen.size()), bias.data(),
                        static_cast<int32_t>(bias.size()), got.data());
  for (int32_t i = 0; i < n; ++i) ASSERT_EQ(got[i], want[i]) << i;
}

TEST(SamplingRefTest, PenaltiesAndBiasMoveTheGreedyPick) {
  const std::vector<float> l = {1.0f, 4.0f, 3.5f, -2.0f, 3.9f};
  const SampleRowParams greedy{.temperature = 0};
  EXPECT_EQ(Sample(l, greedy).id, 1);
  EXPECT_EQ(Sample(l, greedy, {}, {{3, 10.0f}}).id, 3);
  EXPECT_EQ(Sample(l, greedy, {}, {{1, -1.0f}, {99, 50.0f}}).id, 4);  // 99 is out of range
  SampleRowParams rep = greedy;
  rep.repetition_penalty = 1.2f;  // 4.0 / 1.2 < 3.9
  EXPECT_EQ(Sample(l, rep, {{1, 0, true}}).id, 4);
  EXPECT_EQ(Sample(l, rep, {{1, 0, false}}).id, 1);  // neither in the prompt nor the output
  SampleRowParams presence = greedy;
  presence.presence_penalty = 0.2f;  // only for output tokens
  EXPECT_EQ(Sample(l, presence, {{1, 0, true}}).id, 1);
  EXPECT_EQ(Sample(l, presence, {{1, 1, false}}).id, 4);
  SampleRowParams frequency = greedy;
  frequency.frequency_penalty = 0.05f;  // 4.0 - 0.05 * 3 < 3.9
  EXPECT_EQ(Sample(l, frequency, {{1, 1, false}}).id, 1);
  EXPECT_EQ(Sample(l, frequency, {{1, 3, false}}).id, 4);
  // The logprob stays the raw distribution's.
  const SampleRowResult r = Sample(l, greedy, {}, {{3, 10.0f}});
  EXPECT_NEAR(r.logprob, ComputeLogprobs(l.data(), 5, 3, 0).logprob, 1e-6);
}

TEST(SamplingRefTest, DrawsFollowTheTemperedSoftmaxOfTheKeptSet) {
  const std::vector<float> l = {0.3f, 1.1f, -0.5f, 1.9f, 0.8f, 1.5f, -1.0f, 0.0f};
  const SampleRowParams base{
      .temperature = 0.7f, .top_k = 6, .top_p = 0.95f, .min_p = 0.05f, .seed = 1234};
  const std::vector<int32_t> kept = ref::KeptSet(l.data(), 8, base);
  ASSERT_GE(kept.size(), 3u);
  double total = 0;
  std::map<int32_t, double> want;
  for (int32_t id : kept) total += want[id] = std::exp((l[id] - 1.9) / 0.7);
  std::map<int32_t, int> counts;
  constexpr int kNumDraws = 20000;
  SampleRowParams p = base;
  for (int i = 0; i < kNumDraws; ++i) {
    p.counter = static_cast<uint64_t>(i);
    ++counts[Sample(l, p).id];
  }
  for (const auto& [id, count] : counts) {
    ASSERT_TRUE(want.count(id)) << "drew " << id << " outside the kept set";
  }
  for (const auto& [id, w] : want) {
    EXPECT_NEAR(counts[id] / double{kNumDraws}, w / total, 0.01) << id;
  }
}

TEST(SamplingRefTest, MarginsAreReportedAndSmallOnlyNearBoundaries) {
  const std::vector<float> l = NormalLogits(1000, 2.0f, 8);
  SampleRowParams p{.temperature = 1.0f, .top_p = 0.9f, .seed = 5};
  int num_small = 0;
  for (uint64_t c = 0; c < 200; ++c) {
    p.counter = c;
    const SampleRowResult r = Sample(l, p);
    EXPECT_GE(r.boundary_margin, 0.0);
    EXPECT_LE(r.boundary_margin, 1.0);
    EXPECT_GE(r.num_kept, 1);
    num_small += r.boundary_margin < 1e-6;
  }
  EXPECT_LE(num_small, 2);
  EXPECT_EQ(Sample(l, {.temperature = 0}).boundary_margin, 1.0);
}

}  // namespace
}  // namespace gs
