#include "coordinator/job_watcher.h"

#include <cmath>

#include "common/status_macros.h"

namespace anifarm {
namespace {

bool IsFinal(v1::JobState state) {
  return state == v1::JOB_DONE || state == v1::JOB_FAILED || state == v1::JOB_CANCELLED;
}

}  // namespace

absl::StatusOr<std::vector<v1::JobEvent>> JobWatcher::Poll() {
  std::vector<v1::JobEvent> events;
  if (finished_) return events;
  ASSIGN_OR_RETURN(v1::JobStatus job, coordinator_->GetJob(job_id_));
  ASSIGN_OR_RETURN(std::vector<v1::ChunkInfo> chunks, coordinator_->ListChunks(job_id_));
  const Clock::time_point now = Clock::now();
  if (first_poll_) {
    started_ = now;
    frames_at_start_ = job.frames_upscaled();
  }
  // The rate counts only frames upscaled while we watch, so a job resumed
  // after a restart does not show an inflated speed.
  const double seconds = std::chrono::duration<double>(now - started_).count();
  const int64_t new_frames = job.frames_upscaled() - frames_at_start_;
  const double fps = seconds > 0.5 && new_frames > 0 ? new_frames / seconds : 0.0;
  const int64_t remaining = job.unique_frames() - job.frames_upscaled();
  const int64_t eta =
      fps > 0 ? static_cast<int64_t>(std::ceil(remaining / fps)) : (remaining == 0 ? 0 : -1);
  auto make = [&](v1::JobEvent::Kind kind) {
    v1::JobEvent event;
    event.set_kind(kind);
    *event.mutable_job() = job;
    event.set_fps(fps);
    event.set_eta_seconds(eta);
    return event;
  };

  for (const v1::ChunkInfo& chunk : chunks) {
    auto it = chunk_states_.find(chunk.chunk_index());
    const bool known = it != chunk_states_.end();
    const v1::ChunkState before = known ? it->second : v1::CHUNK_QUEUED;
    chunk_states_[chunk.chunk_index()] = chunk.state();
    if (first_poll_ && chunk.state() != v1::CHUNK_LEASED) continue;
    if (known && before == chunk.state()) continue;
    v1::JobEvent::Kind kind = v1::JobEvent::KIND_UNSPECIFIED;
    if (chunk.state() == v1::CHUNK_LEASED) kind = v1::JobEvent::CHUNK_STARTED;
    if (chunk.state() == v1::CHUNK_DONE && known) kind = v1::JobEvent::CHUNK_FINISHED;
    if (chunk.state() == v1::CHUNK_QUEUED && known && before == v1::CHUNK_LEASED) {
      kind = v1::JobEvent::CHUNK_REQUEUED;
    }
    if (kind == v1::JobEvent::KIND_UNSPECIFIED) continue;
    v1::JobEvent event = make(kind);
    *event.mutable_chunk() = chunk;
    events.push_back(std::move(event));
  }

  const bool moved = job.frames_upscaled() != last_frames_ || job.state() != last_state_;
  if (IsFinal(job.state())) {
    events.push_back(make(v1::JobEvent::JOB_FINISHED));
    finished_ = true;
  } else if (first_poll_ || moved || now - last_progress_ >= std::chrono::seconds(2)) {
    events.push_back(make(v1::JobEvent::PROGRESS));
    last_progress_ = now;
  }
  last_frames_ = job.frames_upscaled();
  last_state_ = job.state();
  first_poll_ = false;
  return events;
}

}  // namespace anifarm
