// Identity of a full KV block for the prefix cache: SHA-256 over the parent block's hash, the
// block's token ids and an extra key (e.g. a media content hash), so a block's hash names the
// whole token prefix it ends. Collision resistance matters (vLLM CVE-2025-25183: a weak hash let
// one request reuse another's cache); hits are still verified against stored tokens.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace gs {

using BlockHash = std::array<uint8_t, 32>;

// SHA-256 of bytes (FIPS 180-4).
BlockHash Sha256(std::span<const uint8_t> bytes);

// parent: the previous block's hash, or null for the first block.
BlockHash HashBlock(const BlockHash* parent, std::span<const int32_t> tokens,
                    uint64_t extra_key = 0);

struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const {
    size_t v;
    std::memcpy(&v, h.data(), sizeof(v));  // already uniformly distributed
    return v;
  }
};

}  // namespace gs
