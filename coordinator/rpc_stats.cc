#include "coordinator/rpc_stats.h"

#include "absl/strings/str_cat.h"

namespace anifarm {

void RpcStats::Record(const std::string& method, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  Histogram& h = methods_[method];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
  ++h.count;
  h.sum += seconds;
}

std::string RpcStats::PrometheusText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out =
      "# HELP anifarm_rpc_seconds Time the coordinator took to answer each RPC.\n"
      "# TYPE anifarm_rpc_seconds histogram\n";
  for (const auto& [method, h] : methods_) {
    int64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      absl::StrAppend(&out, "anifarm_rpc_seconds_bucket{method=\"", method, "\",le=\"",
                      kBuckets[i], "\"} ", cumulative, "\n");
    }
    absl::StrAppend(&out, "anifarm_rpc_seconds_bucket{method=\"", method, "\",le=\"+Inf\"} ",
                    h.count, "\n", "anifarm_rpc_seconds_sum{method=\"", method, "\"} ", h.sum,
                    "\n", "anifarm_rpc_seconds_count{method=\"", method, "\"} ", h.count, "\n");
  }
  return out;
}

}  // namespace anifarm
