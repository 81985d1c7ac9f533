#include "client/job_view.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/proto_json.h"
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

namespace {

// Cuts `text` to at most `width` bytes, ending in "..." when cut, on a UTF-8
// character boundary.
std::string Fit(const std::string& text, size_t width) {
  if (text.size() <= width) return text;
  if (width < 3) return "";
  size_t end = width - 3;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

}  // namespace

std::string ProgressBar(const v1::JobStatus& job, double fps, int64_t eta_seconds) {
  double fraction = 0;
  if (job.state() == v1::JOB_DONE) {
    fraction = 1;
  } else if (job.unique_frames() > 0) {
    // Upscaling is the long part; assembling shows as the last few percent.
    fraction = 0.95 * double(job.frames_upscaled()) / double(job.unique_frames());
  }
  auto line_with = [&](const std::string& state, int bar_width) {
    const int filled = static_cast<int>(fraction * bar_width + 0.5);
    return absl::StrFormat("[%s%s] %3d%%  %s  chunks %d/%d  upscaled %d/%d",
                           std::string(filled, '#'), std::string(bar_width - filled, '-'),
                           static_cast<int>(fraction * 100 + 0.5), state, job.chunks_done(),
                           job.chunks_total(), job.frames_upscaled(), job.unique_frames());
  };
  // Why a running job does not move ("waiting: no live node") stands in for
  // the state, so that `anifarm run` never waits in silence. The bar gives
  // up to half its width for it, then the reason is cut to fit.
  constexpr int kBarWidth = 20;
  int bar_width = kBarWidth;
  std::string state = JobStateName(job.state());
  if (job.state() == v1::JOB_RUNNING && !job.error().empty()) {
    const int over = static_cast<int>(line_with(job.error(), kBarWidth).size()) -
                     static_cast<int>(kProgressBarColumns);
    bar_width = std::clamp(kBarWidth - over, kBarWidth / 2, kBarWidth);
    const size_t others = line_with("", bar_width).size();
    if (others < kProgressBarColumns) state = Fit(job.error(), kProgressBarColumns - others);
  }
  std::string line = line_with(state, bar_width);
  // The rest in order of use, each only while the line stays within
  // kProgressBarColumns: a longer line wraps on an 80-column terminal and
  // "\r" then redraws only its last row, leaving a trail of stale bars.
  auto append = [&line](const std::string& part) {
    if (line.size() + 2 + part.size() <= kProgressBarColumns) absl::StrAppend(&line, "  ", part);
  };
  // While it runs, when it ends first; then what dedup saved (a done job's
  // bar has room for it).
  if (eta_seconds >= 0 && job.state() == v1::JOB_RUNNING) {
    append(absl::StrFormat("ETA %d:%02d", eta_seconds / 60, eta_seconds % 60));
  }
  if (fps > 0) append(absl::StrFormat("%.2f fps", fps));
  append(absl::StrCat("reused ", job.total_frames() - job.unique_frames()));
  if (job.chunks_running() > 0) append(absl::StrCat("nodes busy ", job.chunks_running()));
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

std::string AgoText(int64_t unix_seconds, int64_t now) {
  if (unix_seconds <= 0) return "never";
  const int64_t ago = now - unix_seconds;
  if (ago < 1) return "just now";
  if (ago < 120) return absl::StrCat(ago, " s ago");
  if (ago < 120 * 60) return absl::StrCat(ago / 60, " min ago");
  if (ago < 48 * 3600) return absl::StrCat(ago / 3600, " h ago");
  // Long gone: the date says more than "412 h ago".
  return absl::FormatTime("%Y-%m-%d %H:%M", absl::FromUnixSeconds(unix_seconds),
                          absl::LocalTimeZone());
}

std::string ToJson(const google::protobuf::Message& message) { return ProtoToJson(message); }

}  // namespace anifarm
