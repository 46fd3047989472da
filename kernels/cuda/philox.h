// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011): a counter-based generator, so a draw is a pure function of (key, counter). The
// sampler keys it by the request's seed and counts by the request's token index, which makes a
// request's draws independent of what it is batched with and of which thread computes them.
// Compiles as host C++ (g++) and as device code (nvcc), with the same results on both.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define GS_HOST_DEVICE __host__ __device__
#else
#define GS_HOST_DEVICE
#endif

namespace gs {

struct Philox4x32 {
  uint32_t v[4];
};

// The 10-round Philox4x32 bijection of counter under key (the published algorithm: each round
// multiplies words 0 and 2 by the round constants, mixes the high halves with the other words
// and the round key, and the key is bumped by the Weyl constants between rounds).
GS_HOST_DEVICE inline Philox4x32 Philox4x32x10(Philox4x32 counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u;
  constexpr uint32_t kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u;
  constexpr uint32_t kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = counter.v[0], c1 = counter.v[1], c2 = counter.v[2], c3 = counter.v[3];
  for (int round_idx = 0; round_idx < 10; ++round_idx) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ key0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ key1;
    c3 = lo0;
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return {{c0, c1, c2, c3}};
}

// A uniform double in [0, 1) with 53 random bits, from the request's seed (the key) and the
// request's token index (the counter's low 64 bits; the high words stay 0).
GS_HOST_DEVICE inline double PhiloxUniform(uint64_t seed, uint64_t counter) {
  const Philox4x32 out = Philox4x32x10(
      {{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}},
      static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  const uint64_t bits = (static_cast<uint64_t>(out.v[0]) << 32) | out.v[1];
  // The top 53 bits scaled by 2^-53: exactly representable, so < 1 always.
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace gs
