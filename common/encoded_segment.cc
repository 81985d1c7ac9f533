#include "common/encoded_segment.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/media/frame_convert.h"
#include "common/media/video_decoder.h"
#include "common/media/video_encoder.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/mem.h>
}

namespace anifarm {

namespace {

// A segment's packet as libavcodec's (data copied with the padding decoders
// may read into).
absl::StatusOr<PacketPtr> ToAvPacket(const v1::EncodedPacket& in) {
  PacketPtr packet = MakePacket();
  if (!packet || av_new_packet(packet.get(), static_cast<int>(in.data().size())) < 0) {
    return absl::ResourceExhaustedError("cannot allocate a packet");
  }
  std::memcpy(packet->data, in.data().data(), in.data().size());
  packet->pts = in.pts();
  packet->dts = in.dts();
  packet->duration = in.duration();
  if (in.keyframe()) packet->flags |= AV_PKT_FLAG_KEY;
  return packet;
}

}  // namespace

EncodeSettings EncodeSettingsOf(const v1::ProcessingSettings& settings) {
  EncodeSettings encode;
  encode.codec = settings.codec();
  encode.crf = settings.crf();
  encode.preset = settings.preset();
  encode.profile = settings.profile();
  return encode;
}

SegmentEncoder::SegmentEncoder(std::unique_ptr<VideoEncoder> encoder, v1::EncodedSegment segment)
    : encoder_(std::move(encoder)), segment_(std::move(segment)) {}
SegmentEncoder::~SegmentEncoder() = default;

absl::StatusOr<std::unique_ptr<SegmentEncoder>> SegmentEncoder::Create(
    const EncodeSettings& encode, const v1::SegmentSpec& spec, int width, int height) {
  VideoEncoderOptions options;
  options.encode = encode;
  options.container_path = "segment" + spec.container();
  options.width = width;
  options.height = height;
  options.time_base = AVRational{spec.time_base_num(), spec.time_base_den()};
  options.frame_rate = AVRational{spec.frame_rate_num(), spec.frame_rate_den()};
  if (options.frame_rate.num <= 0 || options.frame_rate.den <= 0) options.frame_rate = {0, 1};
  options.color_space = spec.color_space();
  options.color_range = spec.color_range();
  options.color_primaries = spec.color_primaries();
  options.color_trc = spec.color_trc();
  options.alpha = spec.alpha();
  if (spec.sample_aspect_num() > 0 && spec.sample_aspect_den() > 0) {
    options.sample_aspect_ratio = AVRational{spec.sample_aspect_num(), spec.sample_aspect_den()};
  }
  ASSIGN_OR_RETURN(std::unique_ptr<VideoEncoder> encoder, VideoEncoder::Create(options));
  CodecParametersPtr params(avcodec_parameters_alloc());
  if (!params) return absl::ResourceExhaustedError("cannot allocate stream parameters");
  if (avcodec_parameters_from_context(params.get(), &encoder->context()) < 0) {
    return absl::InternalError("cannot read the encoder's stream parameters");
  }
  v1::EncodedSegment segment;
  *segment.mutable_stream() = ToStreamParams(*params, encoder->time_base());
  segment.mutable_stream()->set_encoder(encoder->encoder_name());
  return std::unique_ptr<SegmentEncoder>(new SegmentEncoder(std::move(encoder), std::move(segment)));
}

absl::Status SegmentEncoder::Keep(AVPacket& packet) {
  v1::EncodedPacket* out = segment_.add_packets();
  out->set_data(packet.data, static_cast<size_t>(packet.size));
  out->set_pts(packet.pts);
  out->set_dts(packet.dts);
  out->set_duration(packet.duration);
  out->set_keyframe((packet.flags & AV_PKT_FLAG_KEY) != 0);
  return absl::OkStatus();
}

absl::Status SegmentEncoder::Add(const RgbImage& image, int64_t output_pts) {
  return encoder_->Encode(image, output_pts, [this](AVPacket& packet) { return Keep(packet); });
}

absl::StatusOr<v1::EncodedSegment> SegmentEncoder::Finish() {
  RETURN_IF_ERROR(encoder_->Flush([this](AVPacket& packet) { return Keep(packet); }));
  return std::move(segment_);
}

v1::VideoStreamParams ToStreamParams(const AVCodecParameters& params, AVRational time_base) {
  v1::VideoStreamParams out;
  out.set_codec_id(params.codec_id);
  out.set_codec_tag(params.codec_tag);
  if (params.extradata && params.extradata_size > 0) {
    out.set_extradata(params.extradata, static_cast<size_t>(params.extradata_size));
  }
  out.set_width(params.width);
  out.set_height(params.height);
  out.set_pixel_format(params.format);
  out.set_profile(params.profile);
  out.set_level(params.level);
  out.set_color_space(params.color_space);
  out.set_color_range(params.color_range);
  out.set_color_primaries(params.color_primaries);
  out.set_color_trc(params.color_trc);
  out.set_chroma_location(params.chroma_location);
  out.set_field_order(params.field_order);
  out.set_video_delay(params.video_delay);
  out.set_bits_per_raw_sample(params.bits_per_raw_sample);
  out.set_bits_per_coded_sample(params.bits_per_coded_sample);
  out.set_bit_rate(params.bit_rate);
  out.set_sample_aspect_num(params.sample_aspect_ratio.num);
  out.set_sample_aspect_den(params.sample_aspect_ratio.den);
  out.set_time_base_num(time_base.num);
  out.set_time_base_den(time_base.den);
  return out;
}

absl::Status ToCodecParameters(const v1::VideoStreamParams& params, AVCodecParameters* out) {
  if (!avcodec_descriptor_get(static_cast<AVCodecID>(params.codec_id())) ||
      params.width() <= 0 || params.height() <= 0 || params.time_base_num() <= 0 ||
      params.time_base_den() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "segment stream parameters are invalid (codec ", params.codec_id(), ", ", params.width(),
        "x", params.height(), ", time base ", params.time_base_num(), "/",
        params.time_base_den(), ")"));
  }
  out->codec_type = AVMEDIA_TYPE_VIDEO;
  out->codec_id = static_cast<AVCodecID>(params.codec_id());
  out->codec_tag = params.codec_tag();
  av_freep(&out->extradata);
  out->extradata_size = 0;
  if (!params.extradata().empty()) {
    const size_t size = params.extradata().size();
    out->extradata =
        static_cast<uint8_t*>(av_mallocz(size + AV_INPUT_BUFFER_PADDING_SIZE));
    if (!out->extradata) return absl::ResourceExhaustedError("cannot allocate extradata");
    std::memcpy(out->extradata, params.extradata().data(), size);
    out->extradata_size = static_cast<int>(size);
  }
  out->width = params.width();
  out->height = params.height();
  out->format = params.pixel_format();
  out->profile = params.profile();
  out->level = params.level();
  out->color_space = static_cast<AVColorSpace>(params.color_space());
  out->color_range = static_cast<AVColorRange>(params.color_range());
  out->color_primaries = static_cast<AVColorPrimaries>(params.color_primaries());
  out->color_trc = static_cast<AVColorTransferCharacteristic>(params.color_trc());
  out->chroma_location = static_cast<AVChromaLocation>(params.chroma_location());
  out->field_order = static_cast<AVFieldOrder>(params.field_order());
  out->video_delay = params.video_delay();
  out->bits_per_raw_sample = params.bits_per_raw_sample();
  out->bits_per_coded_sample = params.bits_per_coded_sample();
  out->bit_rate = params.bit_rate();
  out->sample_aspect_ratio = AVRational{params.sample_aspect_num(), params.sample_aspect_den()};
  return absl::OkStatus();
}

absl::Status SameStream(const v1::VideoStreamParams& a, const v1::VideoStreamParams& b) {
  auto differs = [](const char* what, auto x, auto y) {
    return absl::InvalidArgumentError(
        absl::StrCat("segments encode different streams: ", what, " ", x, " vs ", y));
  };
  if (a.codec_id() != b.codec_id()) return differs("codec", a.codec_id(), b.codec_id());
  if (a.width() != b.width() || a.height() != b.height()) {
    return differs("size", absl::StrCat(a.width(), "x", a.height()),
                   absl::StrCat(b.width(), "x", b.height()));
  }
  if (a.pixel_format() != b.pixel_format()) {
    return differs("pixel format", a.pixel_format(), b.pixel_format());
  }
  if (a.profile() != b.profile()) return differs("profile", a.profile(), b.profile());
  if (a.time_base_num() != b.time_base_num() || a.time_base_den() != b.time_base_den()) {
    return differs("time base", absl::StrCat(a.time_base_num(), "/", a.time_base_den()),
                   absl::StrCat(b.time_base_num(), "/", b.time_base_den()));
  }
  if (a.extradata() != b.extradata()) {
    return differs("parameter sets (extradata bytes)", a.extradata().size(),
                   b.extradata().size());
  }
  return absl::OkStatus();
}

absl::Status CheckSegment(const v1::EncodedSegment& segment,
                          const std::vector<int64_t>& output_pts) {
  if (segment.packets_size() != static_cast<int>(output_pts.size())) {
    return absl::InvalidArgumentError(absl::StrCat("segment holds ", segment.packets_size(),
                                                   " frames, expected ", output_pts.size()));
  }
  if (segment.packets_size() == 0) return absl::OkStatus();
  if (!segment.packets(0).keyframe()) {
    return absl::InvalidArgumentError("segment does not start with a keyframe");
  }
  std::multiset<int64_t> expected(output_pts.begin(), output_pts.end());
  int64_t last_dts = 0;
  for (int i = 0; i < segment.packets_size(); ++i) {
    const v1::EncodedPacket& packet = segment.packets(i);
    if (packet.data().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("segment packet ", i, " is empty"));
    }
    auto it = expected.find(packet.pts());
    if (it == expected.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment has a frame at unexpected pts ", packet.pts()));
    }
    expected.erase(it);
    if (i > 0 && packet.dts() <= last_dts) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment decode times do not increase at packet ", i));
    }
    if (packet.dts() > packet.pts()) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment packet ", i, " is decoded after it is shown"));
    }
    last_dts = packet.dts();
  }
  return absl::OkStatus();
}

absl::Status AppendSegment(const v1::EncodedSegment& segment, AVRational writer_time_base,
                           VideoWriter& writer) {
  const AVRational time_base{segment.stream().time_base_num(), segment.stream().time_base_den()};
  for (const v1::EncodedPacket& in : segment.packets()) {
    ASSIGN_OR_RETURN(PacketPtr packet, ToAvPacket(in));
    av_packet_rescale_ts(packet.get(), time_base, writer_time_base);
    RETURN_IF_ERROR(writer.WritePacket(*packet));
  }
  return absl::OkStatus();
}

absl::StatusOr<RgbImage> DecodeSegmentKeyframe(const v1::EncodedSegment& segment) {
  const v1::VideoStreamParams& stream = segment.stream();
  DecoderParams params;
  params.codec_id = stream.codec_id();
  params.extradata.assign(stream.extradata().begin(), stream.extradata().end());
  params.width = stream.width();
  params.height = stream.height();
  params.pixel_format = stream.pixel_format();
  params.time_base = AVRational{stream.time_base_num(), stream.time_base_den()};
  params.color_space = stream.color_space();
  params.color_range = stream.color_range();
  params.color_primaries = stream.color_primaries();
  params.color_trc = stream.color_trc();
  ASSIGN_OR_RETURN(std::unique_ptr<VideoDecoder> decoder, VideoDecoder::Create(params));
  std::vector<FramePtr> frames;
  for (const v1::EncodedPacket& in : segment.packets()) {
    ASSIGN_OR_RETURN(PacketPtr packet, ToAvPacket(in));
    RETURN_IF_ERROR(decoder->Decode(*packet, &frames));
    if (!frames.empty()) break;
  }
  if (frames.empty()) RETURN_IF_ERROR(decoder->Flush(&frames));
  if (frames.empty()) return absl::NotFoundError("the segment decodes to no picture");
  return FrameToRgb(*frames.front());
}

}  // namespace anifarm
