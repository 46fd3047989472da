// The engine: one thread that owns the scheduler, the KV pool and the backend, and runs steps
// while there is work. Other threads only Submit requests and
// read their RequestStreams; the few numbers they may look at (Stats) are published atomically.
// The CLI, the benchmarks and the model tests drive the same engine without its thread
// (StepOnce, engine/run_request.h), so what they measure is what `serve` runs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/backend.h"
#include "engine/batch.h"
#include "engine/model/model.h"
#include "engine/request.h"
#include "engine/scheduler.h"
#include "engine/status.h"

namespace gs {

struct EngineOptions {
  int64_t kv_cache_bytes = int64_t{1} << 30;
  int32_t block_size = 16;
  int32_t max_num_batched_tokens = 512;
  int32_t max_num_seqs = 64;
  int32_t max_num_waiting = 256;  // queued requests beyond this are refused (HTTP 503)
  int64_t max_model_len = 0;      // 0: as long as the model and the pool allow
  bool enable_prefix_caching = true;
};

// Counters for /metrics and /health, readable from any thread.
struct EngineStats {
  int32_t num_running = 0;
  int32_t num_waiting = 0;        // requests not yet scheduled once (preempted ones not counted)
  double kv_usage = 0;            // fraction of KV blocks in use, over all groups
  int64_t num_prompt_tokens = 0;  // prompt tokens computed (recomputation included)
  int64_t num_generation_tokens = 0;  // tokens sampled
  int64_t num_preemptions = 0;
  int64_t num_prefix_queries = 0;  // prompt tokens looked up in the prefix cache
  int64_t num_prefix_hits = 0;     // of which found
  int64_t num_steps = 0;
  int64_t num_batched_tokens = 0;  // rows over all steps (tokens per step = this / num_steps)
  int64_t num_batched_seqs = 0;    // sequences over all steps
  // steady_clock time of the loop's last sign of life, and whether it is still running.
  std::chrono::steady_clock::time_point heartbeat{};
  bool alive = false;
};

class Engine {
 public:
  static StatusOr<std::unique_ptr<Engine>> Create(const Model& model, Backend& backend,
                                                  const EngineOptions& options);
  ~Engine();

  // Longest sequence (prompt + output) a request may reach.
  int64_t max_seq_len() const { return max_seq_len_; }
  const Model& model() const { return model_; }

  // Thread-safe. Queues all of `requests` (the n choices of one API request), or none of them
  // when the waiting queue is full (returns false).
  bool Submit(std::vector<EngineRequest> requests);
  EngineStats Stats() const;

  void Start();
  // Finishes every request still queued or running with kAbort and joins the thread.
  void Stop();

  // Synchronous driving, on the caller's thread and never while the engine's thread runs: takes
  // what was submitted and runs one step. Returns false once no request is queued or running.
  // A request that cannot be scheduled with nothing else running (it needs more KV blocks than
  // the pool has) is finished with kError rather than left waiting forever.
  bool StepOnce();

 private:
  Engine(const Model& model, Backend& backend, const EngineOptions& options, KvPool pool,
         int64_t max_seq_len);
  void Loop();
  // Takes the inbox, runs a step (a failed step fails its requests), publishes stats. False
  // when requests wait but none could be scheduled.
  bool Iterate();
  // One step; false when requests wait but none could be scheduled.
  bool Step();
  void BuildBatch(const std::vector<ScheduledChunk>& chunks);
  // Runs the model and picks one token per chunk that wants logits (in chunk order): on the
  // device when the backend samples there, else from logits copied to the host.
  void ForwardAndSample(const std::vector<ScheduledChunk>& chunks);
  void PickOnDevice(const std::vector<ScheduledChunk>& chunks);
  void PickOnHost(const std::vector<ScheduledChunk>& chunks);
  // The grammar mask of every constrained chunk that samples this step, from its matcher's
  // state (known before the forward: it follows the tokens already accepted).
  void FillMasks(const std::vector<ScheduledChunk>& chunks);
  // Chunk chunk_idx's mask ([mask_stride_ words]), or null when it is not constrained.
  const uint32_t* Mask(size_t chunk_idx) const;
  // Masks, processes and samples one host logits row (modified in place) for sequence s.
  SampledToken PickRow(Sequence& s, float* logits, const uint32_t* mask);
  // Hands each chunk's logits rows ([batch rows, num_vocab] host values) to its request's sink.
  void DeliverLogits(const std::vector<ScheduledChunk>& chunks, const float* logits);
  void Update(const std::vector<ScheduledChunk>& chunks);
  void PublishStats();

  const Model& model_;
  Backend& backend_;
  EngineOptions options_;
  int64_t max_seq_len_;
  Scheduler scheduler_;  // engine thread only
  Batch batch_;
  // Chunk i's logits are rows [logits_indptr_[i], logits_indptr_[i + 1]) of the step's logits,
  // its last positions; the last row is the one it samples from when it wants logits. Only
  // chunks with a logits sink have more than one row.
  std::vector<int32_t> logits_indptr_;
  bool step_has_sink_ = false;        // some chunk's request has a logits sink
  std::vector<float> logits_;         // [rows, num_vocab], host sampling only
  std::vector<float> sink_logits_;    // [rows, num_vocab], device sampling with a sink only
  std::vector<float> raw_row_;        // one unprocessed logits row, for logprobs
  std::vector<SampledToken> picked_;  // this step's tokens, one per chunk wanting logits
  std::vector<DeviceSampleRow> device_rows_;
  // Grammar masks of this step: chunk i's at mask_offset_[i] (-1: unconstrained), each
  // mask_stride_ words covering both the model's and the trie's vocabulary (bits past the
  // trie's are clear: tokens the grammar cannot know are never allowed).
  std::vector<uint32_t> mask_words_;
  std::vector<int64_t> mask_offset_;
  size_t mask_stride_ = 0;
  std::vector<float> host_logits_;  // device sampling: rows read back for constrained chunks
  std::vector<SampleRowResult> device_results_;

  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::vector<EngineRequest> inbox_;
  std::atomic<int32_t> num_queued_{0};  // submitted and never scheduled yet
  std::atomic<bool> stop_{false};
  std::thread thread_;

  mutable std::mutex stats_mu_;
  EngineStats stats_;
};

}  // namespace gs
