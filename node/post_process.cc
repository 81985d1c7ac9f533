#include "node/post_process.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"

namespace anifarm {
namespace {

// Bit-exactness with Pillow depends on every float product being rounded to
// float on its own before it is added (Pillow's C is built without FMA). The
// hot loops below only add values taken from tables, and the tables are
// filled through a volatile float, so no compiler can fuse a multiply and an
// add into an FMA whatever -ffp-contract or -march says.
float RoundedProduct(float a, float b) {
  volatile float product = a * b;
  return product;
}

// One row of Pillow's Blend.c for a fixed in1 (= degenerate value d):
// row[v] = blend of d towards v by alpha.
void BlendRow(float alpha, int d, uint8_t* row) {
  const bool interpolate = alpha >= 0.0f && alpha <= 1.0f;
  for (int v = 0; v < 256; ++v) {
    const float temp = static_cast<float>(d) + RoundedProduct(alpha, static_cast<float>(v - d));
    uint8_t out;
    if (interpolate) {
      out = static_cast<uint8_t>(temp);  // stays within [min(d, v), max(d, v)]
    } else if (temp <= 0.0f) {
      out = 0;
    } else if (temp >= 255.0f) {
      out = 255;
    } else if (temp > 0.0f) {
      out = static_cast<uint8_t>(temp);
    } else {
      out = 0;  // NaN (non-finite alpha): undefined in Pillow
    }
    row[v] = out;
  }
}

// lut[d * 256 + v] = Image.blend pixel for degenerate d and image value v.
std::vector<uint8_t> BlendTable(float alpha) {
  std::vector<uint8_t> lut(256 * 256);
  for (int d = 0; d < 256; ++d) BlendRow(alpha, d, lut.data() + d * 256);
  return lut;
}

absl::Status CheckRange(const char* name, float value) {
  if (!std::isfinite(value) || value < 0.0f || value > 5.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("post-process ", name, " must be a finite value in [0, 5], got ", value));
  }
  return absl::OkStatus();
}

}  // namespace

bool PostProcessOptions::IsIdentity() const {
  return sharpen == 0.0f && contrast == 1.0f && saturation == 1.0f;
}

absl::Status ValidatePostProcess(const PostProcessOptions& options) {
  if (absl::Status s = CheckRange("sharpen", options.sharpen); !s.ok()) return s;
  if (absl::Status s = CheckRange("contrast", options.contrast); !s.ok()) return s;
  return CheckRange("saturation", options.saturation);
}

absl::Status ApplyPostProcess(const PostProcessOptions& options, RgbImage& image) {
  if (absl::Status s = ValidatePostProcess(options); !s.ok()) return s;
  if (image.pixels.size() != size_t(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat("post-process: image buffer holds ",
                                                   image.pixels.size(), " bytes for ", image.width,
                                                   "x", image.height, " RGB"));
  }
  if (options.sharpen != 0.0f) {
    // Pillow receives the factor as a Python float (1 + amount) and blends
    // with it as a C float.
    EnhanceSharpness(image, static_cast<float>(1.0 + static_cast<double>(options.sharpen)));
  }
  if (options.contrast != 1.0f) EnhanceContrast(image, options.contrast);
  if (options.saturation != 1.0f) EnhanceColor(image, options.saturation);
  return absl::OkStatus();
}

RgbImage PillowSmooth(const RgbImage& image) {
  const int w = image.width;
  const int h = image.height;
  if (w < 3 || h < 3) return image;  // ImagingFilter: smaller than the kernel

  // Filter.c: kernel = SMOOTH / 13 in float; offset 0 + 0.5 for rounding.
  const float k_edge = 1.0f / 13.0f;
  const float k_center = 5.0f / 13.0f;
  std::array<float, 256> edge{};
  std::array<float, 256> center{};
  for (int v = 0; v < 256; ++v) {
    edge[v] = RoundedProduct(static_cast<float>(v), k_edge);
    center[v] = RoundedProduct(static_cast<float>(v), k_center);
  }

  RgbImage out(w, h);
  const size_t stride = size_t(w) * 3;
  std::copy(image.row(0), image.row(0) + stride, out.row(0));
  std::copy(image.row(h - 1), image.row(h - 1) + stride, out.row(h - 1));
  for (int y = 1; y < h - 1; ++y) {
    const uint8_t* above = image.row(y - 1);
    const uint8_t* mid = image.row(y);
    const uint8_t* below = image.row(y + 1);
    uint8_t* dst = out.row(y);
    for (int c = 0; c < 3; ++c) {
      dst[c] = mid[c];
      dst[stride - 3 + c] = mid[stride - 3 + c];
    }
    for (size_t i = 3; i < stride - 3; ++i) {
      // Same order of float additions as Filter.c's KERNEL1x3 sums: the row
      // below (y + 1) first, then the row itself, then the row above.
      float ss = 0.5f;
      ss += edge[below[i - 3]] + edge[below[i]] + edge[below[i + 3]];
      ss += edge[mid[i - 3]] + center[mid[i]] + edge[mid[i + 3]];
      ss += edge[above[i - 3]] + edge[above[i]] + edge[above[i + 3]];
      // clip8: clamp to [0, 255] and truncate.
      ss = ss < 0.0f ? 0.0f : ss;
      ss = ss > 255.0f ? 255.0f : ss;
      dst[i] = static_cast<uint8_t>(ss);
    }
  }
  return out;
}

int PillowContrastMean(const RgbImage& image) {
  const size_t count = size_t(image.width) * image.height;
  if (count == 0) return 0;
  uint64_t sum = 0;
  const uint8_t* p = image.pixels.data();
  for (size_t i = 0; i < count; ++i, p += 3) sum += PillowLuma(p[0], p[1], p[2]);
  // ImageStat: sum (exact in a double) / count, then int(mean + 0.5).
  const double mean = static_cast<double>(sum) / static_cast<double>(count);
  return static_cast<int>(mean + 0.5);
}

void PillowBlendInto(const RgbImage& degenerate, float alpha, RgbImage& image) {
  if (alpha == 1.0f) return;  // Blend.c shortcut: a copy of the image
  if (alpha == 0.0f) {        // ... or of the degenerate one
    image.pixels = degenerate.pixels;
    return;
  }
  const std::vector<uint8_t> lut = BlendTable(alpha);
  const size_t n = image.pixels.size();
  const uint8_t* d = degenerate.pixels.data();
  uint8_t* v = image.pixels.data();
  for (size_t i = 0; i < n; ++i) v[i] = lut[size_t(d[i]) * 256 + v[i]];
}

void EnhanceSharpness(RgbImage& image, float factor) {
  if (factor == 1.0f) return;
  PillowBlendInto(PillowSmooth(image), factor, image);
}

void EnhanceContrast(RgbImage& image, float factor) {
  if (factor == 1.0f) return;
  // The degenerate image is a flat gray: one blend row is enough.
  std::array<uint8_t, 256> row;
  BlendRow(factor, PillowContrastMean(image), row.data());
  for (uint8_t& v : image.pixels) v = row[v];
}

void EnhanceColor(RgbImage& image, float factor) {
  if (factor == 1.0f) return;
  const std::vector<uint8_t> lut = BlendTable(factor);
  const size_t count = size_t(image.width) * image.height;
  uint8_t* p = image.pixels.data();
  for (size_t i = 0; i < count; ++i, p += 3) {
    const uint8_t* row = lut.data() + size_t(PillowLuma(p[0], p[1], p[2])) * 256;
    p[0] = row[p[0]];
    p[1] = row[p[1]];
    p[2] = row[p[2]];
  }
}

}  // namespace anifarm
