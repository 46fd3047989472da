// Paged attention on the GPU against ref::Attention over contiguous K/V: ragged batches of
// prefill tiles and split-KV decodes, KV lengths 1..4097, block sizes 16 and 32, with and without
// a window and softcap, head dims 128, 256 and 512, bf16 and fp8 caches. The plan itself is checked
// on the CPU (it runs wherever the CUDA build does).
#include "kernels/cuda/attention_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/ops_cuda.h"
#include "kernels/ref/ops_ref.h"
#include "tests/cuda/cuda_test_util.h"

namespace gs {
namespace {

using cuda_test::DeviceBuffer;

struct SeqSpec {
  int32_t kv_len;  // keys after the step
  int32_t num_q;   // query rows this step: the last num_q positions
};

struct Case {
  int32_t head_dim, num_heads, num_kv_heads, block_size, window;
  float softcap;
  cuda::KvType kv_type;
  std::vector<SeqSpec> seqs;
  int32_t fixed_splits = 0;
};

float DecodeE4m3(uint8_t bits) {
  __nv_fp8_e4m3 v;
  v.__x = bits;
  return static_cast<float>(v);
}

// Runs one case through KvStore + PagedAttention and returns (gpu out, ref out). contiguous:
// blocks laid out in order instead of shuffled (the paged result must not depend on it).
struct CaseResult {
  std::vector<float> out, ref;
  int32_t head_dim = 0;
};

// The largest error over (row, head) pairs, each relative to its own norm: a batch-wide norm
// would let short rows (few keys, large outputs) hide errors in long ones.
double MaxRowError(const CaseResult& r) {
  double worst = 0;
  for (size_t begin = 0; begin < r.out.size(); begin += r.head_dim) {
    const std::vector<float> out(r.out.begin() + begin, r.out.begin() + begin + r.head_dim);
    const std::vector<float> ref(r.ref.begin() + begin, r.ref.begin() + begin + r.head_dim);
    worst = std::max(worst, cuda_test::RelError(out, ref));
  }
  return worst;
}
CaseResult RunCase(const Case& c, uint32_t seed, bool contiguous) {
  std::mt19937 rng(seed);
  const int32_t kv_width = c.num_kv_heads * c.head_dim;
  const int32_t q_width = c.num_heads * c.head_dim;
  const int32_t num_seqs = static_cast<int32_t>(c.seqs.size());
  // Block tables: every sequence's blocks drawn from one shuffled pool.
  std::vector<int32_t> block_indptr{0};
  for (const SeqSpec& s : c.seqs) {
    block_indptr.push_back(block_indptr.back() + (s.kv_len + c.block_size - 1) / c.block_size);
  }
  const int32_t num_blocks = block_indptr.back() + 3;
  std::vector<int32_t> pool(num_blocks);
  std::iota(pool.begin(), pool.end(), 0);
  // Its own generator: the values drawn below must not depend on the layout.
  std::mt19937 shuffle_rng(seed ^ 0x5bd1e995u);
  if (!contiguous) std::shuffle(pool.begin(), pool.end(), shuffle_rng);
  std::vector<int32_t> block_ids(pool.begin(), pool.begin() + block_indptr.back());
  const int64_t num_slots = int64_t{num_blocks} * c.block_size;

  // Every key of every sequence is written through KvStore (one "token" per key).
  std::vector<float> k_all, v_all;
  std::vector<int64_t> slots;
  std::vector<std::vector<float>> k_seq(num_seqs), v_seq(num_seqs);
  for (int32_t s = 0; s < num_seqs; ++s) {
    k_seq[s] = cuda_test::RandomFloats(size_t(c.seqs[s].kv_len) * kv_width, rng);
    v_seq[s] = cuda_test::RandomFloats(size_t(c.seqs[s].kv_len) * kv_width, rng);
    k_all.insert(k_all.end(), k_seq[s].begin(), k_seq[s].end());
    v_all.insert(v_all.end(), v_seq[s].begin(), v_seq[s].end());
    for (int32_t j = 0; j < c.seqs[s].kv_len; ++j) {
      slots.push_back(int64_t{block_ids[block_indptr[s] + j / c.block_size]} * c.block_size +
                      j % c.block_size);
    }
  }
  const bool fp8 = c.kv_type == cuda::KvType::kFp8;
  const size_t elem_bytes = fp8 ? 1 : 2;
  DeviceBuffer<uint8_t> k_cache(num_slots * kv_width * elem_bytes),
      v_cache(num_slots * kv_width * elem_bytes);
  DeviceBuffer<float> k_scale(fp8 ? num_slots * c.num_kv_heads : 1),
      v_scale(fp8 ? num_slots * c.num_kv_heads : 1);
  {
    DeviceBuffer<float> k_dev(k_all), v_dev(v_all);
    DeviceBuffer<int64_t> slot_dev(slots);
    cuda::KvStore({k_dev.get(), v_dev.get(), k_cache.get(), v_cache.get(),
                   fp8 ? k_scale.get() : nullptr, fp8 ? v_scale.get() : nullptr, slot_dev.get(),
                   static_cast<int64_t>(slots.size()), c.num_kv_heads, c.head_dim, c.kv_type},
                  nullptr);
    GS_CUDA_CHECK(cudaDeviceSynchronize());
  }
  // What the cache holds, decoded, per sequence: the reference attends over exactly these.
  const std::vector<uint8_t> k_bytes = k_cache.Download(), v_bytes = v_cache.Download();
  const std::vector<float> k_scales = k_scale.Download(), v_scales = v_scale.Download();
  auto cached = [&](const std::vector<uint8_t>& bytes, const std::vector<float>& scales,
                    int64_t slot, int32_t i) {
    const int64_t elem = slot * kv_width + i;
    if (!fp8) {
      uint16_t h;
      std::memcpy(&h, bytes.data() + elem * 2, 2);
      return cuda_test::Bf16ToF32(h);
    }
    return DecodeE4m3(bytes[elem]) * scales[slot * c.num_kv_heads + i / c.head_dim];
  };

  // The step's batch: each sequence's last num_q positions.
  std::vector<int32_t> query_start{0}, positions;
  for (const SeqSpec& s : c.seqs) {
    for (int32_t j = s.kv_len - s.num_q; j < s.kv_len; ++j) positions.push_back(j);
    query_start.push_back(query_start.back() + s.num_q);
  }
  const int32_t num_tokens = query_start.back();
  // Large enough that scores reach past a softcap of a few units.
  const std::vector<float> q = cuda_test::RandomFloats(size_t(num_tokens) * q_width, rng, -8, 8);
  // Blocks wholly before the first query's window are released, as the KV pool does: their
  // ids become -1 in the table the kernel sees (the reference still reads their values, which
  // the window masks anyway).
  std::vector<int32_t> kernel_block_ids = block_ids;
  if (c.window > 0) {
    for (int32_t s = 0; s < num_seqs; ++s) {
      const int32_t first_pos = c.seqs[s].kv_len - c.seqs[s].num_q;
      const int32_t num_released = std::max(0, first_pos - c.window + 1) / c.block_size;
      for (int32_t b = 0; b < num_released; ++b) kernel_block_ids[block_indptr[s] + b] = -1;
    }
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

  cuda::AttentionPlan plan = cuda::PlanAttention({query_start.data(), positions.data(), num_seqs,
                                                  c.window, c.num_kv_heads, 132, c.fixed_splits});
  DeviceBuffer<float> q_dev(q), out_dev(size_t(num_tokens) * q_width);
  DeviceBuffer<int32_t> pos_dev(positions), indptr_dev(block_indptr), ids_dev(kernel_block_ids);
  // Plan arrays as raw bytes (the structs are POD).
  auto upload = [](const auto& v) {
    std::vector<uint8_t> bytes(v.size() * sizeof(v[0]) + 1);
    std::memcpy(bytes.data(), v.data(), v.size() * sizeof(v[0]));
    return std::make_unique<DeviceBuffer<uint8_t>>(bytes);
  };
  auto tiles = upload(plan.tiles), splits = upload(plan.splits), rows = upload(plan.decode_rows);
  DeviceBuffer<float> partial_out(std::max<size_t>(1, plan.splits.size() * q_width));
  DeviceBuffer<float> partial_lse(std::max<size_t>(1, plan.splits.size() * c.num_heads));
  cuda::PagedAttentionParams p{};
  p.q = q_dev.get();
  p.out = out_dev.get();
  p.k_cache = k_cache.get();
  p.v_cache = v_cache.get();
  p.k_scale = fp8 ? k_scale.get() : nullptr;
  p.v_scale = fp8 ? v_scale.get() : nullptr;
  p.positions = pos_dev.get();
  p.block_indptr = indptr_dev.get();
  p.block_ids = ids_dev.get();
  p.num_heads = c.num_heads;
  p.num_kv_heads = c.num_kv_heads;
  p.head_dim = c.head_dim;
  p.block_size = c.block_size;
  p.window = c.window;
  p.scale = scale;
  p.softcap = c.softcap;
  p.kv_type = c.kv_type;
  p.tiles = reinterpret_cast<const cuda::PrefillTile*>(tiles->get());
  p.splits = reinterpret_cast<const cuda::DecodeSplit*>(splits->get());
  p.decode_rows = reinterpret_cast<const cuda::DecodeRow*>(rows->get());
  p.num_tiles = static_cast<int32_t>(plan.tiles.size());
  p.num_splits = static_cast<int32_t>(plan.splits.size());
  p.num_decode_rows = static_cast<int32_t>(plan.decode_rows.size());
  p.partial_out = partial_out.get();
  p.partial_lse = partial_lse.get();
  cuda::PagedAttention(p, nullptr);

  CaseResult result;
  result.head_dim = c.head_dim;
  result.out = out_dev.Download();
  result.ref.assign(result.out.size(), 0.f);
  for (int32_t s = 0; s < num_seqs; ++s) {
    const int32_t kv_len = c.seqs[s].kv_len;
    std::vector<float> k(size_t(kv_len) * kv_width), v(k.size());
    for (int32_t j = 0; j < kv_len; ++j) {
      const int64_t slot =
          int64_t{block_ids[block_indptr[s] + j / c.block_size]} * c.block_size + j % c.block_size;
      for (int32_t i = 0; i < kv_width; ++i) {
        k[size_t(j) * kv_width + i] = cached(k_bytes, k_scales, slot, i);
        v[size_t(j) * kv_width + i] = cached(v_bytes, v_scales, slot, i);
      }
    }
    ref::Attention({q.data() + size_t(query_start[s]) * q_width, k.data(), v.data(),
                    positions.data() + query_start[s],
                    result.ref.data() + size_t(query_start[s]) * q_width, c.seqs[s].num_q, kv_len,
                    c.num_heads, c.num_kv_heads, c.head_dim, c.window, scale, c.softcap});
  }
  return result;
}

// 17 sequences: decodes (num_q 1) and prefill chunks (num_q > 1, some over one 64-row tile),
// KV lengths 1, 97, 1023 and 4097 among them.
std::vector<SeqSpec> SeventeenSeqs() {
  return {{1, 1},     {97, 1},   {1023, 1}, {4097, 1}, {97, 97}, {1023, 70},
          {4097, 65}, {2, 2},    {33, 1},   {64, 64},  {130, 3}, {1, 1},
          {500, 1},   {1500, 1}, {777, 17}, {16, 15},  {256, 1}};
}

class AttentionCudaTest : public ::testing::TestWithParam<std::tuple<int, int, int, int>> {};

TEST_P(AttentionCudaTest, MatchesReferenceOnRaggedBatch) {
  GS_REQUIRE_CUDA_DEVICE();
  const auto [head_dim, block_size, window, kv_type] = GetParam();
  for (float softcap : {0.0f, 4.0f}) {
    Case c{head_dim,
           8,
           head_dim == 256 ? 2 : 4,
           block_size,
           window,
           softcap,
           static_cast<cuda::KvType>(kv_type),
           SeventeenSeqs()};
    const CaseResult r = RunCase(c, 1234 + head_dim + block_size + window, false);
    // Prefill tiles round Q and P to bf16 (~1e-2 on the worst rows, bf16 and fp8 caches alike,
    // in a lane-level emulation of these kernels: an fp8 cache's values enter the tiles exactly
    // and their scales apply in f32). Decode rows stay near 1e-6. A window off by one, a missed
    // softcap, a wrong lane-to-dim map or a scale on the wrong key gives 1e-1 and more on the
    // rows it touches.
    EXPECT_LT(MaxRowError(r), 2e-2) << "softcap " << softcap;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionCudaTest,
    ::testing::Combine(::testing::Values(128, 256, 512), ::testing::Values(16, 32),
                       ::testing::Values(0, 100, 1024),
                       ::testing::Values(static_cast<int>(cuda::KvType::kBf16),
                                         static_cast<int>(cuda::KvType::kFp8))));

TEST(AttentionCudaTest, PagedEqualsContiguousLayout) {
  GS_REQUIRE_CUDA_DEVICE();
  for (int head_dim : {128, 256, 512}) {
    Case c{head_dim, 4, 1, 16, 100, 0.0f, cuda::KvType::kBf16, SeventeenSeqs()};
    const CaseResult paged = RunCase(c, 99, false);
    const CaseResult contiguous = RunCase(c, 99, true);
    ASSERT_EQ(paged.out.size(), contiguous.out.size());
    for (size_t i = 0; i < paged.out.size(); ++i) {
      ASSERT_TRUE(std::isfinite(paged.out[i])) << i;
      ASSERT_EQ(paged.out[i], contiguous.out[i]) << i;
    }
  }
}

TEST(AttentionCudaTest, GqaGroupsFromOneToSixteen) {
  GS_REQUIRE_CUDA_DEVICE();
  // 16 query heads on one KV head (decode blocks take the group in chunks), down to one query
  // head per KV head.
  for (int head_dim : {128, 256, 512}) {
    for (int num_kv_heads : {1, 4, 16}) {
      Case c{head_dim, 16,   num_kv_heads,        32,
             0,        0.0f, cuda::KvType::kBf16, {{300, 1}, {65, 65}, {1, 1}, {2000, 1}}};
      const CaseResult r = RunCase(c, 7, false);
      EXPECT_LT(MaxRowError(r), 2e-2) << head_dim << " " << num_kv_heads;
    }
  }
}

TEST(AttentionCudaTest, FixedSplitsWithEmptyOnesMatchReference) {
  GS_REQUIRE_CUDA_DEVICE();
  // Decode rows with more splits than keys (graph-replayed steps): empty splits contribute
  // nothing.
  for (int head_dim : {128, 256, 512}) {
    Case c{head_dim, 8, 2, 16, 0, 0.0f, cuda::KvType::kBf16, {{1, 1}, {2, 1}, {40, 1}, {3000, 1}}};
    c.fixed_splits = 64;
    const CaseResult r = RunCase(c, 11, false);
    EXPECT_LT(MaxRowError(r), 2e-2) << head_dim;
  }
}

// ---- The plan (host code, no device needed).

TEST(AttentionPlanTest, FixedSplitsGiveEveryDecodeRowTheSameCount) {
  std::vector<int32_t> query_start{0, 1, 2, 3}, positions{0, 5, 4000};
  const int32_t splits = cuda::FixedDecodeSplits(3, 8, 132);
  EXPECT_GE(splits, 1);
  EXPECT_LE(splits, 64);
  const cuda::AttentionPlan plan =
      cuda::PlanAttention({query_start.data(), positions.data(), 3, 0, 8, 132, splits});
  ASSERT_EQ(plan.decode_rows.size(), 3u);
  ASSERT_EQ(plan.splits.size(), 3u * splits);
  for (const cuda::DecodeRow& d : plan.decode_rows) {
    ASSERT_EQ(d.num_splits, splits);
    int32_t next = 0;
    for (int32_t i = 0; i < d.num_splits; ++i) {
      const cuda::DecodeSplit& s = plan.splits[d.split_begin + i];
      ASSERT_EQ(s.key_begin, next);
      ASSERT_LE(s.key_begin, s.key_end);
      next = s.key_end;
    }
    ASSERT_EQ(next, positions[d.row_idx] + 1);
  }
}

TEST(AttentionPlanTest, CoversEveryRowAndKeyExactlyOnce) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t num_seqs = 1 + static_cast<int32_t>(rng() % 40);
    const int32_t window = trial % 3 == 0 ? 0 : 1 + static_cast<int32_t>(rng() % 2000);
    std::vector<int32_t> query_start{0}, positions;
    for (int32_t s = 0; s < num_seqs; ++s) {
      const int32_t kv_len = 1 + static_cast<int32_t>(rng() % 5000);
      const int32_t num_q = rng() % 2 ? 1 : 1 + static_cast<int32_t>(rng() % kv_len);
      for (int32_t j = kv_len - num_q; j < kv_len; ++j) positions.push_back(j);
      query_start.push_back(query_start.back() + num_q);
    }
    const cuda::AttentionPlan plan =
        cuda::PlanAttention({query_start.data(), positions.data(), num_seqs, window, 8, 132});
    std::vector<int> covered(positions.size(), 0);
    for (const cuda::PrefillTile& t : plan.tiles) {
      ASSERT_GE(t.num_rows, 1);
      ASSERT_LE(t.num_rows, cuda::kPrefillTileRows);
      ASSERT_GE(t.row_begin, query_start[t.seq_idx]);
      ASSERT_LE(t.row_begin + t.num_rows, query_start[t.seq_idx + 1]);
      for (int32_t r = 0; r < t.num_rows; ++r) ++covered[t.row_begin + r];
    }
    for (const cuda::DecodeRow& d : plan.decode_rows) {
      ++covered[d.row_idx];
      const int32_t pos = positions[d.row_idx];
      int32_t next = window > 0 ? std::max(0, pos - window + 1) : 0;
      ASSERT_GE(d.num_splits, 1);
      for (int32_t i = 0; i < d.num_splits; ++i) {
        const cuda::DecodeSplit& s = plan.splits[d.split_begin + i];
        ASSERT_EQ(s.row_idx, d.row_idx);
        ASSERT_EQ(s.key_begin, next);
        ASSERT_LT(s.key_begin, s.key_end);
        next = s.key_end;
      }
      ASSERT_EQ(next, pos + 1);
    }
    for (size_t i = 0; i < covered.size(); ++i) ASSERT_EQ(covered[i], 1) << i;
  }
}

}  // namespace
}  // namespace gs
