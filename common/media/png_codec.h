// Lossless frame transport: RgbImage <-> PNG bytes through libavcodec's PNG
// encoder and decoder. Nodes send upscaled frames back in this form.
#ifndef ANIFARM_COMMON_MEDIA_PNG_CODEC_H_
#define ANIFARM_COMMON_MEDIA_PNG_CODEC_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/image.h"

namespace anifarm {

absl::StatusOr<std::string> EncodePng(const RgbImage& image);
absl::StatusOr<RgbImage> DecodePng(std::string_view png_bytes);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_PNG_CODEC_H_
