#include "common/chunk_payload.h"

#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/media/frame_convert.h"
#include "common/media/video_decoder.h"
#include "common/status_macros.h"

namespace anifarm {
namespace {

absl::StatusOr<PacketPtr> ToPacket(const v1::SourcePacket& source) {
  PacketPtr packet = MakePacket();
  if (!packet || av_new_packet(packet.get(), static_cast<int>(source.data().size())) < 0) {
    return absl::ResourceExhaustedError("cannot allocate a packet");
  }
  std::memcpy(packet->data, source.data().data(), source.data().size());
  packet->pts = source.pts();
  packet->dts = source.dts();
  if (source.keyframe()) packet->flags |= AV_PKT_FLAG_KEY;
  return packet;
}

int64_t PresentationTime(const AVFrame& frame) {
  return frame.best_effort_timestamp != AV_NOPTS_VALUE ? frame.best_effort_timestamp : frame.pts;
}

}  // namespace

DecoderParams ToDecoderParams(const v1::DecoderConfig& config) {
  DecoderParams params;
  params.codec_id = config.codec_id();
  params.extradata.assign(config.extradata().begin(), config.extradata().end());
  params.width = config.width();
  params.height = config.height();
  params.pixel_format = config.pixel_format();
  params.time_base = AVRational{config.time_base_num(), config.time_base_den()};
  params.color_space = config.color_space();
  params.color_range = config.color_range();
  params.sample_aspect_ratio = AVRational{config.sample_aspect_num(), config.sample_aspect_den()};
  return params;
}

v1::DecoderConfig ToDecoderConfig(const DecoderParams& params) {
  v1::DecoderConfig config;
  config.set_codec_id(params.codec_id);
  config.set_extradata(params.extradata.data(), params.extradata.size());
  config.set_width(params.width);
  config.set_height(params.height);
  config.set_pixel_format(params.pixel_format);
  config.set_time_base_num(params.time_base.num);
  config.set_time_base_den(params.time_base.den);
  config.set_color_space(params.color_space);
  config.set_color_range(params.color_range);
  config.set_sample_aspect_num(params.sample_aspect_ratio.num);
  config.set_sample_aspect_den(params.sample_aspect_ratio.den);
  return config;
}

absl::Status DecodeChunk(
    const v1::ChunkPayload& payload,
    const std::function<absl::Status(const AVFrame&, int64_t pts)>& on_frame) {
  ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder,
                   VideoDecoder::Create(ToDecoderParams(payload.decoder())));
  std::vector<FramePtr> frames;
  auto deliver = [&]() -> absl::Status {
    for (const FramePtr& frame : frames) RETURN_IF_ERROR(on_frame(*frame, PresentationTime(*frame)));
    frames.clear();
    return absl::OkStatus();
  };
  for (const v1::SourcePacket& source : payload.packets()) {
    ASSIGN_OR_RETURN(PacketPtr packet, ToPacket(source));
    RETURN_IF_ERROR(decoder->Decode(*packet, &frames));
    RETURN_IF_ERROR(deliver());
  }
  RETURN_IF_ERROR(decoder->Flush(&frames));
  return deliver();
}

absl::StatusOr<RgbImage> DecodeChunkFrame(const v1::ChunkPayload& payload, int64_t pts) {
  std::optional<RgbImage> found;
  RETURN_IF_ERROR(DecodeChunk(payload, [&](const AVFrame& frame, int64_t frame_pts) {
    if (frame_pts != pts || found) return absl::OkStatus();
    ASSIGN_OR_RETURN(found, FrameToRgb(frame));
    return absl::OkStatus();
  }));
  if (!found) return absl::NotFoundError(absl::StrCat("no frame with pts ", pts, " in chunk"));
  return *std::move(found);
}

}  // namespace anifarm
