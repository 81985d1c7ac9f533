// Small functional building blocks shared by the networks that run a state
// dict with LibTorch ops (OmniSR, SPAN, RealPLKSR): a convolution with its
// weights, the per-pixel channel LayerNorm those architectures use, and the
// fp32 detour for ops that LibTorch's CPU kernels lack in bf16.
#ifndef ANIFARM_NODE_ENGINE_NN_OPS_H_
#define ANIFARM_NODE_ENGINE_NN_OPS_H_

#include <ATen/ATen.h>
#include <torch/types.h>

namespace anifarm::engine {

// A 2-D convolution's parameters; `bias` may be undefined (bias=False).
// Padding keeps the size for odd square kernels (k // 2), as every
// convolution of these architectures does unless stated otherwise.
struct Conv2d {
  torch::Tensor weight;  // [out, in / groups, k, k]
  torch::Tensor bias;    // [out] or undefined
  int64_t groups = 1;

  torch::Tensor operator()(const torch::Tensor& x) const {
    const int64_t pad = weight.size(2) / 2;
    return at::conv2d(x, weight, bias, /*stride=*/at::IntArrayRef{1, 1},
                      /*padding=*/at::IntArrayRef{pad, weight.size(3) / 2}, /*dilation=*/at::IntArrayRef{1, 1},
                      groups);
  }
};

// LayerNorm over the channels of each pixel of [N, C, H, W] (the
// "LayerNorm2d" of OmniSR and RealPLKSR): biased variance, eps inside the
// square root.
inline torch::Tensor ChannelLayerNorm(const torch::Tensor& x, const torch::Tensor& weight,
                                      const torch::Tensor& bias, double eps) {
  const torch::Tensor mean = x.mean(1, /*keepdim=*/true);
  const torch::Tensor centered = x - mean;
  const torch::Tensor var = centered.pow(2).mean(1, /*keepdim=*/true);
  return centered.div_((var + eps).sqrt_()).mul_(weight.view({1, -1, 1, 1})).add_(bias.view({1, -1, 1, 1}));
}

// Runs `op` on `x` in fp32 when x is a reduced-precision CPU tensor, for the
// few ops whose CPU kernels have no bf16 (mish) or a broken one (oneDNN's
// bf16 transposed convolution in LibTorch 1.13 checks its weight as a plain
// convolution's), and returns the result in x's dtype. `op` gets fp32
// operands and converts any weights it uses itself. Elsewhere (CUDA, fp32),
// `op` runs on x as it is.
template <typename Op>
torch::Tensor InFloatOnCpu(const torch::Tensor& x, const Op& op) {
  if (x.is_cuda() || x.scalar_type() == torch::kFloat32) return op(x);
  return op(x.to(torch::kFloat32)).to(x.scalar_type());
}

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NN_OPS_H_
