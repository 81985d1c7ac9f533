// Probing a media file: what the coordinator needs to know before planning.
#ifndef ANIFARM_COMMON_MEDIA_MEDIA_INFO_H_
#define ANIFARM_COMMON_MEDIA_MEDIA_INFO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

extern "C" {
#include <libavutil/rational.h>
}

namespace anifarm {

// Everything needed to rebuild a decoder for a video stream elsewhere (on a
// node, from compressed packets sent over gRPC).
struct DecoderParams {
  int codec_id = 0;  // AVCodecID
  std::vector<uint8_t> extradata;
  int width = 0;
  int height = 0;
  int pixel_format = -1;  // AVPixelFormat
  AVRational time_base{1, 1};
  // Colour description, so RGB conversion uses the right matrix and range.
  int color_space = 2;   // AVColorSpace (2 = unspecified)
  int color_range = 0;   // AVColorRange (0 = unspecified)
  int color_primaries = 2;  // AVColorPrimaries (2 = unspecified)
  int color_trc = 2;        // AVColorTransferCharacteristic (2 = unspecified)
  // Sample (pixel) aspect ratio: the stream's, else the codec's; {0, 1}
  // when neither says (square). 32:27 and 8:9 are anamorphic NTSC DVD's
  // 16:9 and 4:3 (output_geometry.h says what becomes of them).
  AVRational sample_aspect_ratio{0, 1};
};

struct MediaInfo {
  std::string path;
  std::string container;   // libavformat short name ("mov,mp4,m4a,3gp,...")
  int video_stream = -1;   // index in the container
  DecoderParams video;
  AVRational frame_rate{0, 1};  // average frame rate
  int audio_stream_count = 0;
  double duration_seconds = 0;
  // Frames of the video stream as the container's index declares them (MP4,
  // MOV); 0 where the container does not say. The planner compares it with
  // what really decodes, so a file cut after its index is caught.
  int64_t declared_frames = 0;
  // Duration of the first audio stream in seconds (0 when there is none).
  double audio_duration_seconds = 0;
  // AVFieldOrder of the video stream as its headers say (0 = unknown): a
  // hint for common/media/field_analysis.h, which also looks at the pictures.
  int field_order = 0;
};

// Opens `path` and reads its stream headers. Errors:
//   NotFoundError        - the file does not exist or cannot be read
//   InvalidArgumentError - not a media file, or it has no video stream
// The message always names the file.
absl::StatusOr<MediaInfo> ProbeMedia(const std::string& path);

// Decodes the whole video stream of `path` and counts its frames (exact,
// unlike container metadata). Used by tests and the quick start check.
absl::StatusOr<int64_t> CountVideoFrames(const std::string& path);

// Whether decoded frames of this AVPixelFormat carry an alpha channel.
bool PixelFormatHasAlpha(int pixel_format);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_MEDIA_INFO_H_
