#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

namespace gs {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.5f, -1.0f, 3.0f, 0.0f}; }

TEST(SamplerTest, GreedyTakesTheLowestIdAmongMaxima) {
  Sampler s({.temperature = 0});
  const auto l = Logits();
  EXPECT_EQ(s.Sample(l.data(), static_cast<int32_t>(l.size())), 1);
  Sampler k1({.temperature = 1.0f, .top_k = 1});
  EXPECT_EQ(k1.Sample(l.data(), static_cast<int32_t>(l.size())), 1);
}

TEST(SamplerTest, ArgMaxIsTheLowestIdAmongMaximaAtAnySize) {
  std::mt19937 rng(3);
  for (int n : {1, 7, 15, 16, 17, 33, 1000, 262144}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> l(n);
      // Few distinct values, so the maximum is tied across lanes and in the tail.
      for (float& x : l) x = static_cast<float>(rng() % 5);
      int32_t want = 0;
      for (int i = 1; i < n; ++i) {
        if (l[i] > l[want]) want = i;
      }
      ASSERT_EQ(ArgMax(l.data(), n), want) << "n=" << n;
    }
  }
  std::vector<float> all_low(40, -std::numeric_limits<float>::infinity());
  EXPECT_EQ(ArgMax(all_low.data(), 40), 0);
}

TEST(SamplerTest, SameSeedSameStreamDifferentSeedDiffers) {
  std::vector<float> l(1000);
  for (size_t i = 0; i < l.size(); ++i) l[i] = std::sin(i * 0.37f);
  auto draw = [&](uint64_t seed) {
    Sampler s({.temperature = 1.0f, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.Sample(l.data(), 1000));
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(SamplerTest, TopKTopPMinPRestrictTheSupport) {
  const auto l = Logits();
  const int32_t n = static_cast<int32_t>(l.size());
  auto support = [&](SamplingParams p) {
    std::map<int32_t, int> seen;
    Sampler s(p);
    for (int i = 0; i < 3000; ++i) ++seen[s.Sample(l.data(), n)];
    return seen;
  };
  // top-k 3: ids 1, 4 (logit 3) and 2 (2.5).
  auto k3 = support({.temperature = 1.0f, .top_k = 3, .seed = 1});
  EXPECT_EQ(k3.size(), 3u);
  EXPECT_TRUE(k3.count(1) && k3.count(4) && k3.count(2));
  // min-p 0.5: p(2)/p(1) = e^-0.5 = 0.61 stays, p(0)/p(1) = e^-2 goes.
  auto mp = support({.temperature = 1.0f, .min_p = 0.5f, .seed = 2});
  EXPECT_EQ(mp.size(), 3u);
  EXPECT_FALSE(mp.count(0));
  // top-p 0.3: the first candidate alone (p ≈ 0.34) reaches it.
  auto tp = support({.temperature = 1.0f, .top_p = 0.3f, .seed = 3});
  EXPECT_EQ(tp.size(), 1u);
  EXPECT_TRUE(tp.count(1));
}

TEST(SamplerTest, FrequenciesFollowTheTemperedSoftmax) {
  const std::vector<float> l = {0.0f, 1.0f, 2.0f};
  for (float temp : {0.5f, 1.0f, 2.0f}) {
    Sampler s({.temperature = temp, .seed = 11});
    std::vector<int> counts(3);
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) ++counts[s.Sample(l.data(), 3)];
    double z = 0;
    for (float x : l) z += std::exp(x / temp);
    for (int i = 0; i < 3; ++i) {
      const double p = std::exp(l[i] / temp) / z;
      // 5 standard deviations of a binomial count: never flakes with a fixed seed, still fails
      // on a wrong temperature.
      EXPECT_NEAR(counts[i], p * draws, 5 * std::sqrt(draws * p * (1 - p)) + 1) << temp << " " << i;
    }
  }
}

}  // namespace
}  // namespace gs
