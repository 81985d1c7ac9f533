#include "node/worker_threads.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace anifarm {
namespace {

using std::chrono::milliseconds;

TEST(WorkerThreadsTest, ResultsComeBackThroughTheirOwnFutures) {
  WorkerThreads workers(3);
  EXPECT_EQ(workers.size(), 3);
  std::vector<std::future<int>> results;
  // Later jobs finish first, yet every future holds its own job's value.
  for (int i = 0; i < 9; ++i) {
    results.push_back(workers.Submit([i] {
      std::this_thread::sleep_for(milliseconds(3 * (9 - i)));
      return i * i;
    }));
  }
  for (int i = 0; i < 9; ++i) EXPECT_EQ(results[i].get(), i * i);
}

// Two jobs that each wait for the other to have started can only both
// finish on two threads at once.
TEST(WorkerThreadsTest, JobsRunSideBySide) {
  WorkerThreads workers(2);
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  auto meet = [&] {
    std::unique_lock<std::mutex> lock(mu);
    ++started;
    cv.notify_all();
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return started == 2; });
  };
  std::future<bool> a = workers.Submit(meet);
  std::future<bool> b = workers.Submit(meet);
  EXPECT_TRUE(a.get());
  EXPECT_TRUE(b.get());
}

TEST(WorkerThreadsTest, AJobsExceptionComesOutOfItsFuture) {
  WorkerThreads workers(1);
  std::future<int> failing = workers.Submit([]() -> int { throw std::runtime_error("tile 3 failed"); });
  std::future<int> next = workers.Submit([] { return 7; });
  try {
    failing.get();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "tile 3 failed");
  }
  EXPECT_EQ(next.get(), 7);  // the thread lives on
}

// A failed pipeline drops its queue: the running job finishes, the others
// never start, and their futures say so instead of blocking for ever.
TEST(WorkerThreadsTest, DestroyingDropsJobsNotStartedAndFinishesTheRunningOne) {
  std::atomic<int> ran{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> first_started;
  std::vector<std::future<void>> futures;
  std::thread releaser;
  {
    WorkerThreads workers(1);
    futures.push_back(workers.Submit([&] {
      first_started.set_value();
      released.wait();
      ++ran;
    }));
    for (int i = 0; i < 4; ++i) futures.push_back(workers.Submit([&] { ++ran; }));
    first_started.get_future().wait();
    // Long after the destructor below has taken the queue.
    releaser = std::thread([&] {
      std::this_thread::sleep_for(milliseconds(300));
      release.set_value();
    });
  }  // waits for the first job, drops the other four
  releaser.join();
  EXPECT_EQ(ran.load(), 1);
  futures[0].get();
  for (size_t i = 1; i < futures.size(); ++i) {
    try {
      futures[i].get();
      ADD_FAILURE() << "job " << i << " ran";
    } catch (const std::future_error& e) {
      EXPECT_EQ(e.code(), std::future_errc::broken_promise);
    }
  }
}

}  // namespace
}  // namespace anifarm
