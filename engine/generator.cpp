#include "engine/generator.h"

#include <algorithm>
#include <chrono>

namespace gs {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

StatusOr<std::unique_ptr<Generator>> Generator::Create(const Model& model, Backend& backend,
                                                       const KvBudget& options) {
  // max_batch_tokens is the prefill chunk: tokens per forward step.
  KvBudget budget = options;
  budget.slot_bytes = BackendSlotBytes(backend);
  StatusOr<KvPlan> plan = PlanKv(model.config(), budget);
  if (!plan.ok()) return plan.status();
  GS_RETURN_IF_ERROR(backend.AllocateKv(plan->layout));
  return std::unique_ptr<Generator>(
      new Generator(model, backend, options, std::move(plan->pool), plan->max_seq_len));
}

Generator::Generator(const Model& model, Backend& backend, const KvBudget& options,
                     KvPoolConfig pool_config, int64_t max_seq_len)
    : model_(model),
      backend_(backend),
      options_(options),
      pool_(std::move(pool_config)),
      max_seq_len_(max_seq_len) {}

int32_t Generator::AddSequence() {
  const int32_t id = pool_.AddSequence();
  if (static_cast<size_t>(id) >= seq_lens_.size()) seq_lens_.resize(id + 1);
  seq_lens_[id] = 0;
  return id;
}

void Generator::RemoveSequence(int32_t seq_idx) { pool_.FreeSequence(seq_idx); }

void Generator::BuildBatch(int32_t seq_idx, std::span<const int32_t> tokens, bool want_logits) {
  const int64_t start = seq_lens_[seq_idx];
  const int32_t n = static_cast<int32_t>(tokens.size());
  Batch& b = batch_;
  b.token_ids.assign(tokens.begin(), tokens.end());
  b.positions.resize(n);
  for (int32_t i = 0; i < n; ++i) b.positions[i] = static_cast<int32_t>(start + i);
  b.query_start = {0, n};
  b.seq_lens = {static_cast<int32_t>(start + n)};
  b.logits_rows.clear();
  if (want_logits) b.logits_rows.push_back(n - 1);
  b.embed_rows.clear();
  b.embed_values.clear();
  b.kv_groups.resize(pool_.num_groups());
  for (int32_t g = 0; g < pool_.num_groups(); ++g) {
    KvGroupBatch& kg = b.kv_groups[g];
    const std::vector<int32_t>& table = pool_.Table(seq_idx, g);
    kg.block_indptr = {0, static_cast<int32_t>(table.size())};
    kg.block_ids.assign(table.begin(), table.end());
    kg.slot_mapping.resize(n);
    for (int32_t i = 0; i < n; ++i) kg.slot_mapping[i] = pool_.Slot(seq_idx, g, start + i);
  }
}

Status Generator::Extend(int32_t seq_idx, std::span<const int32_t> tokens, float* last_logits) {
  const int32_t num_vocab = model_.config().num_vocab;
  for (int32_t id : tokens) {
    if (id < 0 || id >= num_vocab)
      return Status::Error("token id " + std::to_string(id) + " is out of range");
  }
  if (seq_lens_[seq_idx] + static_cast<int64_t>(tokens.size()) > max_seq_len_) {
    return Status::Error("sequence of " + std::to_string(seq_lens_[seq_idx] + tokens.size()) +
                         " tokens exceeds the maximum of " + std::to_string(max_seq_len_));
  }
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min<size_t>(options_.max_batch_tokens, tokens.size() - done);
    const int64_t start = seq_lens_[seq_idx];
    pool_.ReleaseOutsideWindow(seq_idx, start);
    if (!pool_.Reserve(seq_idx, start + static_cast<int64_t>(n))) {
      return Status::Error("the KV cache is full");
    }
    // Only the last step's last row needs logits, and only when the caller asked: earlier
    // chunks of a long prompt skip the vocabulary projection.
    const bool last_step = done + n == tokens.size();
    BuildBatch(seq_idx, tokens.subspan(done, n), last_step && last_logits != nullptr);
    model_.Forward(batch_, backend_, last_logits);
    seq_lens_[seq_idx] = start + static_cast<int64_t>(n);
    done += n;
  }
  return Status::Ok();
}

StatusOr<GenerationStats> Generator::Run(std::span<const int32_t> prompt, Sampler& sampler,
                                         int64_t max_new_tokens, std::span<const int32_t> stop_ids,
                                         const std::function<bool(int32_t)>& on_token) {
  if (prompt.empty()) return Status::Error("the prompt is empty");
  const int32_t num_vocab = model_.config().num_vocab;
  std::vector<float> logits(num_vocab);
  GenerationStats stats;
  const int32_t seq = AddSequence();
  double t0 = Now();
  Status status = Extend(seq, prompt, logits.data());
  stats.num_prompt_tokens = static_cast<int64_t>(prompt.size());
  stats.prompt_seconds = Now() - t0;
  t0 = Now();
  while (status.ok() && stats.num_generated < max_new_tokens) {
    const int32_t token = sampler.Sample(logits.data(), num_vocab);
    ++stats.num_generated;
    const bool stop = std::find(stop_ids.begin(), stop_ids.end(), token) != stop_ids.end();
    if (!on_token(token) || stop || stats.num_generated == max_new_tokens) break;
    if (SeqLen(seq) + 1 > max_seq_len_) break;  // context full: "length"
    status = Extend(seq, std::span<const int32_t>(&token, 1), logits.data());
  }
  stats.generate_seconds = Now() - t0;
  RemoveSequence(seq);
  if (!status.ok()) return status;
  return stats;
}

}  // namespace gs
