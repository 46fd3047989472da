#include "engine/scheduler.h"

#include <algorithm>

namespace gs {

Sequence::Sequence(EngineRequest r)
    : request(std::move(r)),
      tokens(request.prompt),
      num_prompt_tokens(static_cast<int64_t>(request.prompt.size())),
      sampler(request.sampling) {
  sampler.AddPromptTokens(tokens);
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
    Sequence* seq = waiting_.front().get();
    const int64_t take = std::min<int64_t>(budget, static_cast<int64_t>(seq->tokens.size()));
    seq->pool_seq_idx = pool_.AddSequence();
    if (!pool_.Reserve(seq->pool_seq_idx, take)) {
      Release(seq);
      break;
    }
    if (!seq->ever_scheduled) {
      seq->ever_scheduled = true;
      ++num_newly_admitted_;
      seq->request.stream->MarkScheduled(0);
    }
    chunks.push_back({seq, static_cast<int32_t>(take),
                      take == static_cast<int64_t>(seq->tokens.size())});
    budget -= take;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return chunks;
}

}  // namespace gs
