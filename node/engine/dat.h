// DAT (Dual Aggregation Transformer, Chen et al. 2023) run with functional
// LibTorch ops on the loaded state dict, following Spandrel's definition.
// Tokens are kept as [N, H, W, C]; C = embed_dim.
//
//   x' = x - mean                       mean = (0.4488, 0.4371, 0.4040)
//   f  = conv_first(x')                 3x3, 3 → C
//   t  = LayerNorm(f)                   "before_RG.1"
//   t  = RG_{G-1}(... RG_0(t))          RG(t) = t + conv(blocks(t)), conv
//                                       "1conv" (3x3) or "3conv" (3x3 to
//                                       C/4, lrelu .2, 1x1, lrelu .2, 3x3)
//   u  = conv_after_body(LayerNorm(t)) + f     ("norm"; 1conv or 3conv)
//   y  = pixelshuffle:       conv_last(upsample(lrelu .01(conv_before_upsample.0(u))))
//                            (upsample: 3x3 to r²·F then pixel_shuffle(r),
//                            r = 2 or 3, once per step)
//        pixelshuffledirect: pixel_shuffle(upsample.0(u), s)
//   out = y + mean
//
//   Block b of group g: t += attn(norm1(t)); t += SGFN(norm2(t)).
//   Even b: spatial window attention. qkv = Linear(t); its q, k, v are
//     zero-padded (bottom, right) to a multiple of max(split); the first
//     C/2 channels attend within split[0] x split[1] windows, the other C/2
//     within split[1] x split[0] windows, heads/2 heads each, with a
//     learnt position bias (an MLP over the window offsets, "pos"). Shifted
//     blocks (g even and b % 4 == 2, or g odd and b % 4 == 0) roll the
//     padded frame by half a window first and back after, and add -100 to
//     the logits between pixels from different regions of the rolled frame.
//   Odd b: channel attention over the whole frame (per head, channels
//     attend to channels; q and k L2-normalised over the pixels, times a
//     learnt temperature).
//   Both add a depth-wise conv branch on v (3x3 + BatchNorm + GELU) and mix
//     the two with sigmoid gates (channel map: pooled 1x1 convs; spatial
//     map: 1x1 convs), then a Linear "proj".
//   SGFN: Linear to hidden, GELU, half · dwconv3x3(LayerNorm(other half)),
//     Linear back.
//
// Every hyper-parameter comes from the key names and shapes, as Spandrel's
// loader finds them: C, depth per group, heads per group (the temperature of
// block 1, or pos3's outputs · 2 when a group has one block), split from
// the rpe_biases buffer, expansion factor, qkv bias, 1conv/3conv, upsampler,
// num_feat and scale. Every tensor's shape is checked and a stray key is
// refused. BatchNorms are folded into their convs at load time; the
// position biases are computed once. Saved attention masks are checked,
// not used: masks are made for each (padded) frame size.
//
// DAT runs in fp32 only: its attention logits and channel sums overflow in
// fp16 (Spandrel marks it supports_half=False). Create runs any other dtype
// asked for as fp32, and dtype() says so.
//
// The channel attention and the pooled channel maps make each output pixel
// depend on the whole frame. Tiled, they are frame statistics (frame_stats.h)
// collected over the tiles in extra passes, tiles start on the window grid
// and carry whole windows of frame pixels as context, so that tiles give the
// whole frame (>= 50 dB). The cost: a pass per statistic, each stopping at
// its layer (about half a forward pass each on average).
#ifndef ANIFARM_NODE_ENGINE_DAT_H_
#define ANIFARM_NODE_ENGINE_DAT_H_

#include <torch/types.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/network.h"
#include "node/engine/nn_ops.h"
#include "node/engine/pth_checkpoint.h"

namespace anifarm::engine {

// Why DAT runs in fp32 only (for logs and model descriptions).
inline constexpr char kDatFp32OnlyReason[] = "its attention overflows in fp16";

struct DatConfig {
  int embed_dim = 0;
  std::vector<int> depth;      // blocks per residual group
  std::vector<int> num_heads;  // per residual group
  std::array<int, 2> split_size = {0, 0};
  int ffn_hidden = 0;  // SGFN hidden width = int(embed_dim · expansion_factor)
  bool qkv_bias = true;
  bool three_conv = false;  // resi_connection "3conv" (else "1conv")
  bool pixelshuffle_direct = false;  // upsampler "pixelshuffledirect" (else "pixelshuffle")
  int num_feat = 0;               // pixelshuffle only
  std::vector<int> upsample_steps;  // pixelshuffle only: 2 or 3 each
  int scale = 0;

  double expansion_factor() const { return static_cast<double>(ffn_hidden) / embed_dim; }
  // "DAT(embed_dim=180, depth=[6,6,6,6,6,6], num_heads=[6,6,6,6,6,6],
  // split_size=[8,32], expansion_factor=2, resi_connection=1conv,
  // upsampler=pixelshuffle, num_feat=64, scale=4)".
  std::string ToString() const;
};

// Recognises a DAT state dict from its key names and shapes, checking every
// tensor. InvalidArgument naming `source` and the offending key.
absl::StatusOr<DatConfig> DetectDat(const TensorMap& weights, absl::string_view source);

// The network on one device, in fp32. Immutable after Create, so one
// instance serves concurrent Forward calls.
class DatNet : public Network {
 public:
  // Folds the BatchNorms and computes the position biases (in float64 on the
  // CPU), then copies the weights to `device` as fp32. `dtype` other than
  // fp32 is run as fp32 (see kDatFp32OnlyReason); dtype() tells.
  static absl::StatusOr<std::unique_ptr<DatNet>> Create(const TensorMap& weights, absl::string_view source,
                                                        torch::Device device, torch::ScalarType dtype);

  const DatConfig& config() const { return config_; }
  int scale() const override { return config_.scale; }
  std::string ToString() const override { return config_.ToString(); }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return torch::kFloat32; }

  // x: [N, 3, H, W] in [0, 1] on device(), fp32; returns [N, 3, H·s, W·s]
  // (not clamped). Any H, W. Call under c10::InferenceMode.
  torch::Tensor Forward(const torch::Tensor& x) const override;
  // Tiled: one statistic per spatial block (its pooled channel map), two per
  // channel block (the channel attention's sums, then its pooled map).
  int frame_statistics() const override;
  // Tiles start on the window grid (the larger split side), so that their
  // windows, shifted or not, are the frame's ...
  int tile_alignment() const override;
  // ... and carry whole windows of frame pixels around them.
  int tile_context() const override;
  torch::Tensor ForwardTile(const torch::Tensor& x, const Tile& tile) const override;

  // The parameters, by module (public for the loader in dat.cc).
  struct Linear {
    torch::Tensor weight, bias;  // bias may be undefined
  };
  struct Norm {
    torch::Tensor weight, bias;
  };
  // The conv branch and the two interaction maps of either attention, each
  // BatchNorm folded into the conv before it.
  struct Interaction {
    Conv2d dwconv;                          // depth-wise 3x3 (+BN), then GELU
    Conv2d channel_reduce, channel_expand;  // on the pooled map: 1x1 (+BN), GELU, 1x1
    Conv2d spatial_reduce, spatial_expand;  // 1x1 (+BN), GELU, 1x1 to one channel
  };
  struct Block {
    bool spatial = false;  // even block: window attention; odd: channel attention
    bool shifted = false;
    int heads = 0;
    Norm norm1, norm2;
    Linear qkv, proj;
    std::array<torch::Tensor, 2> position;  // spatial: [heads/2, N, N] per branch
    torch::Tensor temperature;              // channel: [heads, 1, 1]
    Interaction interaction;
    Linear fc1, fc2;
    Norm gate_norm;
    Conv2d gate_conv;  // depth-wise 3x3
  };
  struct Group {
    std::vector<Block> blocks;
    std::vector<Conv2d> conv;  // 1conv: one; 3conv: three
  };
  struct Params {
    Conv2d conv_first;
    Norm before_rg, norm;
    std::vector<Group> groups;
    std::vector<Conv2d> conv_after_body;
    Conv2d conv_before_upsample, conv_last;  // pixelshuffle only
    std::vector<Conv2d> upsample;
    torch::Tensor mean;  // [1, 3, 1, 1]
  };

 private:
  DatNet(DatConfig config, Params params, torch::Device device)
      : config_(std::move(config)), params_(std::move(params)), device_(device) {}

  torch::Tensor SpatialAttention(const torch::Tensor& t, const Block& block, FrameStats* stats,
                                 const FeaturePlacement& place) const;
  torch::Tensor WindowAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                int64_t hs, int64_t ws, int64_t heads, const torch::Tensor& position,
                                bool shifted) const;

  DatConfig config_;
  Params params_;
  torch::Device device_;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_DAT_H_
