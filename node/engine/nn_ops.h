// Small functional building blocks shared by the networks that run a state
// dict with LibTorch ops (OmniSR, SPAN, RealPLKSR): a convolution with its
// weights, and the per-pixel channel LayerNorm those architectures use.
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

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_NN_OPS_H_
