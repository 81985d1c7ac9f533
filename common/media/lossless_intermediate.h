// LosslessIntermediate: decoded YUV frames written losslessly (FFV1) at the
// timestamps given, for a source the coordinator rewrote before planning
// (coordinator/source_prepass.h: inverse telecine, deinterlacing). Kept in
// the source's pixel format (no RGB round trip) and colour description, and
// flagged progressive.
//
// The container is Matroska: it carries what the planner, the nodes'
// RGB conversion and the writer read from a video stream (colour matrix,
// range, primaries, transfer, field order: progressive); NUT would keep
// the filters' time base exactly but drops all of those. Matroska rounds
// each timestamp to a millisecond, as for any .mkv source: the frames keep
// the filter's times within 0.5 ms, so the source's audio, copied at
// assembly, stays in sync.
#ifndef ANIFARM_COMMON_MEDIA_LOSSLESS_INTERMEDIATE_H_
#define ANIFARM_COMMON_MEDIA_LOSSLESS_INTERMEDIATE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/media_info.h"

namespace anifarm {

struct IntermediateOptions {
  std::string path;  // written as Matroska whatever its name
  int width = 0;
  int height = 0;
  int pixel_format = -1;  // AVPixelFormat, one FFV1 takes (yuv420p ...)
  AVRational time_base{1, 1};   // of the pts passed to Write
  AVRational frame_rate{0, 1};  // recorded as the stream's rate
  AVRational sample_aspect_ratio{0, 1};
  // The source's colour tags (DecoderParams' conventions).
  int color_space = 2, color_range = 0, color_primaries = 2, color_trc = 2;
};

class IntermediateWriter {
 public:
  static absl::StatusOr<std::unique_ptr<IntermediateWriter>> Create(
      const IntermediateOptions& options);
  // `frame.pts` in options.time_base, increasing.
  absl::Status Write(const AVFrame& frame);
  absl::Status Finish();
  int64_t frames_written() const { return frames_; }

 private:
  IntermediateWriter() = default;
  absl::Status WritePackets();
  IntermediateOptions options_;
  OutputFormatPtr format_;
  CodecContextPtr codec_;
  AVStream* stream_ = nullptr;  // owned by format_
  int64_t frames_ = 0;
  int64_t last_pts_ = AV_NOPTS_VALUE;
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_LOSSLESS_INTERMEDIATE_H_
