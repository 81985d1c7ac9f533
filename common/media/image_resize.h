// High-quality resampling of RgbImage (libswscale, Lanczos), used after
// super-resolution passes to land on the exact size the user asked for.
#ifndef ANIFARM_COMMON_MEDIA_IMAGE_RESIZE_H_
#define ANIFARM_COMMON_MEDIA_IMAGE_RESIZE_H_

#include "absl/status/statusor.h"
#include "common/image.h"

namespace anifarm {

absl::StatusOr<RgbImage> ResizeRgb(const RgbImage& image, int width, int height);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_IMAGE_RESIZE_H_
