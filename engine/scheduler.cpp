#include "engine/scheduler.h"

#include <algorithm>

namespace gs {

Sequence::Sequence(EngineRequest r)
    : request(std::move(r)),
      tokens(request.prompt),
      num_prompt_tokens(static_cast<int64_t>(request.prompt.size())),
      sampler(request.sampling),
      next_logits_position(request.prompt_logits ? 0 : num_prompt_tokens - 1) {
  sampler.AddPromptTokens(tokens);
  if (request.grammar) matcher.emplace(request.grammar, request.token_trie.get());
}

Scheduler::Scheduler(KvPool pool, SchedulerOptions options)
    : pool_(std::move(pool)), options_(options) {}

void Scheduler::Add(std::unique_ptr<Sequence> seq) { waiting_.push_back(std::move(seq)); }

void Scheduler::Release(Sequence* seq) {
  if (seq->pool_seq_idx >= 0) pool_.FreeSequence(seq->pool_seq_idx);
  seq->pool_seq_idx = -1;
}

void Scheduler::DropCancelled() {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if ((*it)->request.stream->cancelled()) {
      if (!(*it)->ever_scheduled) ++num_newly_admitted_;  // it leaves the queue all the same
      (*it)->request.stream->Finish(FinishReason::kAbort);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<Sequence*> cancelled;
  for (const auto& s : running_) {
    if (s->request.stream->cancelled()) cancelled.push_back(s.get());
  }
  for (Sequence* s : cancelled) Finish(s, FinishReason::kAbort);
}

void Scheduler::Finish(Sequence* seq, FinishReason reason, std::string error) {
  Release(seq);
  seq->request.stream->Finish(reason, std::move(error));
  auto it = std::find_if(running_.begin(), running_.end(),
                         [seq](const auto& s) { return s.get() == seq; });
  GS_CHECK(it != running_.end());
  running_.erase(it);
}

void Scheduler::FinishAll(FinishReason reason, const std::string& error) {
  for (auto& s : running_) {
    Release(s.get());
    s->request.stream->Finish(reason, error);
  }
  for (auto& s : waiting_) s->request.stream->Finish(reason, error);
  running_.clear();
  waiting_.clear();
}

void Scheduler::Preempt(Sequence* seq) {
  Release(seq);
  seq->num_computed = 0;
  seq->num_registered_blocks = 0;
  ++num_preemptions_;
  auto it = std::find_if(running_.begin(), running_.end(),
                         [seq](const auto& s) { return s.get() == seq; });
  GS_CHECK(it != running_.end());
  waiting_.push_front(std::move(*it));
  running_.erase(it);
}

int32_t Scheduler::TakeNumNewlyAdmitted() {
  const int32_t n = num_newly_admitted_;
  num_newly_admitted_ = 0;
  return n;
}

std::vector<ScheduledChunk> Scheduler::Schedule() {
  std::vector<ScheduledChunk> chunks;
  int64_t budget = options_.max_num_batched_tokens;
  // Running sequences, oldest first. Victims of preemption are taken from the back, so a victim
  // has not been scheduled yet in this step (or is the sequence being scheduled).
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* seq = running_[i].get();
    const int64_t take =
        std::min<int64_t>(budget, static_cast<int64_t>(seq->tokens.size()) - seq->num_computed);
    pool_.ReleaseOutsideWindow(seq->pool_seq_idx, seq->num_computed);
    bool preempted_self = false;
    while (!pool_.Reserve(seq->pool_seq_idx, seq->num_computed + take)) {
      Sequence* victim = running_.back().get();
      preempted_self = victim == seq;
      Preempt(victim);
      if (preempted_self) break;
    }
    if (preempted_self) break;
    chunks.push_back({seq, static_cast<int32_t>(take),
                      seq->num_computed + take == static_cast<int64_t>(seq->tokens.size())});
    budget -= take;
    ++i;
  }
  // Then waiting sequences in arrival order while the budget, the pool and max_num_seqs allow.
  while (budget > 0 && !waiting_.empty() &&
         static_cast<int32_t>(running_.size()) < options_.max_num_seqs) {
    if (!Admit(waiting_.front().get(), budget, &chunks)) break;
    budget -= chunks.back().num_tokens;  // Admit added the sequence's chunk
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return chunks;
}

void Scheduler::UpdateBlockHashes(Sequence* seq) const {
  const size_t bs = static_cast<size_t>(pool_.block_size());
  while ((seq->block_hashes.size() + 1) * bs <= seq->tokens.size()) {
    const size_t i = seq->block_hashes.size();
    const BlockHash* parent = i > 0 ? &seq->block_hashes[i - 1] : nullptr;
    seq->block_hashes.push_back(
        HashBlock(parent, std::span<const int32_t>(seq->tokens).subspan(i * bs, bs)));
  }
}

bool Scheduler::Admit(Sequence* seq, int64_t budget, std::vector<ScheduledChunk>* chunks) {
  seq->pool_seq_idx = pool_.AddSequence();
  const int64_t num_tokens = static_cast<int64_t>(seq->tokens.size());
  int32_t num_cached_blocks = 0;
  if (pool_.prefix_caching() && !seq->request.prompt_logits) {
    UpdateBlockHashes(seq);
    // At least the last token is computed again: its logits are what the step is for.
    const int32_t max_blocks = static_cast<int32_t>((num_tokens - 1) / pool_.block_size());
    num_cached_blocks = pool_.MatchPrefix(seq->block_hashes, seq->tokens, max_blocks);
    pool_.AttachPrefix(seq->pool_seq_idx, seq->block_hashes, num_cached_blocks);
  }
  const int64_t num_cached = static_cast<int64_t>(num_cached_blocks) * pool_.block_size();
  const int64_t take = std::min<int64_t>(budget, num_tokens - num_cached);
  if (!pool_.Reserve(seq->pool_seq_idx, num_cached + take)) {
    Release(seq);
    return false;
  }
  seq->num_computed = num_cached;
  seq->num_registered_blocks = num_cached_blocks;
  if (pool_.prefix_caching() && !seq->request.prompt_logits) {
    num_prefix_queries_ += num_tokens;
    num_prefix_hits_ += num_cached;
  }
  if (!seq->ever_scheduled) {
    seq->ever_scheduled = true;
    ++num_newly_admitted_;
    seq->request.stream->MarkScheduled(num_cached);
  }
  chunks->push_back({seq, static_cast<int32_t>(take), num_cached + take == num_tokens});
  return true;
}

int64_t Scheduler::Commit(const std::vector<ScheduledChunk>& chunks) {
  int64_t num_prompt_tokens = 0;
  for (const ScheduledChunk& c : chunks) {
    Sequence& s = *c.seq;
    num_prompt_tokens += std::max<int64_t>(
        0, std::min<int64_t>(s.num_computed + c.num_tokens, s.num_prompt_tokens) - s.num_computed);
    s.num_computed += c.num_tokens;
    if (!pool_.prefix_caching()) continue;
    UpdateBlockHashes(&s);
    const int32_t num_full = static_cast<int32_t>(s.num_computed / pool_.block_size());
    pool_.RegisterBlocks(s.pool_seq_idx, s.block_hashes, s.tokens, s.num_registered_blocks,
                         num_full);
    s.num_registered_blocks = std::max(s.num_registered_blocks, num_full);
  }
  return num_prompt_tokens;
}

}  // namespace gs
