// The first and last layers of a Compact network (srvgg_compact.h) as one
// AniFarm kernel each on CUDA (node/engine/cuda/compact_ends_kernels.h):
// the head (3 → F convolution, bias, PReLU) written once in channels-last,
// and the tail (F → 3·s² convolution, bias, pixel shuffle and the nearest
// upsampled input added) written once at the output size. cuDNN's kernels
// are built for the body's 64 → 64 and run these channel counts far below
// peak, and the tail's shuffle and add are three more passes over memory
// (docs/benchmarks.md, "The fused epilogue").
//
// An experiment until a GPU has measured it, so opt-in: ANIFARM_COMPACT_ENDS=1
// on a CUDA device in a build with the kernels. A layer the kernels do not
// take (a feature count, fp32 for the tail, a layout) runs as before.
#ifndef ANIFARM_NODE_ENGINE_COMPACT_ENDS_H_
#define ANIFARM_NODE_ENGINE_COMPACT_ENDS_H_

#include <ATen/ATen.h>
#include <torch/types.h>

#include <cstdint>
#include <optional>

namespace anifarm::engine {

// Whether CompactNet on `device` should try the kernels: built in, a CUDA
// device, and ANIFARM_COMPACT_ENDS=1.
bool CompactEndsEnabled(const torch::Device& device);

// The head's weights as the kernel takes them, in host memory: weights
// [27·F] fp32 with index (c·9 + ky·3 + kx)·F + f, bias and slope [F] fp32.
struct CompactHeadWeights {
  torch::Tensor weights;
  torch::Tensor bias;
  torch::Tensor slope;
  int64_t features = 0;
};

// From the head convolution's weight [F, 3, 3, 3], bias [F] and PReLU
// weight [F] (any device, dtype, layout).
CompactHeadWeights PackHeadWeights(const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& slope);

// The tail convolution's weight [K, F, 3, 3] rearranged for the kernel
// (cuda::TailWeightIndex: [F/16][9][16][K rounded up to 16], zero-padded),
// contiguous, as `dtype` on `device`.
torch::Tensor PackTailWeights(const torch::Tensor& weight, torch::ScalarType dtype, const torch::Device& device);

// PReLU(conv3x3(x, padding 1) + bias, slope) as a new channels-last tensor,
// for x [N, 3, H, W] (any strides) fp32, fp16 or bf16 on CUDA; std::nullopt
// where the kernel does not take it (the caller runs its own layers).
std::optional<torch::Tensor> RunCompactHead(const torch::Tensor& x, const CompactHeadWeights& head);

// pixel_shuffle(conv3x3(feat, padding 1) + bias, scale) + upsample_nearest(x,
// scale), for feat [N, F, H, W] channels-last fp16 or bf16 on CUDA, x
// [N, out_channels / scale², H, W] of the same dtype, `packed` from
// PackTailWeights and bias contiguous fp32 [out_channels] on the device.
// The result has x's memory format; std::nullopt where the kernel does not
// take these tensors.
std::optional<torch::Tensor> RunCompactTail(const torch::Tensor& feat, const torch::Tensor& x,
                                            const torch::Tensor& packed, const torch::Tensor& bias,
                                            int64_t out_channels, int64_t scale);

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_COMPACT_ENDS_H_
