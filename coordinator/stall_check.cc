#include "coordinator/stall_check.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace anifarm {
namespace {

std::string Mib(int64_t bytes) { return absl::StrCat((bytes + (1 << 20) - 1) >> 20, " MiB"); }

// What stops one node, "" when nothing does.
std::string Obstacles(const NodeFit& node, const JobRecord& job) {
  std::vector<std::string> reasons;
  if (node.blocklisted) {
    reasons.push_back(
        absl::StrCat("blocklisted for this job (", node.failures_in_job, " failures)"));
  }
  if (!node.runs_format) reasons.push_back(absl::StrCat("lacks model format ", job.model_format));
  if (!node.knows_architecture) {
    reasons.push_back(absl::StrCat("lacks architecture ", job.architecture));
  }
  if (!node.computes_precision) {
    // Only while another live node computes it natively (kComputesPrecision).
    reasons.push_back(absl::StrCat("lacks native ", job.settings.precision()));
  }
  if (!node.fits_memory) {
    reasons.push_back(absl::StrCat("lacks memory (has ", Mib(node.memory_bytes),
                                   ", the model needs ", Mib(job.memory_bytes), ")"));
  }
  return absl::StrJoin(reasons, " and ");
}

// Why a queued chunk can never be leased, found by following its sources.
class DeadChunks {
 public:
  DeadChunks(const StallFacts& facts, const StallPolicy& policy, std::string no_node)
      : facts_(facts), policy_(policy), no_node_(std::move(no_node)) {
    for (const ChunkRecord& chunk : facts.chunks) chunks_[chunk.index] = &chunk;
    for (const auto& [chunk, source] : facts.deps) sources_[chunk].push_back(source);
  }

  struct Root {
    int32_t chunk = -1;  // the chunk that can never be done
    std::string line;
  };
  // The root cause that keeps queued `chunk` from ever being leased.
  std::optional<Root> Of(int32_t chunk) {
    if (auto it = memo_.find(chunk); it != memo_.end()) return it->second;
    if (!visiting_.insert(chunk).second) {
      return Root{chunk, absl::StrCat("chunk ", chunk, " waits for itself (a loop in chunk_deps)")};
    }
    std::optional<Root> root = Own(chunk);
    auto sources = sources_.find(chunk);
    for (size_t i = 0; !root && sources != sources_.end() && i < sources->second.size(); ++i) {
      const int32_t source = sources->second[i];
      auto found = chunks_.find(source);
      if (found == chunks_.end()) {
        root = Root{chunk, absl::StrCat("chunk ", chunk, " waits for chunk ", source,
                                        ", which the plan does not have")};
      } else if (found->second->state == ChunkState::kQueued) {
        // Done sources are met and a leased one is being worked on; a
        // queued one must itself be leasable some day.
        root = Of(source);
      }
    }
    visiting_.erase(chunk);
    memo_[chunk] = root;
    return root;
  }

 private:
  std::optional<Root> Own(int32_t chunk) {
    if (auto it = facts_.failures.find(chunk);
        it != facts_.failures.end() && it->second.nodes >= policy_.chunk_failure_nodes) {
      return Root{chunk, absl::StrCat("chunk ", chunk, " failed on ", it->second.nodes,
                                      " nodes (", it->second.errors, ")")};
    }
    if (!no_node_.empty()) {
      return Root{chunk, absl::StrCat("chunk ", chunk, ": no live node can take it: ", no_node_)};
    }
    return std::nullopt;
  }

  const StallFacts& facts_;
  const StallPolicy& policy_;
  const std::string no_node_;
  std::map<int32_t, const ChunkRecord*> chunks_;
  std::map<int32_t, std::vector<int32_t>> sources_;
  std::map<int32_t, std::optional<Root>> memo_;
  std::set<int32_t> visiting_;
};

}  // namespace

std::string NoLiveNodeFits(const std::vector<NodeFit>& nodes, const JobRecord& job) {
  std::vector<std::string> parts;
  for (const NodeFit& node : nodes) {
    if (node.CanLease()) return "";
    parts.push_back(absl::StrCat(node.node_id, " ", Obstacles(node, job)));
  }
  return absl::StrJoin(parts, ", ");
}

StallVerdict JudgeStall(const StallFacts& facts, const StallPolicy& policy) {
  std::vector<int32_t> queued;
  for (const ChunkRecord& chunk : facts.chunks) {
    if (chunk.state == ChunkState::kQueued) queued.push_back(chunk.index);
  }
  StallVerdict verdict;
  if (queued.empty()) return verdict;
  if (facts.live_nodes.empty()) {
    verdict.kind = StallVerdict::Kind::kNoLiveNode;
    verdict.line = absl::StrCat(kWaitingPrefix, "no live node");
    return verdict;
  }
  DeadChunks dead(facts, policy, NoLiveNodeFits(facts.live_nodes, facts.job));
  std::optional<DeadChunks::Root> first;
  std::vector<int32_t> waiting;  // queued chunks held up by the first root
  for (int32_t chunk : queued) {
    std::optional<DeadChunks::Root> root = dead.Of(chunk);
    if (!root) continue;
    if (!first) first = root;
    if (root->chunk == first->chunk && chunk != first->chunk) waiting.push_back(chunk);
  }
  if (!first) return verdict;
  verdict.kind = StallVerdict::Kind::kStuck;
  verdict.line = first->line;
  if (!waiting.empty()) {
    constexpr size_t kNamed = 5;
    std::vector<int32_t> named(waiting.begin(),
                               waiting.begin() + std::min(kNamed, waiting.size()));
    absl::StrAppend(&verdict.line, "; chunk", waiting.size() > 1 ? "s " : " ",
                    absl::StrJoin(named, ", "),
                    waiting.size() > kNamed ? absl::StrCat(" and ", waiting.size() - kNamed,
                                                           " more")
                                            : "",
                    waiting.size() > 1 ? " wait" : " waits", " for it");
  }
  return verdict;
}

absl::Status StallCheck::Run(JobStore* store, int64_t now) {
  ASSIGN_OR_RETURN(std::vector<std::string> ids, store->JobIdsInState(v1::JOB_RUNNING));
  const std::set<std::string> running(ids.begin(), ids.end());
  // Paused, cancelled or finished meanwhile: their clock starts again.
  for (auto it = stuck_since_.begin(); it != stuck_since_.end();) {
    it = running.count(it->first) ? std::next(it) : stuck_since_.erase(it);
  }
  for (const std::string& id : ids) {
    absl::StatusOr<StallFacts> facts = store->StallFactsFor(id, now - policy_.live_seconds);
    if (!facts.ok()) continue;  // e.g. deleted meanwhile; the next pass sees
    const StallVerdict verdict = JudgeStall(*facts, policy_);
    std::string line;  // the RUNNING job's error line from now on
    if (verdict.kind != StallVerdict::Kind::kStuck) stuck_since_.erase(id);
    if (verdict.kind == StallVerdict::Kind::kNoLiveNode) line = verdict.line;
    if (verdict.kind == StallVerdict::Kind::kStuck) {
      const int64_t since = stuck_since_.emplace(id, now).first->second;
      if (now - since >= policy_.grace_seconds) {
        ASSIGN_OR_RETURN(bool failed,
                         store->TransitionJob(id, v1::JOB_RUNNING, v1::JOB_FAILED, verdict.line));
        if (failed) spdlog::warn("job {} failed: {}", id, verdict.line);
        stuck_since_.erase(id);
        continue;
      }
      line = absl::StrCat(kWaitingPrefix, verdict.line);
    }
    const std::string& current = facts->job.error;
    // Only the check's own lines are replaced (or cleared).
    if (current != line && (current.empty() || absl::StartsWith(current, kWaitingPrefix))) {
      RETURN_IF_ERROR(store->TransitionJob(id, v1::JOB_RUNNING, v1::JOB_RUNNING, line).status());
    }
  }
  return absl::OkStatus();
}

}  // namespace anifarm
