#include "node/worker_threads.h"

#include <algorithm>

namespace anifarm {

WorkerThreads::WorkerThreads(int threads) {
  const int count = std::max(1, threads);
  threads_.reserve(count);
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerThreads::~WorkerThreads() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(jobs_);
  }
  job_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
  // `dropped` goes last, outside the lock: destroying an unrun task breaks
  // its promise, which wakes whoever waits on it.
}

void WorkerThreads::Loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      job_ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace anifarm
