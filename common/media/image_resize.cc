#include "common/media/image_resize.h"

#include "absl/strings/str_cat.h"
#include "common/media/ffmpeg_ptr.h"

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
  return out;
}

}  // namespace anifarm
