// The device sampler against gs::ref::SampleRow: 17 rows of mixed parameters, at the Gemma
// vocabulary (262144) and an awkward one (1000), 50 counters each. The device may pick another
// token than the reference only where the reference reports a decision within kMarginTol of
// flipping (float rounding of exp and sums); anywhere else a difference is a bug.
#include "kernels/cuda/sampling_cuda.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <future>
#include <random>
#include <vector>

#include "kernels/ref/sampling_ref.h"
#include "tests/cuda/cuda_test_util.h"

namespace gs {
namespace {

using cuda_test::DeviceBuffer;

// The device's exp and sums differ from the reference's by a few 1e-7 relative at most; a
// decision closer than this to its boundary may go either way.
constexpr double kMarginTol = 1e-6;
constexpr int kNumCounters = 50;

struct RowSpec {
  SampleRowParams params;
  std::vector<PenaltyToken> penalties;
  std::vector<LogitBiasEntry> biases;
};

std::vector<RowSpec> MixedRows() {
  std::vector<RowSpec> rows(17);
  auto set = [&](int r, SampleRowParams p) {
    p.seed = 1000 + static_cast<uint64_t>(r) * 7919;
    rows[r].params = p;
  };
  set(0, {.temperature = 0, .num_top_logprobs = 5});
  set(1, {.temperature = 0});
  rows[1].biases = {{7, 30.0f}, {3, -5.0f}};  // makes 7 the argmax
  set(2, {.temperature = 0.8f, .top_k = 1, .num_top_logprobs = 20});
  set(3, {.temperature = 1.0f, .top_k = 40, .num_top_logprobs = 1});
  set(4, {.temperature = 0.7f, .top_k = 40, .top_p = 0.9f});
  set(5, {.temperature = 1.0f, .top_p = 0.9f, .num_top_logprobs = 20});
  set(6, {.temperature = 1.0f, .min_p = 0.05f});
  set(7, {.temperature = 1.0f, .top_k = 64, .top_p = 0.95f, .num_top_logprobs = 3});
  set(8, {.temperature = 0.8f,
          .top_k = 40,
          .presence_penalty = 0.5f,
          .frequency_penalty = 0.3f,
          .repetition_penalty = 1.3f});
  rows[8].penalties = {
      {2, 3, true}, {11, 0, true}, {17, 1, false}, {400, 2, true}, {999, 1, false}};
  set(9, {.temperature = 1.0f, .top_p = 0.9f, .num_top_logprobs = 20});
  rows[9].biases = {{0, 4.0f}, {5, 6.0f}, {600, 5.5f}, {-3, 100.0f}, {1 << 30, 100.0f}};
  set(10, {.temperature = 1.5f});  // the whole vocabulary: the uncompacted draw at 262144
  set(11, {.temperature = 1.0f, .top_k = 5000, .top_p = 0.8f});  // top-k set > kCapacity
  set(12, {.temperature = 0.6f, .top_p = 0.5f, .min_p = 0.1f});
  set(13, {.temperature = 0, .repetition_penalty = 3.0f});  // penalises the argmax (set below)
  set(14, {.temperature = 1.0f, .top_k = 40, .num_top_logprobs = 20});
  set(15, {.temperature = 1.0f, .top_k = 10, .num_top_logprobs = 20});  // quantized: ties
  set(16, {.temperature = 2.0f, .top_k = 3000, .min_p = 1.0f});         // -inf entries; maxima only
  return rows;
}

std::vector<float> RowLogits(int r, int32_t num_vocab, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 2.0f + 0.25f * static_cast<float>(r % 5));
  std::vector<float> v(num_vocab);
  for (float& x : v) x = dist(rng);
  if (r == 15) {
    for (float& x : v) x = std::round(x * 4.0f) / 4.0f;
  }
  if (r == 16) {
    for (int32_t i = 0; i < num_vocab; i += 7) v[i] = -INFINITY;
  }
  return v;
}

struct Outputs {
  std::vector<int32_t> ids;
  std::vector<float> logprobs;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
};

class SamplingCudaTest : public ::testing::TestWithParam<int32_t> {};

TEST_P(SamplingCudaTest, MatchesTheReference) {
  GS_REQUIRE_CUDA_DEVICE();
  const int32_t num_vocab = GetParam();
  std::vector<RowSpec> rows = MixedRows();
  const int32_t num_rows = static_cast<int32_t>(rows.size());
  std::mt19937 rng(static_cast<uint32_t>(num_vocab) * 31u + 7u);
  std::vector<float> logits;
  std::vector<double> log_z(num_rows);
  for (int32_t r = 0; r < num_rows; ++r) {
    std::vector<float> row = RowLogits(r, num_vocab, rng);
    if (r == 13) {  // the repetition penalty lands on the argmax
      const int32_t top =
          static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
      rows[13].penalties = {{top, 0, true}};
    }
    float max_x = -INFINITY;
    for (float x : row) max_x = std::max(max_x, x);
    double sum = 0;
    for (float x : row) sum += std::exp(double{x} - max_x);
    log_z[r] = max_x + std::log(sum);
    logits.insert(logits.end(), row.begin(), row.end());
  }

  // CSR penalty and bias inputs.
  std::vector<int32_t> pen_indptr = {0}, pen_ids, pen_counts, bias_indptr = {0}, bias_ids;
  std::vector<uint8_t> pen_in_prompt;
  std::vector<float> bias_values;
  for (const RowSpec& row : rows) {
    for (const PenaltyToken& t : row.penalties) {
      pen_ids.push_back(t.id);
      pen_counts.push_back(t.output_count);
      pen_in_prompt.push_back(t.in_prompt ? 1 : 0);
    }
    pen_indptr.push_back(static_cast<int32_t>(pen_ids.size()));
    for (const LogitBiasEntry& b : row.biases) {
      bias_ids.push_back(b.id);
      bias_values.push_back(b.value);
    }
    bias_indptr.push_back(static_cast<int32_t>(bias_ids.size()));
  }

  DeviceBuffer<float> d_logits(logits);
  DeviceBuffer<float> d_scratch(logits.size());
  DeviceBuffer<SampleRowParams> d_params(rows.size());
  DeviceBuffer<int32_t> d_pen_indptr(pen_indptr), d_pen_ids(pen_ids), d_pen_counts(pen_counts);
  DeviceBuffer<uint8_t> d_pen_in_prompt(pen_in_prompt);
  DeviceBuffer<int32_t> d_bias_indptr(bias_indptr), d_bias_ids(bias_ids);
  DeviceBuffer<float> d_bias_values(bias_values);
  DeviceBuffer<int32_t> d_ids(num_rows), d_top_ids(num_rows * kMaxTopLogprobs);
  DeviceBuffer<float> d_logprobs(num_rows), d_top_logprobs(num_rows * kMaxTopLogprobs);

  SampleParams sp{};
  sp.logits = d_logits.get();
  sp.scratch = d_scratch.get();
  sp.row_params = d_params.get();
  sp.penalty_indptr = d_pen_indptr.get();
  sp.penalty_ids = d_pen_ids.get();
  sp.penalty_counts = d_pen_counts.get();
  sp.penalty_in_prompt = d_pen_in_prompt.get();
  sp.bias_indptr = d_bias_indptr.get();
  sp.bias_ids = d_bias_ids.get();
  sp.bias_values = d_bias_values.get();
  sp.out_ids = d_ids.get();
  sp.out_logprobs = d_logprobs.get();
  sp.out_top_ids = d_top_ids.get();
  sp.out_top_logprobs = d_top_logprobs.get();
  sp.num_rows = num_rows;
  sp.num_vocab = num_vocab;

  auto run = [&](const SampleParams& launch) {
    d_ids.Poison();
    d_logprobs.Poison();
    d_top_ids.Poison();
    d_top_logprobs.Poison();
    SampleRows(launch, nullptr);
    GS_CUDA_CHECK(cudaDeviceSynchronize());
    return Outputs{d_ids.Download(), d_logprobs.Download(), d_top_ids.Download(),
                   d_top_logprobs.Download()};
  };

  int num_mismatches = 0, num_near_boundary = 0;
  double max_logprob_err = 0;
  for (int c = 0; c < kNumCounters; ++c) {
    std::vector<SampleRowParams> params;
    for (RowSpec& row : rows) {
      row.params.counter = static_cast<uint64_t>(c) * 3 + 1;
      params.push_back(row.params);
    }
    d_params.Upload(params);
    const Outputs out = run(sp);

    // The reference rows in parallel (a 262144-entry reference row sorts the vocabulary).
    std::vector<std::future<SampleRowResult>> want(num_rows);
    for (int32_t r = 0; r < num_rows; ++r) {
      want[r] = std::async(std::launch::async, [&, r] {
        const RowSpec& row = rows[r];
        return ref::SampleRow(logits.data() + static_cast<size_t>(r) * num_vocab, num_vocab,
                              row.params, row.penalties.data(),
                              static_cast<int32_t>(row.penalties.size()), row.biases.data(),
                              static_cast<int32_t>(row.biases.size()));
      });
    }
    for (int32_t r = 0; r < num_rows; ++r) {
      const SampleRowResult w = want[r].get();
      const float* x = logits.data() + static_cast<size_t>(r) * num_vocab;
      num_near_boundary += w.boundary_margin < kMarginTol;
      const int32_t got = out.ids[r];
      ASSERT_GE(got, 0) << "row " << r << " counter " << c;
      ASSERT_LT(got, num_vocab) << "row " << r << " counter " << c;
      if (got != w.id) {
        ++num_mismatches;
        EXPECT_LT(w.boundary_margin, kMarginTol)
            << "row " << r << " counter " << c << ": device " << got << ", reference " << w.id
            << ", margin " << w.boundary_margin << ", kept " << w.num_kept;
      }
      const double want_logprob = double{x[got]} - log_z[r];
      EXPECT_NEAR(out.logprobs[r], want_logprob, 1e-4) << "row " << r;
      max_logprob_err = std::max(max_logprob_err, std::fabs(out.logprobs[r] - want_logprob));
      for (int32_t j = 0; j < kMaxTopLogprobs; ++j) {
        const size_t at = static_cast<size_t>(r) * kMaxTopLogprobs + j;
        if (j < w.num_top) {
          ASSERT_EQ(out.top_ids[at], w.top[j].id) << "row " << r << " top " << j;
          EXPECT_NEAR(out.top_logprobs[at], w.top[j].logprob, 1e-4) << "row " << r << " top " << j;
        } else {
          EXPECT_EQ(out.top_ids[at], -1) << "row " << r << " top " << j;
          EXPECT_EQ(out.top_logprobs[at], -INFINITY) << "row " << r << " top " << j;
        }
      }
    }
  }
  std::printf(
      "vocab %d: %d of %d draws differ from the reference (each near a boundary); "
      "%d draws had a decision within %.0e; max logprob error %.2e\n",
      num_vocab, num_mismatches, num_rows * kNumCounters, num_near_boundary, kMarginTol,
      max_logprob_err);
  // Near-boundary draws are rare (a few per thousand); that many flipping would mean the device
  // is less precise than assumed.
  EXPECT_LE(num_mismatches, 3);

  // Same inputs, same outputs; and a row's output does not depend on its batch.
  const Outputs again = run(sp);
  const Outputs first = run(sp);
  EXPECT_EQ(again.ids, first.ids);
  for (int32_t r : {5, 10, 14}) {
    SampleParams one = sp;
    one.logits = sp.logits + static_cast<size_t>(r) * num_vocab;
    one.scratch = sp.scratch + static_cast<size_t>(r) * num_vocab;
    one.row_params = sp.row_params + r;
    one.penalty_indptr = sp.penalty_indptr + r;
    one.bias_indptr = sp.bias_indptr + r;
    one.num_rows = 1;
    const Outputs alone = run(one);
    EXPECT_EQ(alone.ids[0], first.ids[r]) << "row " << r;
    EXPECT_EQ(alone.logprobs[0], first.logprobs[r]) << "row " << r;
  }
  // The engine passes null penalty and bias arrays when no row of a step has any: rows without
  // them must pick the same way through that path.
  int num_bare_rows = 0;
  for (int32_t r = 0; r < num_rows; ++r) {
    if (!rows[r].penalties.empty() || !rows[r].biases.empty()) continue;
    SampleParams bare = sp;
    bare.logits = sp.logits + static_cast<size_t>(r) * num_vocab;
    bare.scratch = sp.scratch + static_cast<size_t>(r) * num_vocab;
    bare.row_params = sp.row_params + r;
    bare.penalty_indptr = bare.penalty_ids = bare.penalty_counts = nullptr;
    bare.penalty_in_prompt = nullptr;
    bare.bias_indptr = bare.bias_ids = nullptr;
    bare.bias_values = nullptr;
    bare.num_rows = 1;
    const Outputs alone = run(bare);
    EXPECT_EQ(alone.ids[0], first.ids[r]) << "row " << r;
    EXPECT_EQ(alone.logprobs[0], first.logprobs[r]) << "row " << r;
    ++num_bare_rows;
  }
  EXPECT_GT(num_bare_rows, 0);

  // Time for the record (not a pass/fail number).
  cudaEvent_t start, stop;
  GS_CUDA_CHECK(cudaEventCreate(&start));
  GS_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> times;
  for (int i = 0; i < 21; ++i) {
    GS_CUDA_CHECK(cudaEventRecord(start));
    SampleRows(sp, nullptr);
    GS_CUDA_CHECK(cudaEventRecord(stop));
    GS_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    GS_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  std::printf("vocab %d, %d mixed rows: median %.1f us per launch\n", num_vocab, num_rows,
              times[times.size() / 2] * 1000.0f);
  GS_CUDA_CHECK(cudaEventDestroy(start));
  GS_CUDA_CHECK(cudaEventDestroy(stop));
}

INSTANTIATE_TEST_SUITE_P(Vocab, SamplingCudaTest, ::testing::Values(1000, 262144));

}  // namespace
}  // namespace gs
