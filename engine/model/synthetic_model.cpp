#include "engine/model/synthetic_model.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>
#include <utility>

#include "engine/gguf/gguf_writer.h"

namespace gs {
namespace {

constexpr int64_t kMaxLayers = 512;
constexpr int64_t kMaxDim = 1 << 20;
// Generation works on chunks of this many bytes (rounded to whole blocks), each with a seed of
// its own, so the bytes depend on the seed only, never on the number of threads.
constexpr uint64_t kChunkBytes = uint64_t{4} << 20;
// Tensor offsets inside a pool are multiples of 64 blocks: block-aligned, and 64-byte aligned
// since the pool is.
constexpr uint64_t kOffsetBlocks = 64;

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t state = a ^ (b * 0xD6E8FEB86659FD93ull);
  SplitMix64(state);
  return SplitMix64(state);
}

uint64_t HashName(std::string_view s) {  // FNV-1a
  uint64_t h = 0xCBF29CE484222325ull;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
  return h;
}

// Standard deviation of an integer uniform over num_values consecutive values.
double UniformIntStd(int num_values) {
  const double n = num_values;
  return std::sqrt((n * n - 1) / 12);
}

Status CheckDim(const char* field, int64_t value, int64_t max) {
  if (value <= 0 || value > max) {
    return Status::Error(std::string(field) + " = " + std::to_string(value) +
                         " is out of range [1, " + std::to_string(max) + "]");
  }
  return Status::Ok();
}

// What a tensor is, for its weight type and values. kNorm and kRopeFreqs are small f32 vectors
// with values of their own; every other role is a matrix of random values.
enum class Role { kEmbedding, kOutput, kAttnV, kFfnDown, kOtherMatrix, kRouter, kNorm, kRopeFreqs };

GgmlType MixType(WeightMix mix, Role role) {
  switch (mix) {
    case WeightMix::kBf16:
      return GgmlType::kBF16;
    case WeightMix::kF16:
      return GgmlType::kF16;
    case WeightMix::kQ8_0:
      return GgmlType::kQ8_0;
    case WeightMix::kQ5_0:
      return GgmlType::kQ5_0;
    case WeightMix::kQ4_0:
      return GgmlType::kQ4_0;
    case WeightMix::kQ4_K:
      return GgmlType::kQ4_K;
    case WeightMix::kQ6_K:
      return GgmlType::kQ6_K;
    case WeightMix::kQ4_K_M:
      switch (role) {
        case Role::kEmbedding:
          return GgmlType::kQ8_0;
        case Role::kOutput:
        case Role::kAttnV:
        case Role::kFfnDown:
          return GgmlType::kQ6_K;
        default:
          return GgmlType::kQ4_K;
      }
  }
  return GgmlType::kQ8_0;
}

// The type a matrix of rows of num_cols values gets: K-quants need rows of whole 256-value
// super-blocks, and fall back as llama.cpp's quantizer does.
GgmlType MatrixType(WeightMix mix, Role role, int64_t num_cols) {
  if (role == Role::kRouter) return GgmlType::kF32;  // llama.cpp's quantizer skips routers
  const GgmlType type = MixType(mix, role);
  if (num_cols % 256 == 0) return type;
  if (type == GgmlType::kQ4_K) return GgmlType::kQ5_0;
  if (type == GgmlType::kQ6_K) return GgmlType::kQ8_0;
  return type;
}

// How the blocks of one pool are made: random codes, then the scale fields, fixed per pool, that
// give the decoded values standard deviation sigma.
struct BlockRecipe {
  GgmlType type = GgmlType::kQ8_0;
  int64_t block_bytes = 0;
  float sigma = 0;           // F16/BF16 values: uniform in [-sqrt(3) sigma, sqrt(3) sigma]
  uint16_t d = 0;            // fp16 block scale
  uint16_t d_odd = 0;        // the scale of odd-numbered blocks (see MakeRecipe)
  uint16_t dmin = 0;         // Q4_K: fp16 scale of the sub-block minimums
  uint8_t sub_scales[16]{};  // Q4_K: 12 packed bytes; Q6_K: 16 int8 scales
};

BlockRecipe MakeRecipe(GgmlType type, double sigma) {
  BlockRecipe r;
  r.type = type;
  r.block_bytes = GetTypeTraits(type).block_bytes;
  r.sigma = static_cast<float>(sigma);
  switch (type) {
    case GgmlType::kQ8_0:  // d, q[32] int8: value d * q (mean -0.5 d: negligible)
      r.d = Fp32ToFp16(static_cast<float>(sigma / UniformIntStd(256)));
      r.d_odd = r.d;
      break;
    // Codes of these types are centred half a step below 0 (-8..7, -16..15): odd blocks get
    // -d, so the mean is 0 over pairs of blocks. A negative d occurs in real files (llama.cpp
    // divides the signed extreme value by -8 or -16).
    case GgmlType::kQ4_0:  // d, qs[16]: value d * (nibble - 8)
      r.d = Fp32ToFp16(static_cast<float>(sigma / UniformIntStd(16)));
      r.d_odd = Fp32ToFp16(-Fp16ToFp32(r.d));
      break;
    case GgmlType::kQ5_0:  // d, qh[4], qs[16]: value d * (5-bit code - 16)
      r.d = Fp32ToFp16(static_cast<float>(sigma / UniformIntStd(32)));
      r.d_odd = Fp32ToFp16(-Fp16ToFp32(r.d));
      break;
    case GgmlType::kQ4_K: {
      // value = d * sc[j] * q - dmin * mn[j] with q a nibble. With mn[j] = sc[j] and dmin = 7.5 d
      // that is d * sc[j] * (q - 7.5): mean 0 in every sub-block. The sub-block scales differ
      // and use both 6-bit halves, so a kernel that unpacks them wrongly shows.
      int sc[8];
      double sum_sq = 0;
      for (int j = 0; j < 8; ++j) {
        sc[j] = 32 + 4 * j;
        sum_sq += static_cast<double>(sc[j]) * sc[j];
      }
      const double d = sigma / (UniformIntStd(16) * std::sqrt(sum_sq / 8));
      r.d = Fp32ToFp16(static_cast<float>(d));
      r.dmin = Fp32ToFp16(7.5f * Fp16ToFp32(r.d));
      uint8_t* s = r.sub_scales;
      for (int j = 0; j < 4; ++j) {  // the packing UnpackScaleMin6 (kernels/ref) reads
        s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));  // mn = sc
        s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((sc[j + 4] & 0xF) << 4));
      }
      break;
    }
    case GgmlType::kQ6_K: {
      // value = d * sc[g] * (6-bit code - 32); int8 scales of alternating sign.
      double sum_sq = 0;
      for (int g = 0; g < 16; ++g) {
        const int sc = (g % 2 == 0 ? 1 : -1) * (16 + 2 * g);
        r.sub_scales[g] = static_cast<uint8_t>(static_cast<int8_t>(sc));
        sum_sq += static_cast<double>(sc) * sc;
      }
      r.d = Fp32ToFp16(static_cast<float>(sigma / (UniformIntStd(64) * std::sqrt(sum_sq / 16))));
      r.d_odd = Fp32ToFp16(-Fp16ToFp32(r.d));  // codes -32..31: as Q4_0
      break;
    }
    default:
      break;
  }
  return r;
}

// Fills blocks [first_block_idx, first_block_idx + num_blocks) of a pool, which start at
// `blocks`, from one random stream.
void FillBlocks(const BlockRecipe& r, uint8_t* blocks, uint64_t first_block_idx,
                uint64_t num_blocks, uint64_t seed) {
  uint64_t state = seed;
  const uint64_t num_bytes = num_blocks * static_cast<uint64_t>(r.block_bytes);
  if (r.type == GgmlType::kF32) {
    const double step = r.sigma * std::sqrt(12.0) * 0x1.0p-53;  // uniform, mean 0, sd sigma
    float* values = reinterpret_cast<float*>(blocks);
    for (uint64_t k = 0; k < num_bytes / 4; ++k) {
      values[k] =
          static_cast<float>((static_cast<double>(SplitMix64(state) >> 11) - 0x1.0p52) * step);
    }
    return;
  }
  if (r.type == GgmlType::kF16 || r.type == GgmlType::kBF16) {
    // Four 16-bit uniforms per random word.
    const float step = r.sigma * std::sqrt(3.0f) / 32768.0f;
    const uint64_t num_values = num_bytes / 2;
    for (uint64_t i = 0; i < num_values; i += 4) {
      uint64_t bits = SplitMix64(state);
      for (uint64_t k = i; k < std::min(i + 4, num_values); ++k, bits >>= 16) {
        const float v = (static_cast<float>(bits & 0xFFFF) - 32767.5f) * step;
        const uint16_t h = r.type == GgmlType::kF16 ? Fp32ToFp16(v) : Fp32ToBf16(v);
        std::memcpy(blocks + 2 * k, &h, 2);
      }
    }
    return;
  }
  uint64_t i = 0;
  for (; i + 8 <= num_bytes; i += 8) {
    const uint64_t bits = SplitMix64(state);
    std::memcpy(blocks + i, &bits, 8);
  }
  if (i < num_bytes) {
    const uint64_t bits = SplitMix64(state);
    std::memcpy(blocks + i, &bits, num_bytes - i);
  }
  for (uint64_t b = 0; b < num_blocks; ++b) {
    uint8_t* blk = blocks + b * static_cast<uint64_t>(r.block_bytes);
    const uint16_t* d = (first_block_idx + b) % 2 == 0 ? &r.d : &r.d_odd;
    switch (r.type) {
      case GgmlType::kQ8_0:
      case GgmlType::kQ4_0:
      case GgmlType::kQ5_0:
        std::memcpy(blk, d, 2);
        break;
      case GgmlType::kQ4_K:  // d, dmin, scales[12], qs[128]
        std::memcpy(blk, &r.d, 2);
        std::memcpy(blk + 2, &r.dmin, 2);
        std::memcpy(blk + 4, r.sub_scales, 12);
        break;
      case GgmlType::kQ6_K:  // ql[128], qh[64], scales[16], d
        std::memcpy(blk + 192, r.sub_scales, 16);
        std::memcpy(blk + 208, d, 2);
        break;
      default:
        break;
    }
  }
}

// Fills a whole pool, chunk by chunk, on num_threads threads.
void FillPool(const BlockRecipe& r, uint8_t* bytes, uint64_t num_blocks, uint64_t seed,
              int num_threads) {
  const uint64_t chunk_blocks =
      std::max<uint64_t>(1, kChunkBytes / static_cast<uint64_t>(r.block_bytes));
  const uint64_t num_chunks = (num_blocks + chunk_blocks - 1) / chunk_blocks;
  std::atomic<uint64_t> next_chunk{0};
  auto work = [&] {
    for (uint64_t c; (c = next_chunk.fetch_add(1)) < num_chunks;) {
      const uint64_t first = c * chunk_blocks;
      FillBlocks(r, bytes + first * static_cast<uint64_t>(r.block_bytes), first,
                 std::min(chunk_blocks, num_blocks - first), MixSeed(seed, c));
    }
  };
  const int n = static_cast<int>(std::min<uint64_t>(num_threads, num_chunks));
  std::vector<std::thread> threads;
  for (int t = 1; t < n; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
}

// What the writer of a file decides per layer; ModelConfig::FromGguf derives the same from the
// metadata and the tensor list, which is what the shipped-shape tests check.
struct LayerPlan {
  bool slides = false;
  int32_t head_dim = 0;
  int32_t num_kv_heads = 0;
  int32_t ffn_hidden = 0;
  bool stores_kv = true;  // false: reads an earlier layer's cache (KV sharing), no attn_k/attn_v
  bool has_v = true;      // false: K=V, no attn_v
};

bool IsGemma4(const SyntheticShape& s) { return s.architecture == "gemma4"; }

int32_t HeadDimGlobal(const SyntheticShape& s) {
  return s.head_dim_global > 0 ? s.head_dim_global : s.head_dim;
}

std::vector<LayerPlan> PlanLayers(const SyntheticShape& s) {
  const bool gemma4 = IsGemma4(s);
  const int32_t first_shared = s.num_layers - s.num_kv_shared_layers;
  std::vector<LayerPlan> plans(s.num_layers);
  for (int32_t i = 0; i < s.num_layers; ++i) {
    LayerPlan& l = plans[i];
    l.slides = s.sliding_window > 0 && i % s.sliding_window_period < s.sliding_window_period - 1 &&
               !(gemma4 && i == s.num_layers - 1);
    l.head_dim = l.slides ? s.head_dim : HeadDimGlobal(s);
    l.num_kv_heads =
        l.slides || s.num_kv_heads_global == 0 ? s.num_kv_heads : s.num_kv_heads_global;
    l.stores_kv = i < first_shared;
    l.has_v = l.stores_kv && !(s.k_eq_v_global && !l.slides);
    l.ffn_hidden = s.double_wide_mlp && !l.stores_kv ? 2 * s.ffn_hidden : s.ffn_hidden;
  }
  return plans;
}

// llama.cpp's name for the mix (its llama_ftype), which llama-bench prints.
uint32_t LlamaFileType(WeightMix mix) {
  switch (mix) {
    case WeightMix::kBf16:
      return 32;
    case WeightMix::kF16:
      return 1;
    case WeightMix::kQ8_0:
      return 7;
    case WeightMix::kQ5_0:
      return 8;
    case WeightMix::kQ4_0:
      return 2;
    case WeightMix::kQ4_K:
      return 14;  // Q4_K_S: Q4_K nearly everywhere
    case WeightMix::kQ6_K:
      return 18;
    case WeightMix::kQ4_K_M:
      return 15;
  }
  return 0;
}

// The metadata llama.cpp's converter writes for this shape (the keys ModelConfig::FromGguf and
// llama.cpp's loader read), with no vocabulary: tokenizer.ggml.model "none" and a vocab_size.
void AddMetadata(const SyntheticShape& s, const std::vector<LayerPlan>& plans, WeightMix mix,
                 GgufBuilder& b) {
  const bool gemma4 = IsGemma4(s);
  const std::string p = s.architecture + ".";
  b.SetString("general.architecture", s.architecture);
  b.SetString("general.name", s.name);
  b.SetUint32("general.file_type", LlamaFileType(mix));
  b.SetUint32("general.quantization_version", 2);
  b.SetUint32(p + "block_count", s.num_layers);
  b.SetUint32(p + "context_length", s.context_length);
  b.SetUint32(p + "embedding_length", s.hidden);
  b.SetUint32(p + "vocab_size", s.num_vocab);
  // Scalars unless the layers differ, as the converter writes them.
  auto per_layer = [&](const std::string& key, int32_t LayerPlan::*field) {
    std::vector<int32_t> values;
    for (const LayerPlan& l : plans) values.push_back(l.*field);
    if (std::all_of(values.begin(), values.end(), [&](int32_t v) { return v == values[0]; })) {
      b.SetUint32(key, values[0]);
    } else {
      b.SetInt32Array(key, values);
    }
  };
  per_layer(p + "feed_forward_length", &LayerPlan::ffn_hidden);
  b.SetUint32(p + "attention.head_count", s.num_heads);
  per_layer(p + "attention.head_count_kv", &LayerPlan::num_kv_heads);
  b.SetUint32(p + "attention.key_length", HeadDimGlobal(s));
  b.SetUint32(p + "attention.value_length", HeadDimGlobal(s));
  b.SetFloat32(p + "attention.layer_norm_rms_epsilon", s.rms_eps);
  b.SetUint32(p + "attention.sliding_window", s.sliding_window);
  b.SetFloat32(p + "rope.freq_base", s.rope_base_global);
  b.SetFloat32(p + "rope.freq_base_swa", s.rope_base_local);
  if (s.rope_scaling_factor != 1) {
    b.SetString(p + "rope.scaling.type", "linear");
    b.SetFloat32(p + "rope.scaling.factor", s.rope_scaling_factor);
  }
  if (s.final_softcap > 0) b.SetFloat32(p + "final_logit_softcapping", s.final_softcap);
  if (gemma4) {
    b.SetUint32(p + "attention.key_length_swa", s.head_dim);
    b.SetUint32(p + "attention.value_length_swa", s.head_dim);
    b.SetUint32(p + "rope.dimension_count", HeadDimGlobal(s));
    b.SetUint32(p + "rope.dimension_count_swa", s.head_dim);
    std::vector<bool> sliding;
    for (const LayerPlan& l : plans) sliding.push_back(l.slides);
    b.SetBoolArray(p + "attention.sliding_window_pattern", sliding);
    b.SetUint32(p + "attention.shared_kv_layers", s.num_kv_shared_layers);
    b.SetUint32(p + "embedding_length_per_layer_input", s.ple_dim);
    if (s.num_experts > 0) {
      b.SetUint32(p + "expert_count", s.num_experts);
      b.SetUint32(p + "expert_used_count", s.num_experts_used);
      b.SetUint32(p + "expert_feed_forward_length", s.expert_ffn_hidden);
    }
  } else {
    if (s.sliding_window_period != 6) {
      b.SetUint32(p + "attention.sliding_window_pattern", s.sliding_window_period);
    }
    // Gemma 3's scale is not in its files (FromGguf infers it); a shape that names one states it.
    if (s.query_pre_attn_scalar > 0) {
      b.SetFloat32(p + "attention.scale", 1.0f / std::sqrt(s.query_pre_attn_scalar));
    }
  }
  b.SetString("tokenizer.ggml.model", "none");
  if (!s.suppress_tokens.empty())
    b.SetInt32Array("tokenizer.ggml.suppress_tokens", s.suppress_tokens);
}

struct TensorSpec {
  std::string name;
  Role role;
  int64_t num_cols, num_rows, num_mats = 1;
};

// The tensors, named and shaped as llama.cpp's converter writes them.
std::vector<TensorSpec> TensorSpecs(const SyntheticShape& s, const std::vector<LayerPlan>& plans) {
  const int64_t d = s.hidden;
  std::vector<TensorSpec> specs;
  specs.push_back({"token_embd.weight", Role::kEmbedding, d, s.num_vocab});
  if (IsGemma4(s))
    specs.push_back({"rope_freqs.weight", Role::kRopeFreqs, HeadDimGlobal(s) / 2, 1});
  const int64_t ple_width = int64_t{s.ple_dim} * s.num_layers;
  if (s.ple_dim > 0) {
    specs.push_back({"per_layer_token_embd.weight", Role::kEmbedding, ple_width, s.num_vocab});
    specs.push_back({"per_layer_model_proj.weight", Role::kOtherMatrix, d, ple_width});
    specs.push_back({"per_layer_proj_norm.weight", Role::kNorm, s.ple_dim, 1});
  }
  for (int32_t i = 0; i < s.num_layers; ++i) {
    const LayerPlan& l = plans[i];
    const int64_t q_width = int64_t{s.num_heads} * l.head_dim;
    const int64_t kv_width = int64_t{l.num_kv_heads} * l.head_dim;
    const std::string p = "blk." + std::to_string(i) + ".";
    specs.push_back({p + "attn_norm.weight", Role::kNorm, d, 1});
    specs.push_back({p + "attn_q.weight", Role::kOtherMatrix, d, q_width});
    if (l.stores_kv) specs.push_back({p + "attn_k.weight", Role::kOtherMatrix, d, kv_width});
    if (l.has_v) specs.push_back({p + "attn_v.weight", Role::kAttnV, d, kv_width});
    specs.push_back({p + "attn_q_norm.weight", Role::kNorm, l.head_dim, 1});
    if (l.stores_kv) specs.push_back({p + "attn_k_norm.weight", Role::kNorm, l.head_dim, 1});
    specs.push_back({p + "attn_output.weight", Role::kOtherMatrix, q_width, d});
    specs.push_back({p + "post_attention_norm.weight", Role::kNorm, d, 1});
    specs.push_back({p + "ffn_norm.weight", Role::kNorm, d, 1});
    specs.push_back({p + "ffn_gate.weight", Role::kOtherMatrix, d, l.ffn_hidden});
    specs.push_back({p + "ffn_up.weight", Role::kOtherMatrix, d, l.ffn_hidden});
    specs.push_back({p + "ffn_down.weight", Role::kFfnDown, l.ffn_hidden, d});
    specs.push_back({p + "post_ffw_norm.weight", Role::kNorm, d, 1});
    if (!IsGemma4(s)) continue;
    specs.push_back({p + "layer_output_scale.weight", Role::kNorm, 1, 1});
    if (s.num_experts > 0) {
      const int64_t e = s.num_experts, fe = s.expert_ffn_hidden;
      specs.push_back({p + "ffn_gate_inp.weight", Role::kRouter, d, e});
      specs.push_back({p + "ffn_gate_inp.scale", Role::kNorm, d, 1});
      specs.push_back({p + "pre_ffw_norm_2.weight", Role::kNorm, d, 1});
      specs.push_back({p + "post_ffw_norm_1.weight", Role::kNorm, d, 1});
      specs.push_back({p + "post_ffw_norm_2.weight", Role::kNorm, d, 1});
      specs.push_back({p + "ffn_gate_up_exps.weight", Role::kOtherMatrix, d, 2 * fe, e});
      specs.push_back({p + "ffn_down_exps.weight", Role::kFfnDown, fe, d, e});
      specs.push_back({p + "ffn_down_exps.scale", Role::kNorm, e, 1});
    }
    if (s.ple_dim > 0) {
      specs.push_back({p + "inp_gate.weight", Role::kOtherMatrix, d, s.ple_dim});
      specs.push_back({p + "proj.weight", Role::kOtherMatrix, s.ple_dim, d});
      specs.push_back({p + "post_norm.weight", Role::kNorm, d, 1});
    }
  }
  specs.push_back({"output_norm.weight", Role::kNorm, d, 1});
  if (!s.tied_embedding) specs.push_back({"output.weight", Role::kOutput, d, s.num_vocab});
  return specs;
}

bool IsVector(Role role) { return role == Role::kNorm || role == Role::kRopeFreqs; }

GgufTensorInfo TensorRecord(const TensorSpec& spec, GgmlType type) {
  GgufTensorInfo t;
  t.name = spec.name;
  t.type = type;
  t.ne[0] = spec.num_cols;
  t.ne[1] = spec.num_rows;
  t.ne[2] = spec.num_mats;
  t.num_dims = spec.num_mats > 1 ? 3 : spec.num_rows > 1 ? 2 : 1;
  t.num_bytes = RowBytes(type, spec.num_cols) * static_cast<uint64_t>(t.num_rows());
  return t;
}

// 64-byte aligned, uninitialized host memory; large pools ask for transparent huge pages, as
// faulting in gigabytes 4 KiB at a time costs more than generating their contents.
uint8_t* AllocatePool(uint64_t num_bytes) {
  constexpr uint64_t kHugePage = uint64_t{2} << 20;
  if (num_bytes < kHugePage) return static_cast<uint8_t*>(std::aligned_alloc(64, num_bytes));
  const uint64_t rounded = (num_bytes + kHugePage - 1) / kHugePage * kHugePage;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(kHugePage, rounded));
#ifdef MADV_HUGEPAGE
  if (p != nullptr) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  return p;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

StatusOr<WeightMix> ParseWeightMix(std::string_view text) {
  for (WeightMix m : {WeightMix::kBf16, WeightMix::kF16, WeightMix::kQ8_0, WeightMix::kQ5_0,
                      WeightMix::kQ4_0, WeightMix::kQ4_K, WeightMix::kQ6_K, WeightMix::kQ4_K_M}) {
    if (text == WeightMixName(m)) return m;
  }
  return Status::Error("unknown weight type '" + std::string(text) +
                       "' (expected bf16, f16, q8_0, q5_0, q4_0, q4_k, q6_k or q4_k_m)");
}

const char* WeightMixName(WeightMix mix) {
  switch (mix) {
    case WeightMix::kBf16:
      return "bf16";
    case WeightMix::kF16:
      return "f16";
    case WeightMix::kQ8_0:
      return "q8_0";
    case WeightMix::kQ5_0:
      return "q5_0";
    case WeightMix::kQ4_0:
      return "q4_0";
    case WeightMix::kQ4_K:
      return "q4_k";
    case WeightMix::kQ6_K:
      return "q6_k";
    case WeightMix::kQ4_K_M:
      return "q4_k_m";
  }
  return "?";
}

namespace {

Status CheckShape(const SyntheticShape& s) {
  const bool gemma4 = IsGemma4(s);
  if (s.architecture != "gemma3" && !gemma4) {
    return Status::Error("architecture '" + s.architecture +
                         "' has no synthetic model (supported: gemma3, gemma4)");
  }
  GS_RETURN_IF_ERROR(CheckDim("num_layers", s.num_layers, kMaxLayers));
  GS_RETURN_IF_ERROR(CheckDim("hidden", s.hidden, kMaxDim));
  GS_RETURN_IF_ERROR(CheckDim("ffn_hidden", s.ffn_hidden, kMaxDim));
  GS_RETURN_IF_ERROR(CheckDim("num_heads", s.num_heads, 4096));
  GS_RETURN_IF_ERROR(CheckDim("num_kv_heads", s.num_kv_heads, 4096));
  GS_RETURN_IF_ERROR(CheckDim("head_dim", s.head_dim, 4096));
  GS_RETURN_IF_ERROR(CheckDim("num_vocab", s.num_vocab, kMaxDim));
  GS_RETURN_IF_ERROR(CheckDim("context_length", s.context_length, int64_t{1} << 24));
  GS_RETURN_IF_ERROR(CheckDim("sliding_window_period", s.sliding_window_period, kMaxLayers));
  if (s.num_heads % s.num_kv_heads != 0) {
    return Status::Error("num_heads must be a multiple of num_kv_heads");
  }
  if (s.head_dim % 2 != 0) return Status::Error("head_dim must be even for RoPE");
  if (s.sliding_window < 0 || s.sliding_window > s.context_length) {
    return Status::Error("sliding_window = " + std::to_string(s.sliding_window) +
                         " is out of range [0, context_length]");
  }
  // Written as !(x > 0) so that NaN is refused too.
  if (!(s.rope_base_local > 0) || !(s.rope_base_global > 0)) {
    return Status::Error("rope bases must be positive");
  }
  if (!(s.rope_scaling_factor > 0)) return Status::Error("rope_scaling_factor must be positive");
  if (!(s.rms_eps > 0)) return Status::Error("rms_eps must be positive");
  if (!(s.query_pre_attn_scalar >= 0)) return Status::Error("query_pre_attn_scalar must be >= 0");
  if (!(s.final_softcap >= 0)) return Status::Error("final_softcap must be >= 0");
  const bool has_gemma4_fields =
      s.head_dim_global != 0 || s.num_kv_heads_global != 0 || s.k_eq_v_global ||
      s.rotary_fraction_global != 1 || s.ple_dim != 0 || s.num_kv_shared_layers != 0 ||
      s.double_wide_mlp || s.num_experts != 0 || !s.suppress_tokens.empty();
  if (!gemma4) {
    if (has_gemma4_fields) return Status::Error("Gemma 4's fields need architecture gemma4");
    return Status::Ok();
  }
  if (s.query_pre_attn_scalar != 0) {
    return Status::Error("query_pre_attn_scalar: Gemma 4 does not scale q (it norms q instead)");
  }
  if (s.head_dim_global != 0) {
    GS_RETURN_IF_ERROR(CheckDim("head_dim_global", s.head_dim_global, 4096));
    if (s.head_dim_global % 2 != 0) return Status::Error("head_dim_global must be even");
  }
  if (s.num_kv_heads_global != 0) {
    GS_RETURN_IF_ERROR(CheckDim("num_kv_heads_global", s.num_kv_heads_global, 4096));
    if (s.num_heads % s.num_kv_heads_global != 0) {
      return Status::Error("num_heads must be a multiple of num_kv_heads_global");
    }
  }
  if (!(s.rotary_fraction_global > 0) || s.rotary_fraction_global > 1) {
    return Status::Error("rotary_fraction_global must be in (0, 1]");
  }
  if (s.ple_dim < 0 || s.ple_dim > 4096) return Status::Error("ple_dim is out of range [0, 4096]");
  if (s.num_kv_shared_layers < 0 || s.num_kv_shared_layers >= s.num_layers) {
    return Status::Error("num_kv_shared_layers must be in [0, num_layers)");
  }
  if (s.num_experts != 0) {
    GS_RETURN_IF_ERROR(CheckDim("num_experts", s.num_experts, 4096));
    GS_RETURN_IF_ERROR(CheckDim("num_experts_used", s.num_experts_used, s.num_experts));
    GS_RETURN_IF_ERROR(CheckDim("expert_ffn_hidden", s.expert_ffn_hidden, kMaxDim));
  } else if (s.num_experts_used != 0 || s.expert_ffn_hidden != 0) {
    return Status::Error("num_experts_used and expert_ffn_hidden need num_experts");
  }
  for (int32_t id : s.suppress_tokens) {
    if (id < 0 || id >= s.num_vocab) {
      return Status::Error("suppress_tokens holds " + std::to_string(id) +
                           ", outside the vocabulary");
    }
  }
  return Status::Ok();
}

// The converter's rope_freqs for proportional RoPE: 1 for the pairs that turn, 1e30 (no turn)
// for the rest.
float RopeFreqFactor(const SyntheticShape& s, int64_t pair_idx, int64_t num_pairs) {
  const auto num_turning =
      static_cast<int64_t>(std::lround(s.rotary_fraction_global * static_cast<float>(num_pairs)));
  return pair_idx < num_turning ? 1.0f : 1e30f;
}

}  // namespace

StatusOr<ModelConfig> SyntheticModelConfig(const SyntheticShape& s) {
  GS_RETURN_IF_ERROR(CheckShape(s));
  // The file without data: FromGguf reads only the metadata and which tensors exist.
  const std::vector<LayerPlan> plans = PlanLayers(s);
  GgufBuilder builder;
  AddMetadata(s, plans, WeightMix::kQ4_K_M, builder);
  for (const TensorSpec& spec : TensorSpecs(s, plans)) {
    builder.AddTensor(TensorRecord(spec, GgmlType::kF32));
  }
  StatusOr<std::unique_ptr<GgufFile>> file = builder.Build(s.name);
  if (!file.ok()) return file.status();
  return ModelConfig::FromGguf(**file);
}

void SyntheticModel::AlignedFree::operator()(uint8_t* p) const { std::free(p); }

StatusOr<std::unique_ptr<SyntheticModel>> SyntheticModel::Create(const SyntheticShape& shape,
                                                                 const SyntheticOptions& options,
                                                                 Backend& backend) {
  GS_RETURN_IF_ERROR(SyntheticModelConfig(shape).status());
  const double t0 = Now();
  std::unique_ptr<SyntheticModel> m(new SyntheticModel());
  const std::vector<LayerPlan> plans = PlanLayers(shape);
  const std::vector<TensorSpec> specs = TensorSpecs(shape, plans);
  const int num_threads = options.num_threads > 0
                              ? options.num_threads
                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

  // Matrices of one (type, row length) share a recipe and a pool; vectors share one f32 pool.
  struct Pool {
    BlockRecipe recipe;
    std::vector<size_t> tensor_idxs;
    uint64_t num_bytes = 0;
  };
  std::map<std::pair<GgmlType, int64_t>, size_t> pool_of_key;
  std::vector<Pool> pools;
  std::vector<uint64_t> tensor_offset(specs.size(), 0);
  std::vector<size_t> tensor_pool(specs.size(), 0);
  std::vector<GgufTensorInfo> tensors(specs.size());
  uint64_t vector_floats = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& s = specs[i];
    if (IsVector(s.role)) {
      tensors[i] = TensorRecord(s, GgmlType::kF32);
      tensor_offset[i] = vector_floats;
      vector_floats += static_cast<uint64_t>(s.num_cols);
      continue;
    }
    const GgmlType type = MatrixType(options.mix, s.role, s.num_cols);
    const TypeTraits& traits = GetTypeTraits(type);
    if (s.num_cols % traits.block_elems != 0) {
      return Status::Error("tensor " + s.name + ": rows of " + std::to_string(s.num_cols) +
                           " values are not whole " + traits.name + " blocks of " +
                           std::to_string(traits.block_elems));
    }
    tensors[i] = TensorRecord(s, type);
    auto [it, inserted] = pool_of_key.try_emplace({type, s.num_cols}, pools.size());
    if (inserted) {
      pools.push_back({MakeRecipe(type, 1.0 / std::sqrt(static_cast<double>(s.num_cols))), {}, 0});
    }
    tensor_pool[i] = it->second;
    pools[it->second].tensor_idxs.push_back(i);
  }

  // Offsets: back to back (distinct bytes), or each window one offset unit after the previous
  // one in a pool as large as the largest tensor plus those shifts (shared bytes).
  for (Pool& p : pools) {
    const uint64_t unit = kOffsetBlocks * static_cast<uint64_t>(p.recipe.block_bytes);
    auto round_up = [unit](uint64_t n) { return (n + unit - 1) / unit * unit; };
    uint64_t end = 0;
    for (size_t k = 0; k < p.tensor_idxs.size(); ++k) {
      const size_t i = p.tensor_idxs[k];
      const uint64_t offset = options.share_bytes ? k * unit : end;
      tensor_offset[i] = offset;
      end = std::max(end, round_up(offset + tensors[i].num_bytes));
    }
    p.num_bytes = end;
  }

  // Pool 0..n-1 for the matrices, then one for the vectors.
  for (Pool& p : pools) {
    uint8_t* bytes = AllocatePool(p.num_bytes);
    if (bytes == nullptr) {
      return Status::Error("cannot allocate " + std::to_string(p.num_bytes >> 20) +
                           " MiB for synthetic weights");
    }
    m->pools_.emplace_back(bytes);
    m->pool_bytes_.push_back(p.num_bytes);
    const uint64_t key = (static_cast<uint64_t>(p.recipe.type) << 32) ^
                         static_cast<uint64_t>(tensors[p.tensor_idxs[0]].ne[0]);
    FillPool(p.recipe, bytes, p.num_bytes / static_cast<uint64_t>(p.recipe.block_bytes),
             MixSeed(options.seed, key), num_threads);
  }
  const uint64_t vector_bytes =
      (sizeof(float) * std::max<uint64_t>(vector_floats, 1) + 63) / 64 * 64;
  auto* vectors = static_cast<uint8_t*>(std::aligned_alloc(64, vector_bytes));
  if (vectors == nullptr) return Status::Error("cannot allocate synthetic norm weights");
  m->pools_.emplace_back(vectors);
  m->pool_bytes_.push_back(vector_bytes);
  GgufBuilder builder;
  AddMetadata(shape, plans, options.mix, builder);
  for (size_t i = 0; i < specs.size(); ++i) {
    GgufTensorInfo& t = tensors[i];
    if (IsVector(specs[i].role)) {
      float* values = reinterpret_cast<float*>(vectors) + tensor_offset[i];
      uint64_t state = MixSeed(options.seed, HashName(t.name));
      for (int64_t k = 0; k < t.ne[0]; ++k) {
        const double u = static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53;
        values[k] = specs[i].role == Role::kRopeFreqs ? RopeFreqFactor(shape, k, t.ne[0])
                                                      : static_cast<float>(0.9 + 0.2 * u);
      }
      t.data = reinterpret_cast<const uint8_t*>(values);
    } else {
      t.data = m->pools_[tensor_pool[i]].get() + tensor_offset[i];
    }
    builder.AddTensor(std::move(t));
  }
  StatusOr<std::unique_ptr<GgufFile>> file = builder.Build(shape.name);
  if (!file.ok()) return file.status();
  m->file_ = std::move(file).value();
  m->generate_seconds_ = Now() - t0;

  StatusOr<std::unique_ptr<Model>> model = LoadModel(*m->file_, backend);
  if (!model.ok()) return model.status();
  m->model_ = std::move(model).value();
  return m;
}

uint64_t SyntheticModel::num_weight_bytes() const {
  uint64_t n = 0;
  for (const GgufTensorInfo& t : file_->tensors()) n += t.num_bytes;
  return n;
}

uint64_t SyntheticModel::num_host_bytes() const {
  uint64_t n = 0;
  for (uint64_t b : pool_bytes_) n += b;
  return n;
}

int64_t SyntheticModel::num_params() const {
  int64_t n = 0;
  for (const GgufTensorInfo& t : file_->tensors()) n += t.num_elems();
  return n;
}

}  // namespace gs
