// Post-processing after upscaling, as the feature guide does it with Pillow:
//
//   Upscaling -> Sharpening -> Contrast -> Saturation (-> alpha restore)
//
// Each step is one of Pillow's ImageEnhance classes, reproduced here with
// Pillow's exact arithmetic, so the 8-bit output is bit-identical to
// `ImageEnhance.X(image).enhance(factor)` (checked against Pillow-generated
// fixtures in tests/unit/node/pillow_fixtures.h):
//
//   Sharpness(f): degenerate = image.filter(ImageFilter.SMOOTH), i.e. the
//                 3x3 kernel (1 1 1 / 1 5 1 / 1 1 1) / 13 in float, +0.5,
//                 truncated and clamped; the outermost rows and columns are
//                 copied unfiltered, and images under 3x3 are copied whole.
//   Contrast(f):  degenerate = solid gray of int(mean(L) + 0.5), where L is
//                 Pillow's convert("L"): (19595 R + 38470 G + 7471 B
//                 + 0x8000) >> 16.
//   Color(f):     degenerate = image.convert("L").convert("RGB").
//   then          result = Image.blend(degenerate, image, f): with f as a C
//                 float, out = (float)d + f * ((int)i - (int)d) in float;
//                 for 0 <= f <= 1 truncated, otherwise clamped to [0, 255]
//                 and then truncated (never rounded).
//
// A factor of 1 returns the image unchanged; 0 returns the degenerate image
// (blurred / flat gray / grayscale); above 1 extrapolates away from it.
//
// RgbImage has no alpha channel, so the guide's "alpha restore" step has
// nothing to do here: callers that carry alpha keep it aside and put it back
// unchanged (Pillow's enhancers also pass alpha through untouched).
//
// Torch-free: plain CPU code on common/image.h. This is the reference
// implementation: the LibTorch engine runs the same arithmetic as tensor ops
// on its device right after inference (node/engine/device_post_process.h,
// Upscaler::UpscaleAndPostProcess), tested byte for byte against this code
// and the Pillow fixtures; the node worker uses this one when the engine
// cannot (an engine without it, or a resize after the last pass).
#ifndef ANIFARM_NODE_POST_PROCESS_H_
#define ANIFARM_NODE_POST_PROCESS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "common/image.h"

namespace anifarm {

struct PostProcessOptions {
  // The guide's sharpening amount: 0 = none (default), 0.3-0.5 subtle,
  // 0.8-1.0 moderate, 1.5-2.0 strong. The guide's formula is
  // `original + edges * amount` with edges = original - SMOOTH(original),
  // which is Pillow's Sharpness with factor = 1 + amount (computed as
  // (float)(1.0 + (double)amount)). Valid range [0, 5].
  float sharpen = 0.0f;
  // Pillow ImageEnhance.Contrast factor: 1 = original (default), 0.8 = 20%
  // less, 1.1-1.2 the guide's recommended boost. Valid range [0, 5].
  float contrast = 1.0f;
  // Pillow ImageEnhance.Color factor: 1 = original (default), 0 = grayscale,
  // 1.1-1.2 a mild boost. Valid range [0, 5].
  float saturation = 1.0f;

  // True when ApplyPostProcess would leave every image unchanged
  // (sharpen == 0, contrast == 1 and saturation == 1).
  bool IsIdentity() const;
};

// OK when every value is finite and within its range above; otherwise
// InvalidArgument naming the offending field and value.
absl::Status ValidatePostProcess(const PostProcessOptions& options);

// Validates, then applies sharpening, contrast and saturation in the guide's
// order, in place; steps at their neutral value are skipped. On error the
// image is left untouched.
absl::Status ApplyPostProcess(const PostProcessOptions& options, RgbImage& image);

// ---------------------------------------------------------------------------
// Pillow-exact building blocks (public for tests and other callers). The
// factors are Pillow's own (no range check; non-finite factors give 0 where
// Pillow's behaviour is undefined).

// ImageEnhance.Sharpness(image).enhance(factor), in place.
void EnhanceSharpness(RgbImage& image, float factor);
// ImageEnhance.Contrast(image).enhance(factor), in place.
void EnhanceContrast(RgbImage& image, float factor);
// ImageEnhance.Color(image).enhance(factor), in place.
void EnhanceColor(RgbImage& image, float factor);

// image.filter(ImageFilter.SMOOTH).
RgbImage PillowSmooth(const RgbImage& image);
// One pixel of image.convert("L").
inline uint8_t PillowLuma(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}
// int(ImageStat.Stat(image.convert("L")).mean[0] + 0.5); 0 for an empty image.
int PillowContrastMean(const RgbImage& image);
// image = Image.blend(degenerate, image, alpha). Same size required.
void PillowBlendInto(const RgbImage& degenerate, float alpha, RgbImage& image);

}  // namespace anifarm

#endif  // ANIFARM_NODE_POST_PROCESS_H_
