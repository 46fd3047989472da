// A fork-join pool for the CPU backend: the calling thread runs a share of every job; workers and
// the caller spin briefly and then sleep on a futex (std::atomic::wait). Decode issues ~100 small
// parallel ops per token, so waking a sleeping thread for each would cost more than the op; but
// spinning without end starves a thread that shares its core with another process.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace gs::cpu {

class ThreadPool {
 public:
  // num_threads includes the caller; 0 means one per hardware thread.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Runs fn(thread_idx) once on each of the num_threads() threads and returns when all have.
  void Run(const std::function<void(int thread_idx)>& fn);

  // Splits [0, num_items) into contiguous ranges, `grain` items or more each, and runs
  // fn(begin, end) on them across the pool. Ranges are handed out dynamically.
  void ParallelFor(int64_t num_items, int64_t grain,
                   const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void WorkerLoop(int thread_idx);

  int num_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // bumped once per Run; workers wait for a change
  std::atomic<int> num_pending_{0};      // workers still running the current job
  std::atomic<bool> stop_{false};
};

}  // namespace gs::cpu
