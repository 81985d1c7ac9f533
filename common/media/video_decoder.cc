#include "common/media/video_decoder.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/mem.h>
}

namespace anifarm {

absl::StatusOr<std::unique_ptr<VideoDecoder>> VideoDecoder::Create(const DecoderParams& params) {
  const AVCodecID codec_id = static_cast<AVCodecID>(params.codec_id);
  const AVCodec* codec = avcodec_find_decoder(codec_id);
  if (!codec) {
    return absl::UnimplementedError(
        absl::StrCat("no decoder for codec ", avcodec_get_name(codec_id), " (id ",
                     params.codec_id, ")"));
  }
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) return absl::ResourceExhaustedError("cannot allocate a decoder context");
  context->width = params.width;
  context->height = params.height;
  context->pix_fmt = static_cast<AVPixelFormat>(params.pixel_format);
  context->colorspace = static_cast<AVColorSpace>(params.color_space);
  context->color_range = static_cast<AVColorRange>(params.color_range);
  // With the packet time base set, frames carry best_effort_timestamp in the
  // source's time base, which is what chunks and the assembler key on.
  context->pkt_timebase = params.time_base;
  context->time_base = params.time_base;
  if (!params.extradata.empty()) {
    // The decoder owns extradata and frees it with av_free, so it must come
    // from av_mallocz (with the padding bitstream readers may over-read).
    context->extradata = static_cast<uint8_t*>(
        av_mallocz(params.extradata.size() + AV_INPUT_BUFFER_PADDING_SIZE));
    if (!context->extradata) return absl::ResourceExhaustedError("cannot allocate extradata");
    std::memcpy(context->extradata, params.extradata.data(), params.extradata.size());
    context->extradata_size = static_cast<int>(params.extradata.size());
  }
  context->thread_count = 0;  // one per core
  context->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  const int err = avcodec_open2(context.get(), codec, nullptr);
  if (err < 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot open the ", codec->name,
                                                   " decoder: ", AvErrorString(err)));
  }
  std::unique_ptr<VideoDecoder> decoder(new VideoDecoder());
  decoder->codec_ = std::move(context);
  return decoder;
}

absl::Status VideoDecoder::Decode(const AVPacket& packet, std::vector<FramePtr>* out) {
  const int err = avcodec_send_packet(codec_.get(), &packet);
  if (err < 0) {
    return absl::DataLossError(absl::StrCat("cannot decode a ", codec_->codec->name,
                                            " packet (pts ", packet.pts, "): ",
                                            AvErrorString(err)));
  }
  return Drain(out);
}

absl::Status VideoDecoder::Flush(std::vector<FramePtr>* out) {
  const int err = avcodec_send_packet(codec_.get(), nullptr);
  if (err < 0 && err != AVERROR_EOF) {
    return absl::DataLossError(
        absl::StrCat("cannot flush the ", codec_->codec->name, " decoder: ", AvErrorString(err)));
  }
  absl::Status status = Drain(out);
  // Back to a fresh state, so the same decoder can take the next run of
  // packets (e.g. the next chunk) after a flush.
  avcodec_flush_buffers(codec_.get());
  return status;
}

absl::Status VideoDecoder::Drain(std::vector<FramePtr>* out) {
  while (true) {
    FramePtr frame = MakeFrame();
    if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
    const int err = avcodec_receive_frame(codec_.get(), frame.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
    if (err < 0) {
      return absl::DataLossError(absl::StrCat("cannot decode a ", codec_->codec->name,
                                              " frame: ", AvErrorString(err)));
    }
    if (frame->pts == AV_NOPTS_VALUE) frame->pts = frame->best_effort_timestamp;
    out->push_back(std::move(frame));
  }
}

}  // namespace anifarm
