// SPAN (Swift Parameter-free Attention Network, Wan et al. 2024) run with
// functional LibTorch ops on the loaded state dict, following Spandrel's
// definition:
//
//   x' = (x - mean) · 255        mean = (0.4488, 0.4371, 0.4040); skipped
//                                when the file has a "no_norm" buffer
//   f  = conv_1(x')              Conv3XC 3 → C
//   b1..b6 = SPAB_1..6 (chained from f); b6' = conv_2(b6)
//   out = conv_cat([f, b6', b1, SPAB_6's first conv output])   1x1, 4C → C
//   y  = pixel_shuffle(upsampler.0(out), s)                     3x3, C → 3s²
//   (the output is not scaled back: models are trained that way)
//
//   SPAB(x): o1 = c1_r(x), o2 = c2_r(silu(o1)), o3 = c3_r(silu(o2)),
//            out = (o3 + x) · (sigmoid(o3) - 0.5)
//
// Conv3XC is a re-parameterisable block: 1x1 skip "sk" plus a chain
// "conv.0" (1x1, ×2 channels) → "conv.1" (3x3, no padding) → "conv.2" (1x1)
// on the zero-padded input. It is run as the one equivalent 3x3 conv,
// fused here from sk and the chain as Spandrel does on every eval forward;
// the file's own "eval_conv" tensors are checked but never used, as they
// are stale in checkpoints saved while training.
//
// C and s come from the shapes; every tensor's shape is checked and a stray
// key is refused.
#ifndef ANIFARM_NODE_ENGINE_SPAN_H_
#define ANIFARM_NODE_ENGINE_SPAN_H_

#include <torch/types.h>

#include <array>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/network.h"
#include "node/engine/nn_ops.h"
#include "node/engine/pth_checkpoint.h"

namespace anifarm::engine {

struct SpanConfig {
  int num_feat = 0;
  bool norm = true;  // input shifted by the mean and scaled by 255
  int scale = 0;

  // "SPAN(num_feat=48, scale=4)" (", norm=false" when there is no norm).
  std::string ToString() const;
};

// Recognises a SPAN state dict from its key names and shapes, checking every
// tensor. InvalidArgument naming `source` and the offending key.
absl::StatusOr<SpanConfig> DetectSpan(const TensorMap& weights, absl::string_view source);

// The network on one device at one dtype. Immutable after Create, so one
// instance serves concurrent Forward calls.
class SpanNet : public Network {
 public:
  // Fuses the Conv3XC blocks (in float64 on the CPU) and copies the weights
  // to `device` converted to `dtype` (once).
  static absl::StatusOr<std::unique_ptr<SpanNet>> Create(const TensorMap& weights, absl::string_view source,
                                                         torch::Device device, torch::ScalarType dtype);

  const SpanConfig& config() const { return config_; }
  int scale() const override { return config_.scale; }
  std::string ToString() const override { return config_.ToString(); }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }

  // x: [N, 3, H, W] in [0, 1] on device() with dtype(); returns
  // [N, 3, H·s, W·s] (not clamped). Call under c10::InferenceMode.
  torch::Tensor Forward(const torch::Tensor& x) const override;
  torch::MemoryFormat input_memory_format() const override { return torch::MemoryFormat::ChannelsLast; }

  // Each Conv3XC as its fused 3x3 conv.
  using Spab = std::array<Conv2d, 3>;
  struct Params {
    Conv2d conv_1, conv_2, conv_cat, upsampler;
    std::array<Spab, 6> blocks;
    torch::Tensor mean;  // [1, 3, 1, 1]
  };

 private:
  SpanNet(SpanConfig config, Params params, torch::Device device, torch::ScalarType dtype)
      : config_(config), params_(std::move(params)), device_(device), dtype_(dtype) {}

  SpanConfig config_;
  Params params_;
  torch::Device device_;
  torch::ScalarType dtype_;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_SPAN_H_
