#include "kernels/cpu/thread_pool.h"

#include <algorithm>

namespace gs::cpu {
namespace {

// Spin this many times (tens of microseconds) before sleeping on a futex: long enough that
// back-to-back ops never pay a wake-up, short enough that a pool sharing its cores with other
// processes (ctest -j, a compiler) hands the core over instead of burning its time slice.
constexpr int kSpinIterations = 4096;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0)
    num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::WorkerLoop(int thread_idx) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      CpuRelax();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = gen;
    if (stop_.load()) return;
    (*job_)(thread_idx);
    if (num_pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) num_pending_.notify_all();
  }
}

void ThreadPool::Run(const std::function<void(int)>& fn) {
  if (num_threads_ == 1) {
    fn(0);
    return;
  }
  job_ = &fn;
  num_pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  fn(0);
  for (int spin = 0;; ++spin) {
    const int pending = num_pending_.load(std::memory_order_acquire);
    if (pending == 0) break;
    if (spin < kSpinIterations) {
      CpuRelax();
    } else {
      num_pending_.wait(pending, std::memory_order_acquire);
    }
  }
}

void ThreadPool::ParallelFor(int64_t num_items, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (num_items <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (num_threads_ == 1 || num_items <= grain) {
    fn(0, num_items);
    return;
  }
  // Chunks: several per thread so a slow thread (the other core busy) does not hold everyone up.
  const int64_t num_chunks_target = static_cast<int64_t>(num_threads_) * 4;
  const int64_t chunk = std::max(grain, (num_items + num_chunks_target - 1) / num_chunks_target);
  std::atomic<int64_t> next{0};
  Run([&](int) {
    for (;;) {
      const int64_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
      if (begin >= num_items) return;
      fn(begin, std::min(num_items, begin + chunk));
    }
  });
}

}  // namespace gs::cpu
