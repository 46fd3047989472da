#include "engine/request.h"

#include <utility>

namespace gs {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kError:
      return "error";
  }
  return "none";
}

void StreamSignal::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

bool StreamSignal::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool notified = cv_.wait_for(lock, timeout, [this] { return notified_; });
  notified_ = false;
  return notified;
}

void RequestStream::Push(const SampledToken& token) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.tokens.push_back(token);
    has_news_ = true;
  }
  signal_->Notify();
}

void RequestStream::Finish(FinishReason reason, std::string error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.finish = reason;
    pending_.error = std::move(error);
    has_news_ = true;
  }
  signal_->Notify();
}

void RequestStream::MarkScheduled(int64_t num_cached_tokens) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.scheduled_at = std::chrono::steady_clock::now();
    pending_.num_cached_tokens = num_cached_tokens;
    has_news_ = true;
  }
  signal_->Notify();
}

bool RequestStream::Take(RequestUpdate* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!has_news_) return false;
  *out = std::move(pending_);
  pending_ = RequestUpdate{};
  has_news_ = false;
  return true;
}

}  // namespace gs
