// VideoEncoder: RGB frames in, compressed packets out, in the codec, profile
// and colour description the user chose (encode_settings.h), for a given
// container. It writes no file: VideoWriter muxes its packets into the
// output, and a node sends them to the coordinator as a segment of the final
// stream (encoded_segment.h), to be concatenated without re-encoding.
//
// The first frame is always a keyframe that depends on nothing before it,
// so the packets of one encoder form a closed, self-contained run: encoders
// opened with the same options give the same stream parameters (extradata
// included), which is what lets segments from different nodes be joined.
#ifndef ANIFARM_COMMON_MEDIA_VIDEO_ENCODER_H_
#define ANIFARM_COMMON_MEDIA_VIDEO_ENCODER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/media/encode_settings.h"
#include "common/media/ffmpeg_ptr.h"

namespace anifarm {

struct VideoEncoderOptions {
  EncodeSettings encode;
  // The final file's path (or just "x.mkv"): its extension names the
  // container, whose rules apply (which codecs it takes, global headers).
  std::string container_path;
  int width = 0;
  int height = 0;
  // The sample aspect ratio the stream signals (the bitstream's VUI where
  // the codec has one, and the muxer's). 1:1 unless the job keeps an
  // anamorphic source's (output_geometry.h); {0, 1} counts as 1:1.
  AVRational sample_aspect_ratio{1, 1};
  // Timestamps passed to Encode are in this time base.
  AVRational time_base{1, 25};
  AVRational frame_rate{25, 1};
  // Colour description (AVColorSpace, AVColorRange, AVColorPrimaries,
  // AVColorTransferCharacteristic). -1 or "unspecified": BT.709 from 720
  // lines up, BT.601 (SMPTE 170M) below, limited range. The RGB -> YUV
  // conversion uses the matrix and range written here. Ignored for FFV1,
  // which stays RGB.
  int color_space = -1;
  int color_range = -1;
  int color_primaries = -1;
  int color_trc = -1;
  // The frames carry alpha planes (RgbImage::alpha): kept where the codec
  // stores alpha (ProRes 4444 and 4444 XQ, FFV1), dropped with a notice
  // elsewhere.
  bool alpha = false;
};

class VideoEncoder {
 public:
  // Receives each packet the encoder produces, in decode order, with
  // timestamps in time_base(). The packet is the encoder's; the callee may
  // move its contents out (av_packet_move_ref) or copy them.
  using PacketSink = std::function<absl::Status(AVPacket& packet)>;

  // Refuses, with InvalidArgumentError naming the value at fault, what
  // PlanEncoder refuses. An nvenc encoder that cannot open falls back to its
  // software twin with a notice.
  static absl::StatusOr<std::unique_ptr<VideoEncoder>> Create(const VideoEncoderOptions& options);
  ~VideoEncoder();

  // Frames must come in presentation order with increasing pts.
  absl::Status Encode(const RgbImage& image, int64_t pts, const PacketSink& sink);
  // Flushes the delayed frames; no Encode afterwards.
  absl::Status Flush(const PacketSink& sink);

  // The stream the packets form: codec, extradata, size, pixel format,
  // profile, colour. Valid from Create on (extradata included).
  const AVCodecContext& context() const;
  // The time base of the packets' timestamps.
  AVRational time_base() const;
  // The libavcodec encoder in use ("libx264" after an nvenc fallback).
  const std::string& encoder_name() const;
  // Whether the stream keeps the frames' alpha.
  bool keeps_alpha() const;
  // Notices (also printed to stderr) about what was changed: nvenc
  // fallback, alpha dropped.
  const std::vector<std::string>& notices() const;

 private:
  struct State;
  explicit VideoEncoder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_VIDEO_ENCODER_H_
