// RpcStats: how long the coordinator takes to answer each RPC, as
// Prometheus histograms (anifarm_rpc_seconds). The gRPC service times every
// call with an RpcTimer; the dashboard's /metrics renders them.
#ifndef ANIFARM_COORDINATOR_RPC_STATS_H_
#define ANIFARM_COORDINATOR_RPC_STATS_H_

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace anifarm {

class RpcStats {
 public:
  // Upper bounds of the histogram buckets, in seconds (+Inf implied).
  static constexpr std::array<double, 8> kBuckets = {0.001, 0.0025, 0.01, 0.025,
                                                     0.1,   0.25,   1.0,  5.0};

  void Record(const std::string& method, double seconds);
  // Prometheus text exposition of every method seen so far.
  std::string PrometheusText() const;

 private:
  struct Histogram {
    std::array<int64_t, kBuckets.size()> buckets{};  // cumulative on output only
    int64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, Histogram> methods_;  // guarded by mu_
};

// Records the lifetime of a scope as one call of `method`.
class RpcTimer {
 public:
  RpcTimer(RpcStats* stats, const char* method)
      : stats_(stats), method_(method), start_(std::chrono::steady_clock::now()) {}
  ~RpcTimer() {
    stats_->Record(method_, std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                          start_)
                                .count());
  }
  RpcTimer(const RpcTimer&) = delete;
  RpcTimer& operator=(const RpcTimer&) = delete;

 private:
  RpcStats* stats_;
  const char* method_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_RPC_STATS_H_
