#include "server/task_queue.h"

namespace gs {
namespace {

thread_local bool on_overflow_thread = false;

}  // namespace

bool OnOverflowThread() { return on_overflow_thread; }

BoundedTaskQueue::BoundedTaskQueue(int num_workers, int max_queued, int num_overflow_workers)
    : max_queued_(static_cast<size_t>(max_queued)) {
  Start(&workers_, num_workers, false);
  Start(&overflow_, num_overflow_workers, true);
}

BoundedTaskQueue::~BoundedTaskQueue() { shutdown(); }

void BoundedTaskQueue::Start(Pool* pool, int num_threads, bool overflow) {
  for (int i = 0; i < num_threads; ++i) pool->threads.emplace_back(Work, pool, overflow);
  // Return only once every thread waits for work. Otherwise a job enqueued at once (the server
  // accepts right after making the pool) finds no idle worker and overflows into a 503.
  std::unique_lock<std::mutex> lock(pool->mu);
  pool->idle_cv.wait(lock, [&] { return pool->num_idle >= num_threads; });
}

void BoundedTaskQueue::Work(Pool* pool, bool overflow) {
  on_overflow_thread = overflow;
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(pool->mu);
      ++pool->num_idle;
      pool->idle_cv.notify_all();
      pool->cv.wait(lock, [pool] { return pool->stopping || !pool->jobs.empty(); });
      --pool->num_idle;
      if (pool->jobs.empty()) return;  // stopping, and nothing left to run
      job = std::move(pool->jobs.front());
      pool->jobs.pop_front();
    }
    job();
  }
}

void BoundedTaskQueue::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(workers_.mu);
    // Room when an idle worker will take it, or the queue has space left.
    if (!workers_.stopping &&
        workers_.jobs.size() < static_cast<size_t>(workers_.num_idle) + max_queued_) {
      workers_.jobs.push_back(std::move(fn));
      workers_.cv.notify_one();
      return;
    }
  }
  // Overflow jobs only read a request and answer 503 (or /health): each is short, and the socket
  // the job owns must be closed by running it, so it is never dropped.
  std::lock_guard<std::mutex> lock(overflow_.mu);
  overflow_.jobs.push_back(std::move(fn));
  overflow_.cv.notify_one();
}

void BoundedTaskQueue::Stop(Pool* pool) {
  {
    std::lock_guard<std::mutex> lock(pool->mu);
    if (pool->stopping && pool->threads.empty()) return;
    pool->stopping = true;
  }
  pool->cv.notify_all();
  for (std::thread& t : pool->threads) t.join();
  pool->threads.clear();
}

void BoundedTaskQueue::shutdown() {
  Stop(&workers_);
  Stop(&overflow_);
}

}  // namespace gs
