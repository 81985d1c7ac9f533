// FieldFilter: decoded interlaced or telecined frames in, progressive frames
// out, through an in-process libavfilter graph (no ffmpeg child process).
//
//   kInverseTelecine      fieldmatch (rebuilds each film frame from its two
//                         fields), bwdif on the few frames fieldmatch could
//                         not match (it flags them interlaced), decimate (drops
//                         the one duplicate of every 5): 29.97 → 23.976, the
//                         timestamps libavfilter computes from the first frame.
//   kDeinterlaceFields    bwdif, one frame per field (29.97 → 59.94): every
//                         field of interlaced video is its own moment.
//
// libavfilter is optional (ANIFARM_HAVE_AVFILTER, set by CMake where
// pkg-config finds it): without it FieldFiltersAvailable() is false and
// Create says so, and the coordinator passes such sources through with a
// notice. Nodes never need it: the coordinator filters before planning.
#ifndef ANIFARM_COMMON_MEDIA_FIELD_FILTER_H_
#define ANIFARM_COMMON_MEDIA_FIELD_FILTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/media/ffmpeg_ptr.h"

namespace anifarm {

enum class FieldFilterMode { kInverseTelecine, kDeinterlaceFields };

struct FieldFilterConfig {
  FieldFilterMode mode = FieldFilterMode::kInverseTelecine;
  int width = 0;
  int height = 0;
  int pixel_format = -1;  // AVPixelFormat of the decoded frames
  AVRational time_base{1, 1};   // of the frames' pts
  AVRational frame_rate{0, 1};  // the source's (decimate needs it)
  AVRational sample_aspect_ratio{0, 1};
  bool top_field_first = true;
};

// Whether this build can filter (linked with libavfilter).
bool FieldFiltersAvailable();

// The filter graph for a configuration, as libavfilter parses it.
std::string FieldFilterGraph(const FieldFilterConfig& config);

class FieldFilter {
 public:
  // UnimplementedError without libavfilter.
  static absl::StatusOr<std::unique_ptr<FieldFilter>> Create(const FieldFilterConfig& config);
  ~FieldFilter();

  // One decoded frame (pts in config.time_base); appends whatever frames
  // the graph let out (pts in time_base()).
  absl::Status Push(const AVFrame& frame, std::vector<FramePtr>* out);
  // End of stream: the frames still held (the last cadence, the last field).
  absl::Status Finish(std::vector<FramePtr>* out);

  // Of the frames that come out.
  AVRational time_base() const;
  AVRational frame_rate() const;

 private:
  struct Graph;
  explicit FieldFilter(std::unique_ptr<Graph> graph);
  absl::Status Drain(std::vector<FramePtr>* out);
  std::unique_ptr<Graph> graph_;
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_FIELD_FILTER_H_
