// Encoded segments (v1::EncodedSegment): a chunk's frames encoded by a node
// in the job's final codec, and how the coordinator joins them into one
// stream without re-encoding.
//
//   node:         SegmentEncoder (frames at their output timestamps)
//                   -> EncodedSegment (stream parameters + packets)
//   coordinator:  CheckSegment (frame count, timestamps, keyframe start)
//                   -> SameStream (every segment encodes the same stream)
//                   -> VideoWriter::CreateForEncodedVideo + AppendSegment
//
// Each segment starts with a keyframe that depends on nothing before it
// (a fresh encoder's first picture), so segments can be decoded alone and
// concatenated in any order of arrival as long as they are joined in frame
// order. Encoders opened with the same settings produce the same parameter
// sets (extradata); SameStream refuses segments where that does not hold.
#ifndef ANIFARM_COMMON_ENCODED_SEGMENT_H_
#define ANIFARM_COMMON_ENCODED_SEGMENT_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/media/encode_settings.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/video_writer.h"
#include "protos/anifarm.pb.h"

namespace anifarm {

class VideoEncoder;

// The codec, CRF, preset and profile a job asked for, as the media layer
// takes them.
EncodeSettings EncodeSettingsOf(const v1::ProcessingSettings& settings);

// Encodes one segment. Frames in output presentation order.
class SegmentEncoder {
 public:
  static absl::StatusOr<std::unique_ptr<SegmentEncoder>> Create(const EncodeSettings& encode,
                                                                const v1::SegmentSpec& spec,
                                                                int width, int height);
  ~SegmentEncoder();
  absl::Status Add(const RgbImage& image, int64_t output_pts);
  // Flushes the encoder and returns the segment.
  absl::StatusOr<v1::EncodedSegment> Finish();

 private:
  SegmentEncoder(std::unique_ptr<VideoEncoder> encoder, v1::EncodedSegment segment);
  absl::Status Keep(AVPacket& packet);
  std::unique_ptr<VideoEncoder> encoder_;
  v1::EncodedSegment segment_;
};

// The stream parameters as libavcodec's AVCodecParameters, and back.
v1::VideoStreamParams ToStreamParams(const AVCodecParameters& params, AVRational time_base);
absl::Status ToCodecParameters(const v1::VideoStreamParams& params, AVCodecParameters* out);

// Whether two segments encode the same stream (codec, parameter sets, size,
// pixel format, profile, time base), so their packets can follow each
// other. InvalidArgument naming what differs.
absl::Status SameStream(const v1::VideoStreamParams& a, const v1::VideoStreamParams& b);

// Checks a segment against what its chunk must hold: one packet per frame,
// presentation timestamps exactly `output_pts` (any order: packets come in
// decode order), the first packet a keyframe, decode times increasing.
// InvalidArgument naming the first thing wrong.
absl::Status CheckSegment(const v1::EncodedSegment& segment,
                          const std::vector<int64_t>& output_pts);

// Writes the segment's packets to a writer made by CreateForEncodedVideo
// (timestamps rescaled from the segment's time base to the writer's).
absl::Status AppendSegment(const v1::EncodedSegment& segment, AVRational writer_time_base,
                           VideoWriter& writer);

// The segment's first picture (its keyframe), as RGB: the dashboard's
// preview of a chunk encoded by a node.
absl::StatusOr<RgbImage> DecodeSegmentKeyframe(const v1::EncodedSegment& segment);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_ENCODED_SEGMENT_H_
