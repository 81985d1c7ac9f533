#include "client/job_view.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "coordinator/stall_check.h"

namespace anifarm {

std::string JobStateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_PLANNING: return "planning";
    case v1::JOB_RUNNING: return "running";
    case v1::JOB_ASSEMBLING: return "assembling";
    case v1::JOB_DONE: return "done";
    case v1::JOB_FAILED: return "failed";
    case v1::JOB_CANCELLED: return "cancelled";
    case v1::JOB_PAUSED: return "paused";
    default: return "unknown";
  }
}

bool IsFinished(v1::JobState state) {
  return state == v1::JOB_DONE || state == v1::JOB_FAILED || state == v1::JOB_CANCELLED;
}

std::string JobLine(const v1::JobStatus& job) {
  std::string line = absl::StrFormat(
      "%s  %-10s  chunks %d/%d  frames %d (unique %d, upscaled %d, reused %d)  %s -> %s",
      job.job_id(), JobStateName(job.state()), job.chunks_done(), job.chunks_total(),
      job.total_frames(), job.unique_frames(), job.frames_upscaled(), job.frames_reused(),
      job.input_path(), job.output_path());
  if (!job.error().empty()) {
    // A job still running may say why it waits (stall_check.h); that is no error yet.
    const bool waiting = !IsFinished(job.state()) && absl::StartsWith(job.error(), kWaitingPrefix);
    absl::StrAppend(&line, waiting ? "  " : "  error: ", job.error());
  }
  return line;
}

std::string ProgressBar(const v1::JobStatus& job, double fps, int64_t eta_seconds) {
  constexpr int kWidth = 30;
  double fraction = 0;
  if (job.state() == v1::JOB_DONE) {
    fraction = 1;
  } else if (job.unique_frames() > 0) {
    // Upscaling is the long part; assembling shows as the last few percent.
    fraction = 0.95 * double(job.frames_upscaled()) / double(job.unique_frames());
  }
  const int filled = static_cast<int>(fraction * kWidth + 0.5);
  std::string line = absl::StrFormat(
      "[%s%s] %3d%%  %-10s chunks %d/%d  upscaled %d/%d  reused %d",
      std::string(filled, '#'), std::string(kWidth - filled, '-'),
      static_cast<int>(fraction * 100 + 0.5), JobStateName(job.state()), job.chunks_done(),
      job.chunks_total(), job.frames_upscaled(), job.unique_frames(),
      job.total_frames() - job.unique_frames());
  if (job.chunks_running() > 0) absl::StrAppend(&line, "  nodes busy ", job.chunks_running());
  if (fps > 0) absl::StrAppend(&line, absl::StrFormat("  %.2f fps", fps));
  if (eta_seconds >= 0 && job.state() == v1::JOB_RUNNING) {
    absl::StrAppend(&line, absl::StrFormat("  ETA %d:%02d", eta_seconds / 60, eta_seconds % 60));
  }
  // Why a running job does not move ("waiting: no live node"), so that
  // `anifarm run` never waits in silence.
  if (job.state() == v1::JOB_RUNNING && !job.error().empty()) {
    absl::StrAppend(&line, "  ", job.error());
  }
  return line;
}

std::string ChunkEventLine(const v1::JobEvent& event) {
  const v1::ChunkInfo& chunk = event.chunk();
  switch (event.kind()) {
    case v1::JobEvent::CHUNK_STARTED:
      return absl::StrCat("chunk ", chunk.chunk_index(), " started on ", chunk.node_id(),
                          " (attempt ", chunk.attempt(), ", ", chunk.unique_count(),
                          " frames to upscale)");
    case v1::JobEvent::CHUNK_FINISHED:
      return absl::StrCat("chunk ", chunk.chunk_index(), " finished");
    case v1::JobEvent::CHUNK_REQUEUED:
      return absl::StrCat("chunk ", chunk.chunk_index(), " back in the queue");
    default:
      return absl::StrCat("chunk ", chunk.chunk_index());
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  // Only fails for unknown Any types, which the API does not use.
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace anifarm
