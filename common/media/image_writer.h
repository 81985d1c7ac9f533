// Still-image output: an upscaled RgbImage written as PNG, JPEG or WebP, the
// three "Formats de Sortie" of the feature guide, with the FFmpeg libraries
// in-process (png, mjpeg and libwebp encoders).
//
// Settings and defaults (the guide's, see image_writer.cc for the details):
//   PNG   compression 0-9, default 6 (the guide's compress_level=6); lossless;
//         8 or 16 bits per channel (16-bit stores v * 257, i.e. the 8-bit
//         value spread over the full 16-bit range). Rows are filtered with a
//         per-row adaptive choice (the "optimize" the guide turns on).
//   JPEG  quality 1-100, default 95 (the guide's recommendation). Quality
//         scales the standard JPEG (Annex K) tables exactly as libjpeg and
//         Pillow do, so "quality 95" means what it means in the guide.
//         Chroma is kept at full resolution (4:4:4) from quality 90 up, and
//         subsampled 4:2:0 below (where the guide says 8x8 blocks show anyway).
//   WebP  quality 0-100, default 95, and method 0-6 (`compression`), default
//         6: the guide gives no explicit default, but its reference setting
//         is "quality 95, method 6" (6 = best compression). `lossless`
//         switches to lossless WebP, where quality is libwebp's effort.
//
// Alpha (RgbImage::alpha): PNG (8 or 16 bit) and WebP (lossy: VP8 + alpha,
// lossless: exact) keep it; JPEG composites the image on a white background
// first (the guide's RGBA->RGB rule).
#ifndef ANIFARM_COMMON_MEDIA_IMAGE_WRITER_H_
#define ANIFARM_COMMON_MEDIA_IMAGE_WRITER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/image.h"

namespace anifarm {

inline constexpr int kDefaultPngCompression = 6;
inline constexpr int kDefaultJpegQuality = 95;
inline constexpr int kDefaultWebpQuality = 95;
inline constexpr int kDefaultWebpMethod = 6;

struct ImageWriteOptions {
  // "png" | "jpeg" (or "jpg") | "webp"; empty = from the path's extension
  // (.png, .jpg/.jpeg, .webp, any case).
  std::string format;
  // JPEG 1-100, WebP 0-100; -1 = the format's default. Refused for PNG.
  int quality = -1;
  // PNG zlib level 0-9, WebP method 0-6; -1 = the format's default. Refused
  // for JPEG.
  int compression = -1;
  // WebP only (PNG is always lossless, so true is accepted there; refused
  // for JPEG).
  bool lossless = false;
  // PNG: 8 or 16 bits per channel. JPEG and WebP: 8 only.
  int bit_depth = 8;
};

// Checks `options` against `path` without touching the disk. Every error is
// InvalidArgument and names the value at fault (e.g. "JPEG quality 101 is out
// of range 1-100"). An explicit format must agree with a known image
// extension of the path (format "png" for "x.jpg" is refused); with an
// unknown extension (".tmp", none) an explicit format is required.
// True for the extensions image jobs write: .png, .jpg, .jpeg, .webp.
bool IsImageOutputPath(const std::string& path);

absl::Status ValidateImageWriteOptions(const ImageWriteOptions& options, const std::string& path);

// Encodes `image` in memory. `path` only serves to resolve an empty format
// (pass "" when options.format is set).
absl::StatusOr<std::string> EncodeImage(const RgbImage& image, const ImageWriteOptions& options,
                                        const std::string& path = "");

// Validates, encodes and writes `image` to `path`. The bytes go to a hidden
// temporary file beside `path` (".<name>.<pid>-<n>.tmp", same folder, so the
// rename is atomic), are flushed to disk and then renamed over `path`: a
// crash never leaves a half-written image under the final name.
absl::Status WriteImageFile(const RgbImage& image, const std::string& path,
                            const ImageWriteOptions& options);

}  // namespace anifarm

#endif  // ANIFARM_COMMON_MEDIA_IMAGE_WRITER_H_
