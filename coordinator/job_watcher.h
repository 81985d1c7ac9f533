// JobWatcher: turns snapshots of a job (its status and chunk map) into the
// events WatchJob streams: chunk started / finished / requeued, progress
// with a frame rate and an ETA, and the final event. It polls the
// Coordinator; the caller decides how often (the gRPC service, twice a
// second; `anifarm run`, the same in-process).
#ifndef ANIFARM_COORDINATOR_JOB_WATCHER_H_
#define ANIFARM_COORDINATOR_JOB_WATCHER_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/coordinator.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

class JobWatcher {
 public:
  JobWatcher(Coordinator* coordinator, std::string job_id)
      : coordinator_(coordinator), job_id_(std::move(job_id)) {}

  // Events since the last call (possibly none). NotFound for an unknown
  // job. After a JOB_FINISHED event, finished() is true.
  absl::StatusOr<std::vector<v1::JobEvent>> Poll();
  bool finished() const { return finished_; }

 private:
  using Clock = std::chrono::steady_clock;

  Coordinator* coordinator_;  // not owned
  std::string job_id_;
  std::map<int32_t, v1::ChunkState> chunk_states_;
  bool first_poll_ = true;
  bool finished_ = false;
  Clock::time_point started_;
  int64_t frames_at_start_ = 0;
  int64_t last_frames_ = -1;
  int32_t last_state_ = -1;
  Clock::time_point last_progress_;
};

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_JOB_WATCHER_H_
