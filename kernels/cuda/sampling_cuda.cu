// Device sampler: one block of kThreads per row; the semantics are in kernels/ref/sampling_ref.h.
//
// Design. No sort of the vocabulary. Thresholds (top-k, top-p) are found by bisection over the
// order-preserving 32-bit key of the processed logits: each step is one block-wide pass that
// reduces, at a trial key, the count or exp-mass at or above it together with the nearest
// element keys either side, and the interval snaps to those element keys; so the search ends on
// an element's exact value within 32 passes and is exact for counts. When the top-k set fits in
// shared memory (kCapacity) it is compacted there in id order and the rest (top-p, min-p, draw)
// runs on the compacted set; otherwise on the whole row. The draw is a block-wide prefix scan in
// id order: each warp owns a contiguous id range, the block scans the 32 warp sums, and the one
// warp whose range holds u * W scans its range 32 ids at a time.
//
// Uniformity: every block reduction is a butterfly whose result is bitwise identical in every
// thread (each step adds the same pair of values in either order, and + is commutative), so all
// threads take the same branches around __syncthreads. The reductions' order is fixed by the
// thread layout, so a row's result does not depend on the batch or on scheduling.
#include <cfloat>
#include <climits>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/philox.h"
#include "kernels/cuda/sampling_cuda.h"

namespace gs {
namespace {

constexpr int kThreads = 1024;
constexpr int kNumWarps = kThreads / 32;
constexpr int kCapacity = 4096;  // compacted candidates in shared memory (32 KiB)
constexpr unsigned kFullMask = 0xFFFFFFFFu;

// Order-preserving key: a < b (floats, not NaN) iff Key(a) < Key(b); -0 and +0 share a key.
// Every valid value (> -inf) has a key > Key(-inf) = 0x007FFFFF, so 0 can mean "none".
__device__ __forceinline__ uint32_t Key(float v) {
  if (v == 0.0f) v = 0.0f;  // -0 -> +0
  const uint32_t bits = __float_as_uint(v);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

__device__ __forceinline__ bool IsValid(float y) { return y > -INFINITY; }  // false for NaN

// (value, id) ordered by value descending, then id ascending.
struct Candidate {
  float value;
  int32_t id;
};
__device__ __forceinline__ bool Better(float v, int32_t i, float w, int32_t j) {
  return v > w || (v == w && i < j);
}
__device__ __forceinline__ Candidate NoCandidate() { return {-INFINITY, INT_MAX}; }

// Shared scratch for the block reductions; each reduction ends with a barrier, so one slot
// array per type is enough.
struct Shared {
  double f64[kNumWarps];
  float f32[kNumWarps];
  int32_t i32[kNumWarps];
  uint32_t u32[kNumWarps];
  int32_t result;
  float cand_values[kCapacity];  // compacted candidates, ascending id
  int32_t cand_ids[kCapacity];
};

// Butterfly within a warp, then across the warps' partials; every thread returns the same bits.
template <typename T, typename Op>
__device__ __forceinline__ T WarpAllReduce(T v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}
template <typename T, typename Op>
__device__ __forceinline__ T BlockAllReduce(T v, T identity, Op op, T* slots /*[kNumWarps]*/) {
  const int lane = threadIdx.x & 31, warp_idx = threadIdx.x >> 5;
  v = WarpAllReduce(v, op);
  if (lane == 0) slots[warp_idx] = v;
  __syncthreads();
  T r = lane < kNumWarps ? slots[lane] : identity;
  r = WarpAllReduce(r, op);
  __syncthreads();  // slots free for the next reduction
  return r;
}

struct SumOp {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MinOp {
  __device__ uint32_t operator()(uint32_t a, uint32_t b) const { return a < b ? a : b; }
};
struct MaxOp {
  __device__ uint32_t operator()(uint32_t a, uint32_t b) const { return a > b ? a : b; }
};
struct FMaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

__device__ Candidate BlockArgBest(Candidate c, Shared& sh) {
  const int lane = threadIdx.x & 31, warp_idx = threadIdx.x >> 5;
  auto warp_best = [](Candidate c) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
      const float v = __shfl_xor_sync(kFullMask, c.value, offset);
      const int32_t i = __shfl_xor_sync(kFullMask, c.id, offset);
      if (Better(v, i, c.value, c.id)) c = {v, i};
    }
    return c;
  };
  c = warp_best(c);
  if (lane == 0) {
    sh.f32[warp_idx] = c.value;
    sh.i32[warp_idx] = c.id;
  }
  __syncthreads();
  Candidate r = lane < kNumWarps ? Candidate{sh.f32[lane], sh.i32[lane]} : NoCandidate();
  r = warp_best(r);
  __syncthreads();
  return r;
}

// Values of the set being filtered: the whole processed row (ids == nullptr: index is the id)
// or the compacted candidates in shared memory (ascending ids).
struct Source {
  const float* values;  // [num]
  const int32_t* ids;   // [num] or nullptr
  int32_t num;
  __device__ int32_t Id(int32_t idx) const { return ids ? ids[idx] : idx; }
};

struct PassStats {
  double mass;             // sum of expf(y - max_value) over valid y with key >= trial
  int32_t count;           // number of valid y with key >= trial
  uint32_t min_key_at;     // smallest such key (UINT_MAX: none)
  uint32_t max_key_below;  // largest valid key < trial (0: none)
};

// One block-wide pass at a trial key. with_mass is block-uniform.
__device__ PassStats ThresholdPass(const Source& src, uint32_t trial, bool with_mass,
                                   float max_value, Shared& sh) {
  double mass = 0;
  int32_t count = 0;
  uint32_t min_key_at = UINT_MAX, max_key_below = 0;
  for (int32_t idx = threadIdx.x; idx < src.num; idx += kThreads) {
    const float y = src.values[idx];
    if (!IsValid(y)) continue;
    const uint32_t key = Key(y);
    if (key >= trial) {
      ++count;
      min_key_at = min(min_key_at, key);
      if (with_mass) mass += expf(y - max_value);
    } else {
      max_key_below = max(max_key_below, key);
    }
  }
  PassStats s;
  s.mass = with_mass ? BlockAllReduce(mass, 0.0, SumOp(), sh.f64) : 0.0;
  s.count = BlockAllReduce(count, 0, SumOp(), sh.i32);
  s.min_key_at = BlockAllReduce(min_key_at, UINT_MAX, MinOp(), sh.u32);
  s.max_key_below = BlockAllReduce(max_key_below, 0u, MaxOp(), sh.u32);
  return s;
}

// The largest element key t in [lo_key, hi_key] with F(t) >= target, F = count (with_mass false)
// or mass of the elements with key >= t; F is non-increasing in t. Requires: lo_key and hi_key
// are keys of valid elements and F(lo_key) >= target > 0. *count_at (in: count at lo_key) is
// updated to the count at the result.
__device__ uint32_t Bisect(const Source& src, uint32_t lo_key, uint32_t hi_key, bool with_mass,
                           double target, float max_value, int32_t* count_at, Shared& sh) {
  while (lo_key < hi_key) {
    // In (lo_key, hi_key]; no overflow: valid keys are >= 0x00800000.
    const uint32_t trial = lo_key + (hi_key - lo_key + 1) / 2;
    const PassStats s = ThresholdPass(src, trial, with_mass, max_value, sh);
    const double f = with_mass ? s.mass : static_cast<double>(s.count);
    if (f >= target) {
      // No element between trial and min_key_at, so F(min_key_at) = F(trial); it exists
      // because F(trial) >= target > 0.
      lo_key = s.min_key_at;
      *count_at = s.count;
    } else {
      // The answer is below trial; lo_key itself is an element below trial, so this is >= lo.
      hi_key = s.max_key_below;
    }
  }
  return lo_key;
}

// Writes the valid elements with key >= threshold, in ascending id order, to the shared
// candidate arrays; returns how many. The caller knows the count fits in kCapacity.
__device__ int32_t Compact(const Source& src, uint32_t threshold, Shared& sh) {
  const int lane = threadIdx.x & 31, warp_idx = threadIdx.x >> 5;
  const int32_t chunk = (src.num + kNumWarps - 1) / kNumWarps;
  const int32_t begin = min(src.num, warp_idx * chunk);
  const int32_t end = min(src.num, begin + chunk);
  auto kept = [&](int32_t idx) {
    if (idx >= end) return false;
    const float y = src.values[idx];
    return IsValid(y) && Key(y) >= threshold;
  };
  int32_t lane_count = 0;
  for (int32_t idx = begin + lane; idx < end; idx += 32) lane_count += kept(idx);
  const int32_t warp_count = WarpAllReduce(lane_count, SumOp());
  if (lane == 0) sh.i32[warp_idx] = warp_count;
  __syncthreads();
  int32_t base = 0, total = 0;
  for (int w = 0; w < kNumWarps; ++w) {
    if (w < warp_idx) base += sh.i32[w];
    total += sh.i32[w];
  }
  __syncthreads();
  for (int32_t start = begin; start < end; start += 32) {
    const int32_t idx = start + lane;
    const bool keep = kept(idx);
    const unsigned ballot = __ballot_sync(kFullMask, keep);
    if (keep) {
      const int32_t pos = base + __popc(ballot & ((1u << lane) - 1u));
      sh.cand_values[pos] = src.values[idx];
      sh.cand_ids[pos] = src.Id(idx);
    }
    base += __popc(ballot);
  }
  __syncthreads();
  return total;
}

// The draw: the first kept id (ascending) whose inclusive prefix of
// expf((y - max_value) / temperature) exceeds u * W, W the kept total; the last kept id if
// rounding left none.
__device__ int32_t Draw(const Source& src, uint32_t threshold, float max_value, float temperature,
                        double u, Shared& sh) {
  const int lane = threadIdx.x & 31, warp_idx = threadIdx.x >> 5;
  const int32_t chunk = (src.num + kNumWarps - 1) / kNumWarps;
  const int32_t begin = min(src.num, warp_idx * chunk);
  const int32_t end = min(src.num, begin + chunk);
  auto weight = [&](int32_t idx) {
    if (idx >= end) return 0.0;
    const float y = src.values[idx];
    if (!(IsValid(y) && Key(y) >= threshold)) return -1.0;  // not kept
    return static_cast<double>(expf((y - max_value) / temperature));
  };
  double lane_sum = 0;
  for (int32_t idx = begin + lane; idx < end; idx += 32) lane_sum += fmax(weight(idx), 0.0);
  const double warp_sum = WarpAllReduce(lane_sum, SumOp());
  if (lane == 0) sh.f64[warp_idx] = warp_sum;
  __syncthreads();
  // Every thread computes the same serial prefix over the warps' sums.
  double total = 0;
  for (int w = 0; w < kNumWarps; ++w) total += sh.f64[w];
  double target = u * total;
  int selected = -1;
  double selected_base = 0;
  double prefix = 0;
  int last_nonempty = -1;
  double last_base = 0;
  for (int w = 0; w < kNumWarps; ++w) {
    const double next = prefix + sh.f64[w];
    if (selected < 0 && next > target) {
      selected = w;
      selected_base = prefix;
    }
    if (sh.f64[w] > 0) {
      last_nonempty = w;
      last_base = prefix;
    }
    prefix = next;
  }
  if (selected < 0) {  // u * W rounded up to W: take the last kept id
    selected = last_nonempty;
    selected_base = last_base;
    target = INFINITY;
  }
  if (threadIdx.x == 0) sh.result = -1;
  __syncthreads();
  if (warp_idx == selected) {
    double running = selected_base;
    int32_t found = -1, last_kept = -1;
    for (int32_t start = begin; start < end; start += 32) {
      const int32_t idx = start + lane;
      const double w = weight(idx);
      const bool keep = w >= 0.0 && idx < end;
      double scan = keep ? w : 0.0;
#pragma unroll
      for (int offset = 1; offset < 32; offset <<= 1) {
        const double other = __shfl_up_sync(kFullMask, scan, offset);
        if (lane >= offset) scan += other;
      }
      const unsigned hit = __ballot_sync(kFullMask, keep && running + scan > target);
      if (hit != 0) {
        found = start + __ffs(hit) - 1;
        break;
      }
      const unsigned kept_lanes = __ballot_sync(kFullMask, keep);
      if (kept_lanes != 0) last_kept = start + 31 - __clz(kept_lanes);
      running += __shfl_sync(kFullMask, scan, 31);
    }
    if (found < 0) found = last_kept;
    if (lane == 0) sh.result = found < 0 ? -1 : src.Id(found);
  }
  __syncthreads();
  const int32_t id = sh.result;
  __syncthreads();
  return id;
}

__global__ void __launch_bounds__(kThreads) SampleRowsKernel(SampleParams p) {
  __shared__ Shared sh;
  const int32_t row = blockIdx.x;
  const int32_t num_vocab = p.num_vocab;
  const SampleRowParams rp = p.row_params[row];
  const float* x = p.logits + static_cast<int64_t>(row) * num_vocab;

  // 1. Processed logits: a scratch copy when this row has anything to apply.
  int32_t pen_begin = 0, pen_end = 0, bias_begin = 0, bias_end = 0;
  if (p.penalty_indptr != nullptr) {
    pen_begin = p.penalty_indptr[row];
    pen_end = p.penalty_indptr[row + 1];
  }
  if (p.bias_indptr != nullptr) {
    bias_begin = p.bias_indptr[row];
    bias_end = p.bias_indptr[row + 1];
  }
  const bool penalties_on =
      rp.repetition_penalty != 1.0f || rp.presence_penalty != 0.0f || rp.frequency_penalty != 0.0f;
  if (!penalties_on) pen_end = pen_begin;
  const float* y = x;
  if (pen_end > pen_begin || bias_end > bias_begin) {
    float* s = p.scratch + static_cast<int64_t>(row) * num_vocab;
    for (int32_t i = threadIdx.x; i < num_vocab; i += kThreads) s[i] = x[i];
    __syncthreads();  // the block's global writes are visible to the block after the barrier
    for (int32_t e = bias_begin + threadIdx.x; e < bias_end; e += kThreads) {
      const int32_t id = p.bias_ids[e];
      if (id >= 0 && id < num_vocab) s[id] = __fadd_rn(s[id], p.bias_values[e]);
    }
    __syncthreads();
    const float r = rp.repetition_penalty;
    for (int32_t e = pen_begin + threadIdx.x; e < pen_end; e += kThreads) {
      const int32_t id = p.penalty_ids[e];
      if (id < 0 || id >= num_vocab) continue;
      const int32_t count = p.penalty_counts[e];
      float v = s[id];
      // -inf (masked) and NaN stay as they are: clamping them to -FLT_MAX would unmask them.
      if (r != 1.0f && (p.penalty_in_prompt[e] != 0 || count > 0) && v > -INFINITY) {
        v = v > 0 ? fminf(__fdiv_rn(v, r), FLT_MAX) : fmaxf(__fmul_rn(v, r), -FLT_MAX);
      }
      if (count > 0 && (rp.presence_penalty != 0.0f || rp.frequency_penalty != 0.0f)) {
        const float scaled = __fmul_rn(rp.frequency_penalty, static_cast<float>(count));
        v = __fsub_rn(v, __fadd_rn(rp.presence_penalty, scaled));
      }
      s[id] = v;
    }
    __syncthreads();
    y = s;
  }

  // 2. One pass: the processed argmax (lowest id among maxima), the valid count and smallest
  //    valid key, and the raw maximum for the log-softmax.
  Candidate best = NoCandidate();
  int32_t num_valid = 0;
  uint32_t min_key = UINT_MAX;
  float raw_max = -INFINITY;
  for (int32_t i = threadIdx.x; i < num_vocab; i += kThreads) {
    const float v = y[i];
    raw_max = fmaxf(raw_max, x[i]);
    if (IsValid(v)) {
      ++num_valid;
      min_key = min(min_key, Key(v));
      if (Better(v, i, best.value, best.id)) best = {v, i};
    }
  }
  best = BlockArgBest(best, sh);
  num_valid = BlockAllReduce(num_valid, 0, SumOp(), sh.i32);
  min_key = BlockAllReduce(min_key, UINT_MAX, MinOp(), sh.u32);
  raw_max = BlockAllReduce(raw_max, -INFINITY, FMaxOp(), sh.f32);
  const float max_value = best.value;  // m

  int32_t id;
  if (rp.temperature <= 0.0f || rp.top_k == 1 || !isfinite(max_value)) {
    id = best.id == INT_MAX ? 0 : best.id;
  } else {
    // 3. Thresholds, as keys: K = {valid y : Key(y) >= threshold}.
    const uint32_t max_key = Key(max_value);
    Source src{y, nullptr, num_vocab};
    uint32_t threshold = min_key;
    int32_t count_at = num_valid;
    if (rp.top_k > 0 && rp.top_k < num_valid) {
      threshold = Bisect(src, min_key, max_key, /*with_mass=*/false, static_cast<double>(rp.top_k),
                         max_value, &count_at, sh);
    }
    if (count_at <= kCapacity) {
      const int32_t num_candidates = Compact(src, threshold, sh);
      src = Source{sh.cand_values, sh.cand_ids, num_candidates};
    }
    if (rp.top_p < 1.0f) {
      uint32_t top_p_key = max_key;
      if (rp.top_p > 0.0f) {
        const double total = ThresholdPass(src, threshold, /*with_mass=*/true, max_value, sh).mass;
        top_p_key = Bisect(src, threshold, max_key, /*with_mass=*/true,
                           static_cast<double>(rp.top_p) * total, max_value, &count_at, sh);
      }
      threshold = max(threshold, top_p_key);
    }
    if (rp.min_p > 0.0f) {
      threshold = max(threshold, Key(fminf(max_value, max_value + logf(rp.min_p))));
    }

    // 4. The draw.
    const double u = PhiloxUniform(rp.seed, rp.counter);
    id = Draw(src, threshold, max_value, rp.temperature, u, sh);
    if (id < 0) id = best.id;  // unreachable: the maximum is always kept
  }

  // 5. Log-softmax of the raw logits: the chosen id's and the top num_top_logprobs.
  const int32_t num_top = max(0, min(rp.num_top_logprobs, min(kMaxTopLogprobs, num_vocab)));
  double sum = 0;
  // Per-thread best kMaxTopLogprobs (descending), in registers: every index is a constant
  // after unrolling.
  float top_values[kMaxTopLogprobs];
  int32_t top_ids[kMaxTopLogprobs];
#pragma unroll
  for (int j = 0; j < kMaxTopLogprobs; ++j) {
    top_values[j] = -INFINITY;
    top_ids[j] = INT_MAX;
  }
  for (int32_t i = threadIdx.x; i < num_vocab; i += kThreads) {
    const float v = x[i];
    sum += expf(v - raw_max);
    if (num_top > 0 &&
        Better(v, i, top_values[kMaxTopLogprobs - 1], top_ids[kMaxTopLogprobs - 1])) {
      bool placed = false;
#pragma unroll
      for (int j = kMaxTopLogprobs - 1; j >= 0; --j) {
        if (!placed) {
          if (j > 0 && Better(v, i, top_values[j - 1], top_ids[j - 1])) {
            top_values[j] = top_values[j - 1];
            top_ids[j] = top_ids[j - 1];
          } else {
            top_values[j] = v;
            top_ids[j] = i;
            placed = true;
          }
        }
      }
    }
  }
  sum = BlockAllReduce(sum, 0.0, SumOp(), sh.f64);
  const double log_z = static_cast<double>(raw_max) + log(sum);
  if (threadIdx.x == 0) {
    p.out_ids[row] = id;
    p.out_logprobs[row] = static_cast<float>(static_cast<double>(x[id]) - log_z);
  }
  int32_t* out_top_ids = p.out_top_ids + static_cast<int64_t>(row) * kMaxTopLogprobs;
  float* out_top_logprobs = p.out_top_logprobs + static_cast<int64_t>(row) * kMaxTopLogprobs;
  for (int32_t r = 0; r < num_top; ++r) {
    const Candidate winner = BlockArgBest({top_values[0], top_ids[0]}, sh);
    if (top_ids[0] == winner.id) {  // ids are unique: exactly one thread pops its head
#pragma unroll
      for (int j = 0; j + 1 < kMaxTopLogprobs; ++j) {
        top_values[j] = top_values[j + 1];
        top_ids[j] = top_ids[j + 1];
      }
      top_values[kMaxTopLogprobs - 1] = -INFINITY;
      top_ids[kMaxTopLogprobs - 1] = INT_MAX;
    }
    if (threadIdx.x == 0) {  // INT_MAX: fewer non-NaN logits than num_top
      out_top_ids[r] = winner.id == INT_MAX ? -1 : winner.id;
      out_top_logprobs[r] = static_cast<float>(static_cast<double>(winner.value) - log_z);
    }
  }
  for (int32_t r = num_top + threadIdx.x; r < kMaxTopLogprobs; r += kThreads) {
    out_top_ids[r] = -1;
    out_top_logprobs[r] = -INFINITY;
  }
}

}  // namespace

void SampleRows(const SampleParams& p, cudaStream_t stream) {
  if (p.num_rows <= 0) return;
  SampleRowsKernel<<<p.num_rows, kThreads, 0, stream>>>(p);
  GS_CUDA_CHECK_LAUNCH();
}

}  // namespace gs
