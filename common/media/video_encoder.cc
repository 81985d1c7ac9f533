#include "common/media/video_encoder.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/media/frame_convert.h"
#include "common/status_macros.h"

namespace anifarm {
namespace {

// Resolves an optional colour field: `value` unless it is -1 or `unspecified`.
int ColourOr(int value, int unspecified, int automatic) {
  return value < 0 || value == unspecified ? automatic : value;
}

}  // namespace

struct VideoEncoder::State {
  VideoEncoderOptions options;
  const AVOutputFormat* container = nullptr;
  EncoderPlan plan;
  std::string encoder_name;
  std::vector<std::string> notices;
  CodecContextPtr encoder;
  SwsPtr sws;
  FramePtr frame;    // the encoder's input picture, reused
  PacketPtr packet;  // the encoder's output, reused
  int64_t last_pts = AV_NOPTS_VALUE;
  bool flushed = false;
  bool alpha = false;  // RGBA in, alpha coded
  FramePtr rgba;       // alpha: the RGBA picture handed to swscale, reused

  void Notice(std::string text) {
    std::fprintf(stderr, "notice: %s\n", text.c_str());
    notices.push_back(std::move(text));
  }

  // Opens `name` for the plan's picture.
  absl::StatusOr<CodecContextPtr> Open(
      const std::string& name, AVPixelFormat pix_fmt,
      const std::vector<std::pair<std::string, std::string>>& private_options) {
    const AVCodec* codec = avcodec_find_encoder_by_name(name.c_str());
    if (!codec) {
      return absl::UnimplementedError(
          absl::StrCat("libavcodec was built without the ", name, " encoder"));
    }
    if (avformat_query_codec(container, codec->id, FF_COMPLIANCE_NORMAL) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(options.encode.codec,
                                                     " video cannot be stored in ",
                                                     options.container_path));
    }
    CodecContextPtr context(avcodec_alloc_context3(codec));
    AVCodecContext* enc = context.get();
    if (!enc) return absl::ResourceExhaustedError("cannot allocate an encoder");
    enc->width = options.width;
    enc->height = options.height;
    enc->pix_fmt = pix_fmt;
    enc->sample_aspect_ratio = options.sample_aspect_ratio.num > 0 &&
                                       options.sample_aspect_ratio.den > 0
                                   ? options.sample_aspect_ratio
                                   : AVRational{1, 1};
    // The source's time base, so source timestamps (VFR included) pass through.
    enc->time_base = options.time_base;
    if (options.frame_rate.num > 0 && options.frame_rate.den > 0) {
      enc->framerate = options.frame_rate;
    }
    enc->thread_count = 0;
    if (plan.bit_rate > 0) enc->bit_rate = plan.bit_rate;

    const bool hd = options.height >= 720;
    if (pix_fmt == AV_PIX_FMT_0RGB32 || pix_fmt == AV_PIX_FMT_RGB32) {
      enc->colorspace = AVCOL_SPC_RGB;
      enc->color_range = AVCOL_RANGE_JPEG;
      enc->color_primaries = AVCOL_PRI_BT709;
      enc->color_trc = AVCOL_TRC_IEC61966_2_1;
    } else {
      enc->colorspace = static_cast<AVColorSpace>(ColourOr(
          options.color_space, AVCOL_SPC_UNSPECIFIED, hd ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M));
      enc->color_primaries =
          static_cast<AVColorPrimaries>(ColourOr(options.color_primaries, AVCOL_PRI_UNSPECIFIED,
                                                 hd ? AVCOL_PRI_BT709 : AVCOL_PRI_SMPTE170M));
      enc->color_trc = static_cast<AVColorTransferCharacteristic>(ColourOr(
          options.color_trc, AVCOL_TRC_UNSPECIFIED, hd ? AVCOL_TRC_BT709 : AVCOL_TRC_SMPTE170M));
      enc->color_range = static_cast<AVColorRange>(
          ColourOr(options.color_range, AVCOL_RANGE_UNSPECIFIED, AVCOL_RANGE_MPEG));
    }
    // Parameter sets in extradata, not repeated in the stream: the muxer
    // writes them once, which is also what makes segments joinable.
    if (container->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AvDictionary codec_options;
    for (const auto& [key, value] : private_options) codec_options.Set(key, value);
    const int err = avcodec_open2(enc, codec, codec_options.out());
    if (err < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot open the ", name, " encoder for ", options.width, "x",
                       options.height, " ", options.container_path, ": ", AvErrorString(err)));
    }
    encoder_name = name;
    return context;
  }

  absl::Status Drain(const PacketSink& sink) {
    while (true) {
      const int err = avcodec_receive_packet(encoder.get(), packet.get());
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
      if (err < 0) {
        return absl::InternalError(absl::StrCat("encoding ", options.container_path,
                                                " failed: ", AvErrorString(err)));
      }
      absl::Status status = sink(*packet);
      av_packet_unref(packet.get());
      RETURN_IF_ERROR(status);
    }
  }
};

VideoEncoder::VideoEncoder(std::unique_ptr<State> state) : state_(std::move(state)) {}
VideoEncoder::~VideoEncoder() = default;

const AVCodecContext& VideoEncoder::context() const { return *state_->encoder; }
AVRational VideoEncoder::time_base() const { return state_->encoder->time_base; }
const std::string& VideoEncoder::encoder_name() const { return state_->encoder_name; }
const std::vector<std::string>& VideoEncoder::notices() const { return state_->notices; }
bool VideoEncoder::keeps_alpha() const { return state_->alpha; }

absl::StatusOr<std::unique_ptr<VideoEncoder>> VideoEncoder::Create(
    const VideoEncoderOptions& options) {
  if (options.time_base.num <= 0 || options.time_base.den <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid time base ", options.time_base.num,
                                                   "/", options.time_base.den, " for ",
                                                   options.container_path));
  }
  auto state = std::make_unique<State>();
  state->options = options;
  state->container = av_guess_format(nullptr, options.container_path.c_str(), nullptr);
  if (!state->container) {
    return absl::InvalidArgumentError(absl::StrCat("cannot choose a container for ",
                                                   options.container_path,
                                                   " from its extension"));
  }
  ASSIGN_OR_RETURN(state->plan, PlanEncoder(options.encode, options.container_path,
                                            options.width, options.height, options.frame_rate));
  const EncoderPlan& plan = state->plan;
  AVPixelFormat pix_fmt = plan.pix_fmt;
  if (options.alpha) {
    // The alpha-carrying twin of the plan's format, where the codec has one.
    if (plan.encoder == "prores_ks" && pix_fmt == AV_PIX_FMT_YUV444P10LE) {
      pix_fmt = AV_PIX_FMT_YUVA444P10LE;
    } else if (pix_fmt == AV_PIX_FMT_0RGB32) {
      pix_fmt = AV_PIX_FMT_RGB32;
    }
    state->alpha = pix_fmt != plan.pix_fmt;
    if (!state->alpha) {
      state->Notice(absl::StrCat("the source's alpha channel cannot be stored in ",
                                 plan.canonical_codec, plan.profile.empty() ? "" : " ",
                                 plan.profile, "; dropped (use --codec prores --profile 4444, "
                                 "4444xq or --codec ffv1 to keep it)"));
    }
  }
  absl::StatusOr<CodecContextPtr> encoder = state->Open(plan.encoder, pix_fmt, plan.options);
  if (!encoder.ok() && !plan.fallback_encoder.empty()) {
    state->Notice(absl::StrCat(plan.encoder, " is not available here (", encoder.status().message(),
                               "); encoding with ", plan.fallback_encoder, " instead"));
    pix_fmt = plan.fallback_pix_fmt;
    encoder = state->Open(plan.fallback_encoder, pix_fmt, plan.fallback_options);
  }
  if (!encoder.ok()) return encoder.status();
  state->encoder = *std::move(encoder);
  const AVCodecContext* enc = state->encoder.get();

  // RGB -> the encoder's format, with the matrix and range the stream is
  // tagged with (RGB input is full range by definition).
  state->sws.reset(sws_getContext(options.width, options.height,
                                  state->alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24, options.width,
                                  options.height, pix_fmt,
                                  SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr,
                                  nullptr, nullptr));
  if (!state->sws) return absl::InternalError("cannot create the RGB converter");
  if (pix_fmt != AV_PIX_FMT_0RGB32 && pix_fmt != AV_PIX_FMT_RGB32) {
    // sws_getCoefficients takes AVColorSpace values (SWS_CS_ITU709 == 1, ...)
    // and falls back to BT.601 for the ones it does not know.
    const int* yuv = sws_getCoefficients(enc->colorspace);
    sws_setColorspaceDetails(state->sws.get(), yuv, /*srcRange=*/1, yuv,
                             /*dstRange=*/enc->color_range == AVCOL_RANGE_JPEG ? 1 : 0,
                             /*brightness=*/0, /*contrast=*/1 << 16, /*saturation=*/1 << 16);
  }
  state->frame = MakeFrame();
  state->packet = MakePacket();
  if (!state->frame || !state->packet) return absl::ResourceExhaustedError("out of memory");
  state->frame->format = pix_fmt;
  state->frame->width = options.width;
  state->frame->height = options.height;
  state->frame->colorspace = enc->colorspace;
  state->frame->color_range = enc->color_range;
  state->frame->color_primaries = enc->color_primaries;
  state->frame->color_trc = enc->color_trc;
  if (av_frame_get_buffer(state->frame.get(), 0) < 0) {
    return absl::ResourceExhaustedError("cannot allocate the encoder's frame");
  }
  if (state->alpha) {
    state->rgba = MakeFrame();
    if (!state->rgba) return absl::ResourceExhaustedError("out of memory");
    state->rgba->format = AV_PIX_FMT_RGBA;
    state->rgba->width = options.width;
    state->rgba->height = options.height;
    if (av_frame_get_buffer(state->rgba.get(), 0) < 0) {
      return absl::ResourceExhaustedError("cannot allocate the RGBA frame");
    }
  }
  return std::unique_ptr<VideoEncoder>(new VideoEncoder(std::move(state)));
}

absl::Status VideoEncoder::Encode(const RgbImage& image, int64_t pts, const PacketSink& sink) {
  State& s = *state_;
  if (s.flushed) {
    return absl::FailedPreconditionError(
        absl::StrCat("frame sent to the ", s.encoder_name, " encoder after its flush"));
  }
  if (image.width != s.options.width || image.height != s.options.height ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat("frame of ", image.width, "x", image.height,
                                                   " sent to an encoder of ", s.options.width,
                                                   "x", s.options.height, " for ",
                                                   s.options.container_path));
  }
  if (s.last_pts != AV_NOPTS_VALUE && pts <= s.last_pts) {
    return absl::InvalidArgumentError(absl::StrCat("frame pts ", pts, " is not after ",
                                                   s.last_pts, " in ", s.options.container_path));
  }
  // The encoder may still reference the previous picture's buffer.
  if (av_frame_make_writable(s.frame.get()) < 0) {
    return absl::ResourceExhaustedError("cannot allocate the encoder's frame");
  }
  if (s.alpha) {
    // RGBA for swscale; a frame without an alpha plane is opaque.
    CopyImageToFrame(image, /*with_alpha=*/true, s.rgba.get());
    sws_scale(s.sws.get(), s.rgba->data, s.rgba->linesize, 0, image.height, s.frame->data,
              s.frame->linesize);
  } else {
    const uint8_t* src[1] = {image.pixels.data()};
    const int src_stride[1] = {image.width * 3};
    sws_scale(s.sws.get(), src, src_stride, 0, image.height, s.frame->data, s.frame->linesize);
  }
  s.frame->pts = pts;
  const int err = avcodec_send_frame(s.encoder.get(), s.frame.get());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("encoding ", s.options.container_path,
                                            " failed at pts ", pts, ": ", AvErrorString(err)));
  }
  s.last_pts = pts;
  return s.Drain(sink);
}

absl::Status VideoEncoder::Flush(const PacketSink& sink) {
  State& s = *state_;
  if (s.flushed) return absl::OkStatus();
  s.flushed = true;
  const int err = avcodec_send_frame(s.encoder.get(), nullptr);
  if (err < 0 && err != AVERROR_EOF) {
    return absl::InternalError(absl::StrCat("cannot flush the encoder of ",
                                            s.options.container_path, ": ", AvErrorString(err)));
  }
  return s.Drain(sink);
}

}  // namespace anifarm
