// ESRGAN's RRDBNet (Residual-in-Residual Dense Block network: ESRGAN,
// Real-ESRGAN x4plus/x2plus, and the many community "old arch" models) run
// with functional LibTorch ops on the loaded state dict:
//
//   x' = pixel_unshuffle(x, d)                 d = 1, 2 or 4 (in_ch 3·d²)
//   feat = conv_first(x')                      3x3, in_ch → nf
//   trunk = conv_body(RRDB_{nb-1}(...RRDB_0(feat)))
//   feat = feat + trunk
//   u times: feat = lrelu(conv_up_i(nearest_x2(feat)))
//   out = conv_last(lrelu(conv_hr(feat)))      3x3, nf → 3
//
//   RRDB(x) = 0.2 · RDB3(RDB2(RDB1(x))) + x
//   RDB(x)  = 0.2 · conv5([x, x1..x4]) + x,  x_j = lrelu(conv_j([x, x1..x_{j-1}]))
//   conv1..4: nf + (j-1)·gc → gc, conv5: nf + 4·gc → nf, all 3x3;
//   lrelu has slope 0.2. Overall scale = 2^u / d.
//
// Three key layouts name the same tensors and are all accepted:
//   old   (ESRGAN):        model.0, model.1.sub.N.RDBk.convj.0, model.1.sub.<nb>,
//                          model.3, model.6, ... (up convs), then HR and last
//   trunk (BasicSR 2019):  conv_first, RRDB_trunk.N.RDBk.convj, trunk_conv,
//                          upconv1.., HRconv, conv_last
//   new   (Real-ESRGAN):   conv_first, body.N.rdbk.convj, conv_body,
//                          conv_up1.., conv_hr, conv_last
// nf, gc, nb, u and d come from the key names and tensor shapes, never from
// the file name.
#ifndef ANIFARM_NODE_ENGINE_RRDBNET_H_
#define ANIFARM_NODE_ENGINE_RRDBNET_H_

#include <torch/types.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/cudnn_fusion.h"
#include "node/engine/network.h"
#include "node/engine/pth_checkpoint.h"

namespace anifarm::engine {

struct RrdbConfig {
  std::string layout;  // "old", "trunk" or "new"
  int num_feat = 0;
  int num_grow_ch = 0;
  int num_block = 0;
  int num_upsample = 0;  // nearest x2 + conv stages
  int unshuffle = 1;     // pixel_unshuffle factor of the input
  int scale = 0;         // 2^num_upsample / unshuffle

  // "RRDBNet(num_feat=64, num_block=23, num_grow_ch=32, scale=4, keys=new)".
  std::string ToString() const;
};

// Recognises an RRDBNet state dict in any of the three layouts and checks
// every tensor's shape. InvalidArgument naming `source` (and the offending
// key) when it is not one.
absl::StatusOr<RrdbConfig> DetectRrdb(const TensorMap& weights, absl::string_view source);

// The network on one device at one dtype. Immutable after Create, so one
// instance serves concurrent Forward calls.
class RrdbNet : public Network {
 public:
  // Copies the weights to `device` converted to `dtype` (once).
  static absl::StatusOr<std::unique_ptr<RrdbNet>> Create(const TensorMap& weights, absl::string_view source,
                                                         torch::Device device, torch::ScalarType dtype);

  const RrdbConfig& config() const { return config_; }
  int scale() const override { return config_.scale; }
  // The configuration, " fused-epilogue" where FusedBiasPrelu runs the
  // activations, and " cudnn-fusion" where cuDNN fuses them into the
  // convolutions (node/engine/cudnn_fusion.h, ANIFARM_CUDNN_FUSION=1).
  std::string ToString() const override {
    return config_.ToString() + (first_.slope_fp32.defined() ? " fused-epilogue" : "") +
           (cudnn_fusion_ ? " cudnn-fusion" : "");
  }
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }

  // x: [N, 3, H, W] in [0, 1] on device() with dtype(); returns
  // [N, 3, H·s, W·s] (not clamped). Any H, W: with pixel-unshuffled input
  // the frame is reflect-padded to a multiple of d and the output cropped,
  // as Real-ESRGAN does. Call under c10::InferenceMode.
  torch::Tensor Forward(const torch::Tensor& x) const override;
  // Dozens of zero-padded convolutions deep, the receptive field is wide:
  // tiles take 16 pixels of context so seams stay exact (above 50 dB).
  int tile_context() const override { return 16; }
  // Pixel-unshuffled input: tiles on the d-pixel grid, so that they are cut
  // into the same d x d cells as the frame and never padded inside it.
  int tile_alignment() const override { return config_.unshuffle; }
  torch::MemoryFormat input_memory_format() const override { return torch::MemoryFormat::ChannelsLast; }

 private:
  struct Conv {
    torch::Tensor weight;
    torch::Tensor bias;
    // Defined with the fused epilogue (CUDA, node/engine/fused_epilogue.h):
    // fp32 copies of the bias and the leaky ReLU's slope per channel.
    torch::Tensor bias_fp32;
    torch::Tensor slope_fp32;
  };
  using Rdb = std::array<Conv, 5>;
  using Rrdb = std::array<Rdb, 3>;

  RrdbNet(RrdbConfig config, torch::Device device, torch::ScalarType dtype)
      : config_(std::move(config)), device_(device), dtype_(dtype) {}

  static torch::Tensor Apply(const torch::Tensor& x, const Conv& conv);
  // Apply, then the leaky ReLU: one fused pass where the epilogue is on,
  // one kernel where cuDNN fuses it.
  torch::Tensor ApplyLeaky(const torch::Tensor& x, const Conv& conv) const;
  torch::Tensor ApplyRdb(const torch::Tensor& x, const Rdb& rdb) const;

  RrdbConfig config_;
  torch::Device device_;
  torch::ScalarType dtype_;
  Conv first_;
  std::vector<Rrdb> blocks_;
  Conv body_;
  std::vector<Conv> up_;
  Conv hr_;
  Conv last_;
  // With ANIFARM_CUDNN_FUSION=1 on top of the fused epilogue; the weights
  // are then channels-last, as cuDNN's fused engines take them.
  std::unique_ptr<ConvBiasPreluFusion> cudnn_fusion_;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_RRDBNET_H_
