// SRVGGNetCompact ("Compact", Real-ESRGAN's realesr-animevideov3 family) run
// with functional LibTorch ops on the loaded state dict, so no Python module
// definition or TorchScript export is needed:
//
//   body.0            conv3x3(3 → nf)
//   body.1            PReLU(nf)
//   body.2k, 2k+1     conv3x3(nf → nf), PReLU(nf)     k = 1..num_conv
//   body.K            conv3x3(nf → 3·s²)              K = 2·num_conv + 2
//   out = pixel_shuffle(s)(body(x)) + nearest_upsample(x, s)
//
// nf, num_conv and s are read from the tensor shapes.
#ifndef ANIFARM_NODE_ENGINE_SRVGG_COMPACT_H_
#define ANIFARM_NODE_ENGINE_SRVGG_COMPACT_H_

#include <torch/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/compact_ends.h"
#include "node/engine/cudnn_fusion.h"
#include "node/engine/network.h"
#include "node/engine/pth_checkpoint.h"

namespace anifarm::engine {

struct CompactConfig {
  int num_in_ch = 3;
  int num_out_ch = 3;
  int num_feat = 0;
  int num_conv = 0;
  int scale = 0;

  // "SRVGGNetCompact(num_feat=64, num_conv=16, scale=2)".
  std::string ToString() const;
};

// Names the architecture a state dict most likely holds, from its key names
// alone ("ESRGAN/RRDBNet (old key layout)", "OmniSR", "SPAN", "RealPLKSR",
// "DAT", "PLKSR", ...), or "" when no known family matches. Used to route a
// state dict to its network (RRDBNet, OmniSR, SPAN, RealPLKSR, DAT), whose detection
// then checks every shape, and to say what an unsupported file is.
std::string GuessArchitecture(const TensorMap& weights);

// Recognises the Compact layout from the key names and shapes.
// InvalidArgument naming `source` (with the keys seen) when it is not one.
absl::StatusOr<CompactConfig> DetectCompact(const TensorMap& weights, absl::string_view source);

// The network on one device at one dtype. Immutable after Create, so one
// instance serves concurrent Forward calls.
class CompactNet : public Network {
 public:
  // Copies the weights to `device` converted to `dtype` (once), in
  // `memory_format`: by default channels-last, the faster layout for
  // convolutions on every device (Network::input_memory_format). NCHW gives
  // the same output.
  static absl::StatusOr<std::unique_ptr<CompactNet>> Create(
      const TensorMap& weights, absl::string_view source, torch::Device device, torch::ScalarType dtype,
      std::optional<torch::MemoryFormat> memory_format = std::nullopt);

  const CompactConfig& config() const { return config_; }
  int scale() const override { return config_.scale; }
  // The configuration, and " fused-epilogue" when FusedBiasPrelu runs the
  // activations (CUDA; node/engine/fused_epilogue.h), " cudnn-fusion" when
  // cuDNN may fuse them into the convolutions (cudnn_fusion.h),
  // " compact-ends" when AniFarm's kernels run the first and last layers
  // (compact_ends.h), " padded-ends" with PadsChannelsFromEnvironment.
  std::string ToString() const override;
  torch::Device device() const override { return device_; }
  torch::ScalarType dtype() const override { return dtype_; }

  // ANIFARM_PAD_CHANNELS=1: the first convolution reads the input padded
  // from 3 to 8 channels and the last writes 16 instead of 3·s² (s = 2),
  // with zero weights, so the output is the same. An experiment, off by
  // default: tensor-core kernels want channel counts that are multiples of
  // 8, and whether cuDNN's kernels for 3 and 12 channels cost a GPU more
  // than the padding is measured by tests/bench/gpu_session.sh.
  static bool PadsChannelsFromEnvironment();

  // x: [N, 3, H, W] in [0, 1] on device() with dtype(); returns
  // [N, 3, H·s, W·s] (not clamped). Call under c10::InferenceMode.
  torch::Tensor Forward(const torch::Tensor& x) const override;
  // Every convolution zero-pads, so a tile's border pixels would see zeros
  // where the frame has its neighbours: tiles take 8 pixels of context.
  int tile_context() const override { return 8; }
  torch::MemoryFormat input_memory_format() const override { return memory_format_; }

 private:
  CompactNet(CompactConfig config, torch::Device device, torch::ScalarType dtype, torch::MemoryFormat memory_format)
      : config_(config), device_(device), dtype_(dtype), memory_format_(memory_format) {}

  CompactConfig config_;
  torch::Device device_;
  torch::ScalarType dtype_;
  // Of the convolution weights and of the activations inside Forward.
  torch::MemoryFormat memory_format_;
  // conv_weight_[i] / conv_bias_[i] for the num_conv + 2 convolutions,
  // prelu_weight_[i] for the num_conv + 1 activations after conv i.
  std::vector<torch::Tensor> conv_weight_;
  std::vector<torch::Tensor> conv_bias_;
  std::vector<torch::Tensor> prelu_weight_;
  // With the fused epilogue: the convolutions run without their bias, and
  // FusedBiasPrelu adds it with the activation, from these fp32 copies.
  bool fused_epilogue_ = false;
  std::vector<torch::Tensor> conv_bias_fp32_;
  std::vector<torch::Tensor> prelu_weight_fp32_;
  // With ANIFARM_CUDNN_FUSION=1 (cudnn_fusion.h): the activated layers run
  // as one cuDNN kernel each where cuDNN can fuse them.
  std::unique_ptr<ConvBiasPreluFusion> cudnn_fusion_;
  // With ANIFARM_COMPACT_ENDS=1 (compact_ends.h): the first and last layers
  // as AniFarm's kernels, from these rearranged weights.
  std::optional<CompactHeadWeights> head_;
  torch::Tensor tail_weights_;
  torch::Tensor tail_bias_fp32_;
  // PadsChannelsFromEnvironment: conv_weight_.front() reads pad_input_to_
  // channels and conv_weight_.back() / conv_bias_.back() write more than
  // 3·s² (the extra ones are zero and dropped).
  int pad_input_to_ = 0;
};

}  // namespace anifarm::engine

#endif  // ANIFARM_NODE_ENGINE_SRVGG_COMPACT_H_
