#include "common/media/png_codec.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/frame_convert.h"

namespace anifarm {

absl::StatusOr<std::string> EncodePng(const RgbImage& image) {
  const size_t area = static_cast<size_t>(std::max(image.width, 0)) * std::max(image.height, 0);
  if (image.width <= 0 || image.height <= 0 || image.pixels.size() != area * 3 ||
      (image.has_alpha() && image.alpha.size() != area)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode a ", image.width, "x",
                                                   image.height, " image of ",
                                                   image.pixels.size(), " bytes as PNG"));
  }
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) return absl::UnimplementedError("libavcodec has no PNG encoder");
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) return absl::ResourceExhaustedError("cannot allocate a PNG encoder");
  context->width = image.width;
  context->height = image.height;
  // With an alpha plane: RGBA, so the transport keeps it.
  const AVPixelFormat pix_fmt = image.has_alpha() ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24;
  context->pix_fmt = pix_fmt;
  context->time_base = AVRational{1, 25};  // required by the API, unused by PNG
  int err = avcodec_open2(context.get(), codec, nullptr);
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot open the PNG encoder: ", AvErrorString(err)));
  }

  FramePtr frame = MakeFrame();
  if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
  frame->format = pix_fmt;
  frame->width = image.width;
  frame->height = image.height;
  if (av_frame_get_buffer(frame.get(), 0) < 0) {
    return absl::ResourceExhaustedError("cannot allocate a frame buffer");
  }
  CopyImageToFrame(image, image.has_alpha(), frame.get());
  err = avcodec_send_frame(context.get(), frame.get());
  if (err >= 0) err = avcodec_send_frame(context.get(), nullptr);
  if (err < 0) {
    return absl::InternalError(absl::StrCat("PNG encoding failed: ", AvErrorString(err)));
  }
  PacketPtr packet = MakePacket();
  if (!packet) return absl::ResourceExhaustedError("cannot allocate a packet");
  err = avcodec_receive_packet(context.get(), packet.get());
  if (err < 0) {
    return absl::InternalError(absl::StrCat("PNG encoding failed: ", AvErrorString(err)));
  }
  return std::string(reinterpret_cast<const char*>(packet->data), packet->size);
}

absl::StatusOr<RgbImage> DecodePng(std::string_view png_bytes) {
  if (png_bytes.empty()) return absl::InvalidArgumentError("empty PNG data");
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_PNG);
  if (!codec) return absl::UnimplementedError("libavcodec has no PNG decoder");
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) return absl::ResourceExhaustedError("cannot allocate a PNG decoder");
  int err = avcodec_open2(context.get(), codec, nullptr);
  if (err < 0) {
    return absl::InternalError(absl::StrCat("cannot open the PNG decoder: ", AvErrorString(err)));
  }
  // av_new_packet adds the zeroed padding that decoders may read into.
  PacketPtr packet = MakePacket();
  if (!packet || av_new_packet(packet.get(), static_cast<int>(png_bytes.size())) < 0) {
    return absl::ResourceExhaustedError("cannot allocate a packet");
  }
  std::memcpy(packet->data, png_bytes.data(), png_bytes.size());
  err = avcodec_send_packet(context.get(), packet.get());
  if (err >= 0) err = avcodec_send_packet(context.get(), nullptr);
  FramePtr frame = MakeFrame();
  if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
  if (err >= 0) err = avcodec_receive_frame(context.get(), frame.get());
  if (err < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a valid PNG image (", png_bytes.size(), " bytes): ", AvErrorString(err)));
  }
  if (frame->format == AV_PIX_FMT_RGB24) {
    RgbImage image(frame->width, frame->height);
    const size_t row_bytes = static_cast<size_t>(frame->width) * 3;
    for (int y = 0; y < frame->height; ++y) {
      std::memcpy(image.row(y), frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0],
                  row_bytes);
    }
    return image;
  }
  // RGBA (alpha kept), 16-bit, gray or palette PNGs: swscale brings them to
  // RGB24.
  return FrameToRgb(*frame);
}

}  // namespace anifarm
