// High-quality resampling of RgbImage (libswscale, Lanczos), used after
// super-resolution passes to land on the exact size the user asked for.
#ifndef ANIFARM_COMMON_MEDIA_IMAGE_RESIZE_H_
#define ANIFARM_COMMON_MEDIA_IMAGE_RESIZE_H_

#include "absl/status/statusor.h"
#include "common/image.h"

namespace anifarm {

// The picture and, when it has one, its alpha plane.
absl::StatusOr<RgbImage> ResizeRgb(const RgbImage& image, int width, int height);

// One 8-bit plane (an alpha channel) of `width` x `height` to `to_width` x
// `to_height`, Lanczos: the guide's "alpha restore" after the RGB upscale.
absl::StatusOr<std::vector<uint8_t>> ResizePlane(const std::vector<uint8_t>& plane, int width,
                                                 int height, int to_width, int to_height);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_IMAGE_RESIZE_H_
