// kernels/cpu ops against kernels/ref on awkward sizes. Outputs are poisoned first so an element
// the kernel forgot to write shows up as NaN.
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/matmul_cpu.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/cpu/quant_cpu.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/quant_types.h"
#include "kernels/ref/ops_ref.h"
#include "kernels/ref/quant_ref.h"

namespace gs {
namespace {

constexpr float kPoison = std::numeric_limits<float>::quiet_NaN();

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, float rel,
                float abs) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << "element " << i << " not written";
    ASSERT_NEAR(got[i], want[i], abs + rel * std::fabs(want[i])) << "element " << i;
  }
}

TEST(ThreadPoolTest, ParallelForCoversEveryItemOnce) {
  for (int threads : {1, 2, 3}) {
    cpu::ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 1000, 4097}) {
      std::vector<std::atomic<int>> hits(n);
      pool.ParallelFor(n, 3, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << n << " " << i;
    }
  }
}

TEST(ThreadPoolTest, RunsEveryThreadIndex) {
  cpu::ThreadPool pool(3);
  for (int rep = 0; rep < 100; ++rep) {
    std::vector<std::atomic<int>> seen(3);
    pool.Run([&](int idx) { seen[idx].fetch_add(1); });
    for (auto& s : seen) ASSERT_EQ(s.load(), 1);
  }
}

TEST(OpsTest, RmsNormMatchesReferenceWholeRowAndPerHead) {
  cpu::ThreadPool pool(2);
  for (int64_t row_len : {1, 17, 640, 1024}) {
    for (int64_t w_len : {row_len, int64_t{1}}) {
      const int64_t rows = 13;
      const auto x = Random(rows * row_len, 1, 3.0f);
      const auto w = Random(w_len, 2);
      std::vector<float> got(x.size(), kPoison), want(x.size());
      cpu::RmsNorm({x.data(), w.data(), got.data(), rows, row_len, w_len, 1e-6f}, pool);
      for (int64_t s = 0; s < rows * row_len / w_len; ++s) {
        ref::RmsNorm(x.data() + s * w_len, w.data(), 1e-6f, w_len, want.data() + s * w_len);
      }
      ExpectNear(got, want, 1e-5f, 1e-6f);
    }
  }
}

TEST(OpsTest, NormAddAddsTheNormalizedRow) {
  cpu::ThreadPool pool(2);
  const int64_t rows = 5, n = 640;
  const auto x = Random(rows * n, 3), w = Random(n, 4), res0 = Random(rows * n, 5);
  std::vector<float> got = res0, want = res0, tmp(n);
  cpu::NormAdd({x.data(), w.data(), got.data(), rows, n, 1e-6f}, pool);
  for (int64_t r = 0; r < rows; ++r) {
    ref::RmsNorm(x.data() + r * n, w.data(), 1e-6f, n, tmp.data());
    for (int64_t i = 0; i < n; ++i) want[r * n + i] += tmp[i];
  }
  ExpectNear(got, want, 1e-5f, 1e-5f);
}

TEST(OpsTest, QkNormRopeMatchesReference) {
  cpu::ThreadPool pool(2);
  for (int32_t head_dim : {2, 64, 256}) {
    for (float base : {10000.0f, 1000000.0f}) {
      const int64_t tokens = 7;
      const int32_t heads = 3;
      auto x = Random(tokens * heads * head_dim, 6);
      const auto w = Random(head_dim, 7);
      const std::vector<int32_t> pos = {0, 1, 2, 17, 100, 511, 4000};
      std::vector<float> want = x;
      for (int64_t t = 0; t < tokens; ++t) {
        for (int32_t h = 0; h < heads; ++h) {
          float* v = want.data() + (t * heads + h) * head_dim;
          ref::RmsNorm(v, w.data(), 1e-6f, head_dim, v);
          ref::RopeNeox(v, head_dim, pos[t], base, 0.5f);
        }
      }
      cpu::QkNormRope({x.data(), w.data(), pos.data(), nullptr, tokens, heads, head_dim,
                       head_dim, 1e-6f, base, 0.5f, true},
                      pool);
      // The kernel follows llama.cpp's float angle recurrence, so large angles differ slightly.
      ExpectNear(x, want, 2e-3f, 2e-3f);
    }
  }
}

// Gemma 4's global layers: proportional RoPE (factors of 1e30 stop all but the first pairs);
// its V: an RMSNorm with no weight and no rotation.
TEST(OpsTest, QkNormRopeWithFreqFactorsAndWeightlessNorm) {
  cpu::ThreadPool pool(2);
  const int32_t head_dim = 64, heads = 2, n_rot = 64;
  const int64_t tokens = 5;
  std::vector<float> factors(n_rot / 2, 1e30f);
  for (int32_t i = 0; i < 8; ++i) factors[i] = 1.0f;
  const std::vector<int32_t> pos = {0, 3, 9, 100, 1000};
  const auto x0 = Random(tokens * heads * head_dim, 21);
  const auto w = Random(head_dim, 22);
  std::vector<float> x = x0, want = x0;
  for (int64_t r = 0; r < tokens * heads; ++r) {
    float* v = want.data() + r * head_dim;
    ref::RmsNorm(v, w.data(), 1e-6f, head_dim, v);
    ref::RopeNeox(v, n_rot, pos[r / heads], 1e6f, 1.0f, factors.data());
  }
  cpu::QkNormRope({x.data(), w.data(), pos.data(), factors.data(), tokens, heads, head_dim, n_rot,
                   1e-6f, 1e6f, 1.0f, true},
                  pool);
  ExpectNear(x, want, 1e-4f, 1e-4f);
  // Dims past the rotated pairs keep the normed values exactly (angle 0: cos 1, sin 0).
  for (int64_t r = 0; r < tokens * heads; ++r) {
    EXPECT_FLOAT_EQ(x[r * head_dim + 20], want[r * head_dim + 20]);
  }

  std::vector<float> v = x0, v_want = x0;
  const std::vector<float> ones(head_dim, 1.0f);
  for (int64_t r = 0; r < tokens * heads; ++r) {
    ref::RmsNorm(v_want.data() + r * head_dim, ones.data(), 1e-6f, head_dim,
                 v_want.data() + r * head_dim);
  }
  cpu::QkNormRope({v.data(), nullptr, pos.data(), nullptr, tokens, heads, head_dim, 0, 1e-6f,
                   1e4f, 1.0f, true},
                  pool);
  ExpectNear(v, v_want, 1e-6f, 1e-6f);
}

TEST(OpsTest, GeGluMatchesReference) {
  cpu::ThreadPool pool(2);
  const int64_t n = 10007;
  auto gate = Random(n, 8, 4.0f);
  const auto up = Random(n, 9);
  std::vector<float> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = ref::GeluTanh(gate[i]) * up[i];
  std::vector<float> exact = gate;
  cpu::GeGlu({gate.data(), up.data(), 1, n, n, 0, true}, pool);
  // gelu goes through f16 (2^-11 relative, twice) inside (-10, 10).
  ExpectNear(gate, want, 2e-3f, 1e-4f);
  cpu::GeGlu({exact.data(), up.data(), 1, n, n, 0, false}, pool);
  ExpectNear(exact, want, 1e-6f, 1e-6f);
}

// A gate of 3 columns against columns [5, 8) of a 10-column up (a per-layer slice).
TEST(OpsTest, GeGluReadsASliceOfAWiderUp) {
  cpu::ThreadPool pool(2);
  const int64_t rows = 4, cols = 3, up_cols = 10, offset = 5;
  auto gate = Random(rows * cols, 30, 3.0f);
  const auto up = Random(rows * up_cols, 31);
  std::vector<float> want(gate.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      want[r * cols + c] = ref::GeluTanh(gate[r * cols + c]) * up[r * up_cols + offset + c];
    }
  }
  cpu::GeGlu({gate.data(), up.data(), rows, cols, up_cols, offset, false}, pool);
  ExpectNear(gate, want, 1e-6f, 1e-6f);
}

// Builds a paged f16 cache holding the same K/V as a contiguous array (rounded through f16),
// with blocks in scrambled order, and compares paged attention with the contiguous reference.
// With an f32 cache (f32_cache) the same values are stored exactly and nothing is rounded.
void CheckPagedAttention(int32_t num_seqs, int32_t block_size, int32_t window, int32_t head_dim,
                         float softcap, bool f32_cache = false) {
  cpu::ThreadPool pool(2);
  const int32_t num_heads = 4, num_kv_heads = 2;
  const int64_t kv_width = int64_t{num_kv_heads} * head_dim;
  std::mt19937 rng(num_seqs * 131 + block_size + window);
  const int32_t lens[] = {1, 97, 1023, 33, 5, 64, 200};
  std::vector<int32_t> seq_lens, num_new;
  for (int32_t s = 0; s < num_seqs; ++s) {
    seq_lens.push_back(lens[s % 7] + s);
    num_new.push_back(s % 3 == 0 ? std::min<int32_t>(seq_lens[s], 9) : 1);  // prefill or decode
  }
  // Block tables: every sequence's blocks drawn from one shuffled pool.
  std::vector<int32_t> block_indptr = {0}, block_ids;
  for (int32_t s = 0; s < num_seqs; ++s) {
    block_indptr.push_back(block_indptr.back() + (seq_lens[s] + block_size - 1) / block_size);
  }
  const int32_t num_blocks = block_indptr.back();
  for (int32_t b = 0; b < num_blocks; ++b) block_ids.push_back(b);
  std::shuffle(block_ids.begin(), block_ids.end(), rng);
  std::vector<uint16_t> k_cache(int64_t{num_blocks} * block_size * kv_width, 0x7e00);
  std::vector<uint16_t> v_cache(k_cache.size(), 0x7e00);
  std::vector<float> k_cache32(k_cache.size(), NAN), v_cache32(k_cache.size(), NAN);

  std::vector<int32_t> query_start = {0}, positions;
  for (int32_t s = 0; s < num_seqs; ++s) {
    query_start.push_back(query_start.back() + num_new[s]);
    for (int32_t i = seq_lens[s] - num_new[s]; i < seq_lens[s]; ++i) positions.push_back(i);
  }
  const int64_t num_tokens = query_start.back();
  const auto q = Random(num_tokens * num_heads * head_dim, 10);
  std::vector<float> got(q.size(), kPoison), want(q.size());
  for (int32_t s = 0; s < num_seqs; ++s) {
    auto k = Random(int64_t{seq_lens[s]} * kv_width, 100 + s);
    auto v = Random(int64_t{seq_lens[s]} * kv_width, 200 + s);
    for (int32_t j = 0; j < seq_lens[s]; ++j) {
      const int64_t slot =
          int64_t{block_ids[block_indptr[s] + j / block_size]} * block_size + j % block_size;
      for (int64_t i = 0; i < kv_width; ++i) {
        k_cache32[slot * kv_width + i] = k[j * kv_width + i];
        v_cache32[slot * kv_width + i] = v[j * kv_width + i];
        if (f32_cache) continue;
        k_cache[slot * kv_width + i] = Fp32ToFp16(k[j * kv_width + i]);
        v_cache[slot * kv_width + i] = Fp32ToFp16(v[j * kv_width + i]);
        k[j * kv_width + i] = Fp16ToFp32(k_cache[slot * kv_width + i]);
        v[j * kv_width + i] = Fp16ToFp32(v_cache[slot * kv_width + i]);
      }
    }
    const int64_t row0 = query_start[s];
    ref::Attention({q.data() + row0 * num_heads * head_dim, k.data(), v.data(),
                    positions.data() + row0, want.data() + row0 * num_heads * head_dim, num_new[s],
                    seq_lens[s], num_heads, num_kv_heads, head_dim, window,
                    1.0f / std::sqrt(static_cast<float>(head_dim)), softcap});
  }
  const void* k_data = f32_cache ? static_cast<const void*>(k_cache32.data()) : k_cache.data();
  const void* v_data = f32_cache ? static_cast<const void*>(v_cache32.data()) : v_cache.data();
  cpu::PagedAttention(
      {q.data(), got.data(), k_data, v_data, query_start.data(), positions.data(),
       seq_lens.data(), block_indptr.data(), block_ids.data(), num_seqs, num_heads, num_kv_heads,
       head_dim, block_size, window, 1.0f / std::sqrt(static_cast<float>(head_dim)), softcap,
       f32_cache ? cpu::KvCacheType::kF32 : cpu::KvCacheType::kF16},
      pool);
  if (f32_cache) {
    ExpectNear(got, want, 1e-5f, 1e-5f);
  } else {
    // q and the softmax weights are rounded to f16 (2^-11 relative) on the way.
    ExpectNear(got, want, 5e-3f, 2e-3f);
  }
}

TEST(OpsTest, PagedAttentionMatchesContiguousReference) {
  for (int32_t block_size : {16, 32}) {
    for (int32_t window : {0, 64}) {
      for (int32_t head_dim : {256, 512}) {
        SCOPED_TRACE(testing::Message()
                     << "block " << block_size << " window " << window << " head_dim " << head_dim);
        CheckPagedAttention(17, block_size, window, head_dim, 0.0f);
      }
    }
  }
  CheckPagedAttention(3, 16, 0, 256, 50.0f);  // softcap
  CheckPagedAttention(17, 16, 64, 256, 0.0f, /*f32_cache=*/true);
  CheckPagedAttention(5, 32, 0, 512, 0.0f, /*f32_cache=*/true);
}

TEST(OpsTest, PagedAttentionSkipsReleasedBlocksOutsideTheWindow) {
  // One decode token at position 99 with window 32 sees keys 68..99; blocks 0..3 (keys 0..63)
  // are released (-1) and must never be read.
  cpu::ThreadPool pool(2);
  const int32_t head_dim = 8, block_size = 16, seq_len = 100, window = 32;
  std::vector<int32_t> block_ids = {-1, -1, -1, -1, 0, 1, 2};
  std::vector<uint16_t> k_cache(3 * block_size * head_dim), v_cache(k_cache.size());
  std::vector<float> k(seq_len * head_dim), v(k.size());
  for (int32_t j = 0; j < seq_len; ++j) {
    for (int32_t d = 0; d < head_dim; ++d) {
      k[j * head_dim + d] = Fp16ToFp32(Fp32ToFp16(std::sin(j + d * 0.3f)));
      v[j * head_dim + d] = Fp16ToFp32(Fp32ToFp16(std::cos(j * 0.7f + d)));
      if (j >= 64) {
        const int64_t slot = (block_ids[j / block_size]) * block_size + j % block_size;
        k_cache[slot * head_dim + d] = Fp32ToFp16(k[j * head_dim + d]);
        v_cache[slot * head_dim + d] = Fp32ToFp16(v[j * head_dim + d]);
      }
    }
  }
  const auto q = Random(head_dim, 11);
  const int32_t pos = seq_len - 1, query_start[] = {0, 1}, seq_lens[] = {seq_len};
  const int32_t block_indptr[] = {0, 7};
  std::vector<float> got(head_dim, kPoison), want(head_dim);
  cpu::PagedAttention(
      {q.data(), got.data(), k_cache.data(), v_cache.data(), query_start, &pos, seq_lens,
       block_indptr, block_ids.data(), 1, 1, 1, head_dim, block_size, window, 1.0f, 0.0f,
       cpu::KvCacheType::kF16},
      pool);
  ref::Attention({q.data(), k.data(), v.data(), &pos, want.data(), 1, seq_len, 1, 1, head_dim,
                  window, 1.0f, 0.0f});
  ExpectNear(got, want, 5e-3f, 2e-3f);
}

TEST(OpsTest, KvStoreWritesF16AtSlots) {
  cpu::ThreadPool pool(2);
  const int64_t tokens = 5, width = 24;
  const auto k = Random(tokens * width, 12), v = Random(tokens * width, 13);
  const std::vector<int64_t> slots = {7, 0, -1, 3, 9};
  std::vector<uint16_t> kc(10 * width, 0xffff), vc(10 * width, 0xffff);
  cpu::KvStore({k.data(), v.data(), kc.data(), vc.data(), slots.data(), tokens, width,
                cpu::KvCacheType::kF16},
               pool);
  for (int64_t t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    for (int64_t i = 0; i < width; ++i) {
      EXPECT_EQ(kc[slots[t] * width + i], Fp32ToFp16(k[t * width + i]));
      EXPECT_EQ(vc[slots[t] * width + i], Fp32ToFp16(v[t * width + i]));
    }
  }
  // Slots nobody wrote keep their old contents.
  EXPECT_EQ(kc[1 * width], 0xffff);
}

// Random weight rows of a type: random bytes with the block scales overwritten by sane halves
// (random bits there would be NaN/inf or huge).
std::vector<uint8_t> RandomWeights(GgmlType type, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> w(RowBytes(type, k) * n);
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const TypeTraits& t = GetTypeTraits(type);
  for (int64_t blk = 0; blk < static_cast<int64_t>(w.size()) / t.block_bytes; ++blk) {
    uint8_t* p = w.data() + blk * t.block_bytes;
    const uint16_t scale = Fp32ToFp16(0.01f + 0.01f * (rng() % 100) / 100.0f);
    if (type == GgmlType::kQ8_0 || type == GgmlType::kQ5_0 || type == GgmlType::kQ4_0) {
      std::memcpy(p, &scale, 2);
    } else if (type == GgmlType::kQ4_K || type == GgmlType::kQ4_1) {
      std::memcpy(p, &scale, 2);
      std::memcpy(p + 2, &scale, 2);
    } else if (type == GgmlType::kQ6_K) {
      std::memcpy(p + 208, &scale, 2);
    }
  }
  return w;
}

TEST(MatMulTest, MatchesReferenceDotsForSeveralTargetsAndRows) {
  cpu::ThreadPool pool(2);
  std::vector<uint8_t> scratch;
  for (int64_t k : {256, 512}) {
    for (int64_t num_x_rows : {1, 3, 17}) {
      const auto x = Random(num_x_rows * k, 20, 2.0f);
      // Q5_0 and Q8_0 share the Q8_0 activation format; Q4_K/Q6_K share Q8_K.
      for (auto types : {std::vector<GgmlType>{GgmlType::kQ5_0, GgmlType::kQ8_0, GgmlType::kQ4_0},
                         std::vector<GgmlType>{GgmlType::kQ4_K, GgmlType::kQ6_K}}) {
        const std::vector<int64_t> ns = {37, 1, 100};
        std::vector<std::vector<uint8_t>> ws;
        std::vector<std::vector<float>> ys;
        std::vector<cpu::MatMulTarget> targets;
        for (size_t t = 0; t < types.size(); ++t) {
          ws.push_back(RandomWeights(types[t], ns[t], k, 30 + t));
          ys.emplace_back(num_x_rows * (ns[t] + 3), kPoison);
        }
        for (size_t t = 0; t < types.size(); ++t) {
          targets.push_back(
              {ws[t].data(), ys[t].data(), ns[t], ns[t] + 3, RowBytes(types[t], k), types[t]});
        }
        cpu::MatMul(x.data(), num_x_rows, k, targets, pool, scratch);
        const GgmlType act_type = GetTypeTraits(types[0]).vec_dot_type;
        std::vector<uint8_t> act(RowBytes(act_type, k));
        for (int64_t r = 0; r < num_x_rows; ++r) {
          ref::QuantizeRow(act_type, x.data() + r * k, act.data(), k);
          for (size_t t = 0; t < types.size(); ++t) {
            for (int64_t j = 0; j < ns[t]; ++j) {
              const float want =
                  ref::VecDot(types[t], ws[t].data() + j * RowBytes(types[t], k), act.data(), k);
              const float got = ys[t][r * (ns[t] + 3) + j];
              ASSERT_NEAR(got, want, 1e-4f * (1 + std::fabs(want)))
                  << GetTypeTraits(types[t]).name << " k " << k << " row " << r << " col " << j;
            }
            // Columns past n are not the kernel's to write.
            EXPECT_TRUE(std::isnan(ys[t][r * (ns[t] + 3) + ns[t]]));
          }
        }
      }
    }
  }
}

// Bit for bit what the single-row dot gives for every output, whatever the number of activation
// rows (batch invariance): row counts below, at and above a dot tile's, weight row counts that
// put target boundaries inside tiles, several targets per call, and a type without a tile kernel
// of its own (Q4_1).
TEST(MatMulTest, BitwiseEqualToSingleRowDots) {
  cpu::ThreadPool pool(2);
  std::vector<uint8_t> scratch;
  const std::vector<int64_t> ns = {37, 1, 100};
  struct Case {
    std::vector<GgmlType> types;  // sharing one activation format
    int64_t k;
  };
  for (const Case& c :
       {Case{{GgmlType::kQ5_0, GgmlType::kQ8_0, GgmlType::kQ4_0}, 640},
        Case{{GgmlType::kQ4_K, GgmlType::kQ6_K}, 512}, Case{{GgmlType::kQ4_1}, 96}}) {
    for (int64_t num_x_rows : {1, 2, 5, 17}) {
      const auto x = Random(num_x_rows * c.k, 21, 2.0f);
      std::vector<std::vector<uint8_t>> ws;
      std::vector<std::vector<float>> ys;
      std::vector<cpu::MatMulTarget> targets;
      for (size_t t = 0; t < c.types.size(); ++t) {
        ws.push_back(RandomWeights(c.types[t], ns[t], c.k, 40 + t));
        ys.emplace_back(num_x_rows * ns[t], kPoison);
      }
      for (size_t t = 0; t < c.types.size(); ++t) {
        targets.push_back(
            {ws[t].data(), ys[t].data(), ns[t], ns[t], RowBytes(c.types[t], c.k), c.types[t]});
      }
      cpu::MatMul(x.data(), num_x_rows, c.k, targets, pool, scratch);
      const GgmlType act_type = GetTypeTraits(c.types[0]).vec_dot_type;
      std::vector<uint8_t> act(RowBytes(act_type, c.k));
      for (int64_t r = 0; r < num_x_rows; ++r) {
        cpu::GetQuantizeRow(act_type)(x.data() + r * c.k, act.data(), c.k);
        for (size_t t = 0; t < c.types.size(); ++t) {
          const cpu::VecDotFn dot = cpu::GetVecDot(c.types[t]);
          for (int64_t j = 0; j < ns[t]; ++j) {
            const float want = dot(ws[t].data() + j * RowBytes(c.types[t], c.k), act.data(), c.k);
            const float got = ys[t][r * ns[t] + j];
            ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
                << GetTypeTraits(c.types[t]).name << " rows " << num_x_rows << " row " << r
                << " col " << j << ": " << got << " vs " << want;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace gs
