#include "coordinator/limits.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace anifarm {

absl::Status CheckFrameSize(const JobLimits& limits, const std::string& what, int width,
                            int height) {
  if (width <= limits.max_frame_side && height <= limits.max_frame_side) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the ", what, " frame would be ", width, "x", height, ", over this coordinator's limit of ",
      limits.max_frame_side, " pixels a side (--max-frame-side)"));
}

absl::Status CheckFrameCount(const JobLimits& limits, const MediaInfo& source) {
  if (limits.max_frames_per_job <= 0 || source.frame_rate.num <= 0 ||
      source.frame_rate.den <= 0) {
    return absl::OkStatus();
  }
  const double rate = double(source.frame_rate.num) / source.frame_rate.den;
  const auto estimate = static_cast<int64_t>(std::floor(source.duration_seconds * rate + 0.5));
  if (estimate <= limits.max_frames_per_job) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      source.path, ": about ", estimate, " frames, over this coordinator's limit of ",
      limits.max_frames_per_job, " per job (--max-frames-per-job)"));
}

absl::Status CheckExactFrameCount(const JobLimits& limits, const std::string& input,
                                  int64_t frames) {
  if (limits.max_frames_per_job <= 0 || frames <= limits.max_frames_per_job) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      input, ": ", frames, " frames, over this coordinator's limit of ",
      limits.max_frames_per_job, " per job (--max-frames-per-job)"));
}

absl::Status CheckActiveJobs(const JobLimits& limits, const std::string& user, int active) {
  if (limits.max_jobs_per_user <= 0 || active < limits.max_jobs_per_user) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      user.empty() ? "this farm" : user, " already has ", active,
      " unfinished jobs, the most this coordinator takes per user (--max-jobs-per-user); wait "
      "for one to finish or cancel one"));
}

absl::Status CheckUploadSize(const JobLimits& limits, int64_t bytes) {
  if (limits.max_upload_bytes <= 0 || bytes <= limits.max_upload_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "an upload of ", bytes, " bytes is over this coordinator's limit of ",
      limits.max_upload_bytes, " bytes (--max-upload-size)"));
}

}  // namespace anifarm
