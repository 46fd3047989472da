#include "engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>

#include "engine/kv/kv_plan.h"
#include "kernels/ref/sampling_ref.h"

namespace gs {

StatusOr<std::unique_ptr<Engine>> Engine::Create(const Model& model, Backend& backend,
                                                 const EngineOptions& options) {
  if (options.max_num_seqs <= 0 || options.max_num_batched_tokens <= 0 ||
      options.max_num_waiting < 0) {
    return Status::Error("max_num_seqs and max_num_batched_tokens must be positive");
  }
  KvBudget budget;
  budget.kv_cache_bytes = options.kv_cache_bytes;
  budget.block_size = options.block_size;
  budget.max_batch_tokens = options.max_num_batched_tokens;
  budget.max_seqs = options.max_num_seqs;
  budget.slot_bytes = BackendSlotBytes(backend);
  StatusOr<KvPlan> plan = PlanKv(model.config(), budget);
  if (!plan.ok()) return plan.status();
  plan->pool.enable_prefix_caching = options.enable_prefix_caching;
  GS_RETURN_IF_ERROR(backend.AllocateKv(plan->layout));
  int64_t max_seq_len = plan->max_seq_len;
  if (options.max_model_len > 0) max_seq_len = std::min(max_seq_len, options.max_model_len);
  return std::unique_ptr<Engine>(
      new Engine(model, backend, options, KvPool(std::move(plan->pool)), max_seq_len));
}

Engine::Engine(const Model& model, Backend& backend, const EngineOptions& options, KvPool pool,
               int64_t max_seq_len)
    : model_(model),
      backend_(backend),
      options_(options),
      max_seq_len_(max_seq_len),
      scheduler_(std::move(pool),
                 SchedulerOptions{options.max_num_batched_tokens, options.max_num_seqs}),
      logits_(backend.SamplesOnDevice()
                  ? 0
                  : static_cast<size_t>(options.max_num_seqs) * model.config().num_vocab),
      raw_row_(backend.SamplesOnDevice() ? 0 : model.config().num_vocab) {}

Engine::~Engine() { Stop(); }

bool Engine::Submit(std::vector<EngineRequest> requests) {
  const int32_t n = static_cast<int32_t>(requests.size());
  // Reserve queue places first so concurrent submitters cannot overshoot the bound.
  int32_t queued = num_queued_.load();
  do {
    if (queued + n > options_.max_num_waiting) return false;
  } while (!num_queued_.compare_exchange_weak(queued, queued + n));
  // Tokens the model must never produce (tokenizer.ggml.suppress_tokens: Gemma 4 Unified's media
  // end markers) get -inf added to their logits, as llama.cpp does, through the logit bias that
  // both the host and the device sampler apply.
  for (EngineRequest& r : requests) {
    for (int32_t id : model_.config().suppress_tokens) {
      r.sampling.logit_bias.emplace_back(id, -std::numeric_limits<float>::infinity());
    }
  }
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    for (EngineRequest& r : requests) inbox_.push_back(std::move(r));
  }
  inbox_cv_.notify_one();
  return true;
}

EngineStats Engine::Stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  EngineStats s = stats_;
  s.num_waiting = num_queued_.load();  // includes requests not yet taken from the inbox
  return s;
}

void Engine::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.alive = true;
    stats_.heartbeat = std::chrono::steady_clock::now();
  }
  thread_ = std::thread([this] { Loop(); });
}

void Engine::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  inbox_cv_.notify_one();
  thread_.join();
}

void Engine::Loop() {
  while (!stop_) {
    {
      std::unique_lock<std::mutex> lock(inbox_mu_);
      const bool idle = scheduler_.num_running() == 0 && scheduler_.num_waiting() == 0;
      // Idle: sleep until work arrives, waking now and then to show the loop is alive.
      if (idle && inbox_.empty()) {
        inbox_cv_.wait_for(lock, std::chrono::milliseconds(200),
                           [this] { return !inbox_.empty() || stop_; });
      }
    }
    if (!Iterate()) {
      // Requests wait but none could be scheduled: never spin on that.
      std::unique_lock<std::mutex> lock(inbox_mu_);
      inbox_cv_.wait_for(lock, std::chrono::milliseconds(5), [this] { return stop_.load(); });
    }
  }
  // Shutdown: whatever is left is aborted; inbox requests were never admitted.
  std::vector<EngineRequest> left;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    left.swap(inbox_);
  }
  for (EngineRequest& r : left) r.stream->Finish(FinishReason::kAbort);
  scheduler_.FinishAll(FinishReason::kAbort, "the server is shutting down");
  num_queued_ = 0;
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.alive = false;
}

bool Engine::Iterate() {
  std::vector<EngineRequest> arrived;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    arrived.swap(inbox_);
  }
  for (EngineRequest& r : arrived) scheduler_.Add(std::make_unique<Sequence>(std::move(r)));
  bool worked = false;
  try {
    worked = Step();
  } catch (const std::exception& e) {
    // One failed step fails the requests in it, never the process or later requests.
    scheduler_.FinishAll(FinishReason::kError, std::string("engine step failed: ") + e.what());
  }
  num_queued_ -= scheduler_.TakeNumNewlyAdmitted();
  PublishStats();
  return worked;
}

bool Engine::StepOnce() {
  GS_CHECK_MSG(!thread_.joinable(), "StepOnce while the engine's thread runs");
  if (!Iterate() && scheduler_.num_running() == 0) {
    // With nothing running the whole pool was free: the queue's head can never be scheduled.
    // Iterate emptied the inbox, and only this thread submits, so nothing else is queued.
    scheduler_.FinishAll(FinishReason::kError, "the request does not fit in the KV cache");
    num_queued_ = 0;
  }
  return scheduler_.num_running() + scheduler_.num_waiting() > 0;
}

// Schedule, build the ragged batch, run the model, sample, update.
bool Engine::Step() {
  scheduler_.DropCancelled();
  const std::vector<ScheduledChunk> chunks = scheduler_.Schedule();
  if (chunks.empty()) return scheduler_.num_running() + scheduler_.num_waiting() == 0;
  BuildBatch(chunks);
  ForwardAndSample(chunks);
  const int64_t num_prompt_tokens = scheduler_.Commit(chunks);
  Update(chunks);
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.num_prompt_tokens += num_prompt_tokens;
  stats_.num_batched_tokens += batch_.num_tokens();
  stats_.num_batched_seqs += batch_.num_seqs();
  ++stats_.num_steps;
  return true;
}

void Engine::BuildBatch(const std::vector<ScheduledChunk>& chunks) {
  const KvPool& pool = scheduler_.pool();
  Batch& b = batch_;
  b.token_ids.clear();
  b.positions.clear();
  b.query_start.assign(1, 0);
  b.seq_lens.clear();
  b.logits_rows.clear();
  b.embed_rows.clear();
  b.embed_values.clear();
  logits_indptr_.assign(1, 0);
  step_has_sink_ = false;
  b.kv_groups.resize(pool.num_groups());
  for (KvGroupBatch& kg : b.kv_groups) {
    kg.block_indptr.assign(1, 0);
    kg.block_ids.clear();
    kg.slot_mapping.clear();
  }
  for (const ScheduledChunk& c : chunks) {
    const Sequence& s = *c.seq;
    for (int32_t i = 0; i < c.num_tokens; ++i) {
      const int64_t pos = s.num_computed + i;
      b.token_ids.push_back(s.tokens[pos]);
      b.positions.push_back(static_cast<int32_t>(pos));
    }
    const int64_t end = s.num_computed + c.num_tokens;
    b.query_start.push_back(static_cast<int32_t>(b.token_ids.size()));
    b.seq_lens.push_back(static_cast<int32_t>(end));
    // Logits for the last row when the chunk samples; a sink also wants the rows it has not
    // received (which include that last row whenever the chunk samples).
    int64_t first_logits_position = c.wants_logits ? end - 1 : end;
    if (s.request.logits_sink) {
      GS_CHECK(!c.wants_logits || s.next_logits_position <= end - 1);
      first_logits_position = std::max(s.num_computed, s.next_logits_position);
      step_has_sink_ = true;
    }
    for (int64_t pos = first_logits_position; pos < end; ++pos) {
      b.logits_rows.push_back(b.query_start.back() - static_cast<int32_t>(end - pos));
    }
    logits_indptr_.push_back(static_cast<int32_t>(b.logits_rows.size()));
    for (int32_t g = 0; g < pool.num_groups(); ++g) {
      KvGroupBatch& kg = b.kv_groups[g];
      const std::vector<int32_t>& table = pool.Table(s.pool_seq_idx, g);
      kg.block_ids.insert(kg.block_ids.end(), table.begin(), table.end());
      kg.block_indptr.push_back(static_cast<int32_t>(kg.block_ids.size()));
      for (int32_t i = 0; i < c.num_tokens; ++i) {
        kg.slot_mapping.push_back(pool.Slot(s.pool_seq_idx, g, s.num_computed + i));
      }
    }
  }
}

void Engine::FillMasks(const std::vector<ScheduledChunk>& chunks) {
  mask_offset_.assign(chunks.size(), -1);
  mask_stride_ = (static_cast<size_t>(model_.config().num_vocab) + 31) / 32;
  size_t num_masks = 0;
  for (const ScheduledChunk& c : chunks) {
    if (!c.wants_logits || !c.seq->matcher) continue;
    mask_stride_ = std::max(mask_stride_, c.seq->request.token_trie->num_mask_words());
    ++num_masks;
  }
  if (num_masks == 0) return;
  mask_words_.assign(num_masks * mask_stride_, 0);
  size_t mask_idx = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ScheduledChunk& c = chunks[i];
    if (!c.wants_logits || !c.seq->matcher) continue;
    mask_offset_[i] = static_cast<int64_t>(mask_idx * mask_stride_);
    c.seq->matcher->FillMask(&mask_words_[mask_offset_[i]]);
    ++mask_idx;
  }
}

const uint32_t* Engine::Mask(size_t chunk_idx) const {
  return mask_offset_[chunk_idx] < 0 ? nullptr : &mask_words_[mask_offset_[chunk_idx]];
}

SampledToken Engine::PickRow(Sequence& s, float* logits, const uint32_t* mask) {
  const int32_t num_vocab = model_.config().num_vocab;
  const EngineRequest& r = s.request;
  // Log-probabilities are the model's, before the mask, bias and penalties.
  const bool keep_raw = r.want_logprobs && (r.sampling.has_logit_processing() || mask);
  if (keep_raw) std::memcpy(raw_row_.data(), logits, num_vocab * sizeof(float));
  if (mask) ref::ApplyTokenMask(logits, num_vocab, mask);
  s.sampler.ProcessLogits(logits, num_vocab);
  const int32_t id = s.sampler.Sample(logits, num_vocab);
  SampledToken token;
  if (r.want_logprobs) {
    token = ComputeLogprobs(keep_raw ? raw_row_.data() : logits, num_vocab, id, r.num_top_logprobs);
  }
  token.id = id;
  return token;
}

void Engine::ForwardAndSample(const std::vector<ScheduledChunk>& chunks) {
  picked_.clear();
  FillMasks(chunks);
  if (backend_.SamplesOnDevice()) {
    PickOnDevice(chunks);
  } else {
    PickOnHost(chunks);
  }
}

void Engine::PickOnDevice(const std::vector<ScheduledChunk>& chunks) {
  const Act logits = model_.ForwardLogits(batch_, backend_, nullptr);
  const int32_t num_vocab = model_.config().num_vocab;
  const float softcap = model_.config().final_softcap;
  if (step_has_sink_ && logits.num_rows > 0) {
    // Read before sampling, unsoftcapped: a backend may softcap its logits in place.
    sink_logits_.resize(static_cast<size_t>(logits.num_rows) * num_vocab);
    backend_.ReadLogits(logits, 0.0f, sink_logits_.data());
    if (softcap > 0) {
      for (float& x : sink_logits_) x = softcap * std::tanh(x / softcap);
    }
    DeliverLogits(chunks, sink_logits_.data());
  }
  // One sampling row per logits row; rows only a sink wanted get greedy defaults, unread.
  device_rows_.assign(batch_.logits_rows.size(), DeviceSampleRow{});
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ScheduledChunk& c = chunks[i];
    if (!c.wants_logits) continue;
    const Sequence& s = *c.seq;
    const EngineRequest& r = s.request;
    DeviceSampleRow& row = device_rows_[logits_indptr_[i + 1] - 1];
    row.params = s.sampler.DeviceParams(static_cast<uint64_t>(s.num_output),
                                        r.want_logprobs ? r.num_top_logprobs : 0);
    s.sampler.DevicePenalties(&row.penalties);
    s.sampler.DeviceBias(&row.bias);
  }
  // Constrained rows are sampled on the host from logits read back (the device sampler has no
  // mask input yet): read before SampleLogits, which may softcap in place.
  const bool has_masks = std::any_of(mask_offset_.begin(), mask_offset_.end(),
                                     [](int64_t offset) { return offset >= 0; });
  if (has_masks && logits.num_rows > 0) {
    host_logits_.resize(static_cast<size_t>(logits.num_rows) * num_vocab);
    backend_.ReadLogits(logits, softcap, host_logits_.data());
    raw_row_.resize(num_vocab);
  }
  device_results_.resize(device_rows_.size());
  if (logits.num_rows > 0) backend_.SampleLogits(logits, softcap, device_rows_, device_results_);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ScheduledChunk& c = chunks[i];
    if (!c.wants_logits) continue;
    if (const uint32_t* mask = Mask(i)) {
      const size_t row = logits_indptr_[i + 1] - 1;
      picked_.push_back(PickRow(*c.seq, host_logits_.data() + row * num_vocab, mask));
      continue;
    }
    const SampleRowResult& result = device_results_[logits_indptr_[i + 1] - 1];
    SampledToken token;
    token.id = result.id;
    if (c.seq->request.want_logprobs) {
      token.logprob = result.logprob;
      for (int32_t k = 0; k < result.num_top; ++k) {
        token.top.push_back({result.top[k].id, result.top[k].logprob});
      }
    }
    picked_.push_back(std::move(token));
  }
}

void Engine::PickOnHost(const std::vector<ScheduledChunk>& chunks) {
  const int32_t num_vocab = model_.config().num_vocab;
  // More rows than sequences only when a sink wants prompt logits.
  const size_t num_values = batch_.logits_rows.size() * static_cast<size_t>(num_vocab);
  if (logits_.size() < num_values) logits_.resize(num_values);
  model_.Forward(batch_, backend_, logits_.data());
  if (step_has_sink_) DeliverLogits(chunks, logits_.data());  // before processing, in place
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ScheduledChunk& c = chunks[i];
    if (!c.wants_logits) continue;
    float* logits = logits_.data() + (logits_indptr_[i + 1] - 1) * static_cast<size_t>(num_vocab);
    picked_.push_back(PickRow(*c.seq, logits, Mask(i)));
  }
}

void Engine::DeliverLogits(const std::vector<ScheduledChunk>& chunks, const float* logits) {
  const size_t num_vocab = static_cast<size_t>(model_.config().num_vocab);
  for (size_t i = 0; i < chunks.size(); ++i) {
    Sequence& s = *chunks[i].seq;
    if (!s.request.logits_sink) continue;
    const int64_t end = s.num_computed + chunks[i].num_tokens;
    for (int32_t row = logits_indptr_[i]; row < logits_indptr_[i + 1]; ++row) {
      const int64_t pos = end - (logits_indptr_[i + 1] - row);
      s.request.logits_sink(pos, std::span<const float>(logits + row * num_vocab, num_vocab));
      s.next_logits_position = pos + 1;
    }
  }
}

void Engine::Update(const std::vector<ScheduledChunk>& chunks) {
  int64_t num_sampled = 0;
  size_t row_idx = 0;
  struct Finished {
    Sequence* seq;
    FinishReason reason;
    std::string error;
  };
  std::vector<Finished> finished;
  for (const ScheduledChunk& c : chunks) {
    Sequence& s = *c.seq;
    if (!c.wants_logits) continue;
    const SampledToken& token = picked_[row_idx++];
    const EngineRequest& r = s.request;
    const int32_t id = token.id;
    s.sampler.Accept(id);
    s.tokens.push_back(id);
    ++s.num_output;
    ++num_sampled;
    if (s.matcher && !s.matcher->Consume(id)) {
      // Unreachable while the grammar keeps its invariant (every allowed byte leads to a
      // complete match): the mask then always holds a token. Never a crash or invalid output.
      finished.push_back({&s, FinishReason::kError, "no token fits the request's grammar"});
      continue;
    }
    r.stream->Push(token);
    if (std::find(r.stop_ids.begin(), r.stop_ids.end(), id) != r.stop_ids.end() ||
        (s.matcher && s.matcher->IsTerminated())) {
      finished.push_back({&s, FinishReason::kStop, {}});
    } else if (s.num_output >= r.max_new_tokens ||
               static_cast<int64_t>(s.tokens.size()) >= max_seq_len_) {
      finished.push_back({&s, FinishReason::kLength, {}});
    }
  }
  for (Finished& f : finished) scheduler_.Finish(f.seq, f.reason, std::move(f.error));
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.num_generation_tokens += num_sampled;
}

void Engine::PublishStats() {
  const KvPool& pool = scheduler_.pool();
  int64_t used = 0;
  int64_t total = 0;
  for (int32_t g = 0; g < pool.num_groups(); ++g) {
    total += pool.num_blocks(g);
    used += pool.num_blocks(g) - pool.num_free_blocks(g);
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.num_running = scheduler_.num_running();
  stats_.kv_usage = total > 0 ? static_cast<double>(used) / static_cast<double>(total) : 0;
  stats_.num_preemptions = scheduler_.num_preemptions();
  stats_.num_prefix_queries = scheduler_.num_prefix_queries();
  stats_.num_prefix_hits = scheduler_.num_prefix_hits();
  stats_.heartbeat = std::chrono::steady_clock::now();
}

}  // namespace gs
