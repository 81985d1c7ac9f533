// VideoDecoder: compressed packets in, decoded frames out, in presentation
// order. Built from DecoderParams so a node can decode packets it received
// over the network exactly as the coordinator would.
#ifndef ANIFARM_COMMON_MEDIA_VIDEO_DECODER_H_
#define ANIFARM_COMMON_MEDIA_VIDEO_DECODER_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/media_info.h"

namespace anifarm {

class VideoDecoder {
 public:
  static absl::StatusOr<std::unique_ptr<VideoDecoder>> Create(const DecoderParams& params);

  // Sends one packet and appends every frame that became available to `out`.
  absl::Status Decode(const AVPacket& packet, std::vector<FramePtr>* out);
  // Drains the decoder at end of stream.
  absl::Status Flush(std::vector<FramePtr>* out);

 private:
  VideoDecoder() = default;
  absl::Status Drain(std::vector<FramePtr>* out);
  CodecContextPtr codec_;
};

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_VIDEO_DECODER_H_
