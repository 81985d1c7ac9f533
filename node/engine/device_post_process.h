// The guide's post-processing (sharpen -> contrast -> saturation, Pillow's
// ImageEnhance.Sharpness, Contrast and Color) as LibTorch tensor ops on the
// frame's own device, run by TorchUpscaler right after inference and before
// the frame is copied to the host.
//
// The result is byte-identical to the host reference implementation in
// node/post_process.{h,cc} (and so to Pillow 9.4): every step mirrors it
// operation by operation.
//
//   * Integer parts (luma, the sum for the contrast mean) run in int32/int64,
//     which is exact.
//   * Float parts run in float32 with one elementwise op per C operation, in
//     the same order as the host code (and Pillow's C), so each product and
//     each sum is rounded to float on its own. Never fold a multiply and an
//     add into one op (torch::add(a, b, alpha), addcmul, ...): CUDA kernels
//     are compiled with FMA contraction, and a fused a + alpha * b rounds
//     once instead of twice.
//   * The contrast mean divides two float64 tensors on the device (a division
//     by a host Scalar may be done as a multiplication by its reciprocal on
//     CUDA, which is not the correctly rounded quotient).
//   * float -> uint8 conversions truncate (static_cast), after a clamp to
//     [0, 255], exactly like the host's clip8 and Blend.c.
//
// The tests run these on the CPU (tests/unit/engine/device_post_process_test.cc);
// the same ops run unchanged on CUDA, where IEEE float32/float64 add, multiply
// and divide are correctly rounded too (PyTorch is not built with
// --use_fast_math).
//
// Factors must be finite (NaN would reach a float -> uint8 cast, undefined
// in C++ and in Pillow); the range policy ([0, 5]) is ValidatePostProcess's.
#ifndef ANIFARM_NODE_ENGINE_DEVICE_POST_PROCESS_H_
#define ANIFARM_NODE_ENGINE_DEVICE_POST_PROCESS_H_

#include <torch/types.h>

namespace anifarm::engine {

// All images are uint8 [3, H, W] (channels first, as the network outputs
// them) on any device; results are new uint8 [3, H, W] tensors on the same
// device (or the input itself when a step is the identity).

// The guide's chain, as ApplyPostProcess does it: Sharpness(1 + sharpen)
// unless sharpen == 0, then Contrast(contrast) unless 1, then
// Color(saturation) unless 1.
torch::Tensor DevicePostProcess(const torch::Tensor& image, float sharpen, float contrast,
                                float saturation);

// ImageEnhance.Sharpness(image).enhance(factor).
torch::Tensor DeviceSharpness(const torch::Tensor& image, float factor);
// ImageEnhance.Contrast(image).enhance(factor).
torch::Tensor DeviceContrast(const torch::Tensor& image, float factor);
// ImageEnhance.Color(image).enhance(factor).
torch::Tensor DeviceColor(const torch::Tensor& image, float factor);

// image.filter(ImageFilter.SMOOTH): [3, H, W] uint8.
torch::Tensor DeviceSmooth(const torch::Tensor& image);
// image.convert("L"): [H, W] uint8.
torch::Tensor DeviceLuma(const torch::Tensor& image);
// int(ImageStat.Stat(image.convert("L")).mean[0] + 0.5) as a 0-dim int32
// tensor on the image's device (no host sync); 0 for an empty image.
torch::Tensor DeviceContrastMean(const torch::Tensor& image);
// Image.blend(degenerate, image, alpha): `degenerate` is any integer tensor
// broadcastable to image's shape (values 0..255).
torch::Tensor DeviceBlend(const torch::Tensor& degenerate, const torch::Tensor& image, float alpha);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_DEVICE_POST_PROCESS_H_
