// Decides what each engine step computes. There are no phases: every
// sequence has num_computed chasing tokens.size(), and a step spends a token budget on running
// sequences first (oldest first), then admits waiting ones in arrival order. A prompt longer than
// the budget is prefilled in chunks across steps, mixed with other sequences' decodes. When the
// KV pool cannot hold a running sequence's next tokens, the newest running sequence is preempted:
// its blocks are freed and it waits to be recomputed from its tokens, never failed.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "engine/grammar/matcher.h"
#include "engine/kv/block_hash.h"
#include "engine/kv/kv_pool.h"
#include "engine/request.h"
#include "engine/sampler.h"

namespace gs {

struct SchedulerOptions {
  int32_t max_num_batched_tokens = 512;  // tokens per step
  int32_t max_num_seqs = 64;             // sequences running at once
};

// One request's state in the engine.
struct Sequence {
  explicit Sequence(EngineRequest request);

  EngineRequest request;
  std::vector<int32_t> tokens;  // prompt, then the output so far
  int64_t num_prompt_tokens = 0;
  int64_t num_computed = 0;  // tokens whose K/V are in the cache
  int64_t num_output = 0;
  int32_t pool_seq_idx = -1;  // the KV pool's sequence; -1 while holding no blocks
  bool ever_scheduled = false;
  Sampler sampler;
  // The grammar's state after the output so far (request.grammar only). It follows the output
  // tokens, which preemption and prefix-cache hits never change, so neither touches it.
  std::optional<grammar::Matcher> matcher;
  std::vector<BlockHash> block_hashes;  // chained hashes of the full blocks of tokens
  int32_t num_registered_blocks = 0;    // blocks offered to the prefix cache so far
  // With a logits sink: the first position whose logits row it has not received. Never past
  // tokens.size() - 1, the row the next token is sampled from.
  int64_t next_logits_position = 0;
};

// What one sequence computes in a step: tokens [num_computed, num_computed + num_tokens).
struct ScheduledChunk {
  Sequence* seq = nullptr;
  int32_t num_tokens = 0;
  bool wants_logits = false;  // the chunk reaches the end of the sequence's tokens
};

class Scheduler {
 public:
  Scheduler(KvPool pool, SchedulerOptions options);

  void Add(std::unique_ptr<Sequence> seq);
  // Finishes cancelled requests (reason kAbort) and frees their blocks.
  void DropCancelled();
  // This step's work, running sequences first. Empty when there is nothing to do. A sequence
  // admitted from the queue starts after the longest prefix the cache holds for it.
  std::vector<ScheduledChunk> Schedule();
  // The step ran: its chunks' K/V are in the cache. Advances num_computed and offers the blocks
  // that became full to the prefix cache. Returns the number of prompt tokens computed.
  int64_t Commit(const std::vector<ScheduledChunk>& chunks);
  // Ends a running sequence: its stream gets `reason`, its blocks go back to the pool.
  void Finish(Sequence* seq, FinishReason reason, std::string error = {});
  // Finishes everything (engine failure or shutdown).
  void FinishAll(FinishReason reason, const std::string& error);

  const KvPool& pool() const { return pool_; }
  int32_t num_running() const { return static_cast<int32_t>(running_.size()); }
  int32_t num_waiting() const { return static_cast<int32_t>(waiting_.size()); }
  int64_t num_preemptions() const { return num_preemptions_; }
  int64_t num_prefix_queries() const { return num_prefix_queries_; }  // prompt tokens looked up
  int64_t num_prefix_hits() const { return num_prefix_hits_; }        // of which cached
  // Sequences that left the waiting queue for the first time since the last call.
  int32_t TakeNumNewlyAdmitted();

 private:
  void Preempt(Sequence* seq);
  // Admits the front of the waiting queue with up to budget tokens; false when the pool cannot.
  bool Admit(Sequence* seq, int64_t budget, std::vector<ScheduledChunk>* chunks);
  void UpdateBlockHashes(Sequence* seq) const;
  void Release(Sequence* seq);

  KvPool pool_;
  SchedulerOptions options_;
  std::vector<std::unique_ptr<Sequence>> running_;  // admission order
  std::deque<std::unique_ptr<Sequence>> waiting_;   // arrival order; preempted ones in front
  int64_t num_preemptions_ = 0;
  int64_t num_prefix_queries_ = 0;
  int64_t num_prefix_hits_ = 0;
  int32_t num_newly_admitted_ = 0;
};

}  // namespace gs
