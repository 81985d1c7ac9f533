// WorkerThreads: a fixed set of threads that run submitted jobs, each job's
// result coming back through a std::future.
//
// The node's upscale stage uses it to keep several frames in flight on one
// device: while one frame is copied to or from a GPU, or converted on the
// host, another one's kernels run. Each thread keeps its own device state
// (LibTorch's current CUDA stream is per thread, so the engine gives every
// thread a stream of its own). Results are waited for in whatever order the
// caller needs; the pipeline waits in frame order.
//
// The destructor drops the jobs that have not started (their futures then
// report std::future_errc::broken_promise) and waits for the running ones:
// a failed pipeline stops without upscaling the rest of its queue.
#ifndef ANIFARM_NODE_WORKER_THREADS_H_
#define ANIFARM_NODE_WORKER_THREADS_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace anifarm {

class WorkerThreads {
 public:
  // At least one thread.
  explicit WorkerThreads(int threads);
  ~WorkerThreads();
  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }

  // Queues `job` for the next free thread. An exception the job throws
  // comes out of the future's get().
  template <typename Job>
  std::future<std::invoke_result_t<Job>> Submit(Job job) {
    using Result = std::invoke_result_t<Job>;
    // std::function needs a copyable callable; the task itself is move-only.
    auto task = std::make_shared<std::packaged_task<Result()>>(std::move(job));
    std::future<Result> result = task->get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.emplace_back([task] { (*task)(); });
    }
    job_ready_.notify_one();
    return result;
  }

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable job_ready_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace anifarm

#endif  // ANIFARM_NODE_WORKER_THREADS_H_
