#include "common/media/lossless_intermediate.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace anifarm {

absl::StatusOr<std::unique_ptr<IntermediateWriter>> IntermediateWriter::Create(
    const IntermediateOptions& options) {
  std::unique_ptr<IntermediateWriter> w(new IntermediateWriter());
  w->options_ = options;
  AVFormatContext* raw = nullptr;
  int err = avformat_alloc_output_context2(&raw, nullptr, "matroska",
                                           options.path.c_str());
  if (err < 0 || !raw) {
    return absl::InternalError(absl::StrCat("cannot create ", options.path, ": ",
                                            AvErrorString(err)));
  }
  w->format_.reset(raw);
  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_FFV1);
  if (!encoder) return absl::UnimplementedError("libavcodec was built without the ffv1 encoder");
  w->codec_.reset(avcodec_alloc_context3(encoder));
  if (!w->codec_) return absl::ResourceExhaustedError("cannot allocate an encoder");
  AVCodecContext* c = w->codec_.get();
  c->width = options.width;
  c->height = options.height;
  c->pix_fmt = static_cast<AVPixelFormat>(options.pixel_format);
  c->time_base = options.time_base;
  c->framerate = options.frame_rate;
  c->sample_aspect_ratio = options.sample_aspect_ratio;
  c->colorspace = static_cast<AVColorSpace>(options.color_space);
  c->color_range = static_cast<AVColorRange>(options.color_range);
  c->color_primaries = static_cast<AVColorPrimaries>(options.color_primaries);
  c->color_trc = static_cast<AVColorTransferCharacteristic>(options.color_trc);
  c->field_order = AV_FIELD_PROGRESSIVE;
  c->gop_size = 1;
  // Version 3 codes slices in parallel; one slice per thread.
  c->level = 3;
  c->thread_count = static_cast<int>(std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  if (w->format_->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AvDictionary codec_options;
  codec_options.Set("slices", "4");
  codec_options.Set("slicecrc", "1");
  err = avcodec_open2(c, encoder, codec_options.out());
  if (err < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open the ffv1 encoder for ", av_get_pix_fmt_name(c->pix_fmt), " ",
        options.width, "x", options.height, ": ", AvErrorString(err)));
  }
  w->stream_ = avformat_new_stream(w->format_.get(), nullptr);
  if (!w->stream_) return absl::ResourceExhaustedError("cannot add a stream");
  err = avcodec_parameters_from_context(w->stream_->codecpar, c);
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot set stream parameters: ", AvErrorString(err)));
  }
  w->stream_->time_base = options.time_base;
  // Matroska writes the display size from the stream's aspect, not the
  // codec's: an anamorphic DVD keeps its 8:9 or 32:27 this way.
  w->stream_->sample_aspect_ratio = options.sample_aspect_ratio;
  w->stream_->avg_frame_rate = options.frame_rate;
  w->stream_->r_frame_rate = options.frame_rate;
  err = avio_open(&w->format_->pb, options.path.c_str(), AVIO_FLAG_WRITE);
  if (err < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", options.path, ": ", AvErrorString(err)));
  }
  err = avformat_write_header(w->format_.get(), nullptr);
  if (err < 0) {
    return absl::InternalError(
        absl::StrCat("cannot write the header of ", options.path, ": ", AvErrorString(err)));
  }
  return w;
}

absl::Status IntermediateWriter::Write(const AVFrame& frame) {
  if (frame.pts == AV_NOPTS_VALUE || (last_pts_ != AV_NOPTS_VALUE && frame.pts <= last_pts_)) {
    return absl::InternalError(absl::StrCat("frame ", frames_, " of ", options_.path,
                                            " has no increasing timestamp (", frame.pts,
                                            " after ", last_pts_, ")"));
  }
  FramePtr copy(av_frame_clone(&frame));
  if (!copy) return absl::ResourceExhaustedError("cannot reference a frame");
  // Progressive from here on, whatever the decoder or a filter said.
  copy->interlaced_frame = 0;
  copy->top_field_first = 0;
  copy->repeat_pict = 0;
  copy->pict_type = AV_PICTURE_TYPE_NONE;
  const int err = avcodec_send_frame(codec_.get(), copy.get());
  if (err < 0) {
    return absl::InternalError(
        absl::StrCat("encoding ", options_.path, " failed: ", AvErrorString(err)));
  }
  last_pts_ = frame.pts;
  ++frames_;
  return WritePackets();
}

absl::Status IntermediateWriter::WritePackets() {
  PacketPtr packet = MakePacket();
  if (!packet) return absl::ResourceExhaustedError("cannot allocate a packet");
  while (true) {
    int err = avcodec_receive_packet(codec_.get(), packet.get());
    if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return absl::OkStatus();
    if (err < 0) {
      return absl::InternalError(
          absl::StrCat("encoding ", options_.path, " failed: ", AvErrorString(err)));
    }
    packet->stream_index = stream_->index;
    av_packet_rescale_ts(packet.get(), codec_->time_base, stream_->time_base);
    err = av_interleaved_write_frame(format_.get(), packet.get());
    if (err < 0) {
      return absl::InternalError(
          absl::StrCat("cannot write ", options_.path, ": ", AvErrorString(err)));
    }
  }
}

absl::Status IntermediateWriter::Finish() {
  int err = avcodec_send_frame(codec_.get(), nullptr);
  if (err < 0 && err != AVERROR_EOF) {
    return absl::InternalError(
        absl::StrCat("encoding ", options_.path, " failed: ", AvErrorString(err)));
  }
  RETURN_IF_ERROR(WritePackets());
  err = av_write_trailer(format_.get());
  if (err < 0) {
    return absl::InternalError(
        absl::StrCat("cannot finish ", options_.path, ": ", AvErrorString(err)));
  }
  return absl::OkStatus();
}

}  // namespace anifarm
