// VideoWriter: the encoder end of the pipeline. RGB frames in (with their
// source timestamps), an output file out, with the audio streams of the
// source copied packet for packet (no re-encode) and interleaved by time.
#ifndef ANIFARM_COMMON_MEDIA_VIDEO_WRITER_H_
#define ANIFARM_COMMON_MEDIA_VIDEO_WRITER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/media/ffmpeg_ptr.h"

namespace anifarm {

struct EncodeSettings {
  std::string codec = "h264";  // "h264" (libx264), "h265" (libx265), "ffv1"
  int crf = -1;                // -1: codec default (h264 18, h265 20)
  std::string preset;          // empty: "slow" for x264/x265, as the guide
};

struct VideoWriterOptions {
  std::string output_path;  // container chosen from the extension
  EncodeSettings encode;
  int width = 0;
  int height = 0;
  // Timestamps passed to WriteFrame are in this time base (the source's).
  AVRational time_base{1, 25};
  AVRational frame_rate{25, 1};
  // When non-empty, every audio stream of this file is copied.
  std::string audio_source_path;
};

class VideoWriter {
 public:
  static absl::StatusOr<std::unique_ptr<VideoWriter>> Create(const VideoWriterOptions& options);
  ~VideoWriter();

  // Frames must come in presentation order.
  absl::Status WriteFrame(const RgbImage& image, int64_t pts);
  // Flushes the encoder, writes the remaining audio and the trailer.
  absl::Status Finish();

 private:
  struct State;
  explicit VideoWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_VIDEO_WRITER_H_
