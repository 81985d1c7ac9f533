#include "common/media/image_resize.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/status_macros.h"

namespace anifarm {

absl::StatusOr<RgbImage> ResizeRgb(const RgbImage& image, int width, int height) {
  if (width <= 0 || height <= 0 || image.width <= 0 || image.height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resize ", image.width, "x",
                                                   image.height, " to ", width, "x", height));
  }
  if (width == image.width && height == image.height) return image;
  SwsPtr sws(sws_getContext(image.width, image.height, AV_PIX_FMT_RGB24, width, height,
                            AV_PIX_FMT_RGB24, SWS_LANCZOS | SWS_ACCURATE_RND, nullptr, nullptr,
                            nullptr));
  if (!sws) return absl::InternalError("cannot create a resampler");
  RgbImage out(width, height);
  const uint8_t* src[1] = {image.pixels.data()};
  const int src_stride[1] = {image.width * 3};
  uint8_t* dst[1] = {out.pixels.data()};
  const int dst_stride[1] = {width * 3};
  sws_scale(sws.get(), src, src_stride, 0, image.height, dst, dst_stride);
  if (image.has_alpha()) {
    ASSIGN_OR_RETURN(out.alpha, ResizePlane(image.alpha, image.width, image.height, width, height));
  }
  return out;
}

absl::StatusOr<std::vector<uint8_t>> ResizePlane(const std::vector<uint8_t>& plane, int width,
                                                 int height, int to_width, int to_height) {
  if (width <= 0 || height <= 0 || to_width <= 0 || to_height <= 0 ||
      plane.size() != static_cast<size_t>(width) * height) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resize a ", width, "x", height,
                                                   " plane of ", plane.size(), " bytes to ",
                                                   to_width, "x", to_height));
  }
  if (width == to_width && height == to_height) return plane;
  SwsPtr sws(sws_getContext(width, height, AV_PIX_FMT_GRAY8, to_width, to_height,
                            AV_PIX_FMT_GRAY8, SWS_LANCZOS | SWS_ACCURATE_RND, nullptr, nullptr,
                            nullptr));
  if (!sws) return absl::InternalError("cannot create a resampler");
  // swscale reads and writes whole SIMD words past a row's end: padded
  // frames, then the visible bytes copied out.
  FramePtr in = MakeFrame(), out = MakeFrame();
  if (!in || !out) return absl::ResourceExhaustedError("cannot allocate a frame");
  in->format = out->format = AV_PIX_FMT_GRAY8;
  in->width = width;
  in->height = height;
  out->width = to_width;
  out->height = to_height;
  if (av_frame_get_buffer(in.get(), 0) < 0 || av_frame_get_buffer(out.get(), 0) < 0) {
    return absl::ResourceExhaustedError("cannot allocate a plane");
  }
  for (int y = 0; y < height; ++y) {
    std::memcpy(in->data[0] + static_cast<ptrdiff_t>(y) * in->linesize[0],
                plane.data() + static_cast<size_t>(y) * width, width);
  }
  sws_scale(sws.get(), in->data, in->linesize, 0, height, out->data, out->linesize);
  std::vector<uint8_t> result(static_cast<size_t>(to_width) * to_height);
  for (int y = 0; y < to_height; ++y) {
    std::memcpy(result.data() + static_cast<size_t>(y) * to_width,
                out->data[0] + static_cast<ptrdiff_t>(y) * out->linesize[0], to_width);
  }
  return result;
}

}  // namespace anifarm
