// Tensor twin of node/post_process.cc; see device_post_process.h for the
// rules that keep it bit-exact. Each function names the host function it
// mirrors.
#include "node/engine/device_post_process.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace anifarm::engine {
namespace {

using torch::indexing::Slice;

void CheckImage(const torch::Tensor& image, const char* what) {
  TORCH_CHECK(image.dim() == 3 && image.size(0) == 3 && image.scalar_type() == torch::kUInt8, what,
              ": expected a uint8 [3, H, W] image, got ", image.scalar_type(), " ", image.sizes());
}

void CheckFactor(float factor, const char* what) {
  TORCH_CHECK(std::isfinite(factor), what, ": factor must be finite, got ", factor);
}

// Exact uint8/int -> float32 (0..255 and small integers are exact). Written
// as empty + copy_ rather than .to(kFloat32): the same values, but on
// Debian's LibTorch 1.13 CPU build .to() takes a slow unvectorized path for
// uint8 -> float (~35 ms against ~1 ms for a 1280x720 frame).
torch::Tensor AsFloat(const torch::Tensor& t) {
  return torch::empty(t.sizes(), t.options().dtype(torch::kFloat32)).copy_(t);
}

}  // namespace

// PillowBlendInto / BlendRow: temp = (float)d + (float)(alpha * (float)(v - d)),
// then clamp to [0, 255] and truncate. For 0 <= alpha <= 1 the host truncates
// without clamping, but temp then lies within [min(d, v), max(d, v)] already
// (rounding is monotonic), so the clamp changes nothing.
torch::Tensor DeviceBlend(const torch::Tensor& degenerate, const torch::Tensor& image, float alpha) {
  CheckImage(image, "DeviceBlend");
  CheckFactor(alpha, "DeviceBlend");
  if (alpha == 1.0f) return image;  // Blend.c shortcuts
  if (alpha == 0.0f) return degenerate.to(torch::kUInt8).expand_as(image).contiguous();
  // v - d is an integer in [-255, 255], exact in float. Then the product is
  // rounded to float before the add, by two separate ops (no FMA). The
  // Scalar holds the float alpha exactly and float * float is exact in
  // double, so however a kernel widens it the rounded product is the host's.
  // In place on a fresh buffer: the same rounding as out-of-place ops.
  const torch::Tensor d = AsFloat(degenerate);
  torch::Tensor temp = AsFloat(image);
  temp.sub_(d).mul_(static_cast<double>(alpha)).add_(d);  // p + d == d + p
  return temp.clamp_(0.0, 255.0).to(torch::kUInt8);      // truncates, like the C cast
}

// PillowSmooth: (1 1 1 / 1 5 1 / 1 1 1) / 13 with Filter.c's float sums,
// offset 0.5, clip8; the 1-pixel border is copied; images under 3x3 whole.
torch::Tensor DeviceSmooth(const torch::Tensor& image) {
  CheckImage(image, "DeviceSmooth");
  const int64_t h = image.size(1);
  const int64_t w = image.size(2);
  if (h < 3 || w < 3) return image;
  // Filter.c: kernel[i] = (float)(SMOOTH[i] / 13) ... the host tables hold
  // (float)v * k as float products; v is exact in float and the products
  // below are rounded the same way.
  const float k_edge = 1.0f / 13.0f;
  const float k_center = 5.0f / 13.0f;
  // Three float frames in all (f, then the edge products in place, one row
  // sum buffer, ss): big CPU allocations cost page faults each time.
  torch::Tensor f = AsFloat(image);
  torch::Tensor row = f.index({Slice(), Slice(1, h - 1), Slice(1, w - 1)}).mul(static_cast<double>(k_center));
  const torch::Tensor& edge = f.mul_(static_cast<double>(k_edge));
  // E(rows, cols) with rows/cols offsets 0 (above/left), 1 (mid), 2 (below/right).
  auto e = [&](int64_t dy, int64_t dx) {
    return edge.index({Slice(), Slice(dy, h - 2 + dy), Slice(dx, w - 2 + dx)});
  };
  // Same order of float additions as the host (Filter.c's KERNEL1x3 sums):
  // ss = 0.5 + ((b[-1] + b[0]) + b[+1]) with the row below first, then the
  // row itself, then the row above. Float addition is commutative (one
  // rounding either way), so x + 0.5 and C + E equal 0.5 + x and E + C.
  torch::Tensor ss = e(2, 0).add(e(2, 1));
  ss.add_(e(2, 2)).add_(0.5);
  row.add_(e(1, 0)).add_(e(1, 2));  // (E(m[-1]) + C(m[0])) + E(m[+1])
  ss.add_(row);
  torch::add_out(row, e(0, 0), e(0, 1));
  row.add_(e(0, 2));
  ss.add_(row);
  ss.clamp_(0.0, 255.0);
  torch::Tensor out = image.clone();
  out.index({Slice(), Slice(1, h - 1), Slice(1, w - 1)}).copy_(ss);  // float -> uint8 truncates
  return out;
}

// PillowLuma: (19595 R + 38470 G + 7471 B + 0x8000) >> 16, all in int32
// (at most 255 * 65536 + 32768 < 2^31).
torch::Tensor DeviceLuma(const torch::Tensor& image) {
  CheckImage(image, "DeviceLuma");
  torch::Tensor l = image[0].to(torch::kInt32).mul_(19595);
  l.add_(image[1].to(torch::kInt32).mul_(38470));
  l.add_(image[2].to(torch::kInt32).mul_(7471));
  l.add_(0x8000);
  return l.__rshift__(16).to(torch::kUInt8);
}

// PillowContrastMean: int((double)sum / (double)count + 0.5), on the device.
torch::Tensor DeviceContrastMean(const torch::Tensor& image) {
  CheckImage(image, "DeviceContrastMean");
  const int64_t count = image.size(1) * image.size(2);
  const auto on_device = torch::TensorOptions().device(image.device());
  if (count == 0) return torch::zeros({}, on_device.dtype(torch::kInt32));
  const torch::Tensor sum = DeviceLuma(image).sum(torch::kInt64).to(torch::kFloat64);  // exact < 2^53
  // Tensor / tensor, both on the device: a true IEEE division (see header).
  const torch::Tensor mean = sum.div(torch::full({}, static_cast<double>(count), on_device.dtype(torch::kFloat64)));
  return mean.add(0.5).to(torch::kInt32);  // positive: the cast truncates like int()
}

// EnhanceSharpness: blend(smooth(image), image, factor).
torch::Tensor DeviceSharpness(const torch::Tensor& image, float factor) {
  CheckImage(image, "DeviceSharpness");
  CheckFactor(factor, "DeviceSharpness");
  if (factor == 1.0f) return image;
  return DeviceBlend(DeviceSmooth(image), image, factor);
}

// EnhanceContrast: blend(flat gray of the contrast mean, image, factor).
torch::Tensor DeviceContrast(const torch::Tensor& image, float factor) {
  CheckImage(image, "DeviceContrast");
  CheckFactor(factor, "DeviceContrast");
  if (factor == 1.0f || image.numel() == 0) return image;
  return DeviceBlend(DeviceContrastMean(image), image, factor);  // 0-dim, broadcast
}

// EnhanceColor: blend(L as RGB, image, factor).
torch::Tensor DeviceColor(const torch::Tensor& image, float factor) {
  CheckImage(image, "DeviceColor");
  CheckFactor(factor, "DeviceColor");
  if (factor == 1.0f || image.numel() == 0) return image;
  return DeviceBlend(DeviceLuma(image).unsqueeze(0), image, factor);  // [1, H, W], broadcast
}

// ApplyPostProcess (less the validation and the buffer-size check).
torch::Tensor DevicePostProcess(const torch::Tensor& image, float sharpen, float contrast,
                                float saturation) {
  CheckImage(image, "DevicePostProcess");
  torch::Tensor out = image;
  if (sharpen != 0.0f) {
    // Pillow receives 1 + amount as a Python float and blends with it as a
    // C float, as the host computes it.
    out = DeviceSharpness(out, static_cast<float>(1.0 + static_cast<double>(sharpen)));
  }
  if (contrast != 1.0f) out = DeviceContrast(out, contrast);
  if (saturation != 1.0f) out = DeviceColor(out, saturation);
  return out;
}

}  // namespace anifarm::engine
