// OmniSR (Omni Aggregation Networks for Lightweight Image Super-Resolution,
// Wang et al. 2023; e.g. 4x_WTP_descreenton) run with functional LibTorch
// ops on the loaded state dict, following Spandrel's definition:
//
//   x' = x zero-padded (bottom, right) to a multiple of the window w
//   feat = input(x')                                   3x3, 3 → C
//   out = output(OSAG_{R-1}(...OSAG_0(feat))) + feat   3x3, C → C
//   y = pixel_shuffle(up.0(out), s), cropped to H·s × W·s
//
//   OSAG(x)  = ESA(conv1x1(OSA_{B-1}(...OSA_0(x))) + x)
//   OSA(x)   = the 13-layer sequence "layer.0" .. "layer.12":
//     0  MBConv: x + conv1x1(SE(gelu(dw3x3(gelu(conv1x1(x))))))
//     2  block attention: windows of w×w neighbouring pixels,
//        x + MHSA(LayerNorm(x)) with a learnt relative position bias
//     4, 6, 10, 12  x + GatedFFN(LayerNorm2d(x)):
//        conv1x1(gelu(a) · b), [a, b] = dw3x3(conv1x1(x))
//     5  x + ChannelAttention(LayerNorm2d(x)) within each w×w patch
//     8  grid attention: w×w pixels spread over the frame with stride
//        H/w, W/w (the dilated "grid" of MaxViT)
//     11 x + ChannelAttention over the same grid
//   ESA(x)   = x · sigmoid(conv4(up(conv3(maxpool7/3(conv2_s2(c))))
//              + conv_f(c))), c = conv1(x), up = bilinear to x's size
//
// Heads: 4 (head dim C/4) everywhere. C, s, R (residual_layer count), B
// (OSA blocks per group) come from the shapes; w from the relative position
// bias table ((2w-1)² rows), or 8 (Spandrel's default) without one. Every
// tensor's shape is checked and a stray key is refused.
//
// The grid attention and its channel attention mix pixels H/w and W/w apart
// across the whole (padded) frame, and ESA upsamples by a ratio that
// depends on the frame's size: a tile, seeing a smaller frame, computes a
// different function (about 32 dB from the whole frame at its seams). So
// OmniSR runs frames whole (whole_frame_reason); it is a lightweight
// network (64 channels, 8x8 windows), whose whole-frame activations fit a
// GPU at 1080p.
#ifndef ANIFARM_NODE_ENGINE_OMNISR_H_
#define ANIFARM_NODE_ENGINE_OMNISR_H_

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/network.h"
#include "node/engine/nn_ops.h"
#include "node/engine/pth_checkpoint.h"

namespace anifarm::engine {

struct OmniSrConfig {
  int num_feat = 0;
  int res_num = 0;    // OSAG groups
  int block_num = 0;  // OSA blocks per group
  int window_size = 0;
  bool position_bias = false;  // "pe": relative position bias in attention
  bool bias = false;           // biases on input/output/up and the groups' 1x1 convs
  int scale = 0;

  // "OmniSR(num_feat=64, res_num=5, block_num=1, window_size=8, scale=4)".
  std::string ToString() const;
};

// Recognises an OmniSR state dict from its key names and shapes, checking
// every tensor. InvalidArgument naming `source` and the offending key.
absl::StatusOr<OmniSrConfig> DetectOmniSr(const TensorMap& weights, absl::string_view source);

// The network on one device at one dtype. Immutable after Create, so one
// instance serves concurrent Forward calls.
class OmniSrNet : public Network {
 public:
  // Copies the weights to `device` converted to `dtype` (once).
  static absl::StatusOr<std::unique_ptr<OmniSrNet>> Create(const TensorMap& weights, absl::string_view source,
                                                           torch::Device device, torch::ScalarType dtype);

  const OmniSrConfig& config() const { return config_; }
  int scale() const override { return config_.scale; }
  std::string ToString() const override { return config_.ToString(); }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }

  // x: [N, 3, H, W] in [0, 1] on device() with dtype(); returns
  // [N, 3, H·s, W·s] (not clamped). Any H, W (padded internally). Call
  // under c10::InferenceMode.
  torch::Tensor Forward(const torch::Tensor& x) const override;
  std::string whole_frame_reason() const override;

  // The parameters, by module (public for the loader in omnisr.cc).
  struct Norm {
    torch::Tensor weight, bias;
  };
  struct MbConv {
    Conv2d expand, depthwise, project;
    torch::Tensor se_reduce, se_expand;  // Linear weights, no bias
  };
  struct WindowAttention {
    Norm norm;                 // nn.LayerNorm, eps 1e-5
    torch::Tensor qkv, out;    // Linear weights, no bias
    torch::Tensor position;    // [heads, w², w²] bias, or undefined
  };
  struct GatedFeedForward {
    Norm norm;  // LayerNorm2d, eps 1e-6
    Conv2d project_in, depthwise, project_out;
  };
  struct ChannelAttention {
    Norm norm;
    torch::Tensor temperature;  // [heads, 1, 1]
    Conv2d qkv, depthwise, project_out;
  };
  struct OsaBlock {
    MbConv mbconv;
    WindowAttention block_attention;
    GatedFeedForward ffn1;
    ChannelAttention channel_attention;
    GatedFeedForward ffn2;
    WindowAttention grid_attention;
    GatedFeedForward ffn3;
    ChannelAttention grid_channel_attention;
    GatedFeedForward ffn4;
  };
  struct Esa {
    Conv2d conv1, conv_f, conv2, conv3, conv4;
  };
  struct Group {
    std::vector<OsaBlock> blocks;
    Conv2d conv;  // 1x1 after the blocks
    Esa esa;
  };
  struct Params {
    Conv2d input, output, up;
    std::vector<Group> groups;
  };

 private:
  OmniSrNet(OmniSrConfig config, Params params, torch::Device device, torch::ScalarType dtype)
      : config_(config), params_(std::move(params)), device_(device), dtype_(dtype) {}

  torch::Tensor ApplyBlock(const torch::Tensor& x, const OsaBlock& block) const;
  torch::Tensor ApplyWindowAttention(const torch::Tensor& x, const WindowAttention& attention, bool grid) const;
  torch::Tensor ApplyChannelAttention(const torch::Tensor& x, const ChannelAttention& attention,
                                      bool grid) const;

  OmniSrConfig config_;
  Params params_;
  torch::Device device_;
  torch::ScalarType dtype_;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_OMNISR_H_
