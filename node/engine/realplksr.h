// RealPLKSR (the "Real" variant of Partial Large Kernel CNNs for Efficient
// Super-Resolution, as trained by neosr/traiNNer: AniToon, AniSD, ...) run
// with functional LibTorch ops on the loaded state dict, following
// Spandrel's definition:
//
//   feats.0                 3x3 conv 3 → dim
//   feats.1 .. feats.nb     PLKBlock
//   feats.nb+1              Dropout2d (no tensors; identity at inference)
//   feats.nb+2              3x3 conv dim → 3s²
//   y = pixel_shuffle(feats(x) + repeat_interleave(x, s², channels), s)
//
//   PLKBlock(x) = x + norm(refine(ea(lk(dccm(ln(x))))))
//     ln      LayerNorm over channels (eps 1e-6), only in the "layer_norm"
//             variant (feats.N.layer_norm.*)
//     dccm    3x3 conv dim → 2·dim, Mish, 3x3 conv 2·dim → dim
//             ("channel_mixer.0/2")
//     lk      the first pdim channels through a k×k conv ("lk.conv"),
//             the rest unchanged (pdim = dim · split_ratio)
//     ea      x · sigmoid(3x3 conv(x)) ("attn.f.0"), when present (use_ea)
//     refine  1x1 conv
//     norm    GroupNorm, 4 groups, eps 1e-5, without the layer_norm
//             variant (the group count cannot be read from the file; 4 is
//             what every RealPLKSR is built with)
//
// dim, nb, s, k, pdim, use_ea and the norm variant come from the key names
// and shapes; every tensor is checked and a stray key refused. The DySample
// upsampler variant ("to_img.*" tensors) is refused by name. The original
// PLKSR ("channe_mixer" keys) is a different network and is not run here.
//
// GroupNorm normalises over the whole frame: tiled, each block's GroupNorm
// is a frame-wide statistic (frame_stats.h), n_blocks of them, so the tiler
// makes n_blocks + 1 passes (the LayerNorm variant is local: one pass).
// Either way tiles carry a border of frame pixels (tile_context) as wide as
// a large kernel, so that tiles equal the whole frame (>= 50 dB) down to an
// 8 px overlap.
#ifndef ANIFARM_NODE_ENGINE_REALPLKSR_H_
#define ANIFARM_NODE_ENGINE_REALPLKSR_H_

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

struct RealPlksrConfig {
  int dim = 0;
  int num_blocks = 0;
  int kernel_size = 0;
  int partial_dim = 0;  // channels through the large kernel: dim · split_ratio
  bool use_ea = false;
  bool layer_norm = false;  // LayerNorm first instead of GroupNorm last
  int scale = 0;

  // "RealPLKSR(dim=64, n_blocks=28, kernel_size=17, split_ratio=0.25,
  // use_ea=true, norm=group, scale=2)".
  std::string ToString() const;
};

// Recognises a RealPLKSR state dict from its key names and shapes, checking
// every tensor. InvalidArgument naming `source` and the offending key (or
// the unsupported DySample upsampler).
absl::StatusOr<RealPlksrConfig> DetectRealPlksr(const TensorMap& weights, absl::string_view source);

// The network on one device at one dtype. Immutable after Create, so one
// instance serves concurrent Forward calls.
class RealPlksrNet : public Network {
 public:
  // Copies the weights to `device` converted to `dtype` (once).
  static absl::StatusOr<std::unique_ptr<RealPlksrNet>> Create(const TensorMap& weights,
                                                              absl::string_view source, torch::Device device,
                                                              torch::ScalarType dtype);

  const RealPlksrConfig& config() const { return config_; }
  int scale() const override { return config_.scale; }
  std::string ToString() const override { return config_.ToString(); }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }

  // x: [N, 3, H, W] in [0, 1] on device() with dtype(); returns
  // [N, 3, H·s, W·s] (not clamped). Call under c10::InferenceMode.
  torch::Tensor Forward(const torch::Tensor& x) const override;
  // One GroupNorm per block; none in the LayerNorm variant.
  int frame_statistics() const override { return config_.layer_norm ? 0 : config_.num_blocks; }
  // The large kernels reach farther than a narrow blending overlap hides:
  // tiles take that much of the frame around them (kernel_size - 1, at
  // least 16 px).
  int tile_context() const override;
  torch::MemoryFormat input_memory_format() const override { return torch::MemoryFormat::ChannelsLast; }
  torch::Tensor ForwardTile(const torch::Tensor& x, const Tile& tile) const override;

  struct Block {
    torch::Tensor norm_weight, norm_bias;  // the LayerNorm or the GroupNorm
    Conv2d mixer_in, mixer_out, large_kernel, attention, refine;  // attention undefined without EA
  };
  struct Params {
    Conv2d first, last;
    std::vector<Block> blocks;
  };

 private:
  RealPlksrNet(RealPlksrConfig config, Params params, torch::Device device, torch::ScalarType dtype)
      : config_(config), params_(std::move(params)), device_(device), dtype_(dtype) {}

  RealPlksrConfig config_;
  Params params_;
  torch::Device device_;
  torch::ScalarType dtype_;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_REALPLKSR_H_
