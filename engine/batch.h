// The batch contract shared by every backend: one ragged batch
// per step, many sequences, prefill and decode rows mixed. Host arrays; a device backend mirrors
// them. Nothing here is owned elsewhere: the step builds it, the backend reads it.
#pragma once

#include <cstdint>
#include <vector>

namespace gs {

// One KV group's view of the batch (global layers and sliding-window layers are separate groups,
// each with its own block tables). Block table entries that left a sliding window may be -1.
struct KvGroupBatch {
  std::vector<int32_t> block_indptr;  // [num_seqs + 1] CSR offsets into block_ids
  std::vector<int32_t> block_ids;     // [block_indptr[num_seqs]]
  std::vector<int64_t> slot_mapping;  // [num_tokens] cache slot of each new token's K/V
};

struct Batch {
  std::vector<int32_t> token_ids;       // [num_tokens]
  std::vector<int32_t> positions;       // [num_tokens]
  std::vector<int32_t> query_start;     // [num_seqs + 1]: sequence s owns rows [qs[s], qs[s+1])
  std::vector<int32_t> seq_lens;        // [num_seqs] KV length after this step
  std::vector<KvGroupBatch> kv_groups;  // [num_kv_groups]
  std::vector<int32_t> logits_rows;     // rows whose logits are wanted, ascending
  // Rows whose input is an embedding (image or audio) instead of a token's: row ids and
  // [num_rows, hidden] values, used unscaled.
  std::vector<int32_t> embed_rows;
  std::vector<float> embed_values;

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
  int32_t num_seqs() const { return static_cast<int32_t>(seq_lens.size()); }
};

}  // namespace gs
