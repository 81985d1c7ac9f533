// StallCheck: no job waits in silence. A RUNNING job whose queued chunks
// no live node may ever lease fails, once that has lasted a grace period,
// with one line naming the chunk, the reason and every live node's
// obstacle, e.g.
//   chunk 3: no live node can take it: node-a blocklisted for this job
//   (3 failures), node-b lacks architecture DAT
// A chunk can never be leased when every live node is blocklisted for the
// job or lacks what it needs (the lease conditions of JobStore::NodeFits:
// memory, model format, architecture, native precision), when it failed on
// `chunk_failure_nodes` nodes, or when it shows pictures of a chunk
// (chunk_deps) that can never be done. With no live node at all nothing
// fails (nodes may be starting, or the coordinator just restarted): the
// job's error line says "waiting: no live node" until one shows up. While a
// stuck job is within its grace period its line says "waiting: " and why.
//
// The runner thread (coordinator.h) runs one pass per wake-up; SubmitJob
// uses NoLiveNodeFits to fail at once a job no live node could ever take.
#ifndef ANIFARM_COORDINATOR_STALL_CHECK_H_
#define ANIFARM_COORDINATOR_STALL_CHECK_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "coordinator/job_store.h"

namespace anifarm {

struct StallPolicy {
  // A node seen within this long is alive (one lease timeout: what leases
  // and failures count as alive too).
  int64_t live_seconds = 60;
  // How long a job may stay stuck before it fails: long enough for a farm
  // that just restarted to see all its nodes again.
  int64_t grace_seconds = 120;
  // A chunk that failed on this many nodes is never done.
  int chunk_failure_nodes = 3;
};

// The start of the error line of a RUNNING job that waits (and of nothing
// else, so the check only ever clears its own lines).
inline constexpr char kWaitingPrefix[] = "waiting: ";

struct StallVerdict {
  enum class Kind { kMoving, kNoLiveNode, kStuck };
  Kind kind = Kind::kMoving;
  std::string line;  // kNoLiveNode: the waiting line; kStuck: why (the job's error)
};

// "" when `nodes` is empty or one of them may lease the job's chunks;
// otherwise each node with what stops it ("node-a blocklisted for this job
// (3 failures), node-b lacks model format ncnn").
std::string NoLiveNodeFits(const std::vector<NodeFit>& nodes, const JobRecord& job);

// The verdict on one job from what the store knows (pure).
StallVerdict JudgeStall(const StallFacts& facts, const StallPolicy& policy);

class StallCheck {
 public:
  explicit StallCheck(const StallPolicy& policy) : policy_(policy) {}

  // One pass over the RUNNING jobs at `now` (seconds): a job stuck since at
  // least grace_seconds goes to FAILED with its line; waiting lines are
  // written and cleared. Jobs that changed state meanwhile are left alone
  // (every write is conditional on RUNNING). Not thread-safe: one caller.
  absl::Status Run(JobStore* store, int64_t now);

 private:
  const StallPolicy policy_;
  std::map<std::string, int64_t> stuck_since_;  // job id -> first seen stuck
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_STALL_CHECK_H_
