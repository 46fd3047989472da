// The HTTP server's worker pool, replacing cpp-httplib 0.11.4's, whose job queue is unbounded
//. A connection that finds every worker busy and the queue full is
// handed to a small overflow pool instead, where OnOverflowThread() is true: the server answers
// it at once with 503 and Retry-After (or serves /health), so overload is refused fast and a
// health probe is answered even when every worker holds a long stream.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gs {

bool OnOverflowThread();

class BoundedTaskQueue : public httplib::TaskQueue {
 public:
  BoundedTaskQueue(int num_workers, int max_queued, int num_overflow_workers);
  ~BoundedTaskQueue() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  struct Pool {
    std::mutex mu;
    std::condition_variable cv;
    std::condition_variable idle_cv;  // a thread became idle
    std::deque<std::function<void()>> jobs;
    std::vector<std::thread> threads;
    int num_idle = 0;
    bool stopping = false;
  };
  static void Work(Pool* pool, bool overflow);
  static void Start(Pool* pool, int num_threads, bool overflow);
  static void Stop(Pool* pool);

  const size_t max_queued_;
  Pool workers_;
  Pool overflow_;
};

}  // namespace gs
