// Conversions between decoded AVFrames and RgbImage (libswscale), with the
// source's colour matrix and range honoured rather than a default one.
#ifndef ANIFARM_COMMON_MEDIA_FRAME_CONVERT_H_
#define ANIFARM_COMMON_MEDIA_FRAME_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/image.h"
#include "common/media/ffmpeg_ptr.h"

namespace anifarm {

// Any decoded video frame -> packed RGB24.
// Sources with an alpha channel also fill RgbImage::alpha.
absl::StatusOr<RgbImage> FrameToRgb(const AVFrame& frame);

// The way back: packs `image` into `frame`, an allocated frame of its size
// in RGB24, or in RGBA when `with_alpha` (an image without an alpha plane
// is then opaque).
void CopyImageToFrame(const RgbImage& image, bool with_alpha, AVFrame* frame);

// MD5 (hex) of the frame's visible pixels, plane by plane, row by row
// (padding excluded). Identical pictures hash identically whatever the
// decoder's line sizes; this is the guide's duplicate detector.
std::string FramePixelsMd5(const AVFrame& frame);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_FRAME_CONVERT_H_
