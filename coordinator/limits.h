// JobLimits: what one coordinator accepts, so that a hostile or careless
// client cannot exhaust it. Every limit is checked when a job is submitted
// (or a file uploaded), before any work starts, and refused with one line
// naming the value, the limit and the flag that sets it.
//
//   --max-frame-side N        input and output frame width/height [16384]
//   --max-frames-per-job N    frames of one input (0 = no limit) [0]
//   --max-jobs-per-user N     unfinished jobs of one user (0 = no limit) [0]
//   --max-upload-size SIZE    one uploaded input (e.g. 20G) [64G]
//
// gRPC messages are capped separately (--max-message-size, service.h).
#ifndef ANIFARM_COORDINATOR_LIMITS_H_
#define ANIFARM_COORDINATOR_LIMITS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/media/media_info.h"

namespace anifarm {

struct JobLimits {
  // A decoded frame of this side is 16384² × 3 bytes = 768 MiB: beyond it
  // a small compressed file can make the farm allocate gigabytes
  // (a decompression bomb). libx264 and libx265 stop at 16384 too.
  int max_frame_side = 16384;
  int64_t max_frames_per_job = 0;
  int max_jobs_per_user = 0;
  int64_t max_upload_bytes = int64_t{64} << 30;
};

// InvalidArgument when `width`×`height` (the `what` of a job: "input" or
// "output") exceeds max_frame_side.
absl::Status CheckFrameSize(const JobLimits& limits, const std::string& what, int width,
                            int height);

// InvalidArgument when the source's frame count (from its duration and
// frame rate; the planner checks the exact count again) exceeds
// max_frames_per_job.
absl::Status CheckFrameCount(const JobLimits& limits, const MediaInfo& source);
absl::Status CheckExactFrameCount(const JobLimits& limits, const std::string& input,
                                  int64_t frames);

// ResourceExhausted when `user` already has max_jobs_per_user unfinished jobs.
absl::Status CheckActiveJobs(const JobLimits& limits, const std::string& user, int active);

// ResourceExhausted when an upload of `bytes` exceeds max_upload_bytes.
absl::Status CheckUploadSize(const JobLimits& limits, int64_t bytes);

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_LIMITS_H_
